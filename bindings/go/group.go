package processkit

/*
#include <stdlib.h>
#include <processkit.h>
*/
import "C"

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Option configures NewGroup (and Cmd.GroupOptions, the private group of a run).
type Option func(*rawGroupOptions)

// WithBackend picks the backend (default BackendAuto: cgroup v2, else the
// process group).
func WithBackend(b Backend) Option {
	return func(o *rawGroupOptions) { o.Backend = int32(b) }
}

// WithMinMechanism refuses (ErrUnavailable) anything weaker than m.
func WithMinMechanism(m Mechanism) Option {
	return func(o *rawGroupOptions) { o.MinMechanism = int32(m) }
}

// WithMemoryMax limits the tree's memory (bytes). A limit the host cannot
// enforce fails NewGroup with ErrLimit: limits never downgrade silently.
func WithMemoryMax(bytes uint64) Option {
	return func(o *rawGroupOptions) { o.MemoryMax = bytes }
}

// WithPidsMax limits the number of processes in the tree.
func WithPidsMax(n uint64) Option {
	return func(o *rawGroupOptions) { o.PidsMax = n }
}

// WithCPUMax limits the tree to this many CPU cores (1.5 = one and a half).
func WithCPUMax(cores float64) Option {
	return func(o *rawGroupOptions) { o.CPUMax = cores }
}

// WithParentDeathSignal sets the default signal a direct child gets when the
// OS thread that spawned it dies. Go moves goroutines between threads and may
// end threads, so use this only from a goroutine locked to its thread.
func WithParentDeathSignal(sig syscall.Signal) Option {
	return func(o *rawGroupOptions) { o.ParentDeathSignal = int32(sig) }
}

func groupOptions(opts []Option) rawGroupOptions {
	o := rawGroupOptions{Size: uint32(unsafe.Sizeof(rawGroupOptions{}))}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Group is a kill-on-close container of processes: every child spawned into
// it, and everything those children spawn, dies when the group is closed
// (or, as a backstop, when the Group is garbage collected unclosed).
// Its methods may be called from any goroutine.
type Group struct {
	h       handleSlot
	cleanup runtime.Cleanup
}

// NewGroup creates a group.
func NewGroup(opts ...Option) (*Group, error) {
	o := groupOptions(opts)
	var h *C.pk_group
	if err := pkGroupCreate(&o, &h); err != nil {
		return nil, err
	}
	g := &Group{}
	g.h.store(unsafe.Pointer(h))
	g.cleanup = runtime.AddCleanup(g, func(h *C.pk_group) { _ = pkGroupFree(h) }, h)
	return g, nil
}

// handle is the C handle, nil once closed (the library then reports
// ErrHandle with its own message).
func (g *Group) handle() *C.pk_group {
	if g == nil {
		return nil
	}
	return (*C.pk_group)(g.h.load())
}

// Close kills the whole tree (SIGKILL), reaps the group's direct children and
// removes what the backend created. A second Close reports ErrHandle.
func (g *Group) Close() error {
	h := (*C.pk_group)(g.h.take())
	if h != nil {
		g.cleanup.Stop()
	}
	return pkGroupFree(h)
}

// Containment says what holds the group, and why nothing stronger does.
type Containment struct {
	Mechanism   Mechanism
	Features    Feature // FeatureXxx bits
	Reason      string  // why a stronger mechanism was not used; "" if none was wanted
	CgroupMount string  // the cgroup2 mount point, or ""
	CgroupPath  string  // the group's cgroup leaf directory, or ""
}

// Has reports whether every bit of f is set.
func (c Containment) Has(f Feature) bool { return c.Features&f == f }

func containmentFromRaw(r *rawContainment) Containment {
	return Containment{
		Mechanism:   Mechanism(r.Mechanism),
		Features:    Feature(r.Features),
		Reason:      cString(r.Reason[:]),
		CgroupMount: cString(r.CgroupMount[:]),
		CgroupPath:  cString(r.CgroupPath[:]),
	}
}

// Containment reports what holds the group.
func (g *Group) Containment() (Containment, error) {
	r := rawContainment{Size: uint32(unsafe.Sizeof(rawContainment{}))}
	err := pkGroupContainment(g.handle(), &r)
	runtime.KeepAlive(g)
	if err != nil {
		return Containment{}, err
	}
	return containmentFromRaw(&r), nil
}

// Mechanism is the kernel mechanism holding the group (MechanismNone if the
// group is closed); its String is "cgroup-v2", "process-group", ...
func (g *Group) Mechanism() Mechanism {
	c, err := g.Containment()
	if err != nil {
		return MechanismNone
	}
	return c.Mechanism
}

// HostProbe reports what a group created with backend b would get on this
// host, without creating anything. An unavailable backend gives
// MechanismNone and a Reason.
func HostProbe(b Backend) (Containment, error) {
	r := rawContainment{Size: uint32(unsafe.Sizeof(rawContainment{}))}
	if err := pkHostProbe(int32(b), &r); err != nil {
		return Containment{}, err
	}
	return containmentFromRaw(&r), nil
}

// Kill sends SIGKILL to the whole tree. The group stays usable.
func (g *Group) Kill() error {
	defer runtime.KeepAlive(g)
	return pkGroupKill(g.handle())
}

// Signal sends sig to every process in the group.
func (g *Group) Signal(sig syscall.Signal) error {
	defer runtime.KeepAlive(g)
	return pkGroupSignal(g.handle(), int32(sig))
}

// Suspend stops every process in the group (cgroup freeze, or SIGSTOP).
func (g *Group) Suspend() error {
	defer runtime.KeepAlive(g)
	return pkGroupSuspend(g.handle())
}

// Resume undoes Suspend.
func (g *Group) Resume() error {
	defer runtime.KeepAlive(g)
	return pkGroupResume(g.handle())
}

// Adopt brings an existing child of this process (and its future
// descendants) into the group.
func (g *Group) Adopt(pid int) error {
	defer runtime.KeepAlive(g)
	return pkGroupAdopt(g.handle(), int32(pid))
}

// Members lists the pids in the group (every process on cgroup v2; the
// tracked leaders on the process group).
func (g *Group) Members() ([]int, error) {
	defer runtime.KeepAlive(g)
	h := g.handle()
	for {
		var n C.size_t
		if err := pkGroupMembers(h, nil, 0, &n); err != nil {
			return nil, err
		}
		if n == 0 {
			return []int{}, nil
		}
		buf := make([]C.int32_t, int(n)+16)
		var got C.size_t
		if err := pkGroupMembers(h, &buf[0], uint64(len(buf)), &got); err != nil {
			return nil, err
		}
		if int(got) <= len(buf) {
			pids := make([]int, int(got))
			for i := range pids {
				pids[i] = int(buf[i])
			}
			return pids, nil
		}
	}
}

// GroupStats is a group's usage now; fields the mechanism cannot tell are -1.
type GroupStats struct {
	LiveProcesses   int
	CPUTime         time.Duration // user+system CPU of the tree, exited members included; -1 if unknown
	PeakMemoryBytes int64         // -1 if unknown
}

// Stats reports the group's usage.
func (g *Group) Stats() (GroupStats, error) {
	r := rawGroupStats{Size: uint32(unsafe.Sizeof(rawGroupStats{}))}
	err := pkGroupStatsGet(g.handle(), &r)
	runtime.KeepAlive(g)
	if err != nil {
		return GroupStats{}, err
	}
	cpu := time.Duration(-1)
	if r.CPUTimeUs >= 0 {
		cpu = time.Duration(r.CPUTimeUs) * time.Microsecond
	}
	return GroupStats{LiveProcesses: int(r.LiveProcesses), CPUTime: cpu, PeakMemoryBytes: r.PeakMemoryBytes}, nil
}

// ShutdownOptions shape Shutdown: the polite Signal (0 = SIGTERM), the Grace
// the tree gets to drain (0 = the library's 2 s), then SIGKILL for what is
// left unless NoEscalate (which also spares the survivors at Close).
type ShutdownOptions struct {
	Signal     syscall.Signal
	Grace      time.Duration
	NoEscalate bool
}

// ShutdownReport is what Shutdown did.
type ShutdownReport struct {
	MembersBefore int
	MembersAfter  int
	Drained       bool // the tree emptied within the grace
	Escalated     bool // survivors were SIGKILLed
	Elapsed       time.Duration
}

// Shutdown signals the tree, waits until it drains or the grace ends, then
// (unless NoEscalate) kills the rest.
func (g *Group) Shutdown(opts ShutdownOptions) (ShutdownReport, error) {
	o := rawShutdownOptions{Size: uint32(unsafe.Sizeof(rawShutdownOptions{})), Signal: 15, GraceMs: 2000, Escalate: 1}
	if opts.Signal != 0 {
		o.Signal = int32(opts.Signal)
	}
	if opts.Grace > 0 {
		o.GraceMs = uint32(millis(opts.Grace))
	}
	if opts.NoEscalate {
		o.Escalate = 0
	}
	r := rawShutdownReport{Size: uint32(unsafe.Sizeof(rawShutdownReport{}))}
	err := pkGroupShutdown(g.handle(), &o, &r)
	runtime.KeepAlive(g)
	if err != nil {
		return ShutdownReport{}, err
	}
	return ShutdownReport{
		MembersBefore: int(r.MembersBefore),
		MembersAfter:  int(r.MembersAfter),
		Drained:       r.Drained != 0,
		Escalated:     r.Escalated != 0,
		Elapsed:       time.Duration(r.ElapsedUs) * time.Microsecond,
	}, nil
}

// SpawnOptions say how to start a child with Group.SpawnWith.
type SpawnOptions struct {
	Path string   // the file to run; "" = Args[0], searched in PATH unless it has a slash
	Args []string // argv, Args[0] included; at least one element
	Env  []string // "K=V" strings; nil = this process's environment
	Dir  string   // working directory; "" = this process's

	// The child's stdio; nil gives it /dev/null (as os/exec does).
	Stdin, Stdout, Stderr *os.File

	NewSession   bool // the child calls setsid()
	NoPathSearch bool // do not search PATH for a program without a slash

	// ParentDeathSignal: 0 = the group's default. See WithParentDeathSignal.
	ParentDeathSignal syscall.Signal
}

// Child is a direct child spawned into a group.
type Child struct {
	h       handleSlot
	pid     int
	cleanup runtime.Cleanup
}

// Spawn starts name with args in the group, stdio on /dev/null.
func (g *Group) Spawn(name string, args ...string) (*Child, error) {
	return g.SpawnWith(SpawnOptions{Args: append([]string{name}, args...)})
}

// SpawnWith starts a child in the group. On Linux the child is born inside
// the group's cgroup.
func (g *Group) SpawnWith(opts SpawnOptions) (*Child, error) {
	var strs cStrings
	defer strs.free()
	o := rawSpawnOptions{
		Size:              uint32(unsafe.Sizeof(rawSpawnOptions{})),
		StdinFD:           StdioNull,
		StdoutFD:          StdioNull,
		StderrFD:          StdioNull,
		ParentDeathSignal: -1,
	}
	var err error
	if opts.Path != "" {
		if o.Program, err = strs.str("Path", opts.Path); err != nil {
			return nil, err
		}
	}
	if len(opts.Args) > 0 {
		if o.Argv, err = strs.array("Args", opts.Args); err != nil {
			return nil, err
		}
	}
	if opts.Env != nil {
		if o.Envp, err = strs.array("Env", opts.Env); err != nil {
			return nil, err
		}
	}
	if opts.Dir != "" {
		if o.Cwd, err = strs.str("Dir", opts.Dir); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		f   *os.File
		dst *int32
	}{{opts.Stdin, &o.StdinFD}, {opts.Stdout, &o.StdoutFD}, {opts.Stderr, &o.StderrFD}} {
		if s.f != nil {
			*s.dst = int32(s.f.Fd())
		}
	}
	if opts.NewSession {
		o.Flags |= uint32(SpawnFlagNewSession)
	}
	if opts.NoPathSearch {
		o.Flags |= uint32(SpawnFlagNoPathSearch)
	}
	if opts.ParentDeathSignal != 0 {
		o.ParentDeathSignal = int32(opts.ParentDeathSignal)
	}
	var ch *C.pk_child
	err = pkGroupSpawn(g.handle(), &o, &ch)
	runtime.KeepAlive(g)
	runtime.KeepAlive(opts.Stdin)
	runtime.KeepAlive(opts.Stdout)
	runtime.KeepAlive(opts.Stderr)
	if err != nil {
		return nil, err
	}
	var pid C.int32_t
	if err := pkChildPID(ch, &pid); err != nil {
		_ = pkChildFree(ch)
		return nil, err
	}
	c := &Child{pid: int(pid)}
	c.h.store(unsafe.Pointer(ch))
	c.cleanup = runtime.AddCleanup(c, func(h *C.pk_child) { _ = pkChildFree(h) }, ch)
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.pid }

// ExitStatus is how a child ended.
type ExitStatus struct {
	Kind       ExitKind       // ExitKindCode or ExitKindSignal
	Code       int            // the exit code for ExitKindCode
	Signal     syscall.Signal // the signal for ExitKindSignal
	CoreDumped bool
}

// Success reports an exit with code 0.
func (s ExitStatus) Success() bool { return s.Kind == ExitKindCode && s.Code == 0 }

// Wait waits for the child to end and reaps it; later calls return the same
// status. It returns ctx.Err() if ctx ends first (the child keeps running).
func (c *Child) Wait(ctx context.Context) (ExitStatus, error) {
	defer runtime.KeepAlive(c)
	r := rawExitStatus{Size: uint32(unsafe.Sizeof(rawExitStatus{}))}
	timeout := int32(-1)
	if ctx.Done() != nil {
		timeout = 50
	}
	for {
		err := pkChildWait((*C.pk_child)(c.h.load()), timeout, &r)
		if err == nil {
			return ExitStatus{Kind: ExitKind(r.Kind), Code: int(r.Code), Signal: syscall.Signal(r.Signal), CoreDumped: r.CoreDumped != 0}, nil
		}
		if e, ok := err.(*Error); !ok || e.Code != CodeTimeout {
			return ExitStatus{}, err
		}
		if ctx.Err() != nil {
			return ExitStatus{}, ctx.Err()
		}
	}
}

// Signal signals the child alone, through its pidfd (never a recycled pid).
func (c *Child) Signal(sig syscall.Signal) error {
	defer runtime.KeepAlive(c)
	return pkChildSignal((*C.pk_child)(c.h.load()), int32(sig))
}

// Release frees the handle; the process stays in its group, which kills it
// on close.
func (c *Child) Release() error {
	h := (*C.pk_child)(c.h.take())
	if h != nil {
		c.cleanup.Stop()
	}
	return pkChildFree(h)
}

// ---- helpers

// cString is the text of a NUL-terminated char array.
func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

func millis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > 1<<31-1 {
		ms = 1<<31 - 1
	}
	return int64(ms)
}

// cStrings owns C copies of Go strings until free.
type cStrings struct {
	ptrs []unsafe.Pointer
}

func (s *cStrings) str(what, v string) (unsafe.Pointer, error) {
	if strings.IndexByte(v, 0) >= 0 {
		return nil, errorf(CodeInvalid, what+" contains a NUL byte")
	}
	p := unsafe.Pointer(C.CString(v))
	s.ptrs = append(s.ptrs, p)
	return p, nil
}

func (s *cStrings) cstr(what, v string) (*C.char, error) {
	p, err := s.str(what, v)
	return (*C.char)(p), err
}

// array is a NULL-terminated C array of C strings.
func (s *cStrings) array(what string, vs []string) (unsafe.Pointer, error) {
	n := len(vs) + 1
	arr := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(uintptr(0))))
	if arr == nil {
		return nil, errorf(CodeNomem, "out of memory")
	}
	s.ptrs = append(s.ptrs, arr)
	slots := unsafe.Slice((*unsafe.Pointer)(arr), n)
	for i, v := range vs {
		p, err := s.str(what, v)
		if err != nil {
			return nil, err
		}
		slots[i] = p
	}
	return arr, nil
}

func (s *cStrings) free() {
	for _, p := range s.ptrs {
		C.free(p)
	}
	s.ptrs = nil
}

// handleSlot holds a C handle that Close swaps out (nil once freed), safe
// for concurrent use. C handles are opaque pointers into library memory.
type handleSlot struct{ p atomic.Pointer[byte] }

func (s *handleSlot) load() unsafe.Pointer   { return unsafe.Pointer(s.p.Load()) }
func (s *handleSlot) store(h unsafe.Pointer) { s.p.Store((*byte)(h)) }
func (s *handleSlot) take() unsafe.Pointer   { return unsafe.Pointer(s.p.Swap(nil)) }
