package ringactor

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/messages"
)

// unknownMessage builds a protobuf message of a type no binary linked into
// this test knows: the global registry has no entry for it.
func unknownMessage(t *testing.T) proto.Message {
	t.Helper()
	file, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:    proto.String("unknown_test.proto"),
		Package: proto.String("genserverring.unknowntest"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Stranger"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name:     proto.String("text"),
				Number:   proto.Int32(1),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				JsonName: proto.String("text"),
			}},
		}},
	}, nil)
	require.NoError(t, err)
	desc := file.Messages().ByName("Stranger")
	msg := dynamicpb.NewMessage(desc)
	msg.Set(desc.Fields().ByName("text"), protoreflectString("hello"))
	return msg
}

// A peer sends a member a protobuf type the member's binary does not know.
// Unguarded, this Proto.Actor version panics in the gRPC handler and the
// whole process dies; the guard drops it with a log line.
func TestUnknownMessageTypeFromPeerIsDropped(t *testing.T) {
	ring := uniqueRing("unknown")
	p, _ := startPeer(t, ring)
	local := startSharedMember(t, ring)
	require.NoError(t, local.client.AddNode(context.Background(), p.node))
	remote := NewClient(local.system, p.node, ring)

	local.system.Root.Send(actor.NewPID(p.node, ring), unknownMessage(t))
	require.Eventually(t, func() bool {
		dropped, err := remote.Call(within(time.Second), wrapperspb.String("dropped-unknown"))
		return err == nil && dropped.(*wrapperspb.UInt64Value).GetValue() == 1
	}, waitFor, tick, "the peer dropped the message")

	// The peer's process survived and keeps gossiping both ways.
	_, err := local.client.Call(within(time.Second), incr{2})
	require.NoError(t, err)
	_, err = remote.Call(within(time.Second), wrapperspb.Int64(3))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := remote.Call(within(time.Second), wrapperspb.Int64(0))
		return err == nil && v.(*wrapperspb.Int64Value).GetValue() == 5 && local.value(t) == 5
	}, waitFor, tick)
}

func TestStartActorSystemReportsListenError(t *testing.T) {
	first, _ := startPeer(t, "listen")
	_, port, err := net.SplitHostPort(first.node)
	require.NoError(t, err)
	_, startErr := startPeer(t, "listen", peerPortEnv+"="+port)
	require.Contains(t, startErr, "start remote")
}

func TestRemoteCallWithProtobuf(t *testing.T) {
	ring := uniqueRing("remote-call")
	p, _ := startPeer(t, ring)
	remote := NewClient(sharedRemote(t), p.node, ring)
	reply, err := remote.Call(within(2*time.Second), wrapperspb.Int64(6))
	require.NoError(t, err)
	require.Equal(t, int64(6), reply.(*wrapperspb.Int64Value).GetValue())

	_, err = remote.Call(within(time.Second), get{})
	require.ErrorIs(t, err, ErrNotProto, "a plain Go value cannot cross processes")
	_, err = remote.Call(within(2*time.Second), wrapperspb.String("not handled"))
	var callErr *CallError
	require.ErrorAs(t, err, &callErr)
	require.Contains(t, callErr.Message, "not handled by the behaviour")
	require.ErrorIs(t, err, ErrUnhandledCall)

	up, err := remote.Up(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{p.node}, up)
}

// A call to another process travels as its message itself; the messages
// that could be mistaken for the ring's own travel wrapped, and every
// reply comes back as the behaviour gave it.
func TestRemoteCallCarriesEveryMessageAndReply(t *testing.T) {
	ring := uniqueRing("remote-forms")
	p, _ := startPeer(t, ring)
	remote := NewClient(sharedRemote(t), p.node, ring)

	// A message of the ring's own package reaches HandleCall: it is not
	// taken for the ring's request of that type.
	nodes := &messages.Nodes{Nodes: []string{"a call, not a request"}}
	reply, err := remote.Call(within(2*time.Second), nodes)
	require.NoError(t, err)
	require.True(t, proto.Equal(nodes, reply.(proto.Message)), "echoed: %v", reply)
	_, err = remote.Call(within(2*time.Second), &messages.GetUp{})
	require.ErrorIs(t, err, ErrUnhandledCall, "a GetUp sent with Call is a call")

	// A reply of the type that also carries errors is a reply.
	reply, err = remote.Call(within(2*time.Second), wrapperspb.String("call-reply"))
	require.NoError(t, err)
	require.Equal(t, "not an error: a reply", reply.(*messages.CallReply).GetError())

	reply, err = remote.Call(within(2*time.Second), wrapperspb.String("nil"))
	require.NoError(t, err)
	require.Nil(t, reply)

	// A message the member cannot decode is answered at once, with why.
	start := time.Now()
	_, err = remote.Call(within(10*time.Second), unknownMessage(t))
	require.ErrorContains(t, err, `cannot decode message of type "genserverring.unknowntest.Stranger"`)
	require.Less(t, time.Since(start), 5*time.Second, "answered, not timed out")

	// A plain Proto.Actor request is a call too.
	answer, err := sharedRemote(t).Root.RequestFuture(actor.NewPID(p.node, ring), wrapperspb.Int64(0), 2*time.Second).Result()
	require.NoError(t, err)
	require.IsType(t, &wrapperspb.Int64Value{}, answer)
}

func TestDeferredReplyToRemoteCaller(t *testing.T) {
	ring := uniqueRing("deferred-remote")
	p, _ := startPeer(t, ring)
	remote := NewClient(sharedRemote(t), p.node, ring)
	call := func() chan any {
		answer := make(chan any, 1)
		go func() {
			v, err := remote.Call(within(5*time.Second), wrapperspb.String("later"))
			if err != nil {
				v = err
			}
			answer <- v
		}()
		require.Eventually(t, func() bool {
			n, err := remote.Call(within(time.Second), wrapperspb.String("pending"))
			return err == nil && n.(*wrapperspb.Int64Value).GetValue() == 1
		}, waitFor, tick, "the call is pending")
		return answer
	}

	answer := call()
	require.NoError(t, remote.Cast(wrapperspb.String("release:done")))
	assert.Equal(t, "done", (<-answer).(*wrapperspb.StringValue).GetValue())

	// A reply that is not a protobuf message cannot cross: the caller gets
	// an error at once instead of waiting for its timeout.
	answer = call()
	start := time.Now()
	require.NoError(t, remote.Cast(wrapperspb.String("release-int")))
	err, _ := (<-answer).(error)
	var callErr *CallError
	require.ErrorAs(t, err, &callErr)
	assert.Contains(t, callErr.Message, "proto.Message")
	assert.ErrorIs(t, err, ErrNotProto)
	assert.Less(t, time.Since(start), 4*time.Second)

	require.NoError(t, Reply(sharedRemote(t).Root, From{}, "ignored"), "a From without a caller is a no-op")
}

func TestCallToGoneMemberFailsWithinTimeout(t *testing.T) {
	gone := NewClient(sharedRemote(t), closedAddress(t), "gone")
	start := time.Now()
	_, err := gone.Call(within(500*time.Millisecond), wrapperspb.Int64(1))
	require.Error(t, err)
	require.Less(t, time.Since(start), 2*time.Second)
	require.True(t, errors.Is(err, ErrTimeout) || errors.Is(err, ErrMemberGone), "got %v", err)
}

func protoreflectString(s string) protoreflect.Value { return protoreflect.ValueOfString(s) }
