package counternode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a member running as an OS process (a cluster binary, or a
// program that calls Main), driven through the line protocol: Do sends a
// command and waits for its result line; the event lines and every line of
// stdout and stderr are kept, with the time they were read.
//
// Do, Exec, Value and Nodes may be called from several goroutines: the
// commands are sent one at a time.
type Process struct {
	// Name names the member in errors and logs.
	Name string
	// Node, PID and Data are the fields of the ready line: the member's
	// address, the process ID the member itself reported, and its data
	// directory.
	Node string
	PID  int
	Data string

	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	lines   []LogLine
	events  []Event
	changed chan struct{} // closed and replaced when a line arrives
	ready   chan Message  // the ready line, once
	results chan Message
	exited  chan struct{}
	exitErr error

	commandMu sync.Mutex
	// late counts the commands that got no result in time. Results come
	// in order, one per command, so the next late ones are theirs: they
	// are discarded, and no command is sent while one is still due (it
	// would be taken for the new command's result).
	late int
}

// LogLine is one line a Process printed.
type LogLine struct {
	At     time.Time // when it was read
	Stderr bool      // from stderr (a log line), not stdout
	Text   string    // without its newline
}

// Event is an event line a Process printed, parsed, with when it was read.
type Event struct {
	Message           // the parsed line: Kind is KindEvent, Event names it
	At      time.Time // when it was read
}

// String formats the event as the member printed it, roughly.
func (e Event) String() string {
	keys := make([]string, 0, len(e.Fields))
	for _, k := range []string{"reason", "old", "new", "value", "detail"} {
		if v, ok := e.Fields[k]; ok {
			keys = append(keys, k, v)
		}
	}
	return formatLine(KindEvent+" "+e.Event, keys...)
}

// ErrExited is wrapped by the error of a command to a process that exited.
var ErrExited = errors.New("counternode: member process exited")

// ErrBusy is wrapped by the error of a command that was not sent because
// the result of an earlier one, which timed out, has not arrived yet (a
// stopped or hung member): the member never saw the command.
var ErrBusy = errors.New("counternode: an earlier command's result is late")

// ResultError is the error of a command that got an error line.
type ResultError struct {
	Command string
	Text    string
}

// Error says which command failed and the member's error text.
func (e *ResultError) Error() string { return fmt.Sprintf("%q: error %s", e.Command, e.Text) }

// StartProcess starts cmd, whose stdin, stdout and stderr it takes over,
// and waits up to readyTimeout for its ready line. On failure the process
// is killed and the error carries the tail of its output.
func StartProcess(name string, cmd *exec.Cmd, readyTimeout time.Duration) (*Process, error) {
	p := &Process{
		Name: name, cmd: cmd,
		changed: make(chan struct{}),
		ready:   make(chan Message, 1),
		results: make(chan Message, 64),
		exited:  make(chan struct{}),
	}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); p.read(stdout, false) }()
	go func() { defer readers.Done(); p.read(stderr, true) }()
	go func() {
		readers.Wait()
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.exited)
		p.notify()
	}()

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case m := <-p.ready:
		p.Node, p.Data = m.Fields["node"], m.Fields["data"]
		p.PID, _ = strconv.Atoi(m.Fields["pid"])
		if p.Node == "" {
			p.Kill()
			return nil, fmt.Errorf("%s: ready line without node\n%s", name, p.Tail(20))
		}
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited before it was ready (%v)\n%s", name, p.ExitErr(), p.Tail(20))
	case <-timer.C:
		p.Kill()
		return nil, fmt.Errorf("%s not ready after %v\n%s", name, readyTimeout, p.Tail(20))
	}
}

func (p *Process) read(r io.Reader, isStderr bool) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := LogLine{At: time.Now(), Stderr: isStderr, Text: scanner.Text()}
		p.mu.Lock()
		p.lines = append(p.lines, line)
		p.mu.Unlock()
		if !isStderr {
			p.dispatch(line)
		}
		p.notify()
	}
	// Drain what a scanner error left (an over-long line), so that the
	// process never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

func (p *Process) dispatch(line LogLine) {
	m, err := ParseLine(line.Text)
	if err != nil {
		return // kept in the log only
	}
	switch m.Kind {
	case KindReady:
		select {
		case p.ready <- m:
		default:
		}
	case KindEvent:
		p.mu.Lock()
		p.events = append(p.events, Event{Message: m, At: line.At})
		p.mu.Unlock()
	case KindOK, KindError:
		select {
		case p.results <- m:
		default:
			// Results nobody reads (late ones that pile up while no
			// command is sent): never block the reader on them.
		}
	}
}

// notify wakes the goroutines waiting for a line.
func (p *Process) notify() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Do sends command and waits up to timeout for its result line. The error
// is a *ResultError for an error line, wraps ErrExited when the process
// ended first, and says so when no result came in time. After such a
// timeout, commands are refused with an error wrapping ErrBusy until the
// late result arrived (it is then discarded).
func (p *Process) Do(command string, timeout time.Duration) (Message, error) {
	p.commandMu.Lock()
	defer p.commandMu.Unlock()
	select {
	case <-p.exited:
		return Message{}, fmt.Errorf("%s: %q: %w (%v)", p.Name, command, ErrExited, p.ExitErr())
	default:
	}
	for p.late > 0 {
		select {
		case <-p.results:
			p.late--
		default:
			return Message{}, fmt.Errorf("%s: %q not sent: %w", p.Name, command, ErrBusy)
		}
	}
	if _, err := io.WriteString(p.stdin, command+"\n"); err != nil {
		return Message{}, fmt.Errorf("%s: %q: %w", p.Name, command, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-p.results:
		return p.result(command, m)
	case <-p.exited:
		select {
		case m := <-p.results:
			return p.result(command, m)
		default:
		}
		return Message{}, fmt.Errorf("%s: %q: %w (%v)", p.Name, command, ErrExited, p.ExitErr())
	case <-timer.C:
		p.late++
		return Message{}, fmt.Errorf("%s: no result for %q in %v", p.Name, command, timeout)
	}
}

func (p *Process) result(command string, m Message) (Message, error) {
	if m.Kind == KindError {
		return m, fmt.Errorf("%s: %w", p.Name, &ResultError{Command: command, Text: m.Text})
	}
	return m, nil
}

// Exec runs command and returns its error, if any.
func (p *Process) Exec(command string, timeout time.Duration) error {
	_, err := p.Do(command, timeout)
	return err
}

// Value runs command (get, inc [N] or dec [N]) and returns the value.
func (p *Process) Value(command string, timeout time.Duration) (int64, error) {
	m, err := p.Do(command, timeout)
	if err != nil {
		return 0, err
	}
	v, err := m.Int("value")
	if err != nil {
		return 0, fmt.Errorf("%s: %q: %w", p.Name, command, err)
	}
	return v, nil
}

// Nodes runs command (all or up) and returns the node list.
func (p *Process) Nodes(command string, timeout time.Duration) ([]string, error) {
	m, err := p.Do(command, timeout)
	if err != nil {
		return nil, err
	}
	if _, ok := m.Fields["nodes"]; !ok {
		return nil, fmt.Errorf("%s: %q: no nodes field", p.Name, command)
	}
	return m.Nodes("nodes"), nil
}

// Events returns the events read so far, oldest first.
func (p *Process) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// EventCount returns how many events were read so far: a mark to pass to
// WaitEvent to wait only for later events.
func (p *Process) EventCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// WaitEvent waits up to timeout for an event, from the from-th on (see
// EventCount), that match accepts, and returns the first one.
func (p *Process) WaitEvent(from int, timeout time.Duration, match func(Event) bool) (Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		events, changed := p.events, p.changed
		p.mu.Unlock()
		for _, e := range events[min(from, len(events)):] {
			if match(e) {
				return e, nil
			}
		}
		from = max(from, len(events))
		select {
		case <-changed:
		case <-deadline.C:
			return Event{}, fmt.Errorf("%s: no such event in %v", p.Name, timeout)
		}
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// OSPid is the process ID of the command that was started (for a command
// that execs the member, such as ip netns exec, the member's own PID).
func (p *Process) OSPid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL and waits up to 10 s for the process to be reaped.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// Stop sends stop and waits up to timeout for the process to exit; it
// kills a process that does not, and returns the exit error.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.ExitErr()
	default:
	}
	if _, err := p.Do("stop", timeout); err != nil && !errors.Is(err, ErrExited) {
		p.Kill()
		return err
	}
	select {
	case <-p.exited:
		return p.ExitErr()
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %v after stop", p.Name, timeout)
	}
}

// CloseInput closes the process's stdin; a member stops and exits 0.
func (p *Process) CloseInput() error { return p.stdin.Close() }

// Exited is closed once the process ended and its output was read.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is cmd.Wait's error once the process ended (nil for status 0).
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Lines returns every line read so far from the process's stdout and
// stderr, in the order they were read.
func (p *Process) Lines() []LogLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// Tail returns the last n lines of the process's stdout and stderr, in the
// order they were read, each with its time and stream.
func (p *Process) Tail(n int) string {
	p.mu.Lock()
	lines := p.lines[max(0, len(p.lines)-n):]
	var b strings.Builder
	for _, l := range lines {
		stream := "out"
		if l.Stderr {
			stream = "err"
		}
		fmt.Fprintf(&b, "  %s %s %s| %s\n", l.At.Format("15:04:05.000"), p.Name, stream, l.Text)
	}
	p.mu.Unlock()
	return b.String()
}
