package processkit

/*
#include <stdint.h>
#include <processkit.h>
*/
import "C"

import (
	"runtime/cgo"
	"time"
	"unsafe"
)

// The C callbacks of retry, supervision and Process.WaitFor. Their user
// pointer is a cgo.Handle of the call's state; a panic in the caller's
// function is kept (callbackState.guard) and raised again after the
// library call returns.

//export gopkRetry
func gopkRetry(user unsafe.Pointer, result *C.pk_result, attempt C.uint32_t) C.int {
	s := cgo.Handle(uintptr(user)).Value().(*callbackState)
	again := false
	s.guard(func() {
		r, err := resultCopy(result)
		if err == nil {
			again = s.retry(r, int(attempt))
		}
	})
	if again {
		return 1
	}
	return 0
}

//export gopkSuperviseEvent
func gopkSuperviseEvent(user unsafe.Pointer, event C.int32_t, restarts C.uint32_t, delayMs C.uint32_t, result *C.pk_result) {
	s := cgo.Handle(uintptr(user)).Value().(*callbackState)
	s.guard(func() {
		ev := SuperviseEventInfo{Event: SuperviseEvent(event), Restarts: int(restarts),
			Delay: time.Duration(delayMs) * time.Millisecond}
		if result != nil {
			ev.Result, _ = resultCopy(result)
		}
		s.onEvent(ev)
	})
}

//export gopkStopWhen
func gopkStopWhen(user unsafe.Pointer, result *C.pk_result) C.int {
	s := cgo.Handle(uintptr(user)).Value().(*callbackState)
	stop := false
	s.guard(func() {
		r, err := resultCopy(result)
		if err == nil {
			stop = s.stopWhen(r)
		}
	})
	if stop {
		return 1
	}
	return 0
}

//export gopkReady
func gopkReady(user unsafe.Pointer) C.int {
	s := cgo.Handle(uintptr(user)).Value().(*readyState)
	ready := false
	s.guard(func() { ready = s.fn() })
	if ready {
		return 1
	}
	return 0
}
