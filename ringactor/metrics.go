package ringactor

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// OpenTelemetry metrics of a ring member. The counters are the member's
// Stats: the ring actor counts into plain fields on its own goroutine (the
// hot path pays nothing more), and hands a copy to the metrics at each
// probe and gossip tick and at each change of its up set; the observable
// instruments read that copy when a reader collects. So a counter lags the
// member by at most min(ProbeInterval, GossipInterval). The histograms are
// recorded where the time is measured.

// meterName is the instrumentation scope of the ring's instruments.
const meterName = "github.com/genserverring/genserverring-go/ringactor"

// WithMeterProvider sets Config.MeterProvider: the OpenTelemetry provider
// the member creates its instruments with (see the package documentation,
// Metrics). Default: the provider of the actor system's config
// (actor.WithMetricProviders) when one was set there, otherwise
// otel.GetMeterProvider(), as Proto.Actor does. Pass
// noop.NewMeterProvider() (go.opentelemetry.io/otel/metric/noop) to record
// nothing.
func WithMeterProvider(p metric.MeterProvider) Option {
	return func(c *Config) { c.MeterProvider = p }
}

// meterProvider chooses the provider of a member of system.
func meterProvider(cfg Config, system *actor.ActorSystem) metric.MeterProvider {
	switch {
	case cfg.MeterProvider != nil:
		return cfg.MeterProvider
	case system != nil && system.Config != nil && system.Config.MetricsProvider != nil:
		return system.Config.MetricsProvider
	}
	return otel.GetMeterProvider()
}

// Bucket boundaries, in seconds: OpenTelemetry's default ones suit
// milliseconds.
var (
	// latencyBuckets span a call answered from memory (tens of µs) to one
	// that waits for a slow disk or for write acks (seconds).
	latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	// detectionBuckets span a watch notice (ms) to a hang found by probes
	// (1.25 × ProbeInterval + 1.5 × ProbeTimeout: 2.75 s by default) and
	// more.
	detectionBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 30, 60}
)

// ringMetrics are one member's instruments. Its methods may be called on a
// nil *ringMetrics (a member that failed to start before making them).
type ringMetrics struct {
	callDuration, syncDuration, detectionTime metric.Float64Histogram
	record                                    []metric.RecordOption // ring and node
	registration                              metric.Registration

	mu       sync.Mutex // guards what follows, written by the actor, read by collection
	stats    Stats
	known    int
	up       int
	observed bool // stats were published at least once

	// lastAck is when each up member last answered a probe or sent a
	// heartbeat; the actor's goroutine only.
	lastAck map[string]time.Time
}

// dropReasons name the reasons of genserverring.drops after the Stats
// counter of each.
var dropReasons = []struct {
	reason string
	count  func(*Stats) uint64
}{
	{"other_ring", func(s *Stats) uint64 { return s.DroppedOtherRing }},
	{"forced_down", func(s *Stats) uint64 { return s.DroppedForcedDown }},
	{"malformed", func(s *Stats) uint64 { return s.DroppedMalformed }},
	{"payload_mismatch", func(s *Stats) uint64 { return s.PayloadMismatches }},
	{"unsealed", func(s *Stats) uint64 { return s.Security.Unsealed }},
	{"bad_seal", func(s *Stats) uint64 { return s.Security.BadSeal }},
	{"replayed", func(s *Stats) uint64 { return s.Security.Replayed }},
	{"forged_from", func(s *Stats) uint64 { return s.Security.ForgedFrom }},
	{"refused_request", func(s *Stats) uint64 { return s.Security.RefusedRequests }},
	{"too_large", func(s *Stats) uint64 { return s.Security.TooLarge }},
	{"oversized_send", func(s *Stats) uint64 { return s.Security.OversizedSends }},
	{"busy", func(s *Stats) uint64 { return s.DroppedBusy }},
	{"unanswered", func(s *Stats) uint64 { return s.DroppedOutbound }},
	{"payload_too_large", func(s *Stats) uint64 { return s.RefusedTooLarge }},
}

// newRingMetrics makes the instruments of member node of ring and registers
// the callback of the observable ones. An instrument the provider refuses
// is logged and left out; the member runs on.
func newRingMetrics(provider metric.MeterProvider, ring, node string, log *slog.Logger) *ringMetrics {
	meter := provider.Meter(meterName)
	base := []attribute.KeyValue{attribute.String("ring", ring), attribute.String("node", node)}
	with := func(extra ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(append(append([]attribute.KeyValue{}, base...), extra...)...))
	}
	m := &ringMetrics{record: []metric.RecordOption{with()}, lastAck: map[string]time.Time{}}
	failed := func(name string, err error) {
		log.Warn("cannot create a metric instrument; it is left out", slog.String("instrument", name), slog.Any("error", err))
	}
	histogram := func(name, desc string, buckets []float64) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(buckets...))
		if err != nil {
			failed(name, err)
			return nil
		}
		return h
	}
	m.callDuration = histogram("genserverring.call.duration", "Time from a call's arrival at the ring actor to its reply, the wait for durability and write acks included.", latencyBuckets)
	m.syncDuration = histogram("genserverring.persistence.sync.duration", "Time of a group commit's append and sync of the payload log.", latencyBuckets)
	m.detectionTime = histogram("genserverring.detection.time", "Time from a member's last heartbeat or answer to a probe to this member seeing it down.", detectionBuckets)

	type observation struct {
		instrument metric.Int64Observable
		value      func(*ringMetrics) int64
		attrs      metric.ObserveOption
	}
	var observations []observation
	var instruments []metric.Observable
	observe := func(instrument metric.Int64Observable, err error, name string, values ...observation) {
		if err != nil {
			failed(name, err)
			return
		}
		instruments = append(instruments, instrument)
		for _, v := range values {
			v.instrument = instrument
			observations = append(observations, v)
		}
	}
	count := func(value func(*Stats) uint64, extra ...attribute.KeyValue) observation {
		return observation{value: func(m *ringMetrics) int64 { return int64(value(&m.stats)) }, attrs: with(extra...)}
	}
	direction := func(d string) attribute.KeyValue { return attribute.String("direction", d) }

	known, err := meter.Int64ObservableGauge("genserverring.members.known", metric.WithDescription("Members of the ring's node set, forced-down ones included."), metric.WithUnit("{member}"))
	observe(known, err, "genserverring.members.known", observation{value: func(m *ringMetrics) int64 { return int64(m.known) }, attrs: with()})
	up, err := meter.Int64ObservableGauge("genserverring.members.up", metric.WithDescription("Members this member believes up, itself included."), metric.WithUnit("{member}"))
	observe(up, err, "genserverring.members.up", observation{value: func(m *ringMetrics) int64 { return int64(m.up) }, attrs: with()})
	msgs, err := meter.Int64ObservableCounter("genserverring.gossip.messages", metric.WithDescription("Messages between ring members (state, deltas, digests, probes, verdicts) sent and received."), metric.WithUnit("{message}"))
	observe(msgs, err, "genserverring.gossip.messages",
		count(func(s *Stats) uint64 { return s.MessagesReceived }, direction("in")),
		count(func(s *Stats) uint64 { return s.MessagesSent }, direction("out")))
	bytes, err := meter.Int64ObservableCounter("genserverring.gossip.bytes", metric.WithDescription("Encoded size of the messages of genserverring.gossip.messages (sealed, with a keyring)."), metric.WithUnit("By"))
	observe(bytes, err, "genserverring.gossip.bytes",
		count(func(s *Stats) uint64 { return s.BytesReceived }, direction("in")),
		count(func(s *Stats) uint64 { return s.BytesSent }, direction("out")))
	merges, err := meter.Int64ObservableCounter("genserverring.merges", metric.WithDescription("States and deltas from other members that changed the payload (HandleStateChange notices)."), metric.WithUnit("{merge}"))
	observe(merges, err, "genserverring.merges", count(func(s *Stats) uint64 { return s.StateChanges }))
	drops, err := meter.Int64ObservableCounter("genserverring.drops", metric.WithDescription("Messages refused or dropped, by reason."), metric.WithUnit("{message}"))
	var dropObservations []observation
	for _, r := range dropReasons {
		dropObservations = append(dropObservations, count(r.count, attribute.String("reason", r.reason)))
	}
	observe(drops, err, "genserverring.drops", dropObservations...)
	probes, err := meter.Int64ObservableCounter("genserverring.probes", metric.WithDescription("Outcomes of this member's probes: ok (answered), suspect (unanswered at half the timeout; others asked to probe), postponed (a verdict deferred because this member's process was starved of CPU), down (unanswered: declared down)."), metric.WithUnit("{probe}"))
	outcome := func(o string) attribute.KeyValue { return attribute.String("outcome", o) }
	observe(probes, err, "genserverring.probes",
		count(func(s *Stats) uint64 { return s.ProbeAcks }, outcome("ok")),
		count(func(s *Stats) uint64 { return s.ProbeSuspects }, outcome("suspect")),
		count(func(s *Stats) uint64 { return s.ProbeVerdictsPostponed }, outcome("postponed")),
		count(func(s *Stats) uint64 { return s.ProbeFailures }, outcome("down")))
	persistErrors, err := meter.Int64ObservableCounter("genserverring.persistence.errors", metric.WithDescription("Failed writes: op sync (a group commit of payload changes) or ring_file (a write of the ring file)."), metric.WithUnit("{error}"))
	op := func(o string) attribute.KeyValue { return attribute.String("op", o) }
	observe(persistErrors, err, "genserverring.persistence.errors",
		count(func(s *Stats) uint64 { return s.SyncErrors }, op("sync")),
		count(func(s *Stats) uint64 { return s.PersistErrors }, op("ring_file")))

	if len(instruments) == 0 {
		return m
	}
	m.registration, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.observed {
			return nil
		}
		for _, v := range observations {
			o.ObserveInt64(v.instrument, v.value(m), v.attrs)
		}
		return nil
	}, instruments...)
	if err != nil {
		failed("callback", err)
	}
	return m
}

// publish hands the metrics a copy of the member's counters and the sizes
// of its node set and up set.
func (m *ringMetrics) publish(c *ringCore) {
	if m == nil || c == nil {
		return
	}
	m.mu.Lock()
	m.stats, m.known, m.up, m.observed = c.stats, c.nodeSet.Len(), len(c.up), true
	m.mu.Unlock()
}

// stop unregisters the callback: a stopped member reports nothing.
func (m *ringMetrics) stop() {
	if m == nil || m.registration == nil {
		return
	}
	_ = m.registration.Unregister()
	m.registration = nil
}

// heard notes when a member of c's node set answered a probe or sent a
// heartbeat (msg is an Ack, or a Ping with seq 0), the start of the time to
// detect its death. Others are not kept, so that messages naming made-up
// senders cannot grow the map.
func (m *ringMetrics) heard(c *ringCore, msg any) {
	if m == nil {
		return
	}
	var from string
	switch msg := msg.(type) {
	case *messages.Ack:
		from = msg.GetFrom()
	case *messages.Ping:
		if !isHeartbeat(msg) {
			return
		}
		from = msg.GetFrom()
	default:
		return
	}
	if c.nodeSet.Contains(from) {
		m.lastAck[from] = time.Now()
	}
}

// ringChanged records the time to detect each member that change took
// down, and publishes the new sizes.
func (m *ringMetrics) ringChanged(c *ringCore, change RingChange) {
	if m == nil {
		return
	}
	now := time.Now()
	for _, node := range change.Old {
		if !slices.Contains(change.New, node) {
			if last, ok := m.lastAck[node]; ok && change.Reason == ReasonNodeDown && m.detectionTime != nil {
				m.detectionTime.Record(context.Background(), now.Sub(last).Seconds(), m.record...)
			}
			delete(m.lastAck, node)
		}
	}
	m.publish(c)
}

// synced records the time of a group commit's sync.
func (m *ringMetrics) synced(d time.Duration) {
	if m != nil && m.syncDuration != nil {
		m.syncDuration.Record(context.Background(), d.Seconds(), m.record...)
	}
}

// newFrom is the From of a call taken from the mailbox now.
func (a *ringActor[P]) newFrom(ctx actor.Context, remote bool) From {
	return From{pid: ctx.Sender(), remote: remote, arrived: time.Now(), metrics: a.metrics}
}

// replied records the latency of the call from answers, now.
func (from From) replied() {
	if m := from.metrics; m != nil && m.callDuration != nil && !from.arrived.IsZero() {
		m.callDuration.Record(context.Background(), time.Since(from.arrived).Seconds(), m.record...)
	}
}

// countSent counts a message of size bytes sent to another member.
func (b *boundary) countSent(size int) {
	b.stats.MessagesSent++
	b.stats.BytesSent += uint64(size)
}

// countReceived counts msg, a ring message just received, when it comes
// from another member (a client's request does not count).
func (b *boundary) countReceived(msg proto.Message) {
	if sealed, ok := msg.(*messages.Sealed); ok {
		if isRequest(sealed.GetType()) {
			return
		}
	} else if !isMemberMessage(msg) {
		return
	}
	b.stats.MessagesReceived++
	b.stats.BytesReceived += uint64(proto.Size(msg))
}

// isMemberMessage reports whether msg is one ring members send each other.
func isMemberMessage(msg proto.Message) bool {
	switch msg.(type) {
	case *messages.Gossip, *messages.Digest, *messages.Delta, *messages.DeltaAck, *messages.StateChunk,
		*messages.Ping, *messages.Ack, *messages.PingRequest, *messages.NodeDown, *messages.StopMember:
		return true
	}
	return false
}
