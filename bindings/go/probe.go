package processkit

/*
#include <processkit.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"time"
)

// probeSlice bounds each blocking library call of a probe, so that ctx and
// the other goroutines of the loop are heard from at least this often.
const probeSlice = 50 * time.Millisecond

// WaitForLine waits until a line of the run's stdout or stderr contains
// pattern, or matches it as a POSIX extended regular expression when regex
// is true. Lines written before the call count too, and every line still
// reaches the captured output. When timeout (0 = no limit) passes or the run
// ends first, the error is an *Error with CodeNotReady (errors.Is(err,
// ErrNotReady)) whose message lists the last lines seen; when ctx ends first,
// the error wraps both ctx.Err() and that *Error. A probe never kills the
// process. A bad regex is ErrInvalid.
//
// The probe drives the loop (other runs on it make progress too) and may be
// called while other goroutines Wait.
func (p *Process) WaitForLine(ctx context.Context, pattern string, regex bool, timeout time.Duration) error {
	return p.waitForLine(ctx, 0, pattern, regex, timeout)
}

// WaitForLineOn is WaitForLine on one stream: StreamStdout or StreamStderr.
func (p *Process) WaitForLineOn(ctx context.Context, stream Stream, pattern string, regex bool, timeout time.Duration) error {
	if stream != StreamStdout && stream != StreamStderr {
		return errorf(CodeInvalid, "WaitForLineOn: stream "+stream.String()+" is not stdout or stderr")
	}
	return p.waitForLine(ctx, stream, pattern, regex, timeout)
}

func (p *Process) waitForLine(ctx context.Context, stream Stream, pattern string, regex bool, timeout time.Duration) error {
	var strs cStrings
	defer strs.free()
	pat, err := strs.cstr("pattern", pattern)
	if err != nil {
		return err
	}
	flags := uint32(MatchFlagSubstring)
	if regex {
		flags = uint32(MatchFlagRegex)
	}
	return p.probe(ctx, timeout, func(h *C.pk_process, ms int32) error {
		return pkProcessWaitForLine(h, int32(stream), pat, flags, ms)
	})
}

// WaitForPort waits until a TCP connection to 127.0.0.1:port succeeds,
// driving the loop meanwhile so the run's output keeps flowing. Errors as
// for WaitForLine; the process is never killed by a probe.
func (p *Process) WaitForPort(ctx context.Context, port int, timeout time.Duration) error {
	if port <= 0 || port > 65535 {
		return errorf(CodeInvalid, "WaitForPort: port "+strconv.Itoa(port)+" is not in 1..65535")
	}
	return p.probe(ctx, timeout, func(h *C.pk_process, ms int32) error {
		return pkProcessWaitForPort(h, uint16(port), ms)
	})
}

// probe calls a library probe until it succeeds, fails otherwise, or the
// run, the timeout or ctx ends. While no other goroutine drives the loop the
// probe takes over driving (in slices of probeSlice, blocking in the
// library); while one does, it looks without driving (a zero timeout: the
// library tests the lines captured so far) each time that one makes
// progress, and at least every probeSlice.
func (p *Process) probe(ctx context.Context, timeout time.Duration, call func(h *C.pk_process, ms int32) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := p.loop
	start := time.Now()
	var deadline time.Time
	if timeout > 0 {
		deadline = start.Add(timeout)
	}
	driving := false
	defer func() {
		if driving {
			<-l.drive
			l.notify() // a waiter may take over the driving
		}
	}()
	for {
		ch := l.progressChan()
		if !driving {
			select {
			case l.drive <- struct{}{}:
				driving = true
			default:
			}
		}
		var slice time.Duration
		if driving {
			slice = probeSlice
			if !deadline.IsZero() {
				slice = min(slice, max(time.Until(deadline), 0))
			}
		}
		l.mu.Lock()
		var err error
		if l.h.load() == nil {
			err = errorf(CodeState, "the loop was closed")
		} else {
			err = call((*C.pk_process)(p.h.load()), int32((slice+time.Millisecond-1)/time.Millisecond))
		}
		l.mu.Unlock()
		runtime.KeepAlive(p)
		if driving {
			l.notify()
		}
		if err == nil || !errors.Is(err, ErrNotReady) {
			return err
		}
		if p.Done() || (!deadline.IsZero() && !time.Now().Before(deadline)) {
			return waited(err, time.Since(start))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ctx.Err(), waited(err, time.Since(start)))
		}
		if driving {
			continue
		}
		wait := probeSlice
		if !deadline.IsZero() {
			wait = min(wait, max(time.Until(deadline), 0))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ch:
		case l.drive <- struct{}{}:
			driving = true
		case <-ctx.Done():
		case <-timer.C:
		case <-l.closed:
		}
		timer.Stop()
	}
}

var probeWaited = regexp.MustCompile(` after -?\d+ ms waiting for `)

// waited rewrites the library's "after N ms" (one slice) to the whole wait.
func waited(err error, d time.Duration) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	ms := strconv.FormatInt(d.Milliseconds(), 10)
	msg := probeWaited.ReplaceAllLiteralString(e.Message, " after "+ms+" ms waiting for ")
	return &Error{Code: e.Code, Message: msg}
}
