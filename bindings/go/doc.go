// Package processkit is the Go binding of processkit, a C library that
// contains child processes in kill-on-free groups (cgroup v2, or POSIX
// process groups) and runs commands with captured output on an event loop.
//
//	g, err := processkit.NewGroup()          // a container for a process tree
//	child, err := g.Spawn("server", "--port=0")
//	defer g.Close()                           // kills the tree, grandchildren included
//
//	res, err := processkit.Run(ctx, "sh", "-c", "echo hi; exit 3")
//	res.ExitCode, res.Stdout                  // 3, "hi\n": a non-zero exit is data
//	res.Check()                               // *Error matching ErrFailed
//
// The low-level layer (zz_generated.go) is generated from the library's ABI
// manifest by bindings/gen/gen_go.py: the constants, the enum types, the
// sentinel errors, Go mirrors of the C structs and a thin wrapper per C
// function. Everything else is written by hand on top of it.
//
// Building needs cgo (a C compiler) and nothing else: the package carries the
// whole C library as one file (processkit.c, the amalgamation), which cgo
// compiles into the program, so a plain `go build` works with no installed
// library and no CGO_CFLAGS or CGO_LDFLAGS. With the build tag
// processkit_system (`go build -tags processkit_system`) the package links
// an installed libprocesskit.so.1 instead, found with pkg-config (processkit).
package processkit
