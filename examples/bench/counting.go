package main

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// errKilled is what a killed member's network answers from then on.
var errKilled = errors.New("bench: member killed")

// wire counts the bytes one member writes to its TCP connections (what it
// sends, framing of gRPC/HTTP/2 or of memberlist included; IP, TCP and UDP
// headers excluded) and can kill them all at once, the way the kernel
// closes the sockets of a process that dies.
type wire struct {
	sent   atomic.Uint64
	mu     sync.Mutex
	conns  map[*countingConn]struct{}
	killed bool
}

func newWire() *wire { return &wire{conns: map[*countingConn]struct{}{}} }

// Sent returns the bytes written so far.
func (w *wire) Sent() uint64 { return w.sent.Load() }

// track wraps c so that its writes are counted and kill closes it.
func (w *wire) track(c net.Conn) (net.Conn, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.killed {
		c.Close()
		return nil, errKilled
	}
	cc := &countingConn{Conn: c, w: w}
	w.conns[cc] = struct{}{}
	return cc, nil
}

// kill closes every connection and refuses new ones.
func (w *wire) kill() {
	w.mu.Lock()
	w.killed = true
	conns := w.conns
	w.conns = map[*countingConn]struct{}{}
	w.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

type countingConn struct {
	net.Conn
	w *wire
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.w.sent.Add(uint64(n))
	return n, err
}

func (c *countingConn) Close() error {
	c.w.mu.Lock()
	delete(c.w.conns, c)
	c.w.mu.Unlock()
	return c.Conn.Close()
}

// wireCredentials are gRPC's plaintext credentials with every connection,
// dialed or accepted, counted by a wire: the one seam of Proto.Actor's
// remote that sees the raw connections of both sides (it opens its own
// listener and dials with the options it is given).
type wireCredentials struct {
	credentials.TransportCredentials
	w *wire
}

func newWireCredentials(w *wire) credentials.TransportCredentials {
	return &wireCredentials{TransportCredentials: insecure.NewCredentials(), w: w}
}

func (c *wireCredentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		return nil, nil, err
	}
	counted, err := c.w.track(conn)
	return counted, info, err
}

func (c *wireCredentials) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return nil, nil, err
	}
	counted, err := c.w.track(conn)
	return counted, info, err
}

func (c *wireCredentials) Clone() credentials.TransportCredentials {
	return &wireCredentials{TransportCredentials: c.TransportCredentials.Clone(), w: c.w}
}
