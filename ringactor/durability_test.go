package ringactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// recordingStore is a MemoryStore whose appends can be slowed down (a disk's
// sync time) or made to fail (a full disk), and are counted.
type recordingStore struct {
	*persistence.MemoryStore
	mu      sync.Mutex
	fail    error
	delay   time.Duration
	appends int
}

func newRecordingStore() *recordingStore {
	return &recordingStore{MemoryStore: persistence.NewMemoryStore()}
}

func (s *recordingStore) AppendDeltas(deltas [][]byte) error {
	s.mu.Lock()
	fail, delay := s.fail, s.delay
	s.appends++
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // the store's model of a sync, not a wait in the test
	}
	if fail != nil {
		return fail
	}
	return s.MemoryStore.AppendDeltas(deltas)
}

func (s *recordingStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// durableValue is the counter value a member restarted from s would load.
func (s *recordingStore) durableValue(t *testing.T) int64 {
	t.Helper()
	log, err := s.LoadPayload()
	require.NoError(t, err)
	counter := &crdt.PNCounter{}
	if log.Snapshot != nil {
		require.NoError(t, counter.UnmarshalBinary(log.Snapshot))
	}
	for _, data := range log.Deltas {
		delta := &crdt.PNCounter{}
		require.NoError(t, delta.UnmarshalBinary(data))
		counter.Merge(delta)
	}
	return counter.Value()
}

func TestDurableCallIsOnDiskBeforeTheReply(t *testing.T) {
	store := newRecordingStore()
	m := startMember(t, "durable", store)
	for i := 1; i <= 5; i++ {
		v, err := m.client.Call(within(time.Second), incr{1})
		require.NoError(t, err)
		// The reply came: the store must already hold the change.
		assert.Equal(t, int64(i), v)
		assert.Equal(t, int64(i), store.durableValue(t), "call %d answered before its change was durable", i)
	}
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	store := newRecordingStore()
	store.delay = 2 * time.Millisecond
	m := startMember(t, "group", store)
	const callers, calls = 64, 10
	var wg sync.WaitGroup
	errs := make(chan error, callers*calls)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if _, err := m.client.Call(within(5*time.Second), incr{1}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(callers*calls), store.durableValue(t))
	stats := m.stats(t)
	assert.Equal(t, uint64(callers*calls), stats.SyncedDeltas)
	// With 64 callers waiting, a sync carries many changes.
	assert.Less(t, stats.Syncs*4, stats.SyncedDeltas, "syncs %d for %d changes: no group commit", stats.Syncs, stats.SyncedDeltas)
}

func TestFailedSyncFailsTheChangeButNotReads(t *testing.T) {
	store := newRecordingStore()
	m := startMember(t, "full-disk", store)
	_, err := m.client.Call(within(time.Second), incr{2})
	require.NoError(t, err)

	store.setFail(fmt.Errorf("append payload log: %w", syscall.ENOSPC))
	_, err = m.client.Call(within(time.Second), incr{3})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "change not durable")
	assert.Contains(t, err.Error(), "no space left on device")
	v, err := m.client.Call(within(time.Second), get{})
	require.NoError(t, err, "reads go on while the disk is full")
	assert.Equal(t, int64(5), v, "the change stays applied in memory")
	assert.Equal(t, int64(2), store.durableValue(t))
	assert.NotZero(t, m.stats(t).SyncErrors)

	store.setFail(nil)
	_, err = m.client.Call(within(time.Second), incr{1})
	require.NoError(t, err)
	assert.Equal(t, int64(6), store.durableValue(t), "the failed change is written once the disk recovers")
}

func TestStateIsNotSentWhileAChangeIsNotDurable(t *testing.T) {
	store := newRecordingStore()
	a := startMember(t, "held2", store)
	b := startMember(t, "held2", nil)
	require.NoError(t, a.client.AddNode(context.Background(), b.node))
	require.Eventually(t, func() bool { return len(b.up(t)) == 2 }, waitFor, tick)

	store.setFail(errors.New("disk failing"))
	_, err := a.client.Call(within(time.Second), incr{7})
	require.ErrorContains(t, err, "change not durable")
	require.Eventually(t, func() bool { return a.stats(t).StateSendsHeld > 0 }, waitFor, tick)
	assert.Equal(t, int64(0), b.value(t), "a change that is not durable never leaves its member")

	store.setFail(nil)
	require.Eventually(t, func() bool { return b.value(t) == 7 }, waitFor, tick, "it spreads once it is durable")
}

func TestRestartWithIntactDataKeepsReplicaAndValue(t *testing.T) {
	store := newRecordingStore()
	n := netFor(t)
	system, node := n.system, newNode()
	var replicas []crdt.ReplicaID
	const restarts = 1000
	for i := range restarts {
		b := &replicaBehaviour{}
		client, err := Start[*crdt.PNCounter](system, "lives", b, WithStore(store), WithLogger(quietLogger()), n.member(node))
		require.NoError(t, err, "start %d", i)
		v, err := client.Call(within(time.Second), incr{1})
		require.NoError(t, err)
		require.Equal(t, int64(i+1), v, "life %d lost an acknowledged increment", i)
		if i == 0 || i == restarts-1 {
			replicas = append(replicas, b.replica)
		}
		require.NoError(t, system.Root.StopFuture(client.PID()).Wait())
	}
	assert.Equal(t, replicas[0], replicas[1], "the replica ID survives restarts")
	log, err := store.LoadPayload()
	require.NoError(t, err)
	final := &crdt.PNCounter{}
	for _, data := range append([][]byte{log.Snapshot}, log.Deltas...) {
		if data == nil {
			continue
		}
		delta := &crdt.PNCounter{}
		require.NoError(t, delta.UnmarshalBinary(data))
		final.Merge(delta)
	}
	assert.Equal(t, 1, final.Increments().Len(), "1,000 lives add no counter slot")
	ring, err := store.Load()
	require.NoError(t, err)
	assert.Equal(t, string(replicas[0]), ring.GetReplica())
}

// replicaBehaviour is a counter that records its replica ID.
type replicaBehaviour struct {
	counterBehaviour
	replica crdt.ReplicaID
}

func (b *replicaBehaviour) Init(ctx *Context[*crdt.PNCounter]) (*crdt.PNCounter, error) {
	b.replica = ctx.Replica()
	return nil, nil
}

func TestDurabilityNoneTakesANewReplicaEachLife(t *testing.T) {
	store := persistence.NewMemoryStore()
	n := netFor(t)
	system, node := n.system, newNode()
	var replicas []crdt.ReplicaID
	for range 2 {
		b := &replicaBehaviour{}
		client, err := Start[*crdt.PNCounter](system, "soft", b, WithStore(store), WithDurability(DurabilityNone), WithLogger(quietLogger()), n.member(node))
		require.NoError(t, err)
		_, err = client.Call(within(time.Second), incr{1})
		require.NoError(t, err)
		replicas = append(replicas, b.replica)
		require.NoError(t, system.Root.StopFuture(client.PID()).Wait())
	}
	assert.NotEqual(t, replicas[0], replicas[1])
	log, err := store.LoadPayload()
	require.NoError(t, err)
	assert.Empty(t, log.Deltas, "nothing is logged without durability")
}

func TestPushReachesEveryMemberWithoutAntiEntropy(t *testing.T) {
	// An hour between anti-entropy rounds and heartbeats (which carry
	// digests): only the push can carry it. Each member adds every other
	// one, so membership needs no rounds either. (A member pings each new
	// successor, with a digest, while the ring forms: before the change.)
	var members []*member
	var nodes []string
	for range 4 {
		m := startMember(t, "push", nil, WithGossipInterval(time.Hour), WithProbe(time.Hour, time.Second))
		members, nodes = append(members, m), append(nodes, m.node)
	}
	for _, m := range members {
		for _, node := range nodes {
			require.NoError(t, m.client.AddNode(context.Background(), node))
		}
	}
	all := sortedNodes(nodes...)
	for _, m := range members {
		require.Eventually(t, func() bool { return slices.Equal(m.up(t), all) }, waitFor, tick)
	}
	before := make([]Stats, len(members))
	for i, m := range members {
		before[i] = m.stats(t)
	}
	_, err := members[2].client.Call(within(time.Second), incr{4})
	require.NoError(t, err)
	for _, m := range members {
		require.Eventually(t, func() bool { return m.value(t) == 4 }, waitFor, tick)
	}
	for i, m := range members {
		stats := m.stats(t)
		assert.Equal(t, before[i].DigestsSent, stats.DigestsSent, "no anti-entropy round ran")
		assert.Equal(t, before[i].GossipSent, stats.GossipSent, "no state went but by push")
		assert.NotZero(t, stats.DeltasReceived+stats.DeltasSent)
	}
}

func TestAntiEntropySendsStateOnlyWhenDigestsDiffer(t *testing.T) {
	members, _ := startRing(t, "digest", 3, WithPush(0, 0))
	_, err := members[0].client.Call(within(time.Second), incr{3})
	require.NoError(t, err)
	for _, m := range members {
		require.Eventually(t, func() bool { return m.value(t) == 3 }, waitFor, tick, "anti-entropy carries it without push")
	}
	// Converged: rounds go on, state does not travel.
	before := members[1].stats(t)
	require.Eventually(t, func() bool { return members[1].stats(t).DigestsSent >= before.DigestsSent+10 }, waitFor, tick)
	after := members[1].stats(t)
	assert.Equal(t, before.GossipSent, after.GossipSent, "no state sent while digests match")
}

// ackBehaviour is a counter whose "majority" calls ask for a majority's
// confirmation.
type ackBehaviour struct{ counterBehaviour }

type incrMajority struct{ n uint64 }

func (b *ackBehaviour) HandleCall(ctx *Context[*crdt.PNCounter], from From, msg any) CallResult {
	if m, ok := msg.(incrMajority); ok {
		ctx.SetWriteAcks(WriteMajority)
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Increment(ctx.Replica(), m.n) })
		return ReplyWith(ctx.Payload().Value())
	}
	return b.counterBehaviour.HandleCall(ctx, from, msg)
}

func TestWriteAcksAnswerOnlyOnceOthersHoldTheChange(t *testing.T) {
	// No push, and anti-entropy far apart: only the acked delta can carry
	// the change before the reply.
	// Timeouts far above need: on a loaded machine under -race the acks
	// take a while, and the test is about order, not speed.
	members, _ := startRing(t, "acks", 3, WithWriteAcks(2, waitFor), WithPush(0, 0))
	for i := 1; i <= 3; i++ {
		_, err := members[0].client.Call(within(2*waitFor), incr{1})
		require.NoError(t, err)
		for _, m := range members[1:] {
			// No waiting: the reply itself says both others hold it.
			assert.Equal(t, int64(i), m.value(t), "%s", m.node)
		}
	}
}

func TestWriteAcksFailClearlyWhenTooFewMembersAreUp(t *testing.T) {
	members, all := startRing(t, "few", 3, WithWriteAcks(2, time.Second))
	members[2].shutdown()
	require.Eventually(t, func() bool { return slices.Equal(members[0].up(t), without(all, members[2].node)) }, waitFor, tick)
	_, err := members[0].client.Call(within(3*time.Second), incr{5})
	require.ErrorIs(t, err, ErrNotReplicated) // in-process: the sentinel itself
	assert.Contains(t, err.Error(), "keeps spreading")
	assert.Equal(t, int64(5), members[0].value(t), "the change stays applied")
	require.Eventually(t, func() bool { return members[1].value(t) == 5 }, waitFor, tick, "and spreads")
}

func TestSetWriteAcksMajorityPerCall(t *testing.T) {
	var members []*member
	n := netFor(t)
	for range 3 {
		node := newNode()
		b := &ackBehaviour{}
		client, err := Start[*crdt.PNCounter](n.system, "majority", b, append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(memberLogger(t, slog.LevelDebug)), WithPush(0, 0), WithWriteAcks(0, waitFor), n.member(node)}, testOptions...)...)
		require.NoError(t, err)
		members = append(members, &member{system: n.system, client: client, behaviour: &b.counterBehaviour, node: node})
	}
	for _, m := range members[1:] {
		require.NoError(t, members[0].client.AddNode(context.Background(), m.node))
	}
	require.Eventually(t, func() bool { return len(members[0].up(t)) == 3 }, waitFor, tick)
	_, err := members[0].client.Call(within(2*waitFor), incrMajority{2})
	require.NoError(t, err)
	held := 0
	for _, m := range members[1:] {
		if m.value(t) == 2 {
			held++
		}
	}
	assert.GreaterOrEqual(t, held, 1, "a majority of 3 is this member and one other")
}

func TestWriteAcksOnARingOfOneFailAtOnce(t *testing.T) {
	m := startMember(t, "alone", nil, WithWriteAcks(1, time.Minute))
	_, err := m.client.Call(within(5*time.Second), incr{1})
	require.ErrorIs(t, err, ErrNotReplicated, "no other member can confirm: the answer comes at once, not after the timeout")
	assert.Equal(t, int64(1), m.value(t))
}

func TestMembershipRequestOnAFullDiskSaysSo(t *testing.T) {
	store := persistence.NewMemoryStore()
	a := startMember(t, "full-ring", store)
	b := startMember(t, "full-ring", nil)
	store.FailSaves(fmt.Errorf("save ring file: %w", syscall.ENOSPC))
	err := a.client.AddNode(context.Background(), b.node)
	require.ErrorIs(t, err, ErrNotDurable, "an AddNode that did not reach the disk must not answer nil")
	assert.Contains(t, err.Error(), "could not be written")
	assert.NotZero(t, a.stats(t).PersistErrors)

	store.FailSaves(nil)
	require.NoError(t, a.client.ForceDown(context.Background(), b.node), "requests succeed again once the disk recovers")
	ring, err := store.Load()
	require.NoError(t, err)
	assert.Len(t, ring.GetNodeSet().GetEntries(), 2, "the change that failed was written with the next one")
}
