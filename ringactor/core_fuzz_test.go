package ringactor

import (
	"math"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
)

// FuzzCoreSteps feeds one member of a three-member simulated ring a
// sequence of the ring's protocol messages made from the fuzzer's bytes:
// each of the right type, decoded from whatever bytes follow, so every
// field may hold a hostile value (counters and clocks near 2^64, thousands
// of nodes, unknown senders, truncated chunks). A message goes the way the
// actor's would: the boundary's bounds, then the core, and the answers to
// the other members, whose answers come back. The core must not panic,
// must stay within its bounds, and must keep a state that survives a
// restart: its ring file decodes and starts a core with the same node set,
// and its payload decodes to the same value.
//
// The input is a list of messages, each: a kind byte (which type), a flags
// byte (bit 0: the ring's own name; bit 1: a member's address as sender,
// which member in bits 2–3), two bytes of length and that many bytes of
// the message's encoding.
func FuzzCoreSteps(f *testing.F) {
	for _, seed := range coreFuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		net, nodes := bootstrap(t, 3, 7)
		target := net.members[nodes[0]]
		bounds := &boundary{maxNodes: DefaultMaxNodes, stats: &target.core.stats, drops: newDropLog(quietLogger())}
		for len(data) >= 4 {
			kind, flags, size := data[0], data[1], int(data[2])<<8|int(data[3])
			data = data[4:]
			size = min(size, len(data))
			body := data[:size]
			data = data[size:]
			msg := newProtocolMessage(kind)
			if proto.Unmarshal(body, msg) != nil {
				continue
			}
			addressAs(msg, flags, nodes)
			if g, ok := msg.(*messages.Gossip); ok && !bounds.admitGossip(g) {
				continue
			}
			if !target.core.step(msg) {
				t.Fatalf("the core does not take a %T", msg)
			}
			net.collect(target)
			net.deliver()
			if n := len(target.core.all()); n > DefaultMaxNodes+len(nodes) {
				t.Fatalf("the node set grew to %d nodes", n)
			}
		}
		requireRestartable(t, target)
	})
}

// requireRestartable checks that what m would persist now decodes and
// starts a core that holds the same node set, and that its payload
// decodes to the same value.
func requireRestartable(t *testing.T, m *simMember) {
	t.Helper()
	persisted, err := m.core.persisted()
	if err != nil {
		t.Fatalf("cannot persist the ring: %v", err)
	}
	file, err := proto.Marshal(persisted)
	if err != nil {
		t.Fatalf("cannot encode the ring file: %v", err)
	}
	var reread messages.PersistedRing
	if err := proto.Unmarshal(file, &reread); err != nil {
		t.Fatalf("the ring file does not decode: %v", err)
	}
	cfg := m.core.cfg
	cfg.replica = cfg.replica + "-restarted"
	restarted, err := newCore(cfg, &reread, &counterPayload{}, m.core.rng, quietLogger())
	if err != nil {
		t.Fatalf("a member cannot restart from its own ring file: %v", err)
	}
	if !slices.Equal(restarted.all(), m.core.all()) {
		t.Fatalf("after a restart the node set is %v, not %v", restarted.all(), m.core.all())
	}
	encoded, err := m.payload.encode()
	if err != nil {
		t.Fatalf("cannot encode the payload: %v", err)
	}
	var back counterPayload
	if _, err := back.mergeEncoded(encoded); err != nil {
		t.Fatalf("the payload does not decode after a restart: %v", err)
	}
	if back.Value() != m.payload.Value() {
		t.Fatalf("after a restart the payload is %d, not %d", back.Value(), m.payload.Value())
	}
}

// protocolKinds are the messages the core takes from peers (ringCore.step).
var protocolKinds = []func() proto.Message{
	func() proto.Message { return &messages.Gossip{} },
	func() proto.Message { return &messages.Digest{} },
	func() proto.Message { return &messages.Delta{} },
	func() proto.Message { return &messages.DeltaAck{} },
	func() proto.Message { return &messages.StateChunk{} },
	func() proto.Message { return &messages.Ping{} },
	func() proto.Message { return &messages.Ack{} },
	func() proto.Message { return &messages.PingRequest{} },
	func() proto.Message { return &messages.NodeDown{} },
}

func newProtocolMessage(kind byte) proto.Message {
	return protocolKinds[int(kind)%len(protocolKinds)]()
}

// kindOf is the kind byte of msg's type.
func kindOf(msg proto.Message) byte {
	name := msg.ProtoReflect().Descriptor().FullName()
	for i, kind := range protocolKinds {
		if kind().ProtoReflect().Descriptor().FullName() == name {
			return byte(i)
		}
	}
	panic("not a protocol message")
}

// addressAs sets msg's ring and sender as flags say, so that the fuzzer
// reaches past the first checks without having to guess the names.
func addressAs(msg proto.Message, flags byte, nodes []string) {
	fields := msg.ProtoReflect()
	desc := fields.Descriptor().Fields()
	if flags&1 != 0 {
		if ring := desc.ByName("ring"); ring != nil {
			fields.Set(ring, protoreflect.ValueOfString("sim"))
		}
	}
	if flags&2 != 0 {
		if from := desc.ByName("from"); from != nil {
			fields.Set(from, protoreflect.ValueOfString(nodes[1+int(flags>>2)%(len(nodes)-1)]))
		}
	}
}

// coreFuzzSeeds are inputs of the fuzzer's form: a member's real gossip,
// probes, and the hostile values of the security issue's table.
func coreFuzzSeeds(tb testing.TB) [][]byte {
	net, nodes := bootstrap(tb, 3, 7)
	other := net.members[nodes[1]]
	other.payload.Increment(other.core.cfg.replica, 5)
	other.core.payloadTouched()
	gossip, err := other.core.gossipMessage()
	if err != nil {
		tb.Fatal(err)
	}
	var huge crdt.PNCounter
	huge.Increment("attacker", math.MaxUint64)
	hugePayload, err := huge.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	fakeNodes := make([]string, 0, 300)
	for i := range 300 {
		fakeNodes = append(fakeNodes, simNode(100+i))
	}
	var fake crdt.ORSet[string]
	for _, node := range fakeNodes {
		fake.Add("attacker", node)
	}
	fakeSet, err := fake.ToProto()
	if err != nil {
		tb.Fatal(err)
	}
	const named = 1 | 2 // the ring's name, member nodes[1] as sender
	one := func(msg proto.Message, flags byte) []byte {
		body, err := proto.Marshal(msg)
		if err != nil {
			tb.Fatal(err)
		}
		return append([]byte{kindOf(msg), flags, byte(len(body) >> 8), byte(len(body))}, body...)
	}
	return [][]byte{
		one(gossip, 0),
		one(&messages.Gossip{Payload: hugePayload, Replica: "attacker"}, named),
		one(&messages.Gossip{NodeSet: fakeSet}, named),
		one(&messages.Ping{Seq: math.MaxUint64, Digest: 1}, named),
		slices.Concat(one(&messages.NodeDown{Node: nodes[2]}, named), one(&messages.Ack{Seq: 1}, named)),
		one(&messages.Delta{Payload: hugePayload}, named),
		one(&messages.StateChunk{TransferId: 1, Index: 3, Total: 2, Data: []byte{1}}, named),
		one(&messages.PingRequest{Seq: 7, Target: nodes[2]}, named),
	}
}
