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

// A member keeps its payload as a snapshot and a log of deltas: it loads
// both on start, appends each batch's deltas (one sync) before it replies,
// and compacts the log into a snapshot when it has grown.
func ExampleFileStore_payload() {
	dir, err := os.MkdirTemp("", "ring-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := persistence.NewFileStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	loaded, err := store.LoadPayload()
	if err != nil {
		log.Fatal(err) // a bad snapshot: stop, do not reset
	}
	if loaded.CutBytes > 0 {
		log.Printf("cut %d bytes of a torn log: %v", loaded.CutBytes, loaded.CutReason)
	}
	fmt.Println("start with snapshot:", loaded.Snapshot != nil, "deltas:", len(loaded.Deltas))

	// One batch of mailbox messages made three changes: one sync for all.
	if err := store.AppendDeltas([][]byte{[]byte("+1"), []byte("+2"), []byte("+3")}); err != nil {
		log.Fatal(err) // in the ring: every caller of the batch gets this error
	}
	const compactAt = 16 // bytes; a real threshold is far larger
	if store.LogSize() > compactAt {
		if err := store.SaveSnapshot([]byte("=6")); err != nil {
			log.Fatal(err)
		}
	}

	loaded, err = store.LoadPayload()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after a restart: snapshot %s, deltas: %d\n", loaded.Snapshot, len(loaded.Deltas))
	// Output:
	// start with snapshot: false deltas: 0
	// after a restart: snapshot =6, deltas: 0
}
