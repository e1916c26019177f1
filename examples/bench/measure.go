package main

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime is this process's user plus system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// steady measures bytes sent per member per second and CPU per member (in
// percent of a core) over window, with nothing changing.
func steady(window time.Duration, n int, sent func() uint64) (bytesPerSecond, cpuPercent float64) {
	bytes0, cpu0, t0 := sent(), cpuTime(), time.Now()
	time.Sleep(window) // a measurement window, not a wait for a condition
	elapsed := time.Since(t0).Seconds()
	bytes := float64(sent() - bytes0)
	cpu := (cpuTime() - cpu0).Seconds()
	return bytes / float64(n) / elapsed, 100 * cpu / float64(n) / elapsed
}

func sizeName(bytes int) string {
	switch {
	case bytes >= 1<<20 && bytes%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", bytes>>20)
	case bytes >= 1<<10 && bytes%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", bytes>>10)
	}
	return fmt.Sprintf("%d B", bytes)
}

// measureRing runs one repetition of the ring's figures at N = n.
func measureRing(cfg config, rs *results, n, rep int) error {
	c := newRingCluster(cfg)
	defer c.close()
	if err := c.start(n); err != nil {
		return err
	}
	record := func(figure string, u unit, v float64) { rs.add(systemRing, n, figure, u, v) }

	// The empty payload first: the steady cost of the ring alone.
	steadySizes := cfg.payloads
	if len(steadySizes) > 0 && steadySizes[0] == 0 {
		b, cpu := steady(cfg.window, n, c.sent)
		record(idleFigure, unitBytesPerS, b)
		record("steady CPU per member, idle", unitCPU, cpu)
		steadySizes = steadySizes[1:]
	}

	d, err := c.disseminate(fmt.Sprintf("d-%d", rep))
	if err != nil {
		return err
	}
	record("dissemination", unitMillis, millis(d))
	record("dissemination in gossip intervals", unitRounds, float64(d)/float64(cfg.gossip))

	if d, err = c.join(); err != nil {
		return err
	}
	record("join", unitMillis, millis(d))

	victim := 1 + rep%(n-1) // never member 0, through which the bench acts
	first, last, err := c.crash(victim)
	if err != nil {
		return err
	}
	record("crash seen by the first survivor", unitMillis, millis(first))
	record("crash seen by the last survivor", unitMillis, millis(last))

	if first, last, err = c.hang(victim); err != nil {
		return err
	}
	record("hang seen by the first survivor", unitMillis, millis(first))
	record("hang seen by the last survivor", unitMillis, millis(last))

	for _, size := range steadySizes {
		encoded, err := c.grow(size, fmt.Sprintf("g%d", size))
		if err != nil {
			return fmt.Errorf("grow the payload to %d bytes: %w", size, err)
		}
		if err := awaitSamePayload(c); err != nil {
			return err
		}
		name := sizeName(size)
		b, cpu := steady(cfg.window, n, c.sent)
		record("payload size, "+name, unitEncodedLen, float64(encoded))
		record("steady bytes/s per member, "+name+" payload", unitBytesPerS, b)
		record("steady CPU per member, "+name+" payload", unitCPU, cpu)
	}

	if len(steadySizes) > 0 {
		name := sizeName(steadySizes[len(steadySizes)-1])
		sent0 := c.sent()
		d, err := c.disseminate(fmt.Sprintf("u-%d", rep))
		if err != nil {
			return err
		}
		record("update of one element, "+name+" payload: bytes per member", unitBytes, float64(c.sent()-sent0)/float64(n))
		record("update of one element, "+name+" payload: time", unitMillis, millis(d))
	}
	return nil
}

// measureMemberlist runs one repetition of memberlist's figures at N = n;
// gossip 0 keeps DefaultLANConfig's interval.
func measureMemberlist(cfg config, rs *results, system string, gossip time.Duration, n, rep int) error {
	c := &mlCluster{cfg: cfg, variant: system, gossip: gossip}
	defer c.close()
	if err := c.start(n); err != nil {
		return err
	}
	record := func(figure string, u unit, v float64) { rs.add(system, n, figure, u, v) }

	b, cpu := steady(cfg.window, n, c.sent)
	record(idleFigure, unitBytesPerS, b)
	record("steady CPU per member, idle", unitCPU, cpu)

	d, err := c.disseminate()
	if err != nil {
		return err
	}
	record("dissemination", unitMillis, millis(d))
	record("dissemination in gossip intervals", unitRounds, float64(d)/float64(c.mlConfig.GossipInterval))

	if d, err = c.join(); err != nil {
		return err
	}
	record("join", unitMillis, millis(d))

	// At rest: the joins, the change and its broadcasts are over, as they
	// are when the ring's payload figures are taken.
	b, cpu = steady(cfg.window, n, c.sent)
	record(restFigure, unitBytesPerS, b)
	record("steady CPU per member, at rest", unitCPU, cpu)

	victim := 1 + rep%(n-1)
	first, last, err := c.crash(victim)
	if err != nil {
		return err
	}
	record("crash seen by the first survivor", unitMillis, millis(first))
	record("crash seen by the last survivor", unitMillis, millis(last))

	if first, last, err = c.hang(victim); err != nil {
		return err
	}
	record("hang seen by the first survivor", unitMillis, millis(first))
	record("hang seen by the last survivor", unitMillis, millis(last))
	return nil
}

// awaitSamePayload waits until every member's payload encodes to as many
// bytes as member 0's: the steady window must not count the tail of the
// growth (grow awaits the arrival of its last, small element, which eager
// push can bring before the large ones).
func awaitSamePayload(c *ringCluster) error {
	var last string
	size := func(m *ringMember) (int, error) {
		got, err := m.client.Call(context.Background(), addElements{})
		if err != nil {
			return 0, err
		}
		return got.(int), nil
	}
	err := await("every member's payload as large as member 0's", c.cfg.deadline, func() bool {
		want, err := size(c.members[0])
		if err != nil {
			last = err.Error()
			return false
		}
		for _, m := range c.members[1:] {
			if got, err := size(m); err != nil || got != want {
				last = fmt.Sprintf("%s: %d bytes of %d (%v)", m.addr, got, want, err)
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w (last seen: %s)", err, last)
	}
	return nil
}
