//go:build processkit_system

package processkit

// `go build -tags processkit_system`: processkit.c is left out and the
// package links an installed libprocesskit.so.1, found with pkg-config
// (processkit.pc: its Libs, and an rpath there or LD_LIBRARY_PATH at run
// time). The declarations still come from the processkit.h in this
// directory, the header this binding was generated against; the installed
// library must be that release or a later 1.x.

// #cgo pkg-config: processkit
import "C"
