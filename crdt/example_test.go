package crdt_test

import (
	"errors"
	"fmt"
	"slices"

	"github.com/genserverring/genserverring-go/crdt"
)

// Two replicas of an OR-set update concurrently and exchange states; an add
// concurrent with a remove of the same element wins.
func ExampleORSet_Merge() {
	alice := crdt.ReplicaID("10.0.0.1:7001#a1")
	bob := crdt.ReplicaID("10.0.0.2:7001#b2")

	var nodesA, nodesB crdt.ORSet[string]
	nodesA.Add(alice, "10.0.0.1:7001")
	nodesA.Add(alice, "10.0.0.3:7001")
	nodesB.Merge(&nodesA)

	// Concurrently: A removes 10.0.0.3, B adds itself and re-adds 10.0.0.3.
	nodesA.Remove("10.0.0.3:7001")
	nodesB.Add(bob, "10.0.0.2:7001")
	nodesB.Add(bob, "10.0.0.3:7001")

	changed := nodesA.Merge(&nodesB)
	nodesB.Merge(&nodesA)

	elements := nodesA.Elements()
	slices.Sort(elements)
	fmt.Println(changed, elements, nodesA.Equal(&nodesB))
	// Output: true [10.0.0.1:7001 10.0.0.2:7001 10.0.0.3:7001] true
}

// An update returns a delta: a small state that, merged into a replica that
// has seen the state before the update, has the effect of the whole state.
func ExampleORSet_Remove() {
	alice := crdt.ReplicaID("10.0.0.1:7001#a1")
	var a, b crdt.ORSet[string]
	a.Add(alice, "x")
	b.Merge(&a)

	delta := a.Remove("x")
	b.Merge(delta)
	fmt.Println(b.Contains("x"), b.Equal(&a))
	// Output: false true
}

// Two replicas of a counter count on their own and merge: each replica's
// increments and decrements are counted once, however often they merge.
func ExamplePNCounter_Merge() {
	alice := crdt.ReplicaID("10.0.0.1:7001#a1")
	bob := crdt.ReplicaID("10.0.0.2:7001#b2")

	var a, b crdt.PNCounter
	a.Increment(alice, 5)
	b.Increment(bob, 3)
	b.Decrement(bob, 1)

	a.Merge(&b)
	b.Merge(&a)
	a.Merge(&b) // merging again changes nothing
	fmt.Println(a.Value(), b.Value())
	// Output: 7 7
}

// Pruning folds the slot of a member that left for good into the slot of
// the member that prunes it; a late state from the member that left
// changes nothing afterwards.
func ExampleGCounter_Prune() {
	var survivor, leaver crdt.GCounter
	survivor.Increment("survivor", 3)
	leaver.Increment("leaver", 4)
	survivor.Merge(&leaver)

	delta, err := survivor.Prune("leaver", "survivor")
	if err != nil {
		panic(err)
	}
	fmt.Println(survivor.Value(), survivor.Replicas(), len(delta.Pruned()))

	leaver.Increment("leaver", 100) // too late: its slot is pruned
	fmt.Println(survivor.Merge(&leaver), survivor.Value())
	// Output:
	// 7 [survivor] 1
	// false 7
}

// Decoding refuses input beyond the limits with an error that names the
// limit.
func ExampleLimits() {
	var clock crdt.VClock
	clock.Advance("a", 1)
	clock.Advance("b", 1)
	clock.Advance("c", 1)
	data, _ := clock.MarshalBinary()

	var decoded crdt.VClock
	err := decoded.UnmarshalBinaryLimits(data, crdt.Limits{MaxReplicas: 2})
	fmt.Println(errors.Is(err, crdt.ErrDecode), errors.Is(err, crdt.ErrLimit))
	fmt.Println(err)
	// Output:
	// true true
	// crdt: decode: vclock: replicas 3 exceeds the limit 2
}
