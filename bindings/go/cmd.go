package processkit

/*
#include <stdint.h>
#include <stdlib.h>
#include <processkit.h>

// gopkOnLine is exported by online.go.
extern void gopkOnLine(void *user, int32_t stream, char *line, size_t len);
static pk_line_fn gopk_line_fn(void) { return (pk_line_fn)gopkOnLine; }
// A registry id as the callback's user pointer (never dereferenced).
static void *gopk_user(uintptr_t id) { return (void *)id; }
*/
import "C"

import (
	"context"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Cmd describes a command to run with its output captured. The zero values
// mean: this process's environment and directory, stdin from /dev/null, no
// timeout, success only on exit code 0, a private group of its own.
type Cmd struct {
	Name string   // the program; searched in PATH without a slash
	Args []string // the arguments after the program name

	// Env, when non-nil, replaces the environment ("K=V" strings), as with
	// os/exec. nil inherits this process's environment.
	Env []string
	Dir string // working directory; "" = this process's

	// Stdin is the program's standard input, as with os/exec; nil =
	// /dev/null. An in-memory reader (*bytes.Reader, *bytes.Buffer,
	// *strings.Reader) is read up front and given as bytes, which a retry
	// or a supervised restart replays; os.Stdin is this process's own
	// stdin; another *os.File is given as its fd; any other io.Reader is
	// copied into an OS pipe by a goroutine (os/exec's way; a closed pipe
	// ends the copy).
	Stdin io.Reader
	// StdinFile names a file to open as stdin at each start (wins over Stdin).
	StdinFile string
	// StdinPipe gives a run on a Loop a stdin pipe that the caller writes
	// with Process.Write or Process.Stdin (an io.WriteCloser) and closes
	// with Process.CloseStdin (wins over Stdin and StdinFile).
	StdinPipe bool

	// Stdout and Stderr, when nil, are captured into the Result. Otherwise
	// they take the program's output instead, as with os/exec: io.Discard
	// is /dev/null, os.Stdout / os.Stderr this process's own, another
	// *os.File its fd, and any other io.Writer gets the bytes through an
	// OS pipe and a goroutine that the run waits for (so a grandchild that
	// keeps the pipe open in a shared Group delays the end of Run).
	Stdout, Stderr io.Writer
	// StderrToStdout merges stderr into stdout's stream (2>&1): one
	// ordered stream, wherever stdout goes.
	StderrToStdout bool

	// Unsetenv removes these keys from the environment (after Env).
	Unsetenv []string

	// ExtraFiles are open files the program gets as fds 3, 4, ... (entry i
	// is fd 3+i, as in os/exec; a nil entry leaves that fd number unused).
	ExtraFiles []*os.File
	// DirFile, when set, is an open directory the program starts in
	// (fchdir; wins over Dir).
	DirFile *os.File

	// Credential runs the program as this user and group (setgroups with
	// Groups unless NoSetGroups, setgid, setuid), as in
	// syscall.SysProcAttr.
	Credential *syscall.Credential
	// Umask, when non-nil, is the program's umask.
	Umask *fs.FileMode
	// Rlimits are resource limits set in the program (setrlimit).
	Rlimits []Rlimit
	// ParentDeathSignal (Linux) is the signal the program gets when the
	// OS thread that started it ends; 0 = none. Go ends threads at will:
	// use it only from a goroutine locked to its thread.
	ParentDeathSignal syscall.Signal

	// PTY, when set, runs the program on a new pseudo-terminal of that
	// size: its controlling terminal in a new session, and its stdin,
	// stdout and stderr. The terminal's output is Result.Stdout (with the
	// terminal's \r\n); write to it with Process.Write on a Loop, and
	// resize it with Process.Resize.
	PTY *TermSize

	// NoWindow (Windows: CREATE_NO_WINDOW, processkit's create_no_window)
	// starts a console program without a console window; no effect
	// elsewhere.
	NoWindow bool

	// Timeout bounds the run: then Signal (0 = SIGTERM) goes to the whole
	// tree, and after Grace the tree is SIGKILLed. The run ends as
	// OutcomeTimedOut. 0 = no timeout.
	Timeout time.Duration
	Grace   time.Duration
	Signal  syscall.Signal

	// OkCodes are the exit codes that count as success (default: just 0).
	OkCodes []int

	// OutputLimit caps each captured stream at this many bytes (0 = no cap),
	// keeping what Overflow says.
	OutputLimit uint64
	Overflow    Overflow

	NewSession bool // the program calls setsid()

	// Unchecked: as a Pipeline stage, its failure never fails the pipeline.
	Unchecked bool

	// Group, when set, runs the command in that group (which outlives the
	// run); else each run gets a private group configured by GroupOptions,
	// whose tree dies when the program ends.
	Group        *Group
	GroupOptions []Option

	// OnLine, when set, is called for every line of stdout and stderr as it
	// arrives, in arrival order, with its stream (StreamStdout or
	// StreamStderr) and the line without its newline (a final unterminated
	// line comes at end of stream). line is the callback's own copy. Lines
	// still reach the captured output.
	//
	// It is called on the goroutine driving the run: the one inside Run,
	// or, on a Loop, whichever goroutine is driving it (in Wait or a
	// probe), one call at a time per loop. It must not block for long, nor
	// wait on the same Loop. A panic in it is recovered, later lines are
	// not delivered, and the panic is raised again by Run or Process.Wait
	// when the run is over.
	OnLine func(stream Stream, line []byte)
}

// Rlimit is one resource limit: Resource is a syscall.RLIMIT_* number, Cur
// and Max the soft and hard limits (as in syscall.Rlimit).
type Rlimit struct {
	Resource int
	Cur, Max uint64
}

// TermSize is a terminal's size in character cells.
type TermSize struct {
	Rows, Cols uint16
}

// Command returns a Cmd for name with args.
func Command(name string, args ...string) *Cmd {
	return &Cmd{Name: name, Args: args}
}

// Run runs name with args, captures its output and waits for it. A non-zero
// exit is data (Result.ExitCode); call Result.Check to demand success.
func Run(ctx context.Context, name string, args ...string) (*Result, error) {
	return Command(name, args...).Run(ctx)
}

// build makes the pk_command; the caller frees it, unregisters the line
// sink (nil without OnLine) once no more lines can come, and calls the
// stdio state's started and finish (nil-safe).
func (c *Cmd) build() (*C.pk_command, *lineSink, *stdioState, error) {
	var strs cStrings
	defer strs.free()
	name, err := strs.cstr("Name", c.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	var cmd *C.pk_command
	if err := pkCommandNew(name, &cmd); err != nil {
		return nil, nil, nil, err
	}
	if err := c.configure(cmd, &strs); err != nil {
		_ = pkCommandFree(cmd)
		return nil, nil, nil, err
	}
	st, err := c.configureStdio(cmd, &strs)
	if err != nil {
		_ = pkCommandFree(cmd)
		return nil, nil, nil, err
	}
	var sink *lineSink
	if c.OnLine != nil {
		sink = newLineSink(c.OnLine)
		if err := pkCommandOnEvent(cmd, C.gopk_line_fn(), C.gopk_user(C.uintptr_t(sink.id))); err != nil {
			sink.unregister()
			st.abort()
			_ = pkCommandFree(cmd)
			return nil, nil, nil, err
		}
	}
	return cmd, sink, st, nil
}

func (c *Cmd) configure(cmd *C.pk_command, strs *cStrings) error {
	for _, a := range c.Args {
		p, err := strs.cstr("Args", a)
		if err != nil {
			return err
		}
		if err := pkCommandArg(cmd, p); err != nil {
			return err
		}
	}
	if c.Env != nil {
		if err := pkCommandEnvClear(cmd); err != nil {
			return err
		}
		for _, kv := range c.Env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return errorf(CodeInvalid, "Env entry "+kv+" is not KEY=VALUE")
			}
			kp, err := strs.cstr("Env", k)
			if err != nil {
				return err
			}
			vp, err := strs.cstr("Env", v)
			if err != nil {
				return err
			}
			if err := pkCommandEnv(cmd, kp, vp); err != nil {
				return err
			}
		}
	}
	if c.Dir != "" {
		p, err := strs.cstr("Dir", c.Dir)
		if err != nil {
			return err
		}
		if err := pkCommandCwd(cmd, p); err != nil {
			return err
		}
	}
	for _, k := range c.Unsetenv {
		kp, err := strs.cstr("Unsetenv", k)
		if err != nil {
			return err
		}
		if err := pkCommandEnvUnset(cmd, kp); err != nil {
			return err
		}
	}
	if c.DirFile != nil {
		err := pkCommandCwdFD(cmd, int32(c.DirFile.Fd()))
		runtime.KeepAlive(c.DirFile)
		if err != nil {
			return err
		}
	}
	for i, f := range c.ExtraFiles {
		if f == nil {
			continue
		}
		err := pkCommandMapFD(cmd, int32(3+i), int32(f.Fd()))
		runtime.KeepAlive(f)
		if err != nil {
			return err
		}
	}
	if cr := c.Credential; cr != nil {
		var groups []C.uint32_t
		for _, g := range cr.Groups {
			groups = append(groups, C.uint32_t(g))
		}
		var gp *C.uint32_t
		if len(groups) > 0 {
			gp = &groups[0]
		}
		if cr.NoSetGroups {
			// The library always sets the list: keep the caller's own.
			own, err := syscall.Getgroups()
			if err != nil {
				return errorf(CodeOS, "getgroups: "+err.Error())
			}
			groups = groups[:0]
			for _, g := range own {
				groups = append(groups, C.uint32_t(g))
			}
			gp = nil
			if len(groups) > 0 {
				gp = &groups[0]
			}
		}
		if err := pkCommandUser(cmd, cr.Uid, cr.Gid, gp, uint64(len(groups))); err != nil {
			return err
		}
	}
	if c.Umask != nil {
		if err := pkCommandUmask(cmd, uint32(c.Umask.Perm())); err != nil {
			return err
		}
	}
	for _, r := range c.Rlimits {
		if err := pkCommandRlimit(cmd, int32(r.Resource), r.Cur, r.Max); err != nil {
			return err
		}
	}
	if c.ParentDeathSignal != 0 {
		if err := pkCommandParentDeathSignal(cmd, int32(c.ParentDeathSignal)); err != nil {
			return err
		}
	}
	if c.PTY != nil {
		if err := pkCommandPty(cmd, c.PTY.Rows, c.PTY.Cols); err != nil {
			return err
		}
	}
	if c.Timeout > 0 {
		if err := pkCommandTimeout(cmd, uint32(millis(c.Timeout)), int32(c.Signal), uint32(millis(c.Grace))); err != nil {
			return err
		}
	}
	if len(c.OkCodes) > 0 {
		codes := make([]C.int32_t, len(c.OkCodes))
		for i, v := range c.OkCodes {
			codes[i] = C.int32_t(v)
		}
		if err := pkCommandOKCodes(cmd, &codes[0], uint64(len(codes))); err != nil {
			return err
		}
	}
	if c.OutputLimit > 0 {
		for _, s := range []Stream{StreamStdout, StreamStderr} {
			if err := pkCommandOutputLimit(cmd, int32(s), c.OutputLimit, int32(c.Overflow)); err != nil {
				return err
			}
		}
	}
	var flags CommandFlag
	if c.NewSession {
		flags |= CommandFlagNewSession
	}
	if c.NoWindow {
		flags |= CommandFlagNoWindow
	}
	if flags != 0 {
		if err := pkCommandFlags(cmd, uint32(flags)); err != nil {
			return err
		}
	}
	if len(c.GroupOptions) > 0 {
		o := groupOptions(c.GroupOptions)
		if err := pkCommandGroupOptions(cmd, &o); err != nil {
			return err
		}
	}
	return nil
}

// Run starts the command, captures stdout and stderr and waits for the end.
// When ctx is done first, the tree is killed, the run ends as
// OutcomeCancelled, and Run returns the Result (its output so far) together
// with an error that matches ctx.Err() (errors.Is(err,
// context.DeadlineExceeded) or context.Canceled) and ErrCancelled. Apart
// from that, the error reports only failures to run at all (a bad argument,
// a program not found: errors.Is(err, exec.ErrNotFound)...), with a nil
// Result; how the program ended (an exit code, Cmd.Timeout) is data in the
// Result.
func (c *Cmd) Run(ctx context.Context) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.Group != nil {
		// A shared group needs a loop: drive a private one.
		l, err := NewLoop()
		if err != nil {
			return nil, err
		}
		defer l.Close()
		return l.Run(ctx, c)
	}
	cmd, sink, st, err := c.build()
	if err != nil {
		return nil, err
	}
	defer pkCommandFree(cmd)
	defer sink.unregister() // after the run: no more lines
	defer st.abort()        // on an early return; a no-op after finish
	var ctxEnded atomic.Bool
	if ctx.Done() != nil {
		var tok *C.pk_cancel
		if err := pkCancelNew(&tok); err != nil {
			return nil, err
		}
		defer pkCancelFree(tok)
		if err := pkCommandCancelOn(cmd, tok); err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() {
			ctxEnded.Store(true)
			_ = pkCancelTrigger(tok)
		})
		defer stop()
	}
	var r *C.pk_result
	err = pkCommandRun(cmd, &r)
	st.started()
	ioErr := st.finish()
	if err != nil {
		return nil, err
	}
	sink.repanic()
	res, err := resultFromC(r)
	if err == nil && res.Outcome == OutcomeCancelled && ctxEnded.Load() {
		err = ctxRunError(ctx, res)
	}
	if err == nil && ioErr != nil {
		err = ioErr
	}
	return res, err
}

// Result is the outcome and captured output of a finished run.
type Result struct {
	Outcome   Outcome        // OutcomeExited, OutcomeSignalled, OutcomeTimedOut, OutcomeCancelled, OutcomeStatusLost
	ExitCode  int            // the exit code when the program exited, else -1
	Signal    syscall.Signal // the signal that killed it, else 0
	Pid       int
	Mechanism Mechanism // what held the run
	Success   bool      // exited with an accepted code, no ERROR-policy cap overflowed

	Stdout, Stderr                   []byte
	StdoutTruncated, StderrTruncated bool   // a cap dropped bytes
	Overflowed                       bool   // an OverflowError cap was exceeded
	StdoutBytes, StderrBytes         uint64 // bytes written, kept or not
	Duration                         time.Duration

	check error
}

// Check returns nil when the run succeeded, else the library's *Error
// (ErrFailed, ErrTimeout, ErrCancelled or ErrOverflow) whose message names
// the program, its status and the last line of its stderr.
func (r *Result) Check() error { return r.check }

// TimedOut reports a run ended by its timeout.
func (r *Result) TimedOut() bool { return r.Outcome == OutcomeTimedOut }

// Cancelled reports a run ended by cancellation.
func (r *Result) Cancelled() bool { return r.Outcome == OutcomeCancelled }

// resultFromC copies a pk_result into Go memory and frees it.
func resultFromC(h *C.pk_result) (*Result, error) {
	defer pkResultFree(h)
	return resultCopy(h)
}

// resultCopy copies a pk_result into Go memory; h stays the caller's.
func resultCopy(h *C.pk_result) (*Result, error) {
	info := rawRunInfo{Size: uint32(unsafe.Sizeof(rawRunInfo{}))}
	if err := pkResultInfo(h, &info); err != nil {
		return nil, err
	}
	r := &Result{
		Outcome:         Outcome(info.Outcome),
		ExitCode:        int(info.ExitCode),
		Signal:          syscall.Signal(info.Signal),
		Pid:             int(info.PID),
		Mechanism:       Mechanism(info.Mechanism),
		Success:         info.Success != 0,
		StdoutTruncated: info.StdoutTruncated != 0,
		StderrTruncated: info.StderrTruncated != 0,
		Overflowed:      info.Overflowed != 0,
		StdoutBytes:     info.StdoutBytes,
		StderrBytes:     info.StderrBytes,
		Duration:        time.Duration(info.DurationUs) * time.Microsecond,
	}
	for _, s := range []struct {
		stream Stream
		dst    *[]byte
	}{{StreamStdout, &r.Stdout}, {StreamStderr, &r.Stderr}} {
		var data *C.uint8_t
		var n C.size_t
		if err := pkResultOutput(h, int32(s.stream), &data, &n); err != nil {
			return nil, err
		}
		if n > 0 && data != nil {
			*s.dst = C.GoBytes(unsafe.Pointer(data), C.int(n))
		} else {
			*s.dst = []byte{}
		}
	}
	r.check = pkResultCheck(h)
	return r, nil
}
