package ringactor

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/genserverring/genserverring-go/messages"
)

// Calls and casts travel as plain Go values inside one process and as
// protobuf messages (the user's message in an Any) between processes; the
// Client chooses by the target's address.

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

func reply(sender actor.SenderContext, from From, value any, callErr error) error {
	if from.local != nil {
		defer from.replied()
		answerLocal(from.local, &callReply{value: value, err: callErr})
		return nil
	}
	if from.pid == nil {
		return nil
	}
	defer from.replied()
	if !from.remote {
		sender.Send(from.pid, &callReply{value: value, err: callErr})
		return nil
	}
	out, err := encodeCallReply(value, callErr)
	if from.seal == nil {
		sender.Send(from.pid, out)
	} else if sealed := from.seal(out); sealed != nil {
		sender.Send(from.pid, sealed)
	}
	return err
}

// encodeCallReply builds the reply to a call from another process; the
// error says why value could not be carried (the reply then carries it).
func encodeCallReply(value any, callErr error) (*messages.CallReply, error) {
	out := &messages.CallReply{}
	var err error
	switch {
	case callErr != nil:
		out.Error, out.ErrorCodes = callErr.Error(), codesOf(callErr)
	case value == nil:
	default:
		msg, ok := value.(proto.Message)
		if !ok {
			err = fmt.Errorf("%w: reply of type %T", ErrNotProto, value)
			out.Error, out.ErrorCodes = err.Error(), codesOf(err)
		} else if out.Body, err = anypb.New(msg); err != nil {
			err = fmt.Errorf("ringactor: encode reply: %w", err)
			out.Error = err.Error()
		}
	}
	return out, err
}

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
