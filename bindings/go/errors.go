package processkit

/*
#include <stdlib.h>
#include <processkit.h>
*/
import "C"

import (
	"context"
	"fmt"
	"io/fs"
	"os/exec"
	"strconv"
	"unsafe"
)

// Error is a failure reported by the library: the pk_error code of the call
// and the message pk_last_error() gave for it (copied in the same C call, so
// it is the message of this very failure).
//
// Each code has a sentinel (ErrInvalid, ErrNotFound, ...): errors.Is(err,
// ErrNotFound) holds for every *Error with that code, and errors.As(err,
// &pkErr) gives the code and the library's message.
type Error struct {
	Code    Code   // the negative pk_error code
	Message string // the library's message; "" on the sentinels
}

// Error returns the library's message, or the code's description.
func (e *Error) Error() string {
	if e.Message != "" {
		return "processkit: " + e.Message
	}
	return "processkit: " + e.Code.Description()
}

// Is reports whether target is the sentinel of e's code (or an *Error with
// the same code and message). A CodeNotFound error (a program or a
// directory that is not there) also matches the standard library's
// exec.ErrNotFound and fs.ErrNotExist, so code written for os/exec keeps
// working.
func (e *Error) Is(target error) bool {
	if target == exec.ErrNotFound || target == fs.ErrNotExist {
		return e.Code == CodeNotFound
	}
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Description is the library's short text for the code (pk_strerror).
func (c Code) Description() string {
	return pkStrerror(int32(c))
}

// errorFromC turns a return code and its malloc'd message (either may be
// zero/nil) into nil or an *Error, freeing the message.
func errorFromC(rc int32, msg *C.char) error {
	var text string
	if msg != nil {
		text = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	if rc == 0 {
		return nil
	}
	if text == "" {
		text = pkStrerror(rc)
	}
	return &Error{Code: Code(rc), Message: text}
}

// errorf builds an *Error in the binding itself, for failures the library
// never sees (a string with a NUL byte, a closed Go-side object).
func errorf(code Code, msg string) error {
	return &Error{Code: code, Message: msg}
}

// ctxRunError is the error of a run that ctx ended (it was cancelled when
// ctx was done): ctx.Err() (context.Canceled or context.DeadlineExceeded),
// wrapping the result's check (ErrCancelled, with the library's message)
// too, so errors.Is matches either.
func ctxRunError(ctx context.Context, r *Result) error {
	if r.check == nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: %w", ctx.Err(), r.check)
}

// Version is the loaded library's version, "major.minor.patch".
func Version() string { return pkVersionString() }

// VersionNum is the loaded library's version packed as
// (major << 16) | (minor << 8) | patch.
func VersionNum() uint32 { return pkVersion() }

// String gives the mechanism's stable name: "cgroup-v2", "process-group",
// "job-object" or "none" (pk_mechanism_name).
func (m Mechanism) String() string {
	if name := pkMechanismName(int32(m)); name != "" {
		return name
	}
	return "Mechanism(" + strconv.Itoa(int(m)) + ")"
}
