package processkit

/*
#include <stdint.h>
#include <processkit.h>

// Exported by callbacks.go.
extern int gopkRetry(void *user, pk_result *result, uint32_t attempt);
extern void gopkSuperviseEvent(void *user, int32_t event, uint32_t restarts, uint32_t delay_ms, pk_result *result);
extern int gopkStopWhen(void *user, pk_result *result);
static pk_retry_fn gopk_retry_fn(void) { return (pk_retry_fn)gopkRetry; }
static pk_supervise_fn gopk_supervise_fn(void) { return (pk_supervise_fn)gopkSuperviseEvent; }
static pk_stop_when_fn gopk_stop_when_fn(void) { return (pk_stop_when_fn)gopkStopWhen; }
// A cgo.Handle as the callbacks' user pointer (never dereferenced).
static void *gopk_handle(uintptr_t h) { return (void *)h; }
*/
import "C"

import (
	"context"
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"
)

// RetryPolicy says how Cmd.RunRetry retries. Zero fields take the
// library's defaults: 3 attempts, 100 ms before the second, doubling, at
// most 30 s, full jitter.
type RetryPolicy struct {
	MaxAttempts  int           // runs at most, the first included
	InitialDelay time.Duration // before the second attempt
	MaxDelay     time.Duration // cap on any delay
	Multiplier   float64       // growth per attempt
	NoJitter     bool          // exact delays instead of uniformly random in [0, delay]

	// Retry, when set, decides whether a finished, failed attempt (counted
	// from 1) is worth another; nil retries any failure. It runs on the
	// goroutine inside RunRetry.
	Retry func(r *Result, attempt int) bool
}

// callbackState is what the C callbacks of one retry or supervision reach
// through their cgo.Handle.
type callbackState struct {
	retry    func(*Result, int) bool
	onEvent  func(SuperviseEventInfo)
	stopWhen func(*Result) bool
	panicked atomic.Pointer[panicValue]
}

// guard runs fn, keeping a panic for the caller to raise again once the
// library call has returned (a panic must not unwind through C).
func (s *callbackState) guard(fn func()) {
	if s.panicked.Load() != nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.panicked.CompareAndSwap(nil, &panicValue{v})
		}
	}()
	fn()
}

func (s *callbackState) repanic() {
	if p := s.panicked.Load(); p != nil {
		panic(p.v)
	}
}

// RunRetry runs the command until it succeeds, the policy's Retry says
// stop, or the attempts run out (pk_command_run_retry), and returns the
// last attempt's Result. Stdin must be replayable (nil, in-memory bytes or
// StdinFile): a pipe or an *os.File is refused with ErrInvalid. ctx
// cancels the run in progress and ends the retries, as Run's ctx does.
func (c *Cmd) RunRetry(ctx context.Context, policy RetryPolicy) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.Group != nil {
		return nil, errorf(CodeInvalid, "RunRetry runs each attempt in a private group (Cmd.Group must be nil)")
	}
	cmd, sink, st, err := c.build()
	if err != nil {
		return nil, err
	}
	defer pkCommandFree(cmd)
	defer sink.unregister()
	defer st.abort()
	stop, ended, err := cancelOn(ctx, cmd)
	if err != nil {
		return nil, err
	}
	defer stop()
	o := rawRetryOptions{Size: uint32(unsafe.Sizeof(rawRetryOptions{})), MaxAttempts: 3, InitialDelayMs: 100,
		MaxDelayMs: 30000, Multiplier: 2.0, Jitter: 1}
	if policy.MaxAttempts > 0 {
		o.MaxAttempts = uint32(policy.MaxAttempts)
	}
	if policy.InitialDelay > 0 {
		o.InitialDelayMs = uint32(millis(policy.InitialDelay))
	}
	if policy.MaxDelay > 0 {
		o.MaxDelayMs = uint32(millis(policy.MaxDelay))
	}
	if policy.Multiplier > 0 {
		o.Multiplier = policy.Multiplier
	}
	if policy.NoJitter {
		o.Jitter = 0
	}
	var classify C.pk_retry_fn
	var user unsafe.Pointer
	state := &callbackState{retry: policy.Retry}
	if policy.Retry != nil {
		h := cgo.NewHandle(state)
		defer h.Delete()
		classify, user = C.gopk_retry_fn(), C.gopk_handle(C.uintptr_t(h))
	}
	var r *C.pk_result
	err = pkCommandRunRetry(cmd, &o, classify, user, &r)
	ioErr := st.finish()
	state.repanic()
	if err != nil {
		return nil, err
	}
	sink.repanic()
	res, err := resultFromC(r)
	if err == nil && res.Outcome == OutcomeCancelled && ended.Load() {
		err = ctxRunError(ctx, res)
	}
	if err == nil && ioErr != nil {
		err = ioErr
	}
	return res, err
}

// cancelOn makes ctx cancel the command's runs: a token the command watches,
// triggered when ctx is done. stop releases it; ended reports that ctx did.
func cancelOn(ctx context.Context, cmd *C.pk_command) (stop func(), ended *atomic.Bool, err error) {
	ended = &atomic.Bool{}
	if ctx.Done() == nil {
		return func() {}, ended, nil
	}
	tok, err := newCancelToken()
	if err != nil {
		return nil, nil, err
	}
	if err := pkCommandCancelOn(cmd, tok); err != nil {
		_ = pkCancelFree(tok)
		return nil, nil, err
	}
	after := context.AfterFunc(ctx, func() {
		ended.Store(true)
		_ = pkCancelTrigger(tok)
	})
	return func() {
		after()
		_ = pkCommandCancelOn(cmd, nil)
		_ = pkCancelFree(tok)
	}, ended, nil
}

func newCancelToken() (*C.pk_cancel, error) {
	var tok *C.pk_cancel
	if err := pkCancelNew(&tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// SupervisePolicy says how Cmd.Supervise keeps a command running. Zero
// fields take the library's defaults (restart on failure, unlimited, 200 ms
// doubling to 30 s with jitter, no storm guard); Restart's zero value is
// RestartNever, so say RestartOnFailure or RestartAlways to restart.
type SupervisePolicy struct {
	Restart           Restart // RestartNever, RestartOnFailure, RestartAlways
	MaxRestarts       int     // 0 = unlimited
	BackoffInitial    time.Duration
	BackoffMax        time.Duration
	BackoffMultiplier float64
	NoJitter          bool // exact delays instead of scaled by a random factor in [0.5, 1.5)

	// The storm guard: StormRestarts restarts within StormWindow trip it,
	// and it then does StormAction (StormActionGiveUp, or StormActionPause
	// for StormPause). StormRestarts 0 = off.
	StormRestarts int
	StormWindow   time.Duration
	StormAction   StormAction
	StormPause    time.Duration

	// OnEvent, when set, gets every lifecycle event (on the goroutine
	// inside Supervise).
	OnEvent func(SuperviseEventInfo)
	// StopWhen, when set, is asked after each run; true ends supervision
	// (StopReason SuperviseEventStopped).
	StopWhen func(*Result) bool
}

// SuperviseEventInfo is one lifecycle event of a supervised command.
type SuperviseEventInfo struct {
	Event    SuperviseEvent // SuperviseEventStarted, ...Exited, ...Restarting, ...
	Restarts int            // restarts so far
	Delay    time.Duration  // SuperviseEventRestarting: when the next run starts
	Result   *Result        // SuperviseEventExited: the run's result; else nil
}

// SuperviseReport is what Supervise did.
type SuperviseReport struct {
	Runs        int
	Restarts    int
	StormPauses int
	// StopReason is SuperviseEventStopped (StopWhen or ctx), ...GaveUp, or
	// ...Exited when the policy was satisfied.
	StopReason SuperviseEvent
}

// Supervise runs the command again and again by the policy
// (pk_supervise) until the policy is satisfied, StopWhen says so, or ctx
// is done; ctx also stops the current run's tree gracefully (its timeout
// signal, then SIGKILL after 2 s). Ending by ctx is StopReason
// SuperviseEventStopped with a nil error: stopping is what was asked.
func (c *Cmd) Supervise(ctx context.Context, policy SupervisePolicy) (SuperviseReport, error) {
	if err := ctx.Err(); err != nil {
		return SuperviseReport{}, err
	}
	if c.Group != nil {
		return SuperviseReport{}, errorf(CodeInvalid, "Supervise runs each run in a private group (Cmd.Group must be nil)")
	}
	cmd, sink, st, err := c.build()
	if err != nil {
		return SuperviseReport{}, err
	}
	defer pkCommandFree(cmd)
	defer sink.unregister()
	defer st.abort()
	o := rawSuperviseOptions{
		Size: uint32(unsafe.Sizeof(rawSuperviseOptions{})), Restart: int32(policy.Restart),
		MaxRestarts: uint32(policy.MaxRestarts), BackoffInitialMs: 200, BackoffMaxMs: 30000, Jitter: 1,
		BackoffMultiplier: 2.0, StormRestarts: uint32(policy.StormRestarts),
		StormWindowMs: uint32(millis(policy.StormWindow)), StormAction: int32(policy.StormAction),
		StormPauseMs: uint32(millis(policy.StormPause)),
	}
	if policy.BackoffInitial > 0 {
		o.BackoffInitialMs = uint32(millis(policy.BackoffInitial))
	}
	if policy.BackoffMax > 0 {
		o.BackoffMaxMs = uint32(millis(policy.BackoffMax))
	}
	if policy.BackoffMultiplier > 0 {
		o.BackoffMultiplier = policy.BackoffMultiplier
	}
	if policy.NoJitter {
		o.Jitter = 0
	}
	var tok *C.pk_cancel
	if ctx.Done() != nil {
		if tok, err = newCancelToken(); err != nil {
			return SuperviseReport{}, err
		}
		defer pkCancelFree(tok)
		stop := context.AfterFunc(ctx, func() { _ = pkCancelTrigger(tok) })
		defer stop()
	}
	state := &callbackState{onEvent: policy.OnEvent, stopWhen: policy.StopWhen}
	h := cgo.NewHandle(state)
	defer h.Delete()
	var onEvent C.pk_supervise_fn
	var stopWhen C.pk_stop_when_fn
	if policy.OnEvent != nil {
		onEvent = C.gopk_supervise_fn()
	}
	if policy.StopWhen != nil {
		stopWhen = C.gopk_stop_when_fn()
	}
	rep := rawSuperviseReport{Size: uint32(unsafe.Sizeof(rawSuperviseReport{}))}
	err = pkSupervise(cmd, &o, onEvent, stopWhen, C.gopk_handle(C.uintptr_t(h)), tok, &rep)
	_ = st.finish()
	state.repanic()
	sink.repanic()
	if err != nil {
		return SuperviseReport{}, err
	}
	return SuperviseReport{Runs: int(rep.Runs), Restarts: int(rep.Restarts), StormPauses: int(rep.StormPauses),
		StopReason: SuperviseEvent(rep.StopReason)}, nil
}
