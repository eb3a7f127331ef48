package processkit

/*
#include <stdlib.h>
#include <processkit.h>
*/
import "C"

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Pipeline runs its stages as `a | b | c` without a shell: every stage in one
// private group (cgroup v2 where available), each stage's stdout feeding the
// next one's stdin through an OS pipe. The first stage's stdin (Cmd.Stdin)
// and every stage's other settings are the stages' own; a stage's Group must
// be nil.
//
// The result carries the last stage's output. Its outcome, exit code and
// signal are those of the first stage that failed (pipefail), else of the
// last stage. A stage with Cmd.Unchecked set never fails the pipeline, and a
// producer killed by SIGPIPE (its reader ended first) does not count as
// failed unless SigpipeFails is set.
type Pipeline struct {
	Stages []*Cmd

	// Timeout bounds the whole pipeline: then Signal (0 = SIGTERM) goes to
	// every stage's tree, and after Grace the trees are SIGKILLed. The run
	// ends as OutcomeTimedOut. 0 = no timeout.
	Timeout time.Duration
	Grace   time.Duration
	Signal  syscall.Signal

	// SigpipeFails makes a producer killed by SIGPIPE count as failed.
	SigpipeFails bool
}

// Pipe runs cmds as a pipeline (cmds[0] | cmds[1] | ...) and waits for it;
// see Pipeline.
func Pipe(ctx context.Context, cmds ...*Cmd) (*PipeResult, error) {
	return (&Pipeline{Stages: cmds}).Run(ctx)
}

// PipeResult is a finished pipeline: the Result (the last stage's output;
// the outcome, exit code, signal and pid of the stage it is attributed to),
// how every stage ended, and which one failed.
type PipeResult struct {
	*Result
	Stages      []StageInfo
	FailedStage int // the first stage that failed (pipefail), -1 if none did
}

// StageInfo is how one stage of a pipeline ended. Its output went to the next
// stage; only the last stage's output is in the PipeResult.
type StageInfo struct {
	Outcome  Outcome
	ExitCode int            // the exit code when it exited, else -1
	Signal   syscall.Signal // the signal that killed it, else 0
	Pid      int
	Success  bool // exited with an accepted code
	Duration time.Duration

	StdoutBytes, StderrBytes uint64 // captured bytes (stdout: 0 for a stage writing into the pipe)
}

// Run runs every stage and waits for the end. When ctx is done first, every
// stage's tree is killed, the pipeline ends as OutcomeCancelled, and Run
// returns the PipeResult with an error matching ctx.Err() and ErrCancelled
// (as Cmd.Run). A failing
// stage is data (PipeResult.FailedStage, PipeResult.Check()); the error
// reports only failures to run at all (no stages, a program not found...).
func (p *Pipeline) Run(ctx context.Context) (*PipeResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pl *C.pk_pipeline
	if err := pkPipelineNew(&pl); err != nil {
		return nil, err
	}
	defer pkPipelineFree(pl)
	var tok *C.pk_cancel
	var ctxEnded atomic.Bool
	if ctx.Done() != nil {
		if err := pkCancelNew(&tok); err != nil {
			return nil, err
		}
		defer pkCancelFree(tok)
	}
	var sinks []*lineSink    // the stages' OnLine
	var stdios []*stdioState // the stages' io.Reader/io.Writer copies
	for i, c := range p.Stages {
		if c == nil {
			return nil, errorf(CodeInvalid, "pipeline stage "+strconv.Itoa(i)+" is nil")
		}
		if c.Group != nil {
			return nil, errorf(CodeInvalid, "pipeline stage "+strconv.Itoa(i)+
				": a pipeline runs in a private group of its own (Cmd.Group must be nil)")
		}
		cmd, sink, st, err := c.build()
		if err != nil {
			return nil, err
		}
		defer sink.unregister()
		defer st.abort() // a no-op after the run's finish
		stdios = append(stdios, st)
		sinks = append(sinks, sink)
		var flags uint32
		if c.Unchecked {
			flags = uint32(StageFlagUnchecked)
		}
		err = pkPipelineAdd(pl, cmd, flags) // the pipeline keeps its own reference
		_ = pkCommandFree(cmd)
		if err != nil {
			return nil, err
		}
	}
	if p.SigpipeFails {
		if err := pkPipelineFlags(pl, uint32(PipelineFlagSigpipeFails)); err != nil {
			return nil, err
		}
	}
	if p.Timeout > 0 {
		if err := pkPipelineTimeout(pl, uint32(millis(p.Timeout)), int32(p.Signal), uint32(millis(p.Grace))); err != nil {
			return nil, err
		}
	}
	if tok != nil {
		if err := pkPipelineCancelOn(pl, tok); err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() {
			ctxEnded.Store(true)
			_ = pkCancelTrigger(tok)
		})
		defer stop()
	}
	var r *C.pk_result
	err := pkPipelineRun(pl, &r)
	var ioErr error
	for _, st := range stdios {
		if e := st.finish(); e != nil && ioErr == nil {
			ioErr = e
		}
	}
	if err != nil {
		return nil, err
	}
	info := rawRunInfo{Size: uint32(unsafe.Sizeof(rawRunInfo{}))}
	if err := pkResultInfo(r, &info); err != nil {
		_ = pkResultFree(r)
		return nil, err
	}
	stages := make([]StageInfo, info.StageCount)
	for i := range stages {
		s := rawRunInfo{Size: uint32(unsafe.Sizeof(rawRunInfo{}))}
		if err := pkResultStageInfo(r, uint32(i), &s); err != nil {
			_ = pkResultFree(r)
			return nil, err
		}
		stages[i] = StageInfo{
			Outcome:     Outcome(s.Outcome),
			ExitCode:    int(s.ExitCode),
			Signal:      syscall.Signal(s.Signal),
			Pid:         int(s.PID),
			Success:     s.Success != 0,
			Duration:    time.Duration(s.DurationUs) * time.Microsecond,
			StdoutBytes: s.StdoutBytes,
			StderrBytes: s.StderrBytes,
		}
	}
	res, err := resultFromC(r) // frees r
	if err != nil {
		return nil, err
	}
	pr := &PipeResult{Result: res, Stages: stages, FailedStage: int(info.FailedStage)}
	for _, s := range sinks {
		s.repanic()
	}
	if res.Outcome == OutcomeCancelled && ctxEnded.Load() {
		return pr, ctxRunError(ctx, res)
	}
	return pr, ioErr
}
