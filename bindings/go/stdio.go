package processkit

/*
#include <processkit.h>
*/
import "C"

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// stdioState is what a run's io.Reader/io.Writer stdio needs around the
// library's run: the child's ends of OS pipes (closed once the child has
// them), the parent's ends, and the goroutines copying between the pipes
// and the caller's reader and writers. A nil *stdioState does nothing.
type stdioState struct {
	childEnds []*os.File // given to the library as fds; closed after the spawn
	stdinW    *os.File   // the parent's end of a stdin pipe, or nil
	copies    sync.WaitGroup
	mu        sync.Mutex
	err       error // the first failure of an output copy
	once      sync.Once
}

// configureStdio sets the command's stdin and outputs from Cmd's io fields.
func (c *Cmd) configureStdio(cmd *C.pk_command, strs *cStrings) (st *stdioState, err error) {
	st = &stdioState{}
	defer func() {
		if err != nil {
			st.abort()
			st = nil
		}
	}()
	switch {
	case c.StdinPipe:
		err = pkCommandStdinPipe(cmd)
	case c.StdinFile != "":
		var p *C.char
		if p, err = strs.cstr("StdinFile", c.StdinFile); err == nil {
			err = pkCommandStdinFile(cmd, p)
		}
	case c.Stdin == nil:
		err = pkCommandStdinNull(cmd)
	default:
		err = st.stdin(cmd, c.Stdin)
	}
	if err != nil {
		return st, err
	}
	if err = st.output(cmd, StreamStdout, c.Stdout); err != nil {
		return st, err
	}
	if c.StderrToStdout {
		err = pkCommandOutput(cmd, int32(StreamStderr), int32(OutputModeMerge), -1)
	} else {
		err = st.output(cmd, StreamStderr, c.Stderr)
	}
	return st, err
}

// inMemory is the whole content of a reader that already holds it, without
// consuming the caller's reader when it can be read through a copy.
func inMemory(r io.Reader) ([]byte, bool) {
	switch v := r.(type) {
	case *bytes.Reader:
		b, _ := io.ReadAll(io.NewSectionReader(v, 0, v.Size()))
		off := v.Size() - int64(v.Len())
		return b[off:], true
	case *strings.Reader:
		b, _ := io.ReadAll(io.NewSectionReader(v, 0, v.Size()))
		off := v.Size() - int64(v.Len())
		return b[off:], true
	case *bytes.Buffer:
		return bytes.Clone(v.Bytes()), true
	}
	return nil, false
}

func (st *stdioState) stdin(cmd *C.pk_command, r io.Reader) error {
	if b, ok := inMemory(r); ok {
		var data unsafe.Pointer
		if len(b) > 0 {
			data = unsafe.Pointer(&b[0])
		}
		err := pkCommandStdinBytes(cmd, data, uint64(len(b))) // copied by the library
		runtime.KeepAlive(b)
		return err
	}
	if f, ok := r.(*os.File); ok {
		if f == os.Stdin {
			return pkCommandStdinInherit(cmd)
		}
		err := pkCommandStdinFD(cmd, int32(f.Fd()))
		runtime.KeepAlive(f)
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return errorf(CodeOS, "stdin pipe: "+err.Error())
	}
	st.childEnds = append(st.childEnds, pr)
	st.stdinW = pw
	if err := pkCommandStdinFD(cmd, int32(pr.Fd())); err != nil {
		return err
	}
	// Not waited for: a reader that never ends must not hold up the run
	// (finish closes the pipe, which ends the copy at its next write).
	go func() {
		_, _ = io.Copy(pw, r)
		_ = pw.Close()
	}()
	return nil
}

func (st *stdioState) output(cmd *C.pk_command, s Stream, w io.Writer) error {
	switch {
	case w == nil:
		return pkCommandOutput(cmd, int32(s), int32(OutputModeCapture), -1)
	case w == io.Discard:
		return pkCommandOutput(cmd, int32(s), int32(OutputModeNull), -1)
	case (s == StreamStdout && w == os.Stdout) || (s == StreamStderr && w == os.Stderr):
		return pkCommandOutput(cmd, int32(s), int32(OutputModeInherit), -1)
	}
	if f, ok := w.(*os.File); ok {
		err := pkCommandOutput(cmd, int32(s), int32(OutputModeFD), int32(f.Fd()))
		runtime.KeepAlive(f)
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return errorf(CodeOS, "output pipe: "+err.Error())
	}
	st.childEnds = append(st.childEnds, pw)
	if err := pkCommandOutput(cmd, int32(s), int32(OutputModeFD), int32(pw.Fd())); err != nil {
		pr.Close()
		return err
	}
	st.copies.Add(1)
	go func() {
		defer st.copies.Done()
		defer pr.Close()
		if _, err := io.Copy(w, pr); err != nil {
			st.mu.Lock()
			if st.err == nil {
				st.err = errorf(CodeOS, s.String()+" writer: "+err.Error())
			}
			st.mu.Unlock()
			_, _ = io.Copy(io.Discard, pr) // keep the child from blocking
		}
	}()
	return nil
}

// started closes this process's copies of the child's pipe ends, once the
// child has its own (after pk_command_run or pk_loop_start returned).
func (st *stdioState) started() {
	if st == nil {
		return
	}
	for _, f := range st.childEnds {
		_ = f.Close()
	}
	st.childEnds = nil
}

// finish ends the stdin copy and waits for the output copies (the pipes
// reach end of file when the run's tree is gone). It returns the first
// writer's failure. Only the first call does anything.
func (st *stdioState) finish() error {
	if st == nil {
		return nil
	}
	st.once.Do(func() {
		st.started()
		if st.stdinW != nil {
			_ = st.stdinW.Close()
		}
		st.copies.Wait()
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// abort is finish for a run that never started.
func (st *stdioState) abort() { _ = st.finish() }
