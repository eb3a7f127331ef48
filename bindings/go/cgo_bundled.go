//go:build !processkit_system

package processkit

// The default build: cgo compiles the amalgamation in this directory
// (processkit.c, the whole C library as one translation unit, with the same
// build constraint) into the package, so a plain `go build` needs no
// installed library, no CGO_CFLAGS/CGO_LDFLAGS and no pkg-config. The unit
// needs only the threads library.

// #cgo LDFLAGS: -pthread
import "C"
