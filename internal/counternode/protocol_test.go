package counternode

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want Message
	}{
		{"ok value=5", Message{Kind: KindOK, Fields: map[string]string{"value": "5"}}},
		{"ok", Message{Kind: KindOK, Fields: map[string]string{}}},
		{"ok nodes=", Message{Kind: KindOK, Fields: map[string]string{"nodes": ""}}},
		{"error ringactor: node is not in the ring: x:1", Message{Kind: KindError, Text: "ringactor: node is not in the ring: x:1"}},
		{"event ring-change reason=nodedown old=a:1,b:2 new=a:1", Message{Kind: KindEvent, Event: EventRingChange,
			Fields: map[string]string{"reason": "nodedown", "old": "a:1,b:2", "new": "a:1"}}},
		{`event terminated reason=removed detail="ringactor: member \"x\" removed"`, Message{Kind: KindEvent, Event: EventTerminated,
			Fields: map[string]string{"reason": "removed", "detail": `ringactor: member "x" removed`}}},
		{"ready node=127.0.0.1:7001 ring=counter pid=42 data=d", Message{Kind: KindReady,
			Fields: map[string]string{"node": "127.0.0.1:7001", "ring": "counter", "pid": "42", "data": "d"}}},
	}
	for _, tt := range tests {
		got, err := ParseLine(tt.line)
		require.NoError(t, err, tt.line)
		assert.Equal(t, tt.want, got, tt.line)
	}
	for _, bad := range []string{"", "hello", "event", "ok value", `ok detail="open`, `ok a="b"c`} {
		_, err := ParseLine(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestFormatLineRoundTrip(t *testing.T) {
	values := []string{"", "plain", "with space", `quote"d`, "tab\there", "new\nline", "a=b", "ünïcödé"}
	for _, v := range values {
		line := formatLine("event terminated", "reason", "error", "detail", v)
		m, err := ParseLine(line)
		require.NoError(t, err, line)
		assert.Equal(t, v, m.Fields["detail"], line)
		assert.Equal(t, "error", m.Fields["reason"], line)
	}
}

func TestParseNodes(t *testing.T) {
	assert.Nil(t, ParseNodes(""))
	assert.Equal(t, []string{"a:1", "b:2"}, ParseNodes(FormatNodes([]string{"a:1", "b:2"})))
}

func ExampleParseLine() {
	m, err := ParseLine("event ring-change reason=nodedown old=10.0.0.1:7001,10.0.0.2:7001 new=10.0.0.1:7001")
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Event, m.Fields["reason"], m.Nodes("old"), m.Nodes("new"))
	// Output: ring-change nodedown [10.0.0.1:7001 10.0.0.2:7001] [10.0.0.1:7001]
}
