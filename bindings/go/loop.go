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
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// Loop runs many commands concurrently on one processkit event loop, whose
// fd (an epoll fd) sits in Go's netpoller: a goroutine waiting for a run
// parks in the runtime like one reading a socket, and no OS thread blocks.
//
// Start and Wait may be called from any goroutine. The library allows one
// thread at a time to drive a loop; Loop enforces that: one waiting goroutine
// drives it (pk_loop_run_once with a zero timeout whenever the fd polls
// readable) while the others sleep until it made progress, and hands over
// when its own run is finished.
type Loop struct {
	h       handleSlot
	cleanup runtime.Cleanup

	mu   sync.Mutex // held around pk_loop_run_once, pk_loop_start and pk_loop_free
	file *os.File   // a dup of the loop fd, registered with the netpoller
	raw  syscall.RawConn

	drive  chan struct{} // capacity 1: taken by the goroutine driving the loop
	closed chan struct{} // closed once Close has freed the loop

	pmu      sync.Mutex
	progress chan struct{} // closed (and replaced) after every dispatch
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
		drive:    make(chan struct{}, 1),
		closed:   make(chan struct{}),
		progress: make(chan struct{}),
	}
	l.h.store(unsafe.Pointer(h))
	l.cleanup = runtime.AddCleanup(l, func(h *C.pk_loop) { _ = pkLoopFree(h) }, h)
	return l, nil
}

// Close kills and reaps everything still running on the loop, then frees
// it. Goroutines waiting for its runs get their (cancelled) results.
// A second Close reports ErrHandle.
func (l *Loop) Close() error {
	h := (*C.pk_loop)(l.h.take())
	if h == nil {
		return pkLoopFree(nil)
	}
	l.cleanup.Stop()
	l.file.Close() // wakes a driver parked in the netpoller
	l.mu.Lock()
	err := pkLoopFree(h)
	l.mu.Unlock()
	close(l.closed)
	l.notify()
	return err
}

func (l *Loop) progressChan() chan struct{} {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	return l.progress
}

// notify wakes every goroutine waiting for progress.
func (l *Loop) notify() {
	l.pmu.Lock()
	close(l.progress)
	l.progress = make(chan struct{})
	l.pmu.Unlock()
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
	cmd, err := c.build()
	if err != nil {
		return nil, err
	}
	defer pkCommandFree(cmd)
	var ph *C.pk_process
	l.mu.Lock()
	err = pkLoopStart((*C.pk_loop)(l.h.load()), cmd, gh, &ph)
	l.mu.Unlock()
	runtime.KeepAlive(l)
	runtime.KeepAlive(c.Group)
	if err != nil {
		return nil, err
	}
	var pid C.int32_t
	_ = pkProcessPID(ph, &pid)
	p := &Process{loop: l, pid: int(pid)}
	p.h.store(unsafe.Pointer(ph))
	p.cleanup = runtime.AddCleanup(p, func(h *C.pk_process) { _ = pkProcessFree(h) }, ph)
	p.stop = context.AfterFunc(ctx, func() { _ = pkProcessCancel(ph) })
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

// driveUntil runs the loop until p is finished. It parks in the netpoller
// whenever the loop fd has nothing to read.
func (l *Loop) driveUntil(p *Process) error {
	var opErr error
	err := l.raw.Read(func(fd uintptr) bool {
		for {
			l.mu.Lock()
			e := pkLoopRunOnce((*C.pk_loop)(l.h.load()), 0)
			l.mu.Unlock()
			l.notify()
			if e != nil {
				opErr = e
				return true
			}
			if done, e := p.isDone(); e != nil || done {
				opErr = e
				return true
			}
			// The netpoller is edge-triggered: sleep only once the loop fd
			// has nothing left, so the next event is a fresh edge.
			if C.gopk_readable(C.int(fd)) == 0 {
				return false
			}
		}
	})
	if opErr != nil {
		return opErr
	}
	return err
}

// Process is a command running (or finished) on a Loop.
type Process struct {
	h       handleSlot
	cleanup runtime.Cleanup
	loop    *Loop
	pid     int
	stop    func() bool // stops the ctx watch

	mu     sync.Mutex
	result *Result
	err    error
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
// every call). A non-zero exit, a timeout or a cancellation is data in the
// Result; the error is for a closed Process or Loop.
func (p *Process) Wait() (*Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.result != nil || p.err != nil {
		return p.result, p.err
	}
	l := p.loop
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
			return p.result, p.err
		}
		select {
		case l.drive <- struct{}{}:
			err := l.driveUntil(p)
			<-l.drive
			l.notify() // another waiter may take over the driving
			if err != nil {
				if (*C.pk_loop)(l.h.load()) == nil {
					// Closing: the loop's free finishes every run.
					<-l.closed
					if done, _ := p.isDone(); done {
						continue
					}
				}
				return nil, err
			}
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
	return pkProcessFree(h)
}
