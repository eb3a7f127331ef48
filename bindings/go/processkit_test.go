package processkit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pk "processkit.dev/processkit"
)

// TestMain fails the run if a test left a child of this process behind (the
// library's pk-keeper, which guards cgroups against this process's death and
// exits with it, is by design).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if left := childrenOf(os.Getpid()); len(left) > 0 {
			for _, pid := range left {
				stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
				fmt.Fprintf(os.Stderr, "child left behind: %s\n", stat)
			}
			code = 1
		}
	}
	os.Exit(code)
}

// ---- /proc helpers

// procStat returns the state (field 3) and start time (field 22) of pid.
func procStat(pid int) (state, start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}

func childrenOf(ppid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) && !strings.Contains(s, "(pk-keeper)") {
			out = append(out, pid)
		}
	}
	return out
}

// proc is a process seen alive: its pid and start time.
type proc struct {
	pid   int
	start string
}

func alive(t *testing.T, pid int) proc {
	t.Helper()
	state, start, ok := procStat(pid)
	if !ok || state == "Z" {
		t.Fatalf("pid %d is not alive (state %q)", pid, state)
	}
	return proc{pid, start}
}

// dead: gone, a zombie, or the pid reused by another process.
func (p proc) dead() bool {
	state, start, ok := procStat(p.pid)
	return !ok || state == "Z" || start != p.start
}

func waitDead(t *testing.T, within time.Duration, ps ...proc) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, p := range ps {
		for !p.dead() {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d is still alive", p.pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file %s: %q", path, b)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid file %s never written", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newGroup(t *testing.T, opts ...pk.Option) *pk.Group {
	t.Helper()
	g, err := pk.NewGroup(opts...)
	if err != nil {
		t.Fatalf("NewGroup: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// ---- a. closing a group kills the child and the grandchild

func TestGroupCloseKillsTree(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backend pk.Backend
	}{{"auto", pk.BackendAuto}, {"process-group", pk.BackendProcessGroup}} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := pk.NewGroup(pk.WithBackend(tc.backend))
			if err != nil {
				t.Fatal(err)
			}
			cont, err := g.Containment()
			if err != nil {
				t.Fatal(err)
			}
			pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
			child, err := g.Spawn("sh", "-c", "sleep 30 & echo $! > "+pidfile+"; wait")
			if err != nil {
				g.Close()
				t.Fatal(err)
			}
			c := alive(t, child.Pid())
			gc := alive(t, readPid(t, pidfile))
			if err := g.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			waitDead(t, 5*time.Second, c, gc)
			if cont.CgroupPath != "" {
				if _, err := os.Stat(cont.CgroupPath); !os.IsNotExist(err) {
					t.Errorf("cgroup %s left behind (%v)", cont.CgroupPath, err)
				}
			}
			// The child was reaped by the group; the handle still answers.
			st, err := child.Wait(context.Background())
			if err != nil {
				t.Fatalf("Wait after Close: %v", err)
			}
			if st.Kind != pk.ExitKindSignal || st.Signal != 9 {
				t.Errorf("child status %+v, want killed by SIGKILL", st)
			}
			if err := child.Release(); err != nil {
				t.Errorf("Release: %v", err)
			}
		})
	}
}

// ---- b. captured output, exit code as data, Check on request

func TestRunCapturesOutputAndExitCode(t *testing.T) {
	ctx := context.Background()
	r, err := pk.Run(ctx, "sh", "-c", "echo out; echo err >&2; exit 3")
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.Outcome != pk.OutcomeExited || r.ExitCode != 3 || r.Success {
		t.Errorf("outcome %v exit %d success %v", r.Outcome, r.ExitCode, r.Success)
	}
	if string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" {
		t.Errorf("stdout %q stderr %q", r.Stdout, r.Stderr)
	}
	err = r.Check()
	if !errors.Is(err, pk.ErrFailed) {
		t.Fatalf("Check: %v, want ErrFailed", err)
	}
	var pe *pk.Error
	if !errors.As(err, &pe) || pe.Code != pk.CodeFailed || !strings.Contains(pe.Message, "err") {
		t.Errorf("Check error %#v: want the library's message with the stderr line", pe)
	}

	ok, err := pk.Run(ctx, "sh", "-c", "echo fine")
	if err != nil || ok.Check() != nil || string(ok.Stdout) != "fine\n" || ok.ExitCode != 0 {
		t.Errorf("success run: %+v %v", ok, err)
	}
}

func TestCmdOptions(t *testing.T) {
	dir := t.TempDir()
	c := pk.Command("sh", "-c", `read line; echo "$line/$FOO/$HOME/$(pwd)"; exit 7`)
	c.Env = []string{"FOO=bar", "PATH=" + os.Getenv("PATH")}
	c.Dir = dir
	c.Stdin = strings.NewReader("hello\n")
	c.OkCodes = []int{0, 7}
	r, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := "hello/bar//" + dir + "\n"
	if string(r.Stdout) != want || r.ExitCode != 7 || !r.Success || r.Check() != nil {
		t.Errorf("got %q exit %d success %v check %v; want %q", r.Stdout, r.ExitCode, r.Success, r.Check(), want)
	}
	if r.Mechanism != pk.MechanismCgroupV2 {
		t.Errorf("run held by %v", r.Mechanism)
	}
}

// ---- c. a timeout tears the tree down

func TestTimeoutKillsTree(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
	c := pk.Command("sh", "-c", "sleep 30 & echo $! > "+pidfile+"; sleep 30")
	c.Timeout = 300 * time.Millisecond
	c.Grace = 500 * time.Millisecond
	start := time.Now()
	r, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if !r.TimedOut() {
		t.Errorf("outcome %v, want timed out", r.Outcome)
	}
	if !errors.Is(r.Check(), pk.ErrTimeout) {
		t.Errorf("Check: %v", r.Check())
	}
	gpid := readPid(t, pidfile)
	state, _, ok := procStat(gpid)
	if ok && state != "Z" {
		// Still there: it must die shortly (never wait 30 s).
		waitDead(t, 5*time.Second, proc{gpid, func() string { _, s, _ := procStat(gpid); return s }()})
	}
}

func TestContextCancelsRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := pk.Run(ctx, "sleep", "30")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, pk.ErrCancelled) || r == nil {
		t.Fatalf("err %v result %v", err, r)
	}
	if !r.Cancelled() || !errors.Is(r.Check(), pk.ErrCancelled) {
		t.Errorf("outcome %v check %v", r.Outcome, r.Check())
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}
	if _, err := pk.Run(ctx, "true"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run on a done context: %v", err)
	}
}

// ---- d. the mechanism

func TestMechanism(t *testing.T) {
	g := newGroup(t)
	if m := g.Mechanism(); m != pk.MechanismCgroupV2 || m.String() != "cgroup-v2" {
		t.Errorf("auto mechanism %v", m)
	}
	c, err := g.Containment()
	if err != nil || !c.Has(pk.FeatureContainsSetsid) || c.CgroupPath == "" {
		t.Errorf("containment %+v %v", c, err)
	}
	pg := newGroup(t, pk.WithBackend(pk.BackendProcessGroup))
	if m := pg.Mechanism(); m != pk.MechanismProcessGroup || m.String() != "process-group" {
		t.Errorf("forced mechanism %v", m)
	}
	probe, err := pk.HostProbe(pk.BackendProcessGroup)
	if err != nil || probe.Mechanism.String() != "process-group" {
		t.Errorf("probe %+v %v", probe, err)
	}
	if pk.Version() != "1.2.0" || pk.VersionNum() != pk.VersionNumber {
		t.Errorf("version %s %#x", pk.Version(), pk.VersionNum())
	}
}

// ---- e. bad arguments and closed objects

func TestErrors(t *testing.T) {
	_, err := pk.Run(context.Background(), "")
	var pe *pk.Error
	if !errors.Is(err, pk.ErrInvalid) || !errors.As(err, &pe) {
		t.Fatalf("empty program: %v", err)
	}
	if pe.Code != pk.CodeInvalid || pe.Message == "" || pe.Message == pk.CodeInvalid.Description() {
		t.Errorf("want the library's own message, got %#v", pe)
	}
	if errors.Is(err, pk.ErrNotFound) {
		t.Errorf("%v matches ErrNotFound", err)
	}

	_, err = pk.Run(context.Background(), "/nonexistent/program")
	if !errors.Is(err, pk.ErrNotFound) {
		t.Errorf("missing program: %v", err)
	}

	g, err := pk.NewGroup()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = g.Spawn("true")
	if !errors.Is(err, pk.ErrHandle) || !errors.As(err, &pe) || pe.Message == "" {
		t.Errorf("spawn in a closed group: %v", err)
	}
	if err := g.Close(); !errors.Is(err, pk.ErrHandle) {
		t.Errorf("second Close: %v", err)
	}
	if m := g.Mechanism(); m != pk.MechanismNone {
		t.Errorf("closed group mechanism %v", m)
	}

	_, err = pk.NewGroup(pk.WithBackend(pk.Backend(99)))
	if !errors.Is(err, pk.ErrInvalid) {
		t.Errorf("bad backend: %v", err)
	}
	if _, err := pk.Run(context.Background(), "echo", "a\x00b"); !errors.Is(err, pk.ErrInvalid) {
		t.Errorf("NUL in an argument: %v", err)
	}
}

// ---- f. two commands at once on one loop, through the netpoller

func TestLoopRunsConcurrently(t *testing.T) {
	l, err := pk.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	start := time.Now()
	var procs []*pk.Process
	for i := 0; i < 2; i++ {
		p, err := l.Start(ctx, pk.Command("sh", "-c", "sleep 0.3; echo x"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		procs = append(procs, p)
	}
	var wg sync.WaitGroup
	results := make([]*pk.Result, len(procs))
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = p.Wait()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("Wait %d: %v", i, errs[i])
		}
		if want := "x" + strconv.Itoa(i) + "\n"; string(results[i].Stdout) != want || results[i].ExitCode != 0 {
			t.Errorf("run %d: %q exit %d", i, results[i].Stdout, results[i].ExitCode)
		}
	}
	if elapsed > 1500*time.Millisecond {
		t.Errorf("two 0.3 s runs took %v on one loop", elapsed)
	}
	// Waiting again gives the same result.
	if r, err := procs[0].Wait(); err != nil || r != results[0] {
		t.Errorf("second Wait: %v %v", r, err)
	}
}

func TestLoopSequentialWaitAndCancel(t *testing.T) {
	l, err := pk.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow, err := l.Start(ctx, pk.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	quick, err := l.Start(context.Background(), pk.Command("sh", "-c", "sleep 0.2; exit 4"))
	if err != nil {
		t.Fatal(err)
	}
	defer quick.Close()
	r, err := quick.Wait()
	if err != nil || r.ExitCode != 4 || !errors.Is(r.Check(), pk.ErrFailed) {
		t.Fatalf("quick: %+v %v", r, err)
	}
	if slow.Done() {
		t.Fatal("slow finished early")
	}
	cancel()
	r, err = slow.Wait()
	if !errors.Is(err, context.Canceled) || r == nil || !r.Cancelled() {
		t.Fatalf("slow after cancel: %+v %v", r, err)
	}
}

func TestLoopCloseEndsWaiters(t *testing.T) {
	l, err := pk.NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Start(context.Background(), pk.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan struct{})
	var r *pk.Result
	go func() {
		defer close(done)
		r, err = p.Wait()
	}()
	time.Sleep(200 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	if err != nil || !r.Cancelled() {
		t.Errorf("after Close: %+v %v", r, err)
	}
	if _, err := l.Start(context.Background(), pk.Command("true")); !errors.Is(err, pk.ErrHandle) {
		t.Errorf("Start on a closed loop: %v", err)
	}
}

// A command run in a shared group (through a private loop).
func TestRunInGroup(t *testing.T) {
	g := newGroup(t)
	c := pk.Command("sh", "-c", "echo $$")
	c.Group = g
	r, err := c.Run(context.Background())
	if err != nil || r.Check() != nil {
		t.Fatalf("%+v %v", r, err)
	}
	if strings.TrimSpace(string(r.Stdout)) != strconv.Itoa(r.Pid) {
		t.Errorf("stdout %q pid %d", r.Stdout, r.Pid)
	}
	g.Close()
	if _, err := c.Run(context.Background()); !errors.Is(err, pk.ErrHandle) {
		t.Errorf("run in a closed group: %v", err)
	}
}

func TestGroupChildLifecycle(t *testing.T) {
	g := newGroup(t)
	child, err := g.Spawn("sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	defer child.Release()
	members, err := g.Members()
	if err != nil || len(members) != 1 || members[0] != child.Pid() {
		t.Errorf("members %v %v (child %d)", members, err, child.Pid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := child.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a running child: %v", err)
	}
	rep, err := g.Shutdown(pk.ShutdownOptions{Grace: time.Second})
	if err != nil || !rep.Drained || rep.MembersAfter != 0 {
		t.Errorf("shutdown %+v %v", rep, err)
	}
	st, err := child.Wait(context.Background())
	if err != nil || st.Kind != pk.ExitKindSignal || st.Signal != 15 {
		t.Errorf("status %+v %v", st, err)
	}
	if s, err := g.Stats(); err != nil || s.LiveProcesses != 0 {
		t.Errorf("stats %+v %v", s, err)
	}
}

// An unreachable, unclosed Group is freed by its cleanup: the tree dies.
func TestGroupCleanupBackstop(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
	child := func() proc {
		g, err := pk.NewGroup()
		if err != nil {
			t.Fatal(err)
		}
		c, err := g.Spawn("sh", "-c", "sleep 30 & echo $! > "+pidfile+"; wait")
		if err != nil {
			t.Fatal(err)
		}
		return alive(t, c.Pid())
	}()
	gc := alive(t, readPid(t, pidfile))
	deadline := time.Now().Add(10 * time.Second)
	for !(child.dead() && gc.dead()) {
		if time.Now().After(deadline) {
			t.Fatal("the tree of a dropped group is still alive")
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}
