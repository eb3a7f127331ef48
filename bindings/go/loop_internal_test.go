package processkit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The loop fd is registered with Go's netpoller: only a pollable *os.File
// accepts a read deadline.
func TestLoopFDIsInNetpoller(t *testing.T) {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.file.SetReadDeadline(time.Time{}); err != nil {
		t.Fatalf("loop fd is not in the netpoller: %v", err)
	}
}

// Many goroutines waiting on one loop hand the driving over to each other.
func TestLoopManyWaiters(t *testing.T) {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 8
	start := time.Now()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		c := Command("sh", "-c", "sleep 0.2; echo ok")
		go func() {
			r, err := l.Run(context.Background(), c)
			if err == nil {
				err = r.Check()
			}
			if err == nil && string(r.Stdout) != "ok\n" {
				err = errorf(CodeFailed, "stdout "+string(r.Stdout))
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("%d concurrent 0.2 s runs took %v", n, d)
	}
}

// A probe alone on its loop is one library wait for its whole timeout (no
// slices): the library's own record says it waited that long. When it
// shares the loop it looks between the driver's dispatches, and once alone
// again it goes back to one library wait.
func TestProbeAloneIsOneLibraryWait(t *testing.T) {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := l.Start(context.Background(), Command("sh", "-c", "echo starting; sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitForLine(context.Background(), "ready", false, 400*time.Millisecond); err == nil {
		t.Fatal("ready?")
	}
	info, err := p.libReadiness()
	if err != nil || ReadyOutcome(info.Outcome) != ReadyOutcomeTimedOut || info.WaitedUs < 350_000 {
		t.Errorf("one library wait: %+v %v", info, err)
	}

	other, err := l.Start(context.Background(), Command("sleep", "0.3"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	waited := make(chan error, 1)
	go func() {
		_, err := other.Wait()
		waited <- err
	}()
	time.Sleep(50 * time.Millisecond) // the Wait drives
	start := time.Now()
	err = p.WaitForLine(context.Background(), "ready", false, time.Second)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	info, _ = p.libReadiness()
	// Shared until about 0.25 s, then alone: the last call waited the rest.
	if time.Since(start) < 900*time.Millisecond || info.WaitedUs < 500_000 || p.Readiness().Waited < 900*time.Millisecond {
		t.Errorf("%v after %v; library record %+v, binding's %+v", err, time.Since(start), info, p.Readiness())
	}
}

// A ctx cancelled at any moment around the library wait's start still ends
// it (a wake that lands before the wait began ends it when it begins).
func TestProbeCancelRace(t *testing.T) {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := l.Start(context.Background(), Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Duration(i%20)*50*time.Microsecond, cancel)
		start := time.Now()
		err := p.WaitForLine(ctx, "ready", false, 0)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("round %d: the probe ended %v after its ctx", i, d)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: %v", i, err)
		}
		cancel()
	}
	if p.Done() {
		t.Error("the probes killed the run")
	}
}

// A wake the probe did not ask for (it was pending before the probe began,
// or another caller woke the loop) does not end it: it waits again.
func TestProbeSpuriousWake(t *testing.T) {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := l.Start(context.Background(), Command("sh", "-c", "sleep 0.3; echo ready; sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l.interrupt() // pending: it ends the probe's first library wait
	time.AfterFunc(100*time.Millisecond, l.interrupt)
	if err := p.WaitForLine(context.Background(), "ready", false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.Done() {
		t.Error("the probe killed the run")
	}
}
