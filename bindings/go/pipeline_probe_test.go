package processkit_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pk "processkit.dev/processkit"
)

// noLeftovers fails the test if, shortly after it, a child of this process
// (but the keeper) or a processkit cgroup of this process remains.
func noLeftovers(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			kids, cgs := childrenOf(os.Getpid()), ourCgroups()
			if len(kids) == 0 && len(cgs) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("left behind: children %v, cgroups %v", kids, cgs)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func ourCgroups() []string {
	mount := "/sys/fs/cgroup"
	if c, err := pk.HostProbe(pk.BackendCgroupV2); err == nil && c.CgroupMount != "" {
		mount = c.CgroupMount
	}
	pattern := "processkit-" + strconv.Itoa(os.Getpid()) + "-*"
	a, _ := filepath.Glob(filepath.Join(mount, pattern))
	b, _ := filepath.Glob(filepath.Join(mount, "*", pattern))
	return append(a, b...)
}

// ---- pipelines

func TestPipeThreeStages(t *testing.T) {
	noLeftovers(t)
	r, err := pk.Pipe(context.Background(),
		pk.Command("printf", `b\na\n`), pk.Command("sort"), pk.Command("tr", "a-z", "A-Z"))
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Stdout) != "A\nB\n" {
		t.Errorf("stdout %q", r.Stdout)
	}
	if !r.Success || r.ExitCode != 0 || r.FailedStage != -1 || r.Check() != nil {
		t.Errorf("success %v exit %d failed stage %d check %v", r.Success, r.ExitCode, r.FailedStage, r.Check())
	}
	if len(r.Stages) != 3 {
		t.Fatalf("%d stages", len(r.Stages))
	}
	for i, s := range r.Stages {
		if !s.Success || s.ExitCode != 0 || s.Outcome != pk.OutcomeExited || s.Pid <= 0 {
			t.Errorf("stage %d: %+v", i, s)
		}
	}
	if r.Mechanism != pk.MechanismCgroupV2 || r.Pid != r.Stages[2].Pid {
		t.Errorf("mechanism %v pid %d", r.Mechanism, r.Pid)
	}
}

func TestPipeFailingMiddleStage(t *testing.T) {
	noLeftovers(t)
	stages := func(unchecked bool) []*pk.Cmd {
		mid := pk.Command("sh", "-c", "cat >/dev/null; exit 4")
		mid.Unchecked = unchecked
		return []*pk.Cmd{pk.Command("printf", `x\n`), mid, pk.Command("cat")}
	}
	r, err := pk.Pipe(context.Background(), stages(false)...)
	if err != nil {
		t.Fatal(err)
	}
	if r.FailedStage != 1 || r.ExitCode != 4 || r.Success {
		t.Errorf("failed stage %d exit %d success %v", r.FailedStage, r.ExitCode, r.Success)
	}
	if got := [3]int{r.Stages[0].ExitCode, r.Stages[1].ExitCode, r.Stages[2].ExitCode}; got != [3]int{0, 4, 0} {
		t.Errorf("stage exit codes %v", got)
	}
	if r.Pid != r.Stages[1].Pid {
		t.Errorf("pid %d, failed stage's %d", r.Pid, r.Stages[1].Pid)
	}
	var e *pk.Error
	if err := r.Check(); !errors.Is(err, pk.ErrFailed) || !errors.As(err, &e) || !strings.Contains(e.Message, "stage 2 of 3") {
		t.Errorf("Check: %v", err)
	}

	r, err = pk.Pipe(context.Background(), stages(true)...)
	if err != nil {
		t.Fatal(err)
	}
	if r.FailedStage != -1 || !r.Success || r.Stages[1].ExitCode != 4 {
		t.Errorf("unchecked: failed stage %d success %v stage 1 exit %d", r.FailedStage, r.Success, r.Stages[1].ExitCode)
	}
}

func TestPipeSigpipeTimeoutAndErrors(t *testing.T) {
	noLeftovers(t)
	ctx := context.Background()
	r, err := pk.Pipe(ctx, pk.Command("yes"), pk.Command("head", "-n", "2"))
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Stdout) != "y\ny\n" || !r.Success || r.Stages[0].Signal != syscall.SIGPIPE {
		t.Errorf("yes | head: %q success %v stage 0 %+v", r.Stdout, r.Success, r.Stages[0])
	}
	pl := &pk.Pipeline{Stages: []*pk.Cmd{pk.Command("yes"), pk.Command("head", "-n", "2")}, SigpipeFails: true}
	if r, err = pl.Run(ctx); err != nil || r.FailedStage != 0 || r.Success {
		t.Errorf("SigpipeFails: %v %+v", err, r)
	}

	first := pk.Command("cat")
	first.Stdin = strings.NewReader("one\ntwo\n")
	pl = &pk.Pipeline{Stages: []*pk.Cmd{first, pk.Command("grep", "two")}}
	if r, err = pl.Run(ctx); err != nil || string(r.Stdout) != "two\n" {
		t.Errorf("stdin: %v %q", err, r.Stdout)
	}

	pl = &pk.Pipeline{
		Stages:  []*pk.Cmd{pk.Command("sleep", "30"), pk.Command("cat")},
		Timeout: 300 * time.Millisecond,
		Grace:   200 * time.Millisecond,
	}
	start := time.Now()
	if r, err = pl.Run(ctx); err != nil || !r.TimedOut() || !errors.Is(r.Check(), pk.ErrTimeout) {
		t.Errorf("timeout: %v %+v", err, r)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("timeout took %v", time.Since(start))
	}

	if _, err := pk.Pipe(ctx); !errors.Is(err, pk.ErrInvalid) {
		t.Errorf("no stages: %v", err)
	}
	if _, err := pk.Pipe(ctx, pk.Command("true"), pk.Command("no-such-program-processkit")); !errors.Is(err, pk.ErrNotFound) {
		t.Errorf("not found: %v", err)
	}
	g := newGroup(t)
	shared := pk.Command("true")
	shared.Group = g
	if _, err := pk.Pipe(ctx, shared); !errors.Is(err, pk.ErrInvalid) {
		t.Errorf("a stage in a shared group: %v", err)
	}
}

func TestPipeContextCancelAfterFirstStageEnded(t *testing.T) {
	noLeftovers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := pk.Pipe(ctx, pk.Command("true"), pk.Command("sleep", "30"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, pk.ErrCancelled) || r == nil {
		t.Fatalf("err %v result %v", err, r)
	}
	if !r.Cancelled() || !errors.Is(r.Check(), pk.ErrCancelled) {
		t.Errorf("outcome %v check %v", r.Outcome, r.Check())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if _, err := pk.Pipe(ctx, pk.Command("true")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Pipe on a done context: %v", err)
	}
}

// ---- readiness

func startOn(t *testing.T, l *pk.Loop, name string, args ...string) *pk.Process {
	t.Helper()
	p, err := l.Start(context.Background(), pk.Command(name, args...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func newLoop(t *testing.T) *pk.Loop {
	t.Helper()
	l, err := pk.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestWaitForLineReady(t *testing.T) {
	noLeftovers(t)
	l := newLoop(t)
	ctx := context.Background()
	p := startOn(t, l, "sh", "-c", "echo starting; sleep 0.3; echo ready; sleep 30")
	start := time.Now()
	if err := p.WaitForLine(ctx, "ready", false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("ready after %v", d)
	}
	if p.Done() {
		t.Error("done after the probe")
	}
	if err := p.WaitForLineOn(ctx, pk.StreamStdout, "^re+ady$", true, time.Millisecond); err != nil {
		t.Errorf("regex, a line seen before: %v", err)
	}
	if err := p.WaitForLineOn(ctx, pk.StreamStderr, "ready", false, 100*time.Millisecond); !errors.Is(err, pk.ErrNotReady) {
		t.Errorf("stderr only: %v", err)
	}
	if err := p.WaitForLine(ctx, "(", true, time.Second); !errors.Is(err, pk.ErrInvalid) {
		t.Errorf("bad regex: %v", err)
	}
	if err := p.WaitForLineOn(ctx, pk.StreamStdin, "x", false, time.Second); !errors.Is(err, pk.ErrInvalid) {
		t.Errorf("stdin: %v", err)
	}
	_ = p.Cancel()
	r, err := p.Wait()
	if err != nil || !r.Cancelled() || string(r.Stdout) != "starting\nready\n" {
		t.Errorf("after cancel: %v %v %q", err, r.Outcome, r.Stdout)
	}
}

func TestWaitForLineNotReadyLeavesChildRunning(t *testing.T) {
	noLeftovers(t)
	l := newLoop(t)
	p := startOn(t, l, "sh", "-c", "echo starting; sleep 30")
	before := alive(t, p.Pid())
	start := time.Now()
	err := p.WaitForLine(context.Background(), "ready", false, 300*time.Millisecond)
	var e *pk.Error
	if !errors.Is(err, pk.ErrNotReady) || !errors.As(err, &e) || e.Code != pk.CodeNotReady {
		t.Fatalf("want ErrNotReady, got %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("gave up after %v", d)
	}
	if !strings.Contains(e.Message, "starting") || !strings.Contains(e.Message, "not ready") {
		t.Errorf("message %q", e.Message)
	}
	// The whole wait, not the last slice.
	if ms, _ := strconv.Atoi(strings.Fields(strings.SplitN(e.Message, " after ", 2)[1])[0]); ms < 250 {
		t.Errorf("message says %d ms: %q", ms, e.Message)
	}
	if p.Done() || before.dead() {
		t.Fatal("the probe killed the child")
	}

	// ctx ends the probe: both errors are there.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = p.WaitForLine(ctx, "ready", false, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, pk.ErrNotReady) {
		t.Errorf("ctx: %v", err)
	}
	if p.Done() {
		t.Fatal("the ctx killed the child")
	}

	_ = p.Cancel()
	if r, err := p.Wait(); err != nil || !r.Cancelled() {
		t.Errorf("cancel: %v %v", err, r)
	}
	waitDead(t, 5*time.Second, before)

	q := startOn(t, l, "sh", "-c", "echo bye")
	err = q.WaitForLine(context.Background(), "ready", false, 10*time.Second)
	if !errors.As(err, &e) || e.Code != pk.CodeNotReady || !strings.Contains(e.Message, "the run ended") {
		t.Errorf("ended run: %v", err)
	}
}

// A probe while another goroutine drives the loop (waiting for another run).
func TestWaitForLineWhileAnotherGoroutineWaits(t *testing.T) {
	noLeftovers(t)
	l := newLoop(t)
	slow := startOn(t, l, "sh", "-c", "sleep 1; echo slow")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if r, err := slow.Wait(); err != nil || string(r.Stdout) != "slow\n" {
			t.Errorf("slow: %v %v", err, r)
		}
	}()
	time.Sleep(50 * time.Millisecond) // let the waiter take the driving
	p := startOn(t, l, "sh", "-c", "sleep 0.3; echo ready; sleep 30")
	start := time.Now()
	if err := p.WaitForLine(context.Background(), "ready", false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("ready seen after %v (the slow run ends at 1 s)", d)
	}
	_ = p.Cancel()
	if _, err := p.Wait(); err != nil {
		t.Error(err)
	}
	wg.Wait()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestWaitForPort(t *testing.T) {
	noLeftovers(t)
	l := newLoop(t)
	p := startOn(t, l, "sleep", "30")
	port := freePort(t)
	opened := make(chan net.Listener, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Error(err)
		}
		opened <- ln
	}()
	start := time.Now()
	err := p.WaitForPort(context.Background(), port, 10*time.Second)
	if ln := <-opened; ln != nil {
		ln.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Errorf("ready after %v, before the port opened", time.Since(start))
	}
	err = p.WaitForPort(context.Background(), freePort(t), 300*time.Millisecond)
	if !errors.Is(err, pk.ErrNotReady) || !strings.Contains(err.Error(), "127.0.0.1:") {
		t.Errorf("closed port: %v", err)
	}
	if err := p.WaitForPort(context.Background(), 0, time.Second); !errors.Is(err, pk.ErrInvalid) {
		t.Errorf("port 0: %v", err)
	}
	if p.Done() {
		t.Fatal("the probe killed the child")
	}
	_ = p.Cancel()
	if r, err := p.Wait(); err != nil || !r.Cancelled() {
		t.Errorf("cancel: %v %v", err, r)
	}
}

// ---- cancellation and the wake

// ctx ends a probe blocked in the library (alone on its loop, no timeout)
// at once, and the process goes on.
func TestProbeContextCancelInterrupts(t *testing.T) {
	noLeftovers(t)
	l := newLoop(t)
	p := startOn(t, l, "sh", "-c", "echo starting; sleep 30")
	port := freePort(t)
	for _, probe := range []struct {
		name string
		kind pk.ReadyKind
		run  func(ctx context.Context) error
	}{
		{"line", pk.ReadyKindLine, func(ctx context.Context) error { return p.WaitForLine(ctx, "ready", false, 0) }},
		{"port", pk.ReadyKindPort, func(ctx context.Context) error { return p.WaitForPort(ctx, port, 0) }},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		err := probe.run(ctx)
		d := time.Since(start)
		cancel()
		if !errors.Is(err, context.Canceled) || !errors.Is(err, pk.ErrNotReady) {
			t.Errorf("%s: %v", probe.name, err)
		}
		if d < 250*time.Millisecond || d > 5*time.Second {
			t.Errorf("%s: ended after %v (ctx cancelled at 300 ms)", probe.name, d)
		}
		var e *pk.Error
		if !errors.As(err, &e) || !strings.Contains(e.Message, "the context ended") {
			t.Errorf("%s: message %v", probe.name, err)
		}
		r := p.Readiness()
		if r.Kind != probe.kind || r.Outcome != pk.ReadyOutcomeWoken || r.Waited < 250*time.Millisecond || r.Waited > d {
			t.Errorf("%s: readiness %+v (took %v)", probe.name, r, d)
		}
		if probe.kind == pk.ReadyKindPort && r.Port != port {
			t.Errorf("port: readiness %+v", r)
		}
	}
	if p.Done() {
		t.Fatal("the ctx killed the child")
	}
	before := alive(t, p.Pid())
	_ = p.Cancel()
	if r, err := p.Wait(); err != nil || !r.Cancelled() {
		t.Errorf("cancel: %v %v", err, r)
	}
	waitDead(t, 5*time.Second, before)
}

// The ctx given to Start ends a Wait, also one that shares the loop with a
// probe blocked in the library; the run's whole tree dies.
func TestWaitContextCancelInterrupts(t *testing.T) {
	noLeftovers(t)
	l := newLoop(t)
	server := startOn(t, l, "sh", "-c", "echo starting; sleep 30")
	probeCtx, stopProbe := context.WithCancel(context.Background())
	defer stopProbe()
	probed := make(chan error, 1)
	go func() { probed <- server.WaitForLine(probeCtx, "ready", false, 0) }()
	time.Sleep(100 * time.Millisecond) // the probe blocks in the library

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := l.Start(ctx, pk.Command("sh", "-c", "sleep 30 & sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	r, err := p.Wait()
	if !errors.Is(err, context.Canceled) || r == nil || !r.Cancelled() {
		t.Errorf("Wait: %v %+v", err, r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Wait ended after %v (ctx cancelled at 300 ms)", d)
	}

	// A Wait that comes while the probe blocks in the library is not held
	// up by it: the probe lets it drive.
	quick, err := l.Start(context.Background(), pk.Command("sh", "-c", "sleep 0.2; echo done"))
	if err != nil {
		t.Fatal(err)
	}
	defer quick.Close()
	time.Sleep(50 * time.Millisecond) // the probe, alone again, is back in the library
	start = time.Now()
	if r, err := quick.Wait(); err != nil || string(r.Stdout) != "done\n" {
		t.Errorf("quick: %v %+v", err, r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a 0.2 s run took %v beside a probe", d)
	}

	select {
	case err := <-probed:
		t.Fatalf("the probe ended: %v", err)
	default:
	}
	stopProbe()
	select {
	case err := <-probed:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, pk.ErrNotReady) {
			t.Errorf("probe: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the probe did not end with its ctx")
	}
	if server.Done() {
		t.Error("the probe's ctx killed the server")
	}
}

// Closing the loop ends a probe blocked in the library.
func TestProbeEndsWhenLoopCloses(t *testing.T) {
	noLeftovers(t)
	l, err := pk.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Start(context.Background(), pk.Command("sh", "-c", "sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before := alive(t, p.Pid())
	time.AfterFunc(300*time.Millisecond, func() { _ = l.Close() })
	start := time.Now()
	err = p.WaitForLine(context.Background(), "ready", false, 0)
	if !errors.Is(err, pk.ErrState) {
		t.Errorf("probe on a closed loop: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the probe ended %v after the start (Close at 300 ms)", d)
	}
	waitDead(t, 5*time.Second, before)
}

// The readiness record: what the last probe waited for and how it ended.
func TestReadinessRecord(t *testing.T) {
	noLeftovers(t)
	l := newLoop(t)
	ctx := context.Background()
	p := startOn(t, l, "sh", "-c", "echo starting; sleep 0.3; echo ready; sleep 30")
	if r := p.Readiness(); r.Kind != pk.ReadyKindNone || r.Outcome != pk.ReadyOutcomePending {
		t.Errorf("before any probe: %+v", r)
	}
	if err := p.WaitForLineOn(ctx, pk.StreamStdout, "ready", false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r := p.Readiness()
	if r.Kind != pk.ReadyKindLine || r.Outcome != pk.ReadyOutcomeMet || r.Stream != pk.StreamStdout ||
		r.LinesSeen != 2 || r.LastLine != "ready" || r.Waited < 200*time.Millisecond || r.Waited > 5*time.Second {
		t.Errorf("met: %+v", r)
	}
	err := p.WaitForLine(ctx, "never", false, 300*time.Millisecond)
	r = p.Readiness()
	if r.Outcome != pk.ReadyOutcomeTimedOut || r.Waited < 250*time.Millisecond || r.Waited > 5*time.Second {
		t.Errorf("timed out: %+v", r)
	}
	var e *pk.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "last line seen: ready (2 in all)") {
		t.Errorf("timed out: %v", err)
	}
	port := freePort(t)
	if err := p.WaitForPort(ctx, port, 200*time.Millisecond); !errors.Is(err, pk.ErrNotReady) {
		t.Errorf("port: %v", err)
	}
	if r := p.Readiness(); r.Kind != pk.ReadyKindPort || r.Port != port || r.Outcome != pk.ReadyOutcomeTimedOut ||
		r.Waited < 150*time.Millisecond {
		t.Errorf("port: %+v", r)
	}
	if err := p.WaitForLine(ctx, "(", true, time.Second); !errors.Is(err, pk.ErrInvalid) {
		t.Errorf("bad regex: %v", err)
	}
	if r := p.Readiness(); r.Kind != pk.ReadyKindLine || r.Outcome != pk.ReadyOutcomeFailed {
		t.Errorf("bad regex: %+v", r)
	}

	q := startOn(t, l, "sh", "-c", "echo bye")
	err = q.WaitForLine(ctx, "ready", false, 10*time.Second)
	if r := q.Readiness(); r.Outcome != pk.ReadyOutcomeRunEnded || r.LastLine != "bye" || r.Waited > 5*time.Second {
		t.Errorf("run ended: %+v", r)
	}
	if !errors.As(err, &e) || !strings.Contains(e.Message, "the run ended") || strings.Contains(e.Message, "after 10000 ms") {
		t.Errorf("run ended: %v", err)
	}
	_ = p.Cancel()
	if _, err := p.Wait(); err != nil {
		t.Error(err)
	}
}

// Probes and Waits from many goroutines on one loop: each sees its own
// run's line and end, none waits for another's timeout.
func TestProbesAndWaitsShareALoop(t *testing.T) {
	noLeftovers(t)
	l := newLoop(t)
	const n = 6
	start := time.Now()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		delay := strconv.FormatFloat(0.1*float64(i%3+1), 'f', 1, 64)
		p := startOn(t, l, "sh", "-c", "sleep "+delay+"; echo ready "+strconv.Itoa(i)+"; sleep 0.2; exit "+strconv.Itoa(i))
		go func() {
			if err := p.WaitForLine(context.Background(), "ready "+strconv.Itoa(i), false, 10*time.Second); err != nil {
				errs <- err
				return
			}
			r, err := p.Wait()
			if err == nil && r.ExitCode != i {
				err = errors.New("run " + strconv.Itoa(i) + ": exit " + strconv.Itoa(r.ExitCode))
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
		t.Errorf("%d runs of at most 0.5 s took %v on one loop", n, d)
	}
}
