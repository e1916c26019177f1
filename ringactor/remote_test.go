package ringactor

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
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

// A peer sends the member a protobuf type the member's binary does not know.
// Unguarded, this Proto.Actor version panics in the gRPC handler and the
// whole process dies; the guard drops it with a log line.
func TestUnknownMessageTypeFromPeerIsDropped(t *testing.T) {
	members, _ := startRing(t, "unknown", 2)
	a, b := members[0], members[1]
	before := DroppedUnknownMessages()

	// From b's actor system to a's ring actor, over the network (a fresh
	// PID: one that a's system made caches a's in-process actor).
	b.system.Root.Send(actor.NewPID(a.node, "unknown"), unknownMessage(t))
	require.Eventually(t, func() bool { return DroppedUnknownMessages() > before }, waitFor, tick)

	// a's process survived and keeps gossiping both ways.
	_, err := a.client.Call(incr{2}, time.Second)
	require.NoError(t, err)
	_, err = b.client.Call(incr{3}, time.Second)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.value(t) == 5 && b.value(t) == 5 }, waitFor, tick)
}

func TestStartActorSystemReportsListenError(t *testing.T) {
	m := startMember(t, "listen", nil)
	_, _, err := StartActorSystem(RemoteOptions{Port: portOf(t, m.node), Logger: quietLogger()})
	require.ErrorContains(t, err, "start remote")
}

func protoreflectString(s string) protoreflect.Value { return protoreflect.ValueOfString(s) }
