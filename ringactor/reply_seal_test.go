package ringactor

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/messages"
)

// An answer sealed for one request opens only for that request, with the
// ring's key, within the replay window.
func TestSealedAnswerIsBoundToItsRequest(t *testing.T) {
	key := testKey(t)
	member := newSealer("ring", "127.0.0.1:1", testKeyring(t, key), 0, 0)
	client := newSealer("ring", "127.0.0.1:2", testKeyring(t, key), 0, 1)
	request := mustSeal(t, client, &messages.GetAll{})
	answer := &messages.Nodes{Nodes: []string{"127.0.0.1:1"}}
	sealed, err := member.sealReply(answer, request.GetNonce())
	require.NoError(t, err)

	opened, err := client.openReply(sealed, request.GetNonce())
	require.NoError(t, err)
	assert.True(t, proto.Equal(answer, opened))
	_, err = client.openReply(sealed, request.GetNonce())
	assert.NoError(t, err, "a future takes one answer: no replay cache is needed")

	other := mustSeal(t, client, &messages.GetAll{})
	_, err = client.openReply(sealed, other.GetNonce())
	assert.ErrorIs(t, err, errBadTag, "replayed to another request")
	_, err = client.open(sealed)
	assert.Error(t, err, "an answer is not a request")
	_, err = newSealer("ring", "127.0.0.1:2", testKeyring(t, testKey(t)), 0, 1).openReply(sealed, request.GetNonce())
	assert.ErrorIs(t, err, errUnknownKey)
	_, err = newSealer("other", "127.0.0.1:2", testKeyring(t, key), 0, 1).openReply(sealed, request.GetNonce())
	assert.ErrorIs(t, err, errOtherRing)
	late := newSealer("ring", "127.0.0.1:2", testKeyring(t, key), 0, 1)
	late.now = func() time.Time { return time.Now().Add(time.Hour) }
	_, err = late.openReply(sealed, request.GetNonce())
	assert.Error(t, err, "outside the replay window")
}

// A client with a keyring takes an unsealed answer only when it is an
// error (a ring that could not open the request says why in the clear);
// a success must be sealed, or anyone who reaches the client's process
// could forge one.
func TestClientRefusesUnsealedSuccess(t *testing.T) {
	system := actor.NewActorSystem()
	c := NewClient(system, "127.0.0.1:1", "ring").WithKeyring(testKeyring(t, testKey(t)))
	nonce := make([]byte, nonceSize)
	for _, forged := range []any{&messages.OpReply{}, &messages.Nodes{Nodes: []string{"127.0.0.1:9"}}, &messages.CallReply{}} {
		_, err := c.openAnswer(forged, nonce)
		assert.ErrorIs(t, err, errUnsealedReply, "%T", forged)
	}
	refusal := opReply(ErrKeyRequired)
	res, err := c.openAnswer(refusal, nonce)
	require.NoError(t, err)
	assert.Same(t, refusal, res)

	open := NewClient(system, "127.0.0.1:1", "ring")
	res, err = open.openAnswer(&messages.OpReply{}, nil)
	require.NoError(t, err, "a client without a keyring takes answers as they come")
	assert.NotNil(t, res)
}

// On the wire, a keyed member's answers to a sealed request are sealed:
// membership answers, node lists and call replies alike, and its Client
// opens them.
func TestKeyedMemberSealsItsAnswers(t *testing.T) {
	key := testKey(t)
	ring := uniqueRing("sealedanswers")
	target := startGuardedPeer(t, guardedSpec{Ring: ring, Key: EncodeKey(key)})
	system := sharedRemote(t)
	pid := actor.NewPID(target.node, ring)
	client := newSealer(ring, system.Address(), testKeyring(t, key), 0, 1)
	body := mustAny(t, &messages.GetAll{})
	for _, request := range []proto.Message{&messages.GetAll{}, &messages.GetUp{}, &messages.AddNode{Node: "bad address"}, &messages.CallRequest{Body: body}} {
		sealedRequest := mustSeal(t, client, request)
		res, err := system.Root.RequestFuture(pid, sealedRequest, waitFor).Result()
		require.NoError(t, err)
		sealed, ok := res.(*messages.Sealed)
		require.True(t, ok, "the answer to %T is %T, not sealed", request, res)
		_, err = client.openReply(sealed, sealedRequest.GetNonce())
		require.NoError(t, err)
	}
	c := NewClient(system, target.node, ring).WithKeyring(testKeyring(t, key))
	all, err := c.All(within(waitFor))
	require.NoError(t, err)
	assert.Equal(t, []string{target.node}, all)
	require.ErrorIs(t, c.AddNode(within(waitFor), "bad address"), ErrInvalidNode, "a sealed error answer keeps its code")

	// A deferred reply (Reply after NoReply) is sealed for its call too.
	answer := make(chan any, 1)
	go func() {
		res, err := c.Call(within(waitFor), wrapperspb.String("later"))
		if err != nil {
			answer <- err
			return
		}
		answer <- res
	}()
	require.Eventually(t, func() bool {
		res, err := c.Call(within(time.Second), wrapperspb.String("pending"))
		return err == nil && res.(*wrapperspb.Int64Value).GetValue() == 1
	}, waitFor, tick)
	require.NoError(t, c.Cast(wrapperspb.String("release:done")))
	select {
	case res := <-answer:
		require.IsType(t, &wrapperspb.StringValue{}, res, "%v", res)
		assert.Equal(t, "done", res.(*wrapperspb.StringValue).GetValue())
	case <-time.After(waitFor):
		t.Fatal("the deferred reply did not arrive")
	}
}
