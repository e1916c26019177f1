package ringactor

import (
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// dropLog writes the log lines of refused input, at most one per reason
// per interval: an attacker who sends 50,000 bad messages gets a few lines
// and a count of the suppressed ones, not 50,000 lines. Reasons come from
// a small fixed set, never from the input, so its maps stay small.
type dropLog struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	skipped  map[string]uint64
	now      func() time.Time
}

// dropLogInterval is the least time between two lines of one reason.
const dropLogInterval = time.Second

// maxLoggedBytes is how much of a string from the input a log line quotes.
const maxLoggedBytes = 128

func newDropLog(log *slog.Logger) *dropLog {
	return &dropLog{log: log, interval: dropLogInterval, last: map[string]time.Time{}, skipped: map[string]uint64{}, now: time.Now}
}

// warn logs msg under reason unless a line of reason was logged within the
// interval; the next line says how many were suppressed meanwhile.
func (d *dropLog) warn(reason, msg string, attrs ...any) {
	d.mu.Lock()
	now := d.now()
	if last, ok := d.last[reason]; ok && now.Sub(last) < d.interval {
		d.skipped[reason]++
		d.mu.Unlock()
		return
	}
	d.last[reason] = now
	skipped := d.skipped[reason]
	d.skipped[reason] = 0
	d.mu.Unlock()
	attrs = append(attrs, slog.String("why", reason))
	if skipped > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", skipped))
	}
	d.log.Warn(msg, attrs...)
}

// truncate shortens a string from the input for a log line.
func truncate(s string) string {
	if len(s) <= maxLoggedBytes {
		return s
	}
	cut := maxLoggedBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(truncated)"
}
