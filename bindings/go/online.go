package processkit

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// lineSink is a Cmd.OnLine callback while its run may deliver lines. The
// library gets its registry id as the user pointer, not a Go pointer: a
// run on a Loop can still deliver lines after its Process is closed (the
// loop reaps it later), and a line for an id no longer registered is
// dropped instead of reaching freed state.
type lineSink struct {
	id  uintptr
	fn  func(Stream, []byte)
	err atomic.Pointer[panicValue] // the callback's panic, if any
}

type panicValue struct{ v any }

var (
	sinksMu sync.Mutex
	sinks   = map[uintptr]*lineSink{}
	sinkID  uintptr // the last id given; ids are never reused
)

func newLineSink(fn func(Stream, []byte)) *lineSink {
	sinksMu.Lock()
	defer sinksMu.Unlock()
	sinkID++
	s := &lineSink{id: sinkID, fn: fn}
	sinks[s.id] = s
	return s
}

// unregister stops the deliveries to s (nil: nothing to do).
func (s *lineSink) unregister() {
	if s == nil {
		return
	}
	sinksMu.Lock()
	delete(sinks, s.id)
	sinksMu.Unlock()
}

// repanic raises again a panic of the callback (nil: nothing to do).
func (s *lineSink) repanic() {
	if s == nil {
		return
	}
	if p := s.err.Load(); p != nil {
		panic(p.v)
	}
}

func (s *lineSink) call(stream Stream, line []byte) {
	if s.err.Load() != nil {
		return // it panicked: no more lines
	}
	defer func() {
		if v := recover(); v != nil {
			s.err.CompareAndSwap(nil, &panicValue{v})
		}
	}()
	s.fn(stream, line)
}

//export gopkOnLine
func gopkOnLine(user unsafe.Pointer, stream C.int32_t, line *C.char, n C.size_t) {
	sinksMu.Lock()
	s := sinks[uintptr(user)]
	sinksMu.Unlock()
	if s == nil {
		return
	}
	s.call(Stream(stream), C.GoBytes(unsafe.Pointer(line), C.int(n)))
}
