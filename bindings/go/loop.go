package processkit

/*
#include <poll.h>
#include <processkit.h>

// Whether fd polls readable right now (never blocks).
static int gopk_readable(int fd) {
	struct pollfd p = {fd, POLLIN, 0};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}
*/
import "C"

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Loop runs many commands concurrently on one processkit event loop, whose
// fd (an epoll fd) sits in Go's netpoller: a goroutine waiting for a run
// parks in the runtime like one reading a socket, and no OS thread blocks.
//
// Start, Wait and the probes may be called from any goroutine. The library
// lets one thread at a time drive a loop, so one goroutine at a time does:
// a waiting one with pk_loop_run_once(0) each time the fd polls readable,
// parked in the netpoller in between, while the others wake up on its
// progress. A probe alone on the loop blocks in one library wait for its
// whole timeout; pk_loop_wake ends that wait early when its ctx is done,
// when another goroutine comes to use the loop, or when the Loop is closed.
type Loop struct {
	h       handleSlot
	cleanup runtime.Cleanup

	file *os.File // a dup of the loop fd, registered with the netpoller
	raw  syscall.RawConn

	closed chan struct{} // closed once Close has freed the loop

	mu       sync.Mutex
	users    int           // goroutines inside Wait or a probe
	driver   *driver       // the one of them driving the loop, or nil
	progress chan struct{} // closed (and replaced) after every dispatch and hand-over
}

// driver is a goroutine's turn at driving the loop.
type driver struct {
	owner *Process // the probe's process; nil for a Wait
	// inLib is set when the driver's turn is a library wait (a probe alone
	// on the loop), which only pk_loop_wake ends early. Otherwise the
	// driver is parked in the netpoller, where a wake makes the loop fd
	// readable.
	inLib bool
}

// NewLoop creates a loop.
func NewLoop() (*Loop, error) {
	var h *C.pk_loop
	if err := pkLoopNew(&h); err != nil {
		return nil, err
	}
	var fd C.int
	if err := pkLoopFD(h, &fd); err != nil {
		_ = pkLoopFree(h)
		return nil, err
	}
	// The loop owns its fd; the netpoller gets a duplicate. O_NONBLOCK is
	// what makes os.NewFile register it (it is shared with the library's
	// fd, and epoll_wait ignores it).
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		_ = pkLoopFree(h)
		return nil, errorf(CodeOS, "dup of the loop fd: "+errno.Error())
	}
	if err := syscall.SetNonblock(int(dup), true); err != nil {
		syscall.Close(int(dup))
		_ = pkLoopFree(h)
		return nil, errorf(CodeOS, "O_NONBLOCK on the loop fd: "+err.Error())
	}
	f := os.NewFile(dup, "processkit-loop")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		_ = pkLoopFree(h)
		return nil, errorf(CodeOS, "loop fd: "+err.Error())
	}
	l := &Loop{
		file:     f,
		raw:      raw,
		closed:   make(chan struct{}),
		progress: make(chan struct{}),
	}
	l.h.store(unsafe.Pointer(h))
	l.cleanup = runtime.AddCleanup(l, func(h *C.pk_loop) { _ = pkLoopFree(h) }, h)
	return l, nil
}

// Close kills and reaps everything still running on the loop, then frees
// it. Goroutines waiting for its runs get their (cancelled) results; probes
// end with CodeState. A second Close reports ErrHandle.
func (l *Loop) Close() error {
	h := (*C.pk_loop)(l.h.take())
	if h == nil {
		return pkLoopFree(nil)
	}
	l.cleanup.Stop()
	l.file.Close() // wakes a driver parked in the netpoller
	// The library wakes a thread blocked in a wait on the loop (it fails
	// with PK_ERR_HANDLE) and waits for it to leave before freeing.
	err := pkLoopFree(h)
	close(l.closed)
	l.notify()
	return err
}

func (l *Loop) progressChan() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.progress
}

// notify wakes every goroutine waiting for progress.
func (l *Loop) notify() {
	l.mu.Lock()
	close(l.progress)
	l.progress = make(chan struct{})
	l.mu.Unlock()
}

// enter counts a goroutine that is going to wait on the loop. A probe
// blocked alone in a library wait is woken: from now on the loop is shared,
// so it has to be driven where the others see its progress.
func (l *Loop) enter() {
	l.mu.Lock()
	l.users++
	d := l.driver
	l.mu.Unlock()
	if d != nil && d.inLib {
		l.interrupt()
	}
}

// leave undoes enter. A probe left alone while it drives in the netpoller
// is woken, to go on in one library wait.
func (l *Loop) leave() {
	l.mu.Lock()
	l.users--
	d := l.driver
	alone := l.users == 1
	l.mu.Unlock()
	l.notify()
	if alone && d != nil && d.owner != nil && !d.inLib {
		l.interrupt()
	}
}

// take makes the caller the loop's driver, if there is none: owner is the
// probe's process (nil for a Wait). A probe alone on the loop gets a turn
// in a library wait (inLib set).
func (l *Loop) take(owner *Process) *driver {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.driver != nil {
		return nil
	}
	d := &driver{owner: owner}
	if owner != nil && l.users == 1 {
		d.inLib = true
	}
	l.driver = d
	return d
}

// release ends d's turn; a waiting goroutine may take over.
func (l *Loop) release(d *driver) {
	l.mu.Lock()
	l.driver = nil
	l.mu.Unlock()
	l.notify()
}

// interruptProbe wakes the driver if it is a probe on p (its ctx is done).
func (l *Loop) interruptProbe(p *Process) {
	l.mu.Lock()
	d := l.driver
	l.mu.Unlock()
	if d != nil && d.owner == p {
		l.interrupt()
	}
}

// interrupt makes the loop's driver look up: one pk_loop_wake. In the netpoller
// the fd turns readable; a library wait returns PK_ERR_CANCELLED. A wake is
// never lost: one that lands before the wait began, or after it returned,
// ends the next call on the loop instead, which takes it as spurious (a
// probe waits again, a pk_loop_run_once dispatches as usual).
func (l *Loop) interrupt() {
	_ = pkLoopWake((*C.pk_loop)(l.h.load()))
	runtime.KeepAlive(l)
}

// Start starts c on the loop (in c.Group, or in a private group) and
// returns at once. When ctx is done before the run ends, its tree is killed
// and it ends as OutcomeCancelled.
func (l *Loop) Start(ctx context.Context, c *Cmd) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var gh *C.pk_group
	if c.Group != nil {
		if gh = c.Group.handle(); gh == nil {
			return nil, errorf(CodeHandle, "Cmd.Group is closed")
		}
	}
	cmd, sink, st, err := c.build()
	if err != nil {
		return nil, err
	}
	defer pkCommandFree(cmd)
	var ph *C.pk_process
	err = pkLoopStart((*C.pk_loop)(l.h.load()), cmd, gh, &ph)
	runtime.KeepAlive(l)
	runtime.KeepAlive(c.Group)
	st.started()
	if err != nil {
		sink.unregister()
		st.abort()
		return nil, err
	}
	var pid C.int32_t
	_ = pkProcessPID(ph, &pid)
	p := &Process{loop: l, pid: int(pid), name: c.Name, ctx: ctx, sink: sink, stdio: st, stdinPipe: c.StdinPipe}
	p.h.store(unsafe.Pointer(ph))
	p.cleanup = runtime.AddCleanup(p, func(o processOwned) {
		_ = pkProcessFree(o.h)
		o.sink.unregister()
	}, processOwned{ph, sink})
	// pk_process_cancel wakes the loop: a Wait parked on it returns.
	p.stop = context.AfterFunc(ctx, func() {
		p.ctxEnded.Store(true)
		_ = pkProcessCancel(ph)
	})
	return p, nil
}

// Run starts c on the loop and waits for its result.
func (l *Loop) Run(ctx context.Context, c *Cmd) (*Result, error) {
	p, err := l.Start(ctx, c)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Wait()
}

// drive runs the loop from the netpoller: it parks until the loop fd polls
// readable, then dispatches with pk_loop_run_once(0) until the fd has
// nothing left (the netpoller is edge-triggered: the next event must be a
// fresh edge) or until() holds after a dispatch, and returns in that case,
// on an error, or at deadline (zero: none).
func (l *Loop) drive(until func() bool, deadline time.Time) error {
	if !deadline.IsZero() {
		if err := l.file.SetReadDeadline(deadline); err != nil {
			return err
		}
		defer l.file.SetReadDeadline(time.Time{})
	}
	var opErr error
	err := l.raw.Read(func(fd uintptr) bool {
		for C.gopk_readable(C.int(fd)) != 0 {
			e := pkLoopRunOnce((*C.pk_loop)(l.h.load()), 0)
			l.notify()
			if e != nil {
				opErr = e
				return true
			}
			if until() {
				return true
			}
		}
		return false
	})
	if opErr != nil {
		return opErr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// processOwned is what the cleanup of a Process never closed frees.
type processOwned struct {
	h    *C.pk_process
	sink *lineSink
}

// Process is a command running (or finished) on a Loop.
type Process struct {
	h       handleSlot
	cleanup runtime.Cleanup
	loop    *Loop
	pid     int
	name    string
	stop    func() bool // stops the ctx watch

	ctx       context.Context // Start's
	ctxEnded  atomic.Bool     // the ctx watch cancelled the run
	sink      *lineSink       // Cmd.OnLine's, or nil
	stdio     *stdioState     // Cmd's io.Reader/io.Writer copies
	stdinPipe bool            // Cmd.StdinPipe: Write and CloseStdin apply

	mu     sync.Mutex
	result *Result
	err    error

	rmu   sync.Mutex
	ready Readiness // the last probe's record
}

// Pid is the program's pid.
func (p *Process) Pid() int { return p.pid }

func (p *Process) isDone() (bool, error) {
	var d C.int32_t
	err := pkProcessDone((*C.pk_process)(p.h.load()), &d)
	runtime.KeepAlive(p)
	return d != 0, err
}

// Done reports whether the run is finished (false for a closed Process).
func (p *Process) Done() bool {
	d, err := p.isDone()
	return err == nil && d
}

// Wait waits for the run to end and returns its result (the same one on
// every call). A non-zero exit, a timeout or a cancellation by Cancel or
// Loop.Close is data in the Result. The ctx given to Start ends the wait: it
// cancels the run, and Wait then returns the Result (the output so far) and
// an error matching ctx.Err() (errors.Is(err, context.DeadlineExceeded) or
// context.Canceled) and ErrCancelled. Otherwise the error is for a closed
// Process or Loop, with a nil Result.
func (p *Process) Wait() (*Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.result != nil || p.err != nil {
		return p.result, p.err
	}
	l := p.loop
	l.enter()
	defer l.leave()
	for {
		ch := l.progressChan()
		done, err := p.isDone()
		if err != nil {
			return nil, err
		}
		if done {
			p.stop()
			var h *C.pk_result
			if err := pkProcessResult((*C.pk_process)(p.h.load()), &h); err != nil {
				return nil, err
			}
			runtime.KeepAlive(p)
			p.result, p.err = resultFromC(h)
			ioErr := p.stdio.finish()
			if p.err == nil && p.result.Outcome == OutcomeCancelled && p.ctxEnded.Load() {
				p.err = ctxRunError(p.ctx, p.result)
			}
			if p.err == nil && ioErr != nil {
				p.err = ioErr
			}
			p.sink.repanic()
			return p.result, p.err
		}
		if d := l.take(nil); d != nil {
			var doneErr error
			err := l.drive(func() bool {
				done, e := p.isDone()
				doneErr = e
				return done || e != nil
			}, time.Time{})
			l.release(d)
			if err == nil {
				err = doneErr
			}
			if err != nil {
				if (*C.pk_loop)(l.h.load()) == nil {
					// Closing: the loop's free finishes every run.
					<-l.closed
					if done, _ := p.isDone(); done {
						continue
					}
					return nil, errorf(CodeState, "the loop was closed")
				}
				return nil, err
			}
			continue
		}
		select {
		case <-ch:
		case <-l.closed:
			if done, _ := p.isDone(); !done {
				return nil, errorf(CodeState, "the loop was closed")
			}
		}
	}
}

// Cancel kills the run's tree; it ends as OutcomeCancelled. Any goroutine.
func (p *Process) Cancel() error {
	defer runtime.KeepAlive(p)
	return pkProcessCancel((*C.pk_process)(p.h.load()))
}

// Signal sends sig to the run's tree (its private group), or to the process
// alone in a shared group.
func (p *Process) Signal(sig syscall.Signal) error {
	defer runtime.KeepAlive(p)
	return pkProcessSignal((*C.pk_process)(p.h.load()), int32(sig))
}

// Close releases the handle; a run still going is cancelled first.
func (p *Process) Close() error {
	h := (*C.pk_process)(p.h.take())
	if h != nil {
		p.cleanup.Stop()
		p.stop()
	}
	err := pkProcessFree(h)
	p.sink.unregister() // lines of a run still being reaped are dropped
	if h != nil {
		_ = p.stdio.finish() // the run is reaped: its pipes reach end of file
	}
	return err
}
