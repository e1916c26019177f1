package counternode

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// The first word of every line a member prints.
const (
	KindOK    = "ok"    // the result of a command that succeeded
	KindError = "error" // the result of a command that failed; Text says why
	KindEvent = "event" // a ring event; Event names it
	KindReady = "ready" // the member started
)

// The events of KindEvent lines.
const (
	EventRingChange  = "ring-change"
	EventStateChange = "state-change"
	EventTerminated  = "terminated"
)

// The reasons of an EventTerminated line (field "reason").
const (
	TerminatedRemoved = "removed"
	TerminatedStopped = "stopped"
	TerminatedError   = "error"
)

// Message is one line a member printed, parsed.
type Message struct {
	// Kind is the first word: KindOK, KindError, KindEvent or KindReady.
	Kind string
	// Event is the second word of a KindEvent line, e.g. EventRingChange.
	Event string
	// Fields holds the key=value fields, quoted values unquoted.
	Fields map[string]string
	// Text is what follows "error " on a KindError line.
	Text string
}

// ParseLine parses one line of a member's output. A line of an unknown
// kind, or with a malformed field, is an error.
func ParseLine(line string) (Message, error) {
	kind, rest, _ := strings.Cut(line, " ")
	m := Message{Kind: kind}
	switch kind {
	case KindError:
		m.Text = rest
		return m, nil
	case KindEvent:
		m.Event, rest, _ = strings.Cut(rest, " ")
		if m.Event == "" {
			return m, fmt.Errorf("counternode: event line without an event: %q", line)
		}
	case KindOK, KindReady:
	default:
		return m, fmt.Errorf("counternode: not a protocol line: %q", line)
	}
	fields, err := parseFields(rest)
	if err != nil {
		return m, fmt.Errorf("counternode: %w in line %q", err, line)
	}
	m.Fields = fields
	return m, nil
}

// Int returns the integer field key.
func (m Message) Int(key string) (int64, error) {
	v, ok := m.Fields[key]
	if !ok {
		return 0, fmt.Errorf("counternode: no field %q", key)
	}
	return strconv.ParseInt(v, 10, 64)
}

// Nodes returns the node list field key (nil when empty or absent).
func (m Message) Nodes(key string) []string { return ParseNodes(m.Fields[key]) }

// ParseNodes splits a comma-separated node list; "" is no node.
func ParseNodes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// FormatNodes joins nodes with commas, the form of node lists in lines.
func FormatNodes(nodes []string) string { return strings.Join(nodes, ",") }

// formatLine builds a line from its head ("ok", "event ring-change") and
// key, value pairs; a value that is empty is written as is (key=), one
// that contains a space or a double quote is quoted.
func formatLine(head string, kv ...string) string {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteByte(' ')
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(quoteIfNeeded(kv[i+1]))
	}
	return b.String()
}

func quoteIfNeeded(v string) string {
	if strings.ContainsFunc(v, func(r rune) bool { return r == ' ' || r == '"' || !unicode.IsPrint(r) }) {
		return strconv.Quote(v)
	}
	return v
}

func parseFields(s string) (map[string]string, error) {
	fields := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return fields, nil
		}
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" || strings.Contains(key, " ") {
			return nil, fmt.Errorf("malformed field %q", s)
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			quoted, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("malformed quoted value of %q", key)
			}
			value, _ = strconv.Unquote(quoted)
			rest = rest[len(quoted):]
		} else {
			value, rest, _ = strings.Cut(rest, " ")
			rest = " " + rest
		}
		if rest != "" && rest[0] != ' ' {
			return nil, fmt.Errorf("no space after the value of %q", key)
		}
		fields[key] = value
		s = rest
	}
}

// oneLine makes an error's text fit on one line.
func oneLine(err error) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(err.Error())
}
