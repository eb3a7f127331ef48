package processkit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pk "processkit.dev/processkit"
)

// Every enum is a fmt.Stringer printing its readable name.
func TestEnumsAreStringers(t *testing.T) {
	for _, s := range []fmt.Stringer{pk.OutcomeTimedOut, pk.CodeNotFound, pk.StreamStdout, pk.RestartOnFailure, pk.MechanismCgroupV2} {
		if strings.HasPrefix(s.String(), "PK_") {
			t.Errorf("%T prints its C name %q", s, s.String())
		}
	}
	if got := fmt.Sprintf("%v/%s", pk.OutcomeTimedOut, pk.SuperviseEventGaveUp); got != "timed-out/gave-up" {
		t.Fatalf("got %q", got)
	}
}

func TestReaderWriterStdio(t *testing.T) {
	var out, errw bytes.Buffer
	c := pk.Command("sh", "-c", "cat; echo e >&2")
	c.Stdin = bytes.NewBufferString("in\n")
	c.Stdout, c.Stderr = &out, &errw
	r, err := c.Run(context.Background())
	if err != nil || !r.Success || out.String() != "in\n" || errw.String() != "e\n" || len(r.Stdout) != 0 {
		t.Fatalf("err %v result %+v out %q err %q", err, r, out.String(), errw.String())
	}
	// A general reader goes through a pipe.
	pr, pw, _ := os.Pipe()
	go func() { pw.WriteString("piped\n"); pw.Close() }()
	c = pk.Command("cat")
	c.Stdin = struct{ *os.File }{pr}
	r, err = c.Run(context.Background())
	pr.Close()
	if err != nil || string(r.Stdout) != "piped\n" {
		t.Fatalf("err %v stdout %q", err, r.Stdout)
	}
	c = pk.Command("sh", "-c", "echo a; echo b >&2")
	c.StderrToStdout = true
	r, err = c.Run(context.Background())
	if err != nil || string(r.Stdout) != "a\nb\n" {
		t.Fatalf("merge: %v %q", err, r.Stdout)
	}
}

func TestStdinPipeOnLoop(t *testing.T) {
	l, err := pk.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := pk.Command("cat")
	c.StdinPipe = true
	p, err := l.Start(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := p.Stdin()
	if _, err := w.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := p.Wait()
	if err != nil || string(r.Stdout) != "hello\n" {
		t.Fatalf("%v %q", err, r.Stdout)
	}
}

func TestPTYUmaskRlimitExtraFiles(t *testing.T) {
	c := pk.Command("sh", "-c", "[ -t 1 ] && echo tty")
	c.PTY = &pk.TermSize{Rows: 24, Cols: 80}
	r, err := c.Run(context.Background())
	if err != nil || strings.TrimSpace(string(r.Stdout)) != "tty" {
		t.Fatalf("pty: %v %q", err, r.Stdout)
	}
	m := os.FileMode(0o027)
	f, _ := os.Open(os.DevNull)
	defer f.Close()
	c = pk.Command("sh", "-c", "umask; ulimit -n; [ -e /proc/self/fd/3 ] && echo fd3")
	c.Umask = &m
	c.Rlimits = []pk.Rlimit{{Resource: 7 /* RLIMIT_NOFILE */, Cur: 64, Max: 64}}
	c.ExtraFiles = []*os.File{f}
	c.NoWindow = true
	r, err = c.Run(context.Background())
	if err != nil || string(r.Stdout) != "0027\n64\nfd3\n" {
		t.Fatalf("%v %q %q", err, r.Stdout, r.Stderr)
	}
}

func TestRetryAndSupervise(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "n")
	c := pk.Command("sh", "-c", "echo x >> "+count+"; [ $(wc -l < "+count+") -ge 2 ]")
	attempts := 0
	r, err := c.RunRetry(context.Background(), pk.RetryPolicy{MaxAttempts: 5, InitialDelay: 10 * time.Millisecond,
		Retry: func(r *pk.Result, n int) bool { attempts = n; return true }})
	if err != nil || !r.Success || attempts != 1 {
		t.Fatalf("retry: %v %+v attempts %d", err, r, attempts)
	}
	var events []pk.SuperviseEvent
	rep, err := pk.Command("false").Supervise(context.Background(), pk.SupervisePolicy{Restart: pk.RestartOnFailure,
		MaxRestarts: 2, BackoffInitial: 10 * time.Millisecond, OnEvent: func(e pk.SuperviseEventInfo) { events = append(events, e.Event) }})
	if err != nil || rep.Runs != 3 || rep.Restarts != 2 || rep.StopReason != pk.SuperviseEventGaveUp || len(events) == 0 {
		t.Fatalf("supervise: %v %+v %v", err, rep, events)
	}
}
