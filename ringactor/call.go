package ringactor

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/genserverring/genserverring-go/messages"
)

// Calls and casts travel as plain Go values inside one process and as
// protobuf messages between processes; the Client chooses by the target's
// address. Between processes a call is the user's message itself, sent as
// a Proto.Actor request: a protobuf message that is not one of the ring's
// own, arriving with a sender, is a call (isUserCall). Its answer is the
// reply itself, or a messages.CallReply when the call failed or has no
// value. Only a message of the ring's own package travels inside a
// CallRequest, so that it is not taken for the ring's request of that
// type. Sending the message as it is spares a protobuf encoding and
// decoding on each side and each way, which on a remote call costs as much
// as the ring actor's own handling.

// callEnvelope is a call from the same process: any Go value. The reply
// comes back on reply, not through a Proto.Actor future: a future costs a
// process registered and removed, a timer and a condition variable per
// call, a quarter of the CPU of a local call (client_local.go).
type callEnvelope struct {
	msg   any
	reply chan<- *callReply
}

// castEnvelope is a cast from the same process: any Go value.
type castEnvelope struct{ msg any }

// callReply answers a callEnvelope.
type callReply struct {
	value any
	err   error
}

// From identifies the caller of a call, to answer it later with Reply.
type From struct {
	pid    *actor.PID
	remote bool
	// local is where a call of this process waits for its reply (then pid
	// is nil).
	local chan<- *callReply
	// seal seals the reply for the sealed request it answers (nil: the
	// request came unsealed).
	seal func(proto.Message) proto.Message
	// arrived is when the ring actor took the call from its mailbox; the
	// reply records the call's latency in metrics (metrics.go).
	arrived time.Time
	metrics *ringMetrics
}

// Reply answers a call that HandleCall left unanswered (NoReply), from any
// goroutine: sender is any Proto.Actor sender (an actor's context, or the
// actor system's Root). A reply to a caller in another process must be a
// proto.Message; otherwise the caller gets an error and so does Reply.
func Reply(sender actor.SenderContext, from From, value any) error {
	return reply(sender, from, value, nil)
}

// reply answers from. Each path records the call's latency before the
// answer leaves: a caller that reads the metrics once answered finds its
// call counted.
func reply(sender actor.SenderContext, from From, value any, callErr error) error {
	if from.local != nil {
		from.replied()
		answerLocal(from.local, &callReply{value: value, err: callErr})
		return nil
	}
	if from.pid == nil {
		return nil
	}
	if !from.remote {
		// A Proto.Actor request from this process: the reply as it is,
		// any Go value, or a CallReply with the error.
		from.replied()
		sender.Send(from.pid, localCallAnswer(value, callErr))
		return nil
	}
	out, err := encodeCallReply(value, callErr)
	var answer proto.Message = out
	if from.seal != nil {
		answer = from.seal(out) // nil if it cannot be sealed: logged, not sent
	}
	from.replied()
	if answer != nil {
		sender.Send(from.pid, answer)
	}
	return err
}

// encodeCallReply builds the answer to a call from another process: the
// reply itself when it is a protobuf message, a CallReply otherwise (an
// error, no value, or a reply that is itself a CallReply, carried in
// Body so that it is not read as the answer's envelope). The error says
// why value could not be carried (the answer then carries it).
func encodeCallReply(value any, callErr error) (proto.Message, error) {
	if callErr != nil {
		return errorReply(callErr), nil
	}
	switch msg := value.(type) {
	case nil:
		return &messages.CallReply{}, nil
	case *messages.CallReply:
		body, err := anypb.New(msg)
		if err != nil {
			err = fmt.Errorf("ringactor: encode reply: %w", err)
			return &messages.CallReply{Error: err.Error()}, err
		}
		return &messages.CallReply{Body: body}, nil
	case proto.Message:
		return msg, nil
	default:
		err := fmt.Errorf("%w: reply of type %T", ErrNotProto, value)
		return errorReply(err), err
	}
}

// localCallAnswer is the answer to a Proto.Actor request of this process:
// the reply as it is, or a CallReply for an error or no value.
func localCallAnswer(value any, callErr error) any {
	if callErr != nil {
		return errorReply(callErr)
	}
	if value == nil {
		return &messages.CallReply{}
	}
	return value
}

// errorReply is the answer to a call that failed with err.
func errorReply(err error) *messages.CallReply {
	return &messages.CallReply{Error: err.Error(), ErrorCodes: codesOf(err)}
}

// decodeCallAnswer returns the reply to a call from its answer (see
// encodeCallReply).
func decodeCallAnswer(answer any) (any, error) {
	r, ok := answer.(*messages.CallReply)
	if !ok {
		if msg, isProto := answer.(proto.Message); isProto {
			return msg, nil
		}
		return nil, fmt.Errorf("ringactor: unexpected answer %T", answer)
	}
	if err := answerError(r.GetError(), r.GetErrorCodes()); err != nil {
		return nil, err
	}
	if r.GetBody() == nil {
		return nil, nil
	}
	return unpackBody(r.GetBody())
}

// callRequest is what carries msg, a call to another process: msg itself,
// or a CallRequest for a message of the ring's own package.
func callRequest(msg any) (proto.Message, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrNotProto, msg)
	}
	if !isRingMessage(m) {
		return m, nil
	}
	body, err := anypb.New(m)
	if err != nil {
		return nil, err
	}
	return &messages.CallRequest{Body: body}, nil
}

// isUserCall reports whether message, received with sender, is a call
// sent as the user's message itself: a protobuf message that is neither
// one of the ring's own nor one of Proto.Actor's, sent as a request.
func isUserCall(message any, sender *actor.PID) bool {
	if sender == nil {
		return false
	}
	msg, ok := message.(proto.Message)
	if !ok {
		return false
	}
	return isUserType(msg.ProtoReflect().Descriptor().FullName())
}

// isUserType reports whether the protobuf type name is the user's: neither
// the ring's nor Proto.Actor's.
func isUserType(name protoreflect.FullName) bool {
	parent := name.Parent()
	return parent != messagesPackage && parent != protoActorPackage
}

// protoActorPackage is the protobuf package of Proto.Actor's own messages
// (Terminated, Touch, PID).
const protoActorPackage = "actor"

// unpackBody decodes a remote call or cast body to the user's message.
func unpackBody(body *anypb.Any) (proto.Message, error) {
	if body == nil {
		return nil, fmt.Errorf("ringactor: message without body")
	}
	msg, err := body.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("ringactor: cannot decode message of type %q: %w", body.GetTypeUrl(), err)
	}
	return msg, nil
}

// answerLocal hands a reply to a call of this process. Its channel holds
// one reply: a second reply to the same call (a behaviour that replies
// twice) is dropped, as a second reply to a future is, instead of blocking
// the ring.
func answerLocal(to chan<- *callReply, r *callReply) {
	select {
	case to <- r:
	default:
	}
}
