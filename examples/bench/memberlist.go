package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// mlTransport wraps memberlist's own NetTransport: it counts what the
// member sends (UDP payloads and bytes written to TCP streams) and can
// freeze the member: packets in and out are dropped and incoming streams
// are held open unread, as for a process stopped with SIGSTOP, while its
// sockets stay open.
type mlTransport struct {
	inner   *memberlist.NetTransport
	wire    *wire
	frozen  atomic.Bool
	packets chan *memberlist.Packet
	streams chan net.Conn
	// stopping closes when Shutdown starts: from then on the forwarders
	// drop what arrives, so that NetTransport's listeners, which block
	// until someone takes their packet, can end; done closes after.
	stopping chan struct{}
	done     chan struct{}

	mu   sync.Mutex
	held []net.Conn
}

func newMLTransport() (*mlTransport, error) {
	inner, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		Logger:    log.New(io.Discard, "", 0),
	})
	if err != nil {
		return nil, err
	}
	t := &mlTransport{
		inner: inner, wire: newWire(),
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn),
		stopping: make(chan struct{}), done: make(chan struct{}),
	}
	go t.forwardPackets()
	go t.forwardStreams()
	return t, nil
}

func (t *mlTransport) forwardPackets() {
	for {
		select {
		case p := <-t.inner.PacketCh():
			if t.frozen.Load() {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.stopping:
			}
		case <-t.done:
			return
		}
	}
}

func (t *mlTransport) forwardStreams() {
	for {
		select {
		case c := <-t.inner.StreamCh():
			if t.frozen.Load() {
				t.hold(c)
				continue
			}
			counted, err := t.wire.track(c)
			if err != nil {
				continue
			}
			select {
			case t.streams <- counted:
			case <-t.stopping:
				counted.Close()
			}
		case <-t.done:
			return
		}
	}
}

// hold keeps an incoming stream of a frozen member open and unread, until
// Shutdown closes it.
func (t *mlTransport) hold(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.stopping:
		c.Close()
	default:
		t.held = append(t.held, c)
	}
}

func (t *mlTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *mlTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.frozen.Load() {
		return time.Now(), nil
	}
	t.wire.sent.Add(uint64(len(b)))
	return t.inner.WriteTo(b, addr)
}

func (t *mlTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *mlTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.frozen.Load() {
		return nil, errKilled
	}
	c, err := t.inner.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return t.wire.track(c)
}

func (t *mlTransport) StreamCh() <-chan net.Conn { return t.streams }

func (t *mlTransport) Shutdown() error {
	close(t.stopping)
	t.wire.kill()
	t.mu.Lock()
	for _, c := range t.held {
		c.Close()
	}
	t.mu.Unlock()
	err := t.inner.Shutdown()
	close(t.done)
	return err
}

func (t *mlTransport) port() int { return t.inner.GetAutoBindPort() }

// mlMember is one memberlist member; it shares a version number through
// the broadcast queue, rebroadcasting a newer one when it first hears of it
// (as serf does with user events), and through push-pull state.
type mlMember struct {
	name  string
	addr  string
	ml    *memberlist.Memberlist
	tr    *mlTransport
	queue *memberlist.TransmitLimitedQueue

	mu     sync.Mutex
	value  uint64
	watch  uint64
	seen   time.Time
	events []mlEvent
}

type mlEvent struct {
	at   time.Time
	join bool
	node string
}

// versionBroadcast is the shared value in the broadcast queue; a newer one
// replaces an older one still queued.
type versionBroadcast struct{ value uint64 }

func (b versionBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(versionBroadcast)
	return ok && o.value <= b.value
}

func (b versionBroadcast) Message() []byte { return binary.AppendUvarint(nil, b.value) }
func (b versionBroadcast) Finished()       {}

// learn takes a value heard from another member; it returns whether it was
// news.
func (m *mlMember) learn(buf []byte) bool {
	v, n := binary.Uvarint(buf)
	if n <= 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v <= m.value {
		return false
	}
	m.value = v
	if m.watch != 0 && v >= m.watch && m.seen.IsZero() {
		m.seen = time.Now()
	}
	return true
}

// set changes the value here and queues its broadcast.
func (m *mlMember) set(v uint64) {
	m.mu.Lock()
	m.value = v
	m.mu.Unlock()
	m.queue.QueueBroadcast(versionBroadcast{value: v})
}

// memberlist.Delegate
func (m *mlMember) NodeMeta(int) []byte { return nil }
func (m *mlMember) NotifyMsg(buf []byte) {
	if m.learn(buf) {
		v, _ := binary.Uvarint(buf)
		m.queue.QueueBroadcast(versionBroadcast{value: v})
	}
}
func (m *mlMember) GetBroadcasts(overhead, limit int) [][]byte {
	return m.queue.GetBroadcasts(overhead, limit)
}
func (m *mlMember) LocalState(bool) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return binary.AppendUvarint(nil, m.value)
}
func (m *mlMember) MergeRemoteState(buf []byte, _ bool) { m.learn(buf) }

// memberlist.EventDelegate
func (m *mlMember) NotifyJoin(n *memberlist.Node)  { m.event(true, n.Name) }
func (m *mlMember) NotifyLeave(n *memberlist.Node) { m.event(false, n.Name) }
func (m *mlMember) NotifyUpdate(*memberlist.Node)  {}

func (m *mlMember) event(join bool, node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, mlEvent{at: time.Now(), join: join, node: node})
}

// mlCluster is N memberlist members in this process on 127.0.0.1.
type mlCluster struct {
	cfg      config
	variant  string
	gossip   time.Duration // 0: DefaultLANConfig's
	members  []*mlMember
	names    int
	version  uint64
	mlConfig *memberlist.Config // the configuration of the last member, for the header
}

func (c *mlCluster) startMember() (*mlMember, error) {
	tr, err := newMLTransport()
	if err != nil {
		return nil, err
	}
	c.names++
	m := &mlMember{name: fmt.Sprintf("ml-%d", c.names), tr: tr}
	conf := memberlist.DefaultLANConfig()
	if c.gossip > 0 {
		conf.GossipInterval = c.gossip
	}
	conf.Name = m.name
	conf.BindAddr, conf.AdvertiseAddr = "127.0.0.1", "127.0.0.1"
	conf.BindPort, conf.AdvertisePort = tr.port(), tr.port()
	conf.Transport = tr
	conf.Delegate, conf.Events = m, m
	conf.LogOutput = io.Discard
	m.queue = &memberlist.TransmitLimitedQueue{RetransmitMult: conf.RetransmitMult}
	ml, err := memberlist.Create(conf)
	if err != nil {
		tr.Shutdown()
		return nil, err
	}
	m.queue.NumNodes = ml.NumMembers
	m.ml, m.addr = ml, fmt.Sprintf("127.0.0.1:%d", tr.port())
	c.mlConfig = conf
	return m, nil
}

func (c *mlCluster) start(n int) error {
	for range n {
		m, err := c.startMember()
		if err != nil {
			return err
		}
		if len(c.members) > 0 {
			if _, err := m.ml.Join([]string{c.members[0].addr}); err != nil {
				return err
			}
		}
		c.members = append(c.members, m)
	}
	return c.awaitAllAlive("memberlist start")
}

func (c *mlCluster) awaitAllAlive(what string) error {
	return await(what+": every member alive everywhere", c.cfg.deadline, func() bool {
		for _, m := range c.members {
			if m.ml.NumMembers() != len(c.members) {
				return false
			}
		}
		return true
	})
}

func (c *mlCluster) close() {
	for _, m := range c.members {
		m.ml.Shutdown()
	}
	c.members = nil
}

func (c *mlCluster) disseminate() (time.Duration, error) {
	c.version++
	for _, m := range c.members {
		m.mu.Lock()
		m.watch, m.seen = c.version, time.Time{}
		m.mu.Unlock()
	}
	start := time.Now()
	c.members[0].set(c.version)
	return awaitArrivals("memberlist dissemination", c.cfg.deadline, start, len(c.members)-1, func(i int) time.Time {
		m := c.members[i+1]
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.seen
	})
}

func (c *mlCluster) marks() []int {
	marks := make([]int, len(c.members))
	for i, m := range c.members {
		m.mu.Lock()
		marks[i] = len(m.events)
		m.mu.Unlock()
	}
	return marks
}

// awaitEvents waits until each member but skip has an event after its
// mark about node with the given kind; first and last delay after start.
func (c *mlCluster) awaitEvents(what string, skip int, marks []int, start time.Time, join bool, node string) (first, last time.Duration, err error) {
	at := make([]time.Time, len(c.members))
	err = await(what, c.cfg.deadline, func() bool {
		done := true
		for i, m := range c.members {
			if i == skip || !at[i].IsZero() {
				continue
			}
			m.mu.Lock()
			for _, e := range m.events[marks[i]:] {
				if e.join == join && e.node == node {
					at[i] = e.at
					break
				}
			}
			m.mu.Unlock()
			done = done && !at[i].IsZero()
		}
		return done
	})
	if err != nil {
		return 0, 0, err
	}
	var firstAt, lastAt time.Time
	for i := range c.members {
		if i == skip {
			continue
		}
		if firstAt.IsZero() || at[i].Before(firstAt) {
			firstAt = at[i]
		}
		lastAt = later(lastAt, at[i])
	}
	return firstAt.Sub(start), lastAt.Sub(start), nil
}

// join starts a member that joins through member 0 and returns the time
// until every member lists it; then it leaves.
func (c *mlCluster) join() (time.Duration, error) {
	newcomer, err := c.startMember()
	if err != nil {
		return 0, err
	}
	marks := c.marks()
	start := time.Now()
	if _, err := newcomer.ml.Join([]string{c.members[0].addr}); err != nil {
		newcomer.ml.Shutdown()
		return 0, err
	}
	_, last, err := c.awaitEvents("memberlist join", -1, marks, start, true, newcomer.name)
	if err != nil {
		newcomer.ml.Shutdown()
		return 0, err
	}
	marks = c.marks()
	leaveErr := newcomer.ml.Leave(c.cfg.deadline)
	newcomer.ml.Shutdown()
	if leaveErr != nil {
		return 0, leaveErr
	}
	_, _, err = c.awaitEvents("memberlist leave", -1, marks, time.Now(), false, newcomer.name)
	return last, err
}

// crash shuts member victim down without leaving (its sockets close) and
// returns the first and last survivor's NotifyLeave; then a new member
// takes its place.
func (c *mlCluster) crash(victim int) (first, last time.Duration, err error) {
	v := c.members[victim]
	marks := c.marks()
	start := time.Now()
	v.ml.Shutdown()
	first, last, err = c.awaitEvents("memberlist crash detection", victim, marks, start, false, v.name)
	if err != nil {
		return 0, 0, err
	}
	return first, last, c.replace(victim)
}

// hang freezes member victim's transport and returns the first and last
// survivor's NotifyLeave; then a new member takes its place.
func (c *mlCluster) hang(victim int) (first, last time.Duration, err error) {
	v := c.members[victim]
	marks := c.marks()
	start := time.Now()
	v.tr.frozen.Store(true)
	first, last, err = c.awaitEvents("memberlist hang detection", victim, marks, start, false, v.name)
	v.ml.Shutdown()
	if err != nil {
		return 0, 0, err
	}
	return first, last, c.replace(victim)
}

func (c *mlCluster) replace(victim int) error {
	m, err := c.startMember()
	if err != nil {
		return err
	}
	if _, err := m.ml.Join([]string{c.members[(victim+1)%len(c.members)].addr}); err != nil {
		m.ml.Shutdown()
		return err
	}
	c.members[victim] = m
	return c.awaitAllAlive("memberlist replacement")
}

func (c *mlCluster) sent() uint64 {
	var total uint64
	for _, m := range c.members {
		total += m.tr.wire.Sent()
	}
	return total
}
