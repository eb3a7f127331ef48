package processkit

/*
#include <stdint.h>
#include <processkit.h>

// Exported by callbacks.go.
extern int gopkReady(void *user);
static pk_ready_fn gopk_ready_fn(void) { return (pk_ready_fn)gopkReady; }
static void *gopk_ready_user(uintptr_t h) { return (void *)h; }
*/
import "C"

import (
	"context"
	"io"
	"runtime"
	"runtime/cgo"
	"time"
	"unsafe"
)

// Write queues b for the run's stdin pipe (Cmd.StdinPipe; on a PTY run,
// the terminal's input) and returns at once: the loop writes the bytes as
// the program reads, while a goroutine drives it (Wait or a probe).
func (p *Process) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	err := pkProcessWrite((*C.pk_process)(p.h.load()), unsafe.Pointer(&b[0]), uint64(len(b)))
	runtime.KeepAlive(p)
	runtime.KeepAlive(b)
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// CloseStdin closes the stdin pipe once the queued bytes are written (the
// program then reads end of file).
func (p *Process) CloseStdin() error {
	defer runtime.KeepAlive(p)
	return pkProcessCloseStdin((*C.pk_process)(p.h.load()))
}

// Stdin is the run's stdin pipe as an io.WriteCloser (Write and CloseStdin),
// as os/exec's StdinPipe; nil unless the Cmd set StdinPipe.
func (p *Process) Stdin() io.WriteCloser {
	if !p.stdinPipe {
		return nil
	}
	return stdinWriter{p}
}

type stdinWriter struct{ p *Process }

func (w stdinWriter) Write(b []byte) (int, error) { return w.p.Write(b) }
func (w stdinWriter) Close() error                { return w.p.CloseStdin() }

// Resize resizes a PTY run's terminal (the program gets SIGWINCH).
func (p *Process) Resize(size TermSize) error {
	defer runtime.KeepAlive(p)
	return pkProcessResize((*C.pk_process)(p.h.load()), size.Rows, size.Cols)
}

// readyState is WaitFor's predicate behind its cgo.Handle.
type readyState struct {
	callbackState
	fn func() bool
}

// WaitFor waits until ready returns true, asking every interval (0 = 50 ms)
// while driving the loop (pk_process_wait_for). Errors and Readiness as for
// WaitForLine (Kind ReadyKindCheck). ready runs on the goroutine driving
// the probe; a panic in it is raised again by WaitFor.
func (p *Process) WaitFor(ctx context.Context, ready func() bool, interval, timeout time.Duration) error {
	if ready == nil {
		return errorf(CodeInvalid, "WaitFor: ready is nil")
	}
	if interval <= 0 {
		interval = portRetry
	}
	st := &readyState{fn: ready}
	h := cgo.NewHandle(st)
	defer h.Delete()
	user := C.gopk_ready_user(C.uintptr_t(h))
	base := Readiness{Kind: ReadyKindCheck}
	err := p.probe(ctx, timeout, base, "the caller's readiness check", interval, func(ph *C.pk_process, ms int32) error {
		return pkProcessWaitFor(ph, C.gopk_ready_fn(), user, uint32(millis(interval)), ms)
	})
	st.repanic()
	return err
}

// WaitAny waits until one of procs (on any loops) is finished and returns
// its index, or ctx.Err(). The others keep running. Each process is waited
// for by Process.Wait, whose netpoller-driven loop does what
// pk_loop_wait_any does without blocking an OS thread; a wait that lost
// the race goes on until its run ends or its Process is closed.
func WaitAny(ctx context.Context, procs ...*Process) (int, error) {
	if len(procs) == 0 {
		return -1, errorf(CodeInvalid, "WaitAny: no processes")
	}
	for i, p := range procs {
		if p.Done() {
			return i, nil
		}
	}
	first := make(chan int, len(procs))
	for i, p := range procs {
		go func() {
			_, _ = p.Wait()
			first <- i
		}()
	}
	select {
	case i := <-first:
		return i, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// WaitAll waits until every one of procs is finished (pk_loop_wait_all's
// job, done by Process.Wait), or returns ctx.Err() first.
func WaitAll(ctx context.Context, procs ...*Process) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range procs {
			_, _ = p.Wait()
		}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PollFD is an fd that polls readable when the child exits (its pidfd),
// for a caller's own poll/epoll. It belongs to the Child: do not close it.
func (c *Child) PollFD() (int, error) {
	var fd C.int
	err := pkChildPollfd((*C.pk_child)(c.h.load()), &fd)
	runtime.KeepAlive(c)
	if err != nil {
		return -1, err
	}
	return int(fd), nil
}
