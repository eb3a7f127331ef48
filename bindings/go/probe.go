package processkit

/*
#include <processkit.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"
	"unsafe"
)

// portRetry is how often a port probe that shares the loop with other
// goroutines tries to connect (the library's own probe retries as often).
const portRetry = 50 * time.Millisecond

// Readiness is how the last readiness probe on a Process went: what it
// waited for, how it ended, how long it waited and what it last saw. It is
// the library's record of the probe (pk_process_readiness); a probe that
// shared its loop with other goroutines is several library calls, and
// Outcome and Waited are then the whole probe's.
type Readiness struct {
	Kind    ReadyKind    // ReadyKindLine, ReadyKindPort; ReadyKindNone before any probe
	Outcome ReadyOutcome // ReadyOutcomeMet, ...TimedOut, ...RunEnded, ...Woken (ctx ended it), ...Failed; ...Pending while it runs
	// Stream is the stream a line probe watched: StreamStdout,
	// StreamStderr, or 0 for either.
	Stream    Stream
	Port      int           // a port probe's port on 127.0.0.1
	LinesSeen int           // line probes: the lines looked at, those before the call included
	Waited    time.Duration // the whole probe
	LastLine  string        // line probes: the last line looked at (cut to 159 bytes), or ""
}

// Readiness returns the record of the last readiness probe on p (the zero
// Readiness, Kind ReadyKindNone, before any).
func (p *Process) Readiness() Readiness {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.ready
}

func (p *Process) setReadiness(r Readiness) {
	p.rmu.Lock()
	p.ready = r
	p.rmu.Unlock()
}

// libReadiness is the library's record of its last probe call on p
// (pk_process_readiness).
func (p *Process) libReadiness() (rawReadinessInfo, error) {
	info := rawReadinessInfo{Size: uint32(unsafe.Sizeof(rawReadinessInfo{}))}
	err := pkProcessReadiness((*C.pk_process)(p.h.load()), &info)
	runtime.KeepAlive(p)
	return info, err
}

// WaitForLine waits until a line of the run's stdout or stderr contains
// pattern, or matches it as a POSIX extended regular expression when regex
// is true. Lines written before the call count too, and every line still
// reaches the captured output. When timeout (0 = no limit) passes or the run
// ends first, the error is an *Error with CodeNotReady (errors.Is(err,
// ErrNotReady)) whose message says how long it waited and the last line
// seen; when ctx ends first, the error wraps both ctx.Err() and such an
// *Error. A probe never kills the process. A bad regex is ErrInvalid.
// Readiness gives the probe's outcome as data.
//
// The probe drives the loop (other runs on it make progress too) and may be
// called while other goroutines Wait. Alone on its loop it is one library
// call for the whole timeout, which blocks an OS thread; pk_loop_wake ends
// it early when ctx is done, when another goroutine comes to wait on the
// loop (the probe then looks between that one's dispatches), or when the
// Loop is closed (CodeState).
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
	what := "a line containing '" + pattern + "'"
	if regex {
		flags = uint32(MatchFlagRegex)
		what = "a line matching '" + pattern + "'"
	}
	switch stream {
	case StreamStdout:
		what += " on stdout"
	case StreamStderr:
		what += " on stderr"
	}
	base := Readiness{Kind: ReadyKindLine, Stream: stream}
	return p.probe(ctx, timeout, base, what, 0, func(h *C.pk_process, ms int32) error {
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
	what := "127.0.0.1:" + strconv.Itoa(port) + " to accept a connection"
	base := Readiness{Kind: ReadyKindPort, Port: port}
	return p.probe(ctx, timeout, base, what, portRetry, func(h *C.pk_process, ms int32) error {
		return pkProcessWaitForPort(h, uint16(port), ms)
	})
}

// probe runs a library probe until it succeeds, fails otherwise, or the
// run, the timeout or ctx ends. base says what it waits for (Kind, Stream,
// Port), and what describes that for the error.
//
// Alone on the loop, the probe is one library call for the whole remaining
// timeout, which drives the loop itself; pk_loop_wake ends it early when
// ctx is done or another goroutine comes to wait on the loop (enter), and
// the probe then goes on sharing the loop. Shared, the goroutine that
// drives does so in the netpoller, and the probe looks with a zero timeout
// (the library tests the lines captured so far, or tries the port once)
// after each dispatch, and every retry (0: never) for a condition that the
// loop's events do not announce.
func (p *Process) probe(ctx context.Context, timeout time.Duration, base Readiness, what string, retry time.Duration,
	call func(h *C.pk_process, ms int32) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := p.loop
	l.enter()
	defer l.leave()
	stop := context.AfterFunc(ctx, func() { l.interruptProbe(p) })
	defer stop()
	defer runtime.KeepAlive(p)

	base.Outcome = ReadyOutcomePending
	p.setReadiness(base)
	last := base             // the library's record of this probe's last call
	var waited time.Duration // in library waits and, shared, in Go
	// end records how the probe ended; notReady and ctxEnded give its error.
	end := func(outcome ReadyOutcome) Readiness {
		r := last
		r.Outcome, r.Waited = outcome, waited
		p.setReadiness(r)
		return r
	}
	notReady := func(outcome ReadyOutcome) error { return p.notReady(end(outcome), what) }
	ctxEnded := func() error { return fmt.Errorf("%w: %w", ctx.Err(), notReady(ReadyOutcomeWoken)) }
	// record reads the library's record of the call that just returned
	// (pk_process_readiness): how it ended, how long it waited.
	record := func() (ReadyOutcome, time.Duration, error) {
		info, err := p.libReadiness()
		if err != nil {
			return ReadyOutcomeFailed, 0, err
		}
		last.LinesSeen, last.LastLine = int(info.LinesSeen), cString(info.LastLine[:])
		return ReadyOutcome(info.Outcome), time.Duration(info.WaitedUs) * time.Microsecond, nil
	}
	failed := func(err error) error {
		end(ReadyOutcomeFailed)
		if l.h.load() == nil {
			return errorf(CodeState, "the loop was closed")
		}
		return err
	}
	closed := func() error { return failed(errorf(CodeState, "the loop was closed")) }

	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if l.h.load() == nil {
			return closed()
		}
		ch := l.progressChan()
		var next time.Time // when to look again, shared
		if retry > 0 {
			next = time.Now().Add(retry)
		}
		if !deadline.IsZero() && (next.IsZero() || deadline.Before(next)) {
			next = deadline
		}
		t0 := time.Now()
		if d := l.take(p); d != nil && d.inLib {
			// Alone: one library wait for the rest of the timeout.
			if ctx.Err() != nil { // done before d was visible to the ctx watch
				l.release(d)
				return ctxEnded()
			}
			err := call((*C.pk_process)(p.h.load()), msLeft(deadline))
			l.release(d)
			if err != nil && !errors.Is(err, ErrNotReady) && !errors.Is(err, ErrCancelled) {
				return failed(err) // before the probe began, maybe: its record is not this probe's
			}
			outcome, w, rerr := record()
			if rerr != nil {
				return failed(rerr)
			}
			waited += w
			switch {
			case err == nil:
				end(ReadyOutcomeMet)
				return nil
			case errors.Is(err, ErrNotReady):
				return notReady(outcome)
			case outcome != ReadyOutcomeWoken:
				return failed(err)
			case ctx.Err() != nil:
				return ctxEnded()
			default:
				// Not asked for by this probe: another goroutine came to
				// the loop (it then looks shared), or a wake meant for an
				// earlier call. Wait again for the rest of the timeout.
				continue
			}
		} else if d != nil {
			// Shared, and nobody drives: drive in the netpoller until a
			// dispatch, a wake, or the next look.
			err := l.drive(func() bool { return true }, next)
			l.release(d)
			if err != nil {
				return failed(err)
			}
		} else {
			// Shared, another goroutine drives: look after its progress.
			var timer *time.Timer
			var tc <-chan time.Time
			if !next.IsZero() {
				timer = time.NewTimer(time.Until(next))
				tc = timer.C
			}
			select {
			case <-ch:
			case <-ctx.Done():
			case <-tc:
			case <-l.closed:
			}
			if timer != nil {
				timer.Stop()
			}
			if l.h.load() == nil {
				return closed()
			}
		}
		waited += time.Since(t0)
		err := call((*C.pk_process)(p.h.load()), 0)
		if err != nil && !errors.Is(err, ErrNotReady) {
			return failed(err)
		}
		outcome, _, rerr := record()
		if rerr != nil {
			return failed(rerr)
		}
		switch {
		case err == nil:
			end(ReadyOutcomeMet)
			return nil
		case outcome == ReadyOutcomeRunEnded:
			return notReady(outcome)
		case !deadline.IsZero() && !time.Now().Before(deadline):
			return notReady(ReadyOutcomeTimedOut)
		case ctx.Err() != nil:
			return ctxEnded()
		}
	}
}

// notReady is the ErrNotReady of a probe that ended unsatisfied: how it
// ended, how long it waited, what it waited for and the last line it saw.
func (p *Process) notReady(r Readiness, what string) error {
	why := "no match"
	switch r.Outcome {
	case ReadyOutcomeRunEnded:
		why = "the run ended"
	case ReadyOutcomeWoken:
		why = "the context ended"
	}
	msg := p.name + ": not ready (" + why + ") after " + strconv.FormatInt(r.Waited.Milliseconds(), 10) +
		" ms waiting for " + what
	if r.Kind == ReadyKindLine {
		if r.LinesSeen == 0 {
			msg += "; no line seen"
		} else {
			msg += "; last line seen: " + r.LastLine + " (" + strconv.Itoa(r.LinesSeen) + " in all)"
		}
	}
	return &Error{Code: CodeNotReady, Message: msg}
}

// msLeft is a library timeout for the time until deadline: -1 for none,
// else at least 0, rounded up to the millisecond.
func msLeft(deadline time.Time) int32 {
	if deadline.IsZero() {
		return -1
	}
	return int32(millis(time.Until(deadline)))
}
