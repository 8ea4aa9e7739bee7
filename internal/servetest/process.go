package servetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Process is a child process a test started. Its standard output and
// error are kept; if it still runs when the test ends it is killed, and if
// the test failed what it wrote is logged.
type Process struct {
	name   string
	cmd    *exec.Cmd
	stdout *Output
	stderr *Output
	exited chan struct{}
	err    error
}

// StartProcess starts cmd, named name in messages. Whatever cmd.Stdout and
// cmd.Stderr already were (os.Stderr, say) still receive the output, as it
// is written, besides the Process's own copy. Unless cmd.WaitDelay is set,
// the output is no longer read 10 s after the process exits, should a
// child of it hold the output open.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) (*Process, error) {
	t.Helper()
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 10 * time.Second
	}
	p := &Process{name: name, cmd: cmd, stdout: newOutput(), stderr: newOutput(), exited: make(chan struct{})}
	cmd.Stdout = tee(p.stdout, cmd.Stdout)
	cmd.Stderr = tee(p.stderr, cmd.Stderr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.stdout.close()
		p.stderr.close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s standard output:\n%s\n%s standard error:\n%s", name, p.stdout, name, p.stderr)
		}
	})
	return p, nil
}

func tee(own *Output, also io.Writer) io.Writer {
	if also == nil {
		return own
	}
	return io.MultiWriter(own, also)
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stdout returns what the process wrote to its standard output.
func (p *Process) Stdout() *Output { return p.stdout }

// Stderr returns what the process wrote to its standard error.
func (p *Process) Stderr() *Output { return p.stderr }

// Exited is closed once the process has exited and its output is read.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err returns how the process exited (nil for status 0); call it once
// Exited is closed.
func (p *Process) Err() error { return p.err }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns how it
// exited (nil for status 0). It fails the test if the process is still
// running after timeout.
func (p *Process) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.name, timeout)
		return nil
	}
}

// Stop sends sig to the process and waits up to a minute for it to exit,
// and returns how it exited (nil for status 0). It fails the test if the
// signal cannot be sent or the process does not exit.
func (p *Process) Stop(t testing.TB, sig os.Signal) error {
	t.Helper()
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return p.Wait(t, time.Minute)
}

// ErrClosed is returned by Output.WaitLine when the stream ended without
// the line it waited for.
var ErrClosed = errors.New("the output ended")

// Output is what a process wrote to one stream so far. It is safe for one
// writer and readers in other goroutines.
type Output struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on each write and at close
	closed  bool
}

func newOutput() *Output { return &Output{changed: make(chan struct{})} }

// Write appends p and wakes the readers waiting in WaitLine.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.b.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return n, err
}

func (o *Output) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	close(o.changed)
	o.changed = make(chan struct{})
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// WaitLine waits up to timeout for a line of the stream (without its line
// end) for which match is true, looking from the stream's start, and
// returns it. It returns an error wrapping ErrClosed if the stream ends
// first, and an error if timeout passes first.
func (o *Output) WaitLine(timeout time.Duration, match func(line string) bool) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	pos := 0
	for {
		o.mu.Lock()
		b := o.b.Bytes()
		for {
			i := bytes.IndexByte(b[pos:], '\n')
			if i < 0 {
				break
			}
			line := strings.TrimSuffix(string(b[pos:pos+i]), "\r")
			pos += i + 1
			if match(line) {
				o.mu.Unlock()
				return line, nil
			}
		}
		closed, changed := o.closed, o.changed
		if closed && pos < len(b) && match(string(b[pos:])) {
			o.mu.Unlock()
			return string(b[pos:]), nil
		}
		o.mu.Unlock()
		if closed {
			return "", fmt.Errorf("no such line: %w", ErrClosed)
		}
		select {
		case <-changed:
		case <-deadline.C:
			return "", fmt.Errorf("no such line within %v", timeout)
		}
	}
}
