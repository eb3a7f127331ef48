package processkit_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	pk "processkit.dev/processkit"
)

// A context deadline or cancellation that ends a run is the error of Run,
// Loop.Run, Process.Wait and Pipe, with the Result (and its output) kept.
func TestContextErrorsMatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r, err := pk.Run(ctx, "sh", "-c", "echo partial; sleep 30")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, pk.ErrCancelled) {
		t.Fatalf("Run: %v", err)
	}
	if r == nil || !r.Cancelled() || string(r.Stdout) != "partial\n" {
		t.Fatalf("Run result: %+v", r)
	}

	l := newLoop(t)
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel2)
	r, err = l.Run(ctx2, pk.Command("sleep", "30"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || r == nil || !r.Cancelled() {
		t.Fatalf("Loop.Run: %v %+v", err, r)
	}

	// A shared group goes through a private loop.
	g, err := pk.NewGroup()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx3, cancel3 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel3()
	c := pk.Command("sleep", "30")
	c.Group = g
	if r, err = c.Run(ctx3); !errors.Is(err, context.DeadlineExceeded) || r == nil {
		t.Fatalf("Run in a group: %v %+v", err, r)
	}

	// Not the ctx: a Cmd.Timeout, an explicit Cancel and a ctx that ends
	// after the run are data, with a nil error.
	c = pk.Command("sleep", "30")
	c.Timeout = 100 * time.Millisecond
	if r, err = c.Run(context.Background()); err != nil || !r.TimedOut() {
		t.Fatalf("Cmd.Timeout: %v %+v", err, r)
	}
	ctx4, cancel4 := context.WithCancel(context.Background())
	p, err := l.Start(ctx4, pk.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Cancel()
	if r, err = p.Wait(); err != nil || !r.Cancelled() {
		t.Fatalf("Cancel: %v %+v", err, r)
	}
	p.Close()
	cancel4()
	ctx5, cancel5 := context.WithCancel(context.Background())
	r, err = pk.Run(ctx5, "true")
	cancel5()
	if err != nil || !r.Success {
		t.Fatalf("ctx after the run: %v %+v", err, r)
	}

	// A probe the ctx ends.
	p = startOn(t, l, "sleep", "30")
	ctx6, cancel6 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel6()
	if err := p.WaitForLine(ctx6, "never", false, 0); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, pk.ErrNotReady) {
		t.Fatalf("probe: %v", err)
	}
	_ = p.Cancel()
	_, _ = p.Wait()
}

func TestNotFoundMatchesStdlib(t *testing.T) {
	_, err := pk.Run(context.Background(), "processkit-no-such-program")
	if !errors.Is(err, pk.ErrNotFound) || !errors.Is(err, exec.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("not found: %v", err)
	}
	if errors.Is(err, pk.ErrInvalid) {
		t.Fatalf("matches ErrInvalid: %v", err)
	}
	_, err = pk.Run(context.Background(), "sh", "-c", "exit 3")
	if errors.Is(err, exec.ErrNotFound) {
		t.Fatal("a run that ran is not ErrNotFound")
	}
	var e *pk.Error = pk.ErrInvalid
	if errors.Is(e, exec.ErrNotFound) || errors.Is(e, fs.ErrNotExist) {
		t.Fatal("ErrInvalid matches not-found")
	}
}

func TestEnumNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{pk.OutcomeExited.Name(), "exited"},
		{pk.OutcomeTimedOut.Name(), "timed-out"},
		{pk.OutcomeStatusLost.Name(), "status-lost"},
		{pk.MechanismCgroupV2.Name(), "cgroup-v2"},
		{pk.MechanismProcessGroup.Name(), "process-group"},
		{pk.BackendCgroupV2.Name(), "cgroup-v2"},
		{pk.BackendAuto.Name(), "auto"},
		{pk.StreamStdout.Name(), "stdout"},
		{pk.StreamStderr.Name(), "stderr"},
		{pk.OverflowKeepTail.Name(), "keep-tail"},
		{pk.OutputModeMerge.Name(), "merge"},
		{pk.ReadyOutcomeRunEnded.Name(), "run-ended"},
		{pk.ReadyKindPort.Name(), "port"},
		{pk.RestartOnFailure.Name(), "on-failure"},
		{pk.StormActionGiveUp.Name(), "give-up"},
		{pk.SuperviseEventGaveUp.Name(), "gave-up"},
		{pk.ExitKindSignal.Name(), "signal"},
		{pk.CodeNotFound.Name(), "not-found"},
		{pk.CodeOK.Name(), "ok"},
		{pk.FeatureContainsSetsid.Name(), "contains-setsid"},
		{pk.Outcome(42).Name(), "Outcome(42)"},
		{pk.OutcomeExited.CName(), "PK_OUTCOME_EXITED"},
		{pk.OutcomeExited.String(), "exited"},
		{fmt.Sprint(pk.OutcomeTimedOut), "timed-out"},
		{fmt.Sprintf("%v", pk.CodeNotFound), "not-found"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

type line struct {
	stream pk.Stream
	text   string
}

func TestOnLine(t *testing.T) {
	var got []line
	c := pk.Command("sh", "-c", "echo one; echo two >&2; sleep 0.05; printf 'three\\nlast'")
	c.OnLine = func(s pk.Stream, b []byte) { got = append(got, line{s, string(b)}) }
	r, err := c.Run(context.Background())
	if err != nil || !r.Success {
		t.Fatalf("%v %+v", err, r)
	}
	want := []line{{pk.StreamStdout, "one"}, {pk.StreamStderr, "two"}, {pk.StreamStdout, "three"}, {pk.StreamStdout, "last"}}
	if len(got) != len(want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %v, want %v", i, got[i], want[i])
		}
	}
	if string(r.Stdout) != "one\nthree\nlast" || string(r.Stderr) != "two\n" {
		t.Errorf("captured %q %q", r.Stdout, r.Stderr)
	}
}

// On a Loop, with several runs and a probe sharing it.
func TestOnLineLoop(t *testing.T) {
	l := newLoop(t)
	var mu sync.Mutex
	lines := map[int][]string{}
	var procs []*pk.Process
	for i := 0; i < 4; i++ {
		i := i
		c := pk.Command("sh", "-c", "for n in 1 2 3; do echo l$n; sleep 0.02; done; echo ready; sleep 0.1")
		c.OnLine = func(_ pk.Stream, b []byte) {
			mu.Lock()
			lines[i] = append(lines[i], string(b))
			mu.Unlock()
		}
		p, err := l.Start(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		procs = append(procs, p)
	}
	if err := procs[0].WaitForLine(context.Background(), "ready", false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func(p *pk.Process) {
			defer wg.Done()
			if r, err := p.Wait(); err != nil || !r.Success {
				t.Errorf("%v %+v", err, r)
			}
		}(p)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < 4; i++ {
		if strings.Join(lines[i], ",") != "l1,l2,l3,ready" {
			t.Errorf("run %d: %v", i, lines[i])
		}
	}
}

// A panic in OnLine stops the deliveries and comes out of Run.
func TestOnLinePanic(t *testing.T) {
	calls := 0
	c := pk.Command("sh", "-c", "echo a; echo b; echo c")
	c.OnLine = func(pk.Stream, []byte) { calls++; panic("boom") }
	defer func() {
		if v := recover(); v != "boom" || calls != 1 {
			t.Errorf("recovered %v after %d calls", v, calls)
		}
	}()
	_, _ = c.Run(context.Background())
	t.Error("Run did not panic")
}

// A Process closed while its run is still going: the loop reaps it later,
// and its lines no longer reach the callback.
func TestOnLineAfterClose(t *testing.T) {
	l := newLoop(t)
	var mu sync.Mutex
	n := 0
	c := pk.Command("sh", "-c", "while :; do echo x; sleep 0.01; done")
	c.OnLine = func(pk.Stream, []byte) { mu.Lock(); n++; mu.Unlock() }
	p, err := l.Start(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitForLine(context.Background(), "x", false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Close()
	mu.Lock()
	before := n
	mu.Unlock()
	// Keep the loop busy so the closed run is reaped meanwhile.
	if r, err := l.Run(context.Background(), pk.Command("sleep", "0.2")); err != nil || !r.Success {
		t.Fatalf("%v %+v", err, r)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != before {
		t.Errorf("%d lines after Close", n-before)
	}
}
