package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, []int{4, 16, 32}, cfg.ns)
	assert.Equal(t, 3, cfg.reps)
	assert.Equal(t, []int{0, 10240, 1048576}, cfg.payloads)
	assert.Equal(t, []string{"ring", "ring-key", "ring-keytls", "ring-mtls", "memberlist", "memberlist-1s", "protoactor-cluster"}, cfg.systems,
		"each security setting but open is a system measured right after the open ring")
	assert.Equal(t, []string{"key", "keytls", "mtls"}, cfg.security)
}

func TestParseFlagsSecurityWithoutTheOpenRing(t *testing.T) {
	cfg, err := parseFlags([]string{"-systems", "memberlist", "-security", "mtls,open,mtls"})
	require.NoError(t, err)
	assert.Equal(t, []string{"memberlist", "ring-mtls"}, cfg.systems)
	assert.Equal(t, []string{"mtls"}, cfg.security, "open is the ring itself; a repeated setting counts once")
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-reps", "2"}, "at least 3"},
		{[]string{"-n", "4,x"}, `"x" is not an integer`},
		{[]string{"-n", "2"}, "each N at least 3"},
		{[]string{"-payload", "-1"}, "-payload"},
		{[]string{"-systems", "ring,consul"}, `unknown system "consul"`},
		{[]string{"-security", "open,tls"}, `unknown setting "tls"`},
		{[]string{"-durability", "sometimes"}, "want disk or none"},
		{[]string{"-store", "tape"}, "want memory or file"},
		{[]string{"-window", "0s"}, "positive"},
		{[]string{"-calls", "3"}, "at least 10"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseFlags(tc.args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestSummaryMedianAndRange(t *testing.T) {
	rs := newResults()
	for _, v := range []float64{30, 10, 20, 40} {
		rs.add("ring", 4, "dissemination", unitMillis, v)
	}
	s := rs.get("ring", 4, "dissemination").summary()
	assert.Equal(t, 25.0, s.Median)
	assert.Equal(t, 10.0, s.Min)
	assert.Equal(t, 40.0, s.Max)
	assert.Equal(t, []float64{30, 10, 20, 40}, s.Values, "the values keep their order")
}

func TestJSONOneObjectPerSystemNAndFigure(t *testing.T) {
	rs := newResults()
	rs.add("ring", 4, "join", unitMillis, 5)
	rs.add("memberlist", 4, "join", unitMillis, 7)
	rs.add("ring", 4, "join", unitMillis, 3)
	var out bytes.Buffer
	require.NoError(t, rs.writeJSON(&out))
	dec := json.NewDecoder(&out)
	var got []summary
	for {
		var s summary
		if err := dec.Decode(&s); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		got = append(got, s)
	}
	require.Len(t, got, 2)
	assert.Equal(t, summary{System: "ring", N: 4, Figure: "join", Unit: "ms", Median: 4, Min: 3, Max: 5, Values: []float64{5, 3}}, got[0])
	assert.Equal(t, "memberlist", got[1].System)
}

func TestTableShowsRatioAndPeersIdleCost(t *testing.T) {
	rs := newResults()
	rs.add("ring", 4, "dissemination", unitMillis, 10)
	rs.add("memberlist", 4, "dissemination", unitMillis, 40)
	rs.add("ring", 4, "steady bytes/s per member, 1 MiB payload", unitBytesPerS, 2000)
	rs.add("memberlist", 4, idleFigure, unitBytesPerS, 1000)
	var out bytes.Buffer
	rs.writeTable(&out, []string{"ring", "memberlist"}, []int{4})
	assert.Regexp(t, `dissemination\s+ms\s+10\.0\s+40\.0\s+0\.25`, out.String())
	assert.Regexp(t, `1 MiB payload\s+B/s\s+2000\s+1000 \*\s+2\b`, out.String())

	rs.add("memberlist", 4, restFigure, unitBytesPerS, 500)
	out.Reset()
	rs.writeTable(&out, []string{"ring", "memberlist"}, []int{4})
	assert.Regexp(t, `1 MiB payload\s+B/s\s+2000\s+500 \*\s+4\b`, out.String(), "the peer's cost at rest, when measured")
}

func TestWireCountsWhatIsWrittenAndKillClosesEverything(t *testing.T) {
	w := newWire()
	client, server := net.Pipe()
	counted, err := w.track(client)
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, server) }()
	_, err = counted.Write(make([]byte, 1000))
	require.NoError(t, err)
	assert.Equal(t, uint64(1000), w.Sent())

	w.kill()
	_, err = counted.Write([]byte("after"))
	assert.Error(t, err, "a killed member's connections are closed")
	other, _ := net.Pipe()
	_, err = w.track(other)
	assert.ErrorIs(t, err, errKilled, "and it makes no new ones")
}

func TestTableShowsNoIdleCostOfTheRingBesideItsPayloadSizes(t *testing.T) {
	rs := newResults()
	rs.add("ring", 4, "steady bytes/s per member, 1 MiB payload", unitBytesPerS, 2000)
	rs.add("ring-key", 4, idleFigure, unitBytesPerS, 1000)
	var out bytes.Buffer
	rs.writeTable(&out, []string{"ring", "ring-key"}, []int{4})
	assert.Regexp(t, `1 MiB payload\s+B/s\s+2000\s+—`, out.String(), "ring-key measured no payload: nothing to compare")
}
