package ringactor_test

import (
	"fmt"

	"github.com/genserverring/genserverring-go/ringactor"
)

// Owner places work: each key has one owner among the members up, the
// same on every member that sees the same up set. A fourth member takes
// over only the keys it now owns; the others keep theirs. In a callback
// use ctx.Owner(key) (over the member's up set); from outside the ring,
// client.Owner(key).
func ExampleOwner() {
	up := []string{"10.0.0.1:4000", "10.0.0.2:4000", "10.0.0.3:4000"}
	grown := append(up, "10.0.0.4:4000")
	for _, key := range []string{"user:1", "user:2", "user:3", "user:4", "user:5"} {
		before, _ := ringactor.Owner(key, up)
		after, _ := ringactor.Owner(key, grown)
		fmt.Println(key, before, "->", after)
	}
	_, ok := ringactor.Owner("user:1", nil)
	fmt.Println("owner in an empty ring:", ok)
	// Output:
	// user:1 10.0.0.2:4000 -> 10.0.0.4:4000
	// user:2 10.0.0.2:4000 -> 10.0.0.2:4000
	// user:3 10.0.0.1:4000 -> 10.0.0.1:4000
	// user:4 10.0.0.3:4000 -> 10.0.0.4:4000
	// user:5 10.0.0.1:4000 -> 10.0.0.4:4000
	// owner in an empty ring: false
}
