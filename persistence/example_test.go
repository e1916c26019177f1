package persistence_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// A member starts by loading its ring; ErrNotFound means it is new, any
// other error means the file needs a person's attention.
func ExampleFileStore() {
	dir, err := os.MkdirTemp("", "ring-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// In an application: persistence.DefaultDir("orders", "127.0.0.1:8001").
	store, err := persistence.NewFileStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close() // releases the directory's lock

	_, err = store.Load()
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		fmt.Println("new member: nothing persisted yet")
	case err != nil:
		log.Fatal(err) // corrupt or from a newer build: stop, do not reset
	}

	if err := store.Save(&messages.PersistedRing{Ring: "orders", Self: "127.0.0.1:8001"}); err != nil {
		log.Fatal(err)
	}
	ring, err := store.Load()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("restored ring", ring.GetRing(), "of", ring.GetSelf())

	// A member removed from the ring deletes its file.
	if err := store.Delete(); err != nil {
		log.Fatal(err)
	}
	_, err = store.Load()
	fmt.Println("after delete, not found:", errors.Is(err, persistence.ErrNotFound))
	// Output:
	// new member: nothing persisted yet
	// restored ring orders of 127.0.0.1:8001
	// after delete, not found: true
}

// Each member has a directory of its own under ./data/<ring name>/.
func ExampleDefaultDir() {
	fmt.Println(persistence.DefaultDir("orders", "127.0.0.1:8001"))
	// Output: data/orders/127.0.0.1_8001
}
