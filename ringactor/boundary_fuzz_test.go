package ringactor

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// FuzzOpenSealed feeds a member's opener arbitrary bytes as a sealed
// message: it must never panic, and nothing that does not carry a valid
// tag may open.
func FuzzOpenSealed(f *testing.F) {
	key := make([]byte, KeySize)
	keyring, err := NewKeyring(key)
	if err != nil {
		f.Fatal(err)
	}
	sender := newSealer("ring", "127.0.0.1:1", keyring, 0, 0)
	for _, msg := range []proto.Message{
		&messages.Ping{Ring: "ring", From: "127.0.0.1:1", Seq: 1},
		&messages.Gossip{Ring: "ring", From: "127.0.0.1:1", Payload: []byte{1, 2, 3}},
		&messages.AddNode{Node: "127.0.0.1:2"},
	} {
		sealed, err := sender.seal(msg)
		if err != nil {
			f.Fatal(err)
		}
		data, err := proto.Marshal(sealed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sealed messages.Sealed
		if proto.Unmarshal(data, &sealed) != nil {
			return
		}
		opener := newSealer("ring", "127.0.0.1:2", keyring, time.Duration(1<<62), 16)
		msg, err := opener.open(&sealed)
		if err != nil {
			return
		}
		// It opened: then the key's tag verifies over every field, and the
		// inner message is one of the ring's.
		aead, _ := keyring.lookup(sealed.GetKeyId(), time.Unix(0, sealed.GetUnixNanos()), time.Now(), time.Hour)
		if aead == nil {
			t.Fatal("opened a message sealed with an unknown key")
		}
		if _, err := aead.Open(nil, sealed.GetNonce(), sealed.GetBody(), appendAAD(nil, &sealed, nil)); err != nil {
			t.Fatalf("opened a message whose tag does not verify: %v", err)
		}
		if !isRingMessage(msg) {
			t.Fatalf("opened a %T", msg)
		}
	})
}

// FuzzScreenBatch feeds the receive guard arbitrary batches: it must never
// panic, whatever the indexes, type names and bytes.
func FuzzScreenBatch(f *testing.F) {
	registerRing("fuzzring", true, 0)
	seed := &remote.MessageBatch{
		TypeNames: []string{"actor.Stop", "actor.Terminated", "gsring.Gossip"},
		Targets:   nil,
		Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0}, {TypeId: 1, Target: 0, MessageData: []byte{10, 3, 1, 2, 3}}, {TypeId: 5, Target: -1}},
	}
	data, err := proto.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, "127.0.0.1:1")
	drops := newDropLog(quietLogger())
	f.Fuzz(func(t *testing.T, data []byte, claimed string) {
		var batch remote.MessageBatch
		if proto.Unmarshal(data, &batch) != nil {
			return
		}
		peer := &streamPeer{claimed: claimed, identity: &peerIdentity{hosts: []string{"127.0.0.1"}}}
		before := len(batch.Envelopes)
		screenBatch(&batch, peer, drops)
		if len(batch.Envelopes) > before {
			t.Fatal("the guard added envelopes")
		}
		for _, env := range batch.Envelopes {
			if env == nil || int(env.TypeId) >= len(batch.TypeNames) || env.TypeId < 0 || int(env.Target) >= len(batch.Targets) || env.Target < 0 {
				t.Fatalf("the guard kept an envelope with an index out of range: %v", env)
			}
		}
	})
}
