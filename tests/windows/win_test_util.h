// Test helpers for the Windows suite: where the helper programs are, temp
// paths, and running a command line. Process liveness (pid plus creation
// time) is pktest's, as on Linux: tests/support/proc_util.h.
#ifndef PK_WIN_TEST_UTIL_H
#define PK_WIN_TEST_UTIL_H

#include <windows.h>

#include <string>

namespace pkwin {

// Absolute Windows paths of the helper programs (Bazel data deps).
std::string TestChild();   // tests/windows/pk_test_child.exe
std::string OwnerHelper(); // tests/windows/owner_helper.exe
std::string PkExe();       // cli/windows/pk.exe

// A fresh path inside the test's temporary directory.
std::string TempPath(const char *name);

// Runs a command line, returning its exit code and stdout.
int RunCapture(const std::string &cmdline, std::string *out, int timeout_ms = 60000);

} // namespace pkwin

#endif
