package ringactor

import (
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
)

// holdingBehaviour is a counterBehaviour whose member can be kept busy: a
// holdCast blocks HandleCast until unhold, as a slow callback would.
type holdingBehaviour struct {
	*counterBehaviour
	mu       sync.Mutex
	released chan struct{}
}

// holdCast is the local cast that holds the ring actor; started closes
// once it does.
type holdCast struct{ started, released chan struct{} }

func (h *holdingBehaviour) HandleCast(ctx *Context[*crdt.PNCounter], msg any) {
	if m, ok := msg.(holdCast); ok {
		close(m.started)
		<-m.released
		return
	}
	h.counterBehaviour.HandleCast(ctx, msg)
}

// hold makes the ring actor busy and returns once it is.
func (h *holdingBehaviour) hold(client *Client) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released != nil {
		return errors.New("held already")
	}
	h.released = make(chan struct{})
	started := make(chan struct{})
	if err := client.Cast(holdCast{started: started, released: h.released}); err != nil {
		return err
	}
	select {
	case <-started:
		return nil
	case <-time.After(waitFor):
		return errors.New("the ring actor did not take the hold")
	}
}

// unhold frees the ring actor.
func (h *holdingBehaviour) unhold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released != nil {
		close(h.released)
		h.released = nil
	}
}

// heapState is what a guarded peer tells of its heap, without asking its
// ring actor (which may be held).
type heapState struct {
	HeapAlloc uint64 // bytes, after a GC
	Guard     GuardStats
}

func readHeap() heapState {
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return heapState{HeapAlloc: mem.HeapAlloc, Guard: RemoteGuardStats()}
}

// heap returns the peer's heap and guard counters.
func (p *guardedPeer) heap(t *testing.T) heapState {
	t.Helper()
	var state heapState
	require.NoError(t, json.Unmarshal([]byte(p.ask(t, "heap")), &state))
	return state
}
