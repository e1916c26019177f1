package crdt

// The law harness: generic tests that prove the CRDT contract on generated
// states, for every type of the package. To cover a type T (pointer type P):
//
//  1. Describe its updates with an opSpec[P]: New returns an empty state, Op
//     applies one random update of a replica and returns its delta (a type
//     without deltas returns a Clone of the whole new state: a full state is
//     always a valid delta), Value returns the user-visible value in a form
//     assert.Equal can compare (sort sets).
//  2. Call checkLaws(t, "T", historyGen(spec)) for the algebraic laws, and
//     checkConvergence(t, "T", spec) for replicas exchanging deltas and full
//     states out of order.
//
// For example:
//
//	func TestPNCounterLaws(t *testing.T) {
//		spec := opSpec[*PNCounter]{
//			New: func() *PNCounter { return &PNCounter{} },
//			Op: func(r *rand.Rand, replica ReplicaID, c *PNCounter) *PNCounter {
//				if r.IntN(2) == 0 {
//					return c.Increment(replica, r.Uint64N(5)+1)
//				}
//				return c.Decrement(replica, r.Uint64N(5)+1)
//			},
//			Value: func(c *PNCounter) any { return c.Value() },
//		}
//		checkLaws(t, "PNCounter", historyGen(spec))
//		checkConvergence(t, "PNCounter", spec)
//	}
//
// checkLaws also takes any hand-written gen; it calls gen three times per
// iteration. The seed is random per run and printed on failure with the
// iteration; rerun one with
//
//	go test ./crdt/ -run TestX -crdt.seed=N
//
// and -crdt.iterations=N to run longer (the default is 200, 40 with -short).

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	lawSeed       = flag.Uint64("crdt.seed", 0, "seed of the CRDT law tests (0: random)")
	lawIterations = flag.Int("crdt.iterations", 0, "iterations of each CRDT law test (0: default)")
)

// lawRand returns the seed of a law test, printed if the test fails, and
// the number of iterations to run.
func lawRand(t *testing.T) (seed uint64, iterations int) {
	t.Helper()
	seed = *lawSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rerun with -crdt.seed=%d", seed)
		}
	})
	iterations = *lawIterations
	if iterations == 0 {
		iterations = 200
		if testing.Short() {
			iterations = 40
		}
	}
	return seed, iterations
}

// iterationRand returns the generator of one iteration, reproducible from
// the seed and the iteration number.
func iterationRand(seed uint64, iteration int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(iteration)))
}

// opSpec describes a CRDT type by its updates, for historyGen and
// checkConvergence.
type opSpec[P CRDT[P]] struct {
	// New returns an empty state.
	New func() P
	// Op applies one random update made by replica to state and returns
	// its delta.
	Op func(r *rand.Rand, replica ReplicaID, state P) (delta P)
	// Value returns the user-visible value of state, comparable with
	// assert.Equal (sorted, for sets).
	Value func(state P) any
}

// historyGen returns a gen for checkLaws whose states share history, as
// states of one ring do: each call advances a simulated run of a few
// replicas (random updates, random merges between replicas) and returns a
// copy of one replica's state. Every three calls (one checkLaws iteration)
// a new run starts with new replica IDs, so that no two runs mint the same
// dot for different updates.
func historyGen[P CRDT[P]](spec opSpec[P]) func(r *rand.Rand) P {
	var (
		run      int
		calls    int
		replicas []ReplicaID
		states   []P
	)
	return func(r *rand.Rand) P {
		if calls%3 == 0 {
			run++
			replicas = replicas[:0]
			states = states[:0]
			for i := range 2 + r.IntN(3) {
				replicas = append(replicas, ReplicaID(fmt.Sprintf("r%d.run%d", i, run)))
				states = append(states, spec.New())
			}
		}
		calls++
		for range r.IntN(12) {
			i := r.IntN(len(states))
			if r.IntN(4) == 0 {
				states[i].Merge(states[r.IntN(len(states))])
				continue
			}
			spec.Op(r, replicas[i], states[i])
		}
		return states[r.IntN(len(states))].Clone()
	}
}

// checkLaws proves on generated states that Merge is commutative,
// associative and idempotent up to Equal, that it reports change exactly
// when the state changes and leaves its argument alone, that Clone shares
// nothing, and that MarshalBinary/UnmarshalBinary round-trip (and that a
// failed UnmarshalBinary leaves the receiver unchanged).
func checkLaws[P CRDT[P]](t *testing.T, name string, gen func(r *rand.Rand) P) {
	t.Helper()
	t.Run(name+"/laws", func(t *testing.T) {
		seed, iterations := lawRand(t)
		for it := range iterations {
			r := iterationRand(seed, it)
			a, b, c := gen(r), gen(r), gen(r)
			at := fmt.Sprintf("seed %d iteration %d", seed, it)
			checkLawsOnce(t, at, a, b, c)
			if t.Failed() {
				return
			}
		}
	})
}

// merged returns a copy of x merged with each of ys.
func merged[P CRDT[P]](x P, ys ...P) P {
	out := x.Clone()
	for _, y := range ys {
		out.Merge(y)
	}
	return out
}

func checkLawsOnce[P CRDT[P]](t *testing.T, at string, a, b, c P) {
	t.Helper()
	snapA, snapB := a.Clone(), b.Clone()
	require.True(t, a.Equal(snapA), "%s: Clone is Equal", at)

	// Idempotence.
	self := a.Clone()
	assert.False(t, self.Merge(a), "%s: merging a state into itself reports a change", at)
	assert.True(t, self.Equal(a), "%s: a ⊔ a != a", at)
	assert.False(t, self.Merge(self), "%s: merging a state with the same value reports a change", at)

	// Commutativity.
	ab, ba := merged(a, b), merged(b, a)
	assert.True(t, ab.Equal(ba), "%s: a ⊔ b != b ⊔ a", at)

	// Associativity.
	left, right := merged(merged(a, b), c), merged(a, merged(b, c))
	assert.True(t, left.Equal(right), "%s: (a ⊔ b) ⊔ c != a ⊔ (b ⊔ c)", at)

	// The join is an upper bound: merging either side again changes nothing.
	again := ab.Clone()
	assert.False(t, again.Merge(a), "%s: (a ⊔ b) ⊔ a reports a change", at)
	assert.False(t, again.Merge(b), "%s: (a ⊔ b) ⊔ b reports a change", at)
	assert.True(t, again.Equal(ab), "%s: (a ⊔ b) ⊔ a ⊔ b != a ⊔ b", at)

	// Merge reports change exactly when the state changes, and leaves its
	// argument unchanged.
	target := a.Clone()
	changed := target.Merge(b)
	assert.Equal(t, !target.Equal(a), changed, "%s: Merge's report disagrees with Equal", at)
	assert.True(t, b.Equal(snapB), "%s: Merge changed its argument", at)
	assert.True(t, a.Equal(snapA), "%s: merging into a clone changed the original", at)

	// Clones are independent both ways.
	clone := a.Clone()
	clone.Merge(b)
	clone.Merge(c)
	assert.True(t, a.Equal(snapA), "%s: merging into a clone changed the original", at)
	original := b.Clone()
	detached := original.Clone()
	original.Merge(a)
	original.Merge(c)
	assert.True(t, detached.Equal(snapB), "%s: merging into the original changed the clone", at)

	// Encoding round-trips into any receiver, and a failed decode leaves the
	// receiver unchanged.
	for _, x := range []P{a, ab, left} {
		data, err := x.MarshalBinary()
		require.NoError(t, err, "%s: MarshalBinary", at)
		decoded := c.Clone()
		require.NoError(t, decoded.UnmarshalBinary(data), "%s: UnmarshalBinary", at)
		assert.True(t, decoded.Equal(x), "%s: decode(encode(x)) != x", at)
		for _, junk := range [][]byte{{0xff}, append(data[:len(data):len(data)], 0x0a, 0x7f)} {
			receiver := c.Clone()
			if receiver.UnmarshalBinary(junk) != nil {
				assert.True(t, receiver.Equal(c), "%s: failed UnmarshalBinary changed the receiver", at)
			}
		}
	}
}

// message is a payload in flight between simulated replicas.
type message[P any] struct {
	to      int
	payload P
	encoded bool // deliver through MarshalBinary/UnmarshalBinary
}

// checkConvergence runs replicas that make random updates and exchange
// deltas (to every other replica) and, in half of the runs, full states (to
// a random one), delivered in random order, some twice, some joined with
// another payload to the same replica, some through their encoding. At
// every update it checks the delta law: merging the delta into any state
// that has seen the state before the update gives what merging the full
// new state gives. Once everything is delivered, every replica must be
// Equal with the same Value.
func checkConvergence[P CRDT[P]](t *testing.T, name string, spec opSpec[P]) {
	t.Helper()
	t.Run(name+"/convergence", func(t *testing.T) {
		seed, iterations := lawRand(t)
		for it := range iterations {
			r := iterationRand(seed, it)
			convergeOnce(t, fmt.Sprintf("seed %d iteration %d", seed, it), r, spec)
			if t.Failed() {
				return
			}
		}
	})
}

func convergeOnce[P CRDT[P]](t *testing.T, at string, r *rand.Rand, spec opSpec[P]) {
	t.Helper()
	n := 2 + r.IntN(4)
	replicas := make([]ReplicaID, n)
	states := make([]P, n)
	for i := range n {
		replicas[i] = ReplicaID(fmt.Sprintf("replica-%d", i))
		states[i] = spec.New()
	}
	var inFlight []message[P]
	send := func(to int, payload P) {
		inFlight = append(inFlight, message[P]{to: to, payload: payload.Clone(), encoded: r.IntN(4) == 0})
	}
	deliver := func(k int, keep bool) {
		m := inFlight[k]
		if !keep {
			inFlight[k] = inFlight[len(inFlight)-1]
			inFlight = inFlight[:len(inFlight)-1]
		}
		payload := m.payload
		if m.encoded {
			data, err := payload.MarshalBinary()
			require.NoError(t, err, "%s: MarshalBinary", at)
			payload = spec.New()
			require.NoError(t, payload.UnmarshalBinary(data), "%s: UnmarshalBinary", at)
			require.True(t, payload.Equal(m.payload), "%s: decode(encode(x)) != x", at)
		}
		before := states[m.to].Clone()
		changed := states[m.to].Merge(payload)
		require.Equal(t, !before.Equal(states[m.to]), changed, "%s: Merge's report disagrees with Equal", at)
	}

	// Half of the runs exchange deltas only, so that convergence cannot
	// lean on full states.
	fullStates := r.IntN(2) == 0
	for range 10 + r.IntN(50) {
		switch roll := r.IntN(22); {
		case roll < 11: // an update, its delta sent to everyone else
			i := r.IntN(n)
			before := states[i].Clone()
			delta := spec.Op(r, replicas[i], states[i])
			require.True(t, merged(before, delta).Equal(states[i]),
				"%s: state before update ⊔ delta != state after update", at)
			// A replica that has seen the state before the update gets the
			// same from the delta as from the full state.
			seen := merged(states[r.IntN(n)], before)
			require.True(t, merged(seen, delta).Equal(merged(seen, states[i])),
				"%s: delta and full state merge differently into a replica that saw the state before the update", at)
			for j := range n {
				if j != i {
					send(j, delta)
				}
			}
		case roll < 14: // a full state, to one replica
			if fullStates {
				send(r.IntN(n), states[r.IntN(n)])
			}
		case roll < 16: // two payloads in flight to one replica, joined into one
			if len(inFlight) < 2 {
				continue
			}
			first, second := r.IntN(len(inFlight)), r.IntN(len(inFlight))
			if first == second || inFlight[first].to != inFlight[second].to {
				continue
			}
			inFlight[first].payload.Merge(inFlight[second].payload)
			inFlight[second] = inFlight[len(inFlight)-1]
			inFlight = inFlight[:len(inFlight)-1]
		default:
			if len(inFlight) > 0 {
				deliver(r.IntN(len(inFlight)), r.IntN(10) == 0)
			}
		}
	}
	for len(inFlight) > 0 {
		deliver(r.IntN(len(inFlight)), false)
	}
	for i := 1; i < n; i++ {
		require.True(t, states[i].Equal(states[0]), "%s: replicas 0 and %d did not converge", at, i)
		require.Equal(t, spec.Value(states[0]), spec.Value(states[i]), "%s: values of replicas 0 and %d differ", at, i)
	}
}

// causalSeedCorpus adds to a fuzz target's seed corpus the encodings of
// states from gen, those encodings truncated and with a flipped byte, and
// junk. The seed corpus runs as an ordinary test.
func causalSeedCorpus[P CRDT[P]](f *testing.F, gen func(r *rand.Rand) P) {
	f.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	f.Add([]byte(nil))
	f.Add([]byte{0xff})
	f.Add([]byte{0x0a, 0x7f})
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	for range 12 {
		data, err := gen(r).MarshalBinary()
		require.NoError(f, err)
		f.Add(data)
		if len(data) > 0 {
			f.Add(data[:r.IntN(len(data))])
			flipped := append([]byte(nil), data...)
			flipped[r.IntN(len(flipped))] ^= byte(1 + r.IntN(255))
			f.Add(flipped)
		}
	}
}

// checkDecode is the body of the decoding fuzz targets: any bytes decode to
// a state or give an error wrapping ErrDecode, never a panic; a failed
// decode leaves the receiver unchanged; a decoded state re-encodes and
// decodes to an Equal state.
func checkDecode[P CRDT[P]](t *testing.T, data []byte, newP func() P) {
	t.Helper()
	decoded := newP()
	if err := decoded.UnmarshalBinary(data); err != nil {
		require.ErrorIs(t, err, ErrDecode)
		require.True(t, decoded.Equal(newP()), "a failed decode changed the receiver")
		return
	}
	again, err := decoded.MarshalBinary()
	require.NoError(t, err, "re-encoding a decoded state")
	redecoded := newP()
	require.NoError(t, redecoded.UnmarshalBinary(again), "decoding a re-encoded state")
	require.True(t, redecoded.Equal(decoded), "decode(encode(decode(data))) != decode(data)")
	// A decoded state is a valid state: it merges like one.
	require.False(t, redecoded.Merge(decoded), "merging a state with an Equal one reports a change")
}
