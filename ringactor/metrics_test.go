package ringactor

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// testMeter is a meter provider whose metrics a test collects on demand.
type testMeter struct {
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
}

func newTestMeter(t *testing.T) *testMeter {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	return &testMeter{reader: reader, provider: provider}
}

// points are the data points of one collection, by instrument name.
type points map[string]metricdata.Aggregation

func (m *testMeter) collect(t *testing.T) points {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, m.reader.Collect(context.Background(), &rm))
	out := points{}
	for _, scope := range rm.ScopeMetrics {
		if scope.Scope.Name != meterName {
			continue
		}
		for _, metric := range scope.Metrics {
			out[metric.Name] = metric.Data
		}
	}
	return out
}

// matches reports whether set has node and every attribute of want.
func matches(set attribute.Set, node string, want ...attribute.KeyValue) bool {
	if v, ok := set.Value("node"); !ok || v.AsString() != node {
		return false
	}
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// value returns the value of the gauge or counter name for node (and
// attributes want), and whether it was reported.
func (p points) value(name, node string, want ...attribute.KeyValue) (int64, bool) {
	var dps []metricdata.DataPoint[int64]
	switch data := p[name].(type) {
	case metricdata.Gauge[int64]:
		dps = data.DataPoints
	case metricdata.Sum[int64]:
		dps = data.DataPoints
	}
	for _, dp := range dps {
		if matches(dp.Attributes, node, want...) {
			return dp.Value, true
		}
	}
	return 0, false
}

// histogram returns the number and sum of the recordings of the
// histogram name for node.
func (p points) histogram(name, node string) (count uint64, sum float64) {
	data, _ := p[name].(metricdata.Histogram[float64])
	for _, dp := range data.DataPoints {
		if matches(dp.Attributes, node) {
			count += dp.Count
			sum += dp.Sum
		}
	}
	return count, sum
}

func in() attribute.KeyValue  { return attribute.String("direction", "in") }
func out() attribute.KeyValue { return attribute.String("direction", "out") }

// A small ring records, through the provider of WithMeterProvider, its
// members, its traffic, the latency of a call and of its sync, and the time
// it took to see a member's death.
func TestMetricsOfARing(t *testing.T) {
	meter := newTestMeter(t)
	ring := "metrics"
	a := startMember(t, ring, nil, WithMeterProvider(meter.provider))
	b := startMember(t, ring, nil, WithMeterProvider(meter.provider))
	c := startMember(t, ring, nil, WithMeterProvider(meter.provider))
	require.NoError(t, a.client.AddNode(context.Background(), b.node))
	require.NoError(t, a.client.AddNode(context.Background(), c.node))

	require.Eventually(t, func() bool {
		p := meter.collect(t)
		for _, m := range []*member{a, b, c} {
			up, _ := p.value("genserverring.members.up", m.node)
			known, _ := p.value("genserverring.members.known", m.node)
			acks, _ := p.value("genserverring.probes", m.node, attribute.String("outcome", "ok"))
			// A death during a member's init is told in its init
			// notice, not timed: wait for the notices.
			if up != 3 || known != 3 || acks < 2 || !m.behaviour.hasChange(ReasonInit, nil) {
				return false
			}
		}
		return true
	}, waitFor, tick, "every member reports three members up and answered probes, its init over")

	// A call that changes the payload: its reply waits for the sync.
	_, err := a.client.Call(within(2*time.Second), incr{1})
	require.NoError(t, err)
	p := meter.collect(t)
	calls, callSeconds := p.histogram("genserverring.call.duration", a.node)
	require.NotZero(t, calls, "the call's latency is recorded when its reply leaves")
	assert.Less(t, callSeconds, 2.0)
	syncs, syncSeconds := p.histogram("genserverring.persistence.sync.duration", a.node)
	require.NotZero(t, syncs, "the group commit's sync is recorded")
	assert.Greater(t, syncSeconds, 0.0)
	if calls == 1 && syncs == 1 {
		assert.GreaterOrEqual(t, callSeconds, syncSeconds, "the call's latency includes the sync it waited for")
	}

	require.Eventually(t, func() bool {
		p := meter.collect(t)
		for _, m := range []*member{a, b, c} {
			for _, name := range []string{"genserverring.gossip.messages", "genserverring.gossip.bytes"} {
				if v, _ := p.value(name, m.node, in()); v == 0 {
					return false
				}
				if v, _ := p.value(name, m.node, out()); v == 0 {
					return false
				}
			}
		}
		merges, _ := p.value("genserverring.merges", b.node)
		return merges > 0
	}, waitFor, tick, "traffic both ways on every member, and the increment merged on b")
	p = meter.collect(t)
	messages, _ := p.value("genserverring.gossip.messages", a.node, out())
	bytes, _ := p.value("genserverring.gossip.bytes", a.node, out())
	assert.Greater(t, bytes, messages, "a message is more than a byte")
	errs, reported := p.value("genserverring.persistence.errors", a.node, attribute.String("op", "sync"))
	assert.True(t, reported)
	assert.Zero(t, errs)

	// c's process ends: a and b see it down, and time how long after its
	// last answer to a probe.
	c.shutdown()
	require.Eventually(t, func() bool {
		p := meter.collect(t)
		upA, _ := p.value("genserverring.members.up", a.node)
		upB, _ := p.value("genserverring.members.up", b.node)
		return upA == 2 && upB == 2
	}, waitFor, tick)
	p = meter.collect(t)
	detectedA, secondsA := p.histogram("genserverring.detection.time", a.node)
	detectedB, secondsB := p.histogram("genserverring.detection.time", b.node)
	// c is the successor of a or of b in the sorted up set, so it sent at
	// least one of them a heartbeat each interval.
	require.NotZero(t, detectedA+detectedB, "the time to detect c's death is recorded")
	assert.Less(t, secondsA+secondsB, float64(detectedA+detectedB)*2.0, "a watch notice within a probe interval of the last answer")
	_, reported = p.value("genserverring.members.up", c.node)
	assert.False(t, reported, "a stopped member reports nothing")
}

// Drops are counted by reason.
func TestMetricsCountDropsByReason(t *testing.T) {
	meter := newTestMeter(t)
	a := startMember(t, "metrics-drops", nil, WithMeterProvider(meter.provider))
	a.client.Send(&messages.Ping{Ring: "another", From: newNode(), Seq: 1})
	require.Eventually(t, func() bool {
		drops, _ := meter.collect(t).value("genserverring.drops", a.node, attribute.String("reason", "other_ring"))
		return drops == 1
	}, waitFor, tick)
	forced, reported := meter.collect(t).value("genserverring.drops", a.node, attribute.String("reason", "forced_down"))
	assert.True(t, reported)
	assert.Zero(t, forced)
}

// The provider of WithMeterProvider comes first, then the actor system's,
// then OpenTelemetry's global one.
func TestMeterProviderChoice(t *testing.T) {
	mine, systems := sdkmetric.NewMeterProvider(), sdkmetric.NewMeterProvider()
	plain := actor.NewActorSystem()
	t.Cleanup(plain.Shutdown)
	withProvider := actor.NewActorSystem(actor.WithMetricProviders(systems))
	t.Cleanup(withProvider.Shutdown)

	assert.Same(t, mine, meterProvider(Config{MeterProvider: mine}, withProvider))
	assert.Same(t, systems, meterProvider(Config{}, withProvider))
	assert.Equal(t, otel.GetMeterProvider(), meterProvider(Config{}, plain))
}

// Stats travels as named counters: every field survives the trip, a name
// the reader lacks is skipped, a missing one reads zero.
func TestStatsCountersRoundTrip(t *testing.T) {
	var stats Stats
	n := uint64(0)
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		for i := range v.NumField() {
			switch f := v.Field(i); f.Kind() {
			case reflect.Uint64:
				n++
				f.SetUint(n)
			case reflect.Struct:
				fill(f)
			}
		}
	}
	fill(reflect.ValueOf(&stats).Elem())
	counters := stats.counters()
	assert.Len(t, counters, int(n))
	assert.Equal(t, stats.Security.BadSeal, counters["Security.BadSeal"])
	assert.Equal(t, stats, statsFromCounters(counters))

	counters["FromANewerMember"] = 7
	counters["Security.FromANewerMember"] = 7
	counters["GossipSent.Deeper"] = 7
	counters["Security"] = 7
	delete(counters, "GossipReceived")
	got := statsFromCounters(counters)
	want := stats
	want.GossipReceived = 0
	assert.Equal(t, want, got)
}

// Client.Stats reads a member in another process.
func TestStatsOfAMemberInAnotherProcess(t *testing.T) {
	ring := uniqueRing("stats-remote")
	m := startSharedMember(t, ring)
	p, failed := startPeer(t, ring)
	require.Empty(t, failed)
	require.NoError(t, m.client.AddNode(context.Background(), p.node))
	_, err := m.client.Call(within(2*time.Second), incr{3})
	require.NoError(t, err)

	remote := NewClient(m.system, p.node, ring)
	require.Eventually(t, func() bool {
		stats, err := remote.Stats(context.Background())
		require.NoError(t, err)
		return stats.MessagesReceived > 0 && stats.BytesReceived > 0 && stats.MessagesSent > 0 && stats.HeartbeatsReceived > 0 && stats.StateChanges > 0
	}, waitFor, tick, "the peer's own counters: it heard from this member and merged its increment")
	local := m.stats(t)
	assert.NotZero(t, local.MessagesSent)
	assert.Zero(t, local.Security.RefusedRequests)
}

// With a keyring, GetStats is sealed like every request: a client without
// the key is refused with ErrKeyRequired, and the refusal is counted.
func TestStatsOfAKeyedMemberInAnotherProcess(t *testing.T) {
	key := testKey(t)
	ring := uniqueRing("stats-keyed")
	sharedRemote(t)
	p := startGuardedPeer(t, guardedSpec{Ring: ring, Key: EncodeKey(key)})

	open := NewClient(sharedRemote(t), p.node, ring)
	_, err := open.Stats(context.Background())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrKeyRequired), "got %v", err)

	stats, err := open.WithKeyring(testKeyring(t, key)).Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(1), stats.Security.RefusedRequests, "the unsealed request")
	assert.Equal(t, p.state(t).Stats.Security, stats.Security, "the same counters as the member reads itself")
}

// BenchmarkCallMetrics measures a local Call whose member reports to no
// SDK (OpenTelemetry's global provider, unset) and to an SDK provider: the
// difference is the price of recording the call's latency.
func BenchmarkCallMetrics(b *testing.B) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger() }))
	b.Cleanup(system.Shutdown)
	n := &localNet{system: system}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	for _, bench := range []struct {
		name string
		opts []Option
	}{
		{"global-unset", nil},
		{"sdk", []Option{WithMeterProvider(provider)}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			opts := append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()), n.member(newNode())}, bench.opts...)
			client, err := Start[*crdt.PNCounter](system, "bench-metrics", &counterBehaviour{}, opts...)
			require.NoError(b, err)
			b.Cleanup(func() { _ = system.Root.StopFuture(client.PID()).Wait() })
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := client.Call(within(time.Second), get{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMetricsHooks measures what the hot path pays per call and per
// message received: the call's arrival time and its latency recorded on an
// SDK provider, and the count and size of a Ping.
func BenchmarkMetricsHooks(b *testing.B) {
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	m := newRingMetrics(provider, "bench", "127.0.0.1:7000", quietLogger())
	b.Run("call", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			from := From{arrived: time.Now(), metrics: m}
			from.replied()
		}
	})
	b.Run("received", func(b *testing.B) {
		boundary := &boundary{stats: &Stats{}}
		ping := &messages.Ping{Ring: "bench", From: "127.0.0.1:7001", Seq: 12345, Digest: 0xfeedface}
		b.ReportAllocs()
		for range b.N {
			boundary.countReceived(ping)
		}
	})
}
