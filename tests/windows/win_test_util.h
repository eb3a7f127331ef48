// Test helpers for the Windows suite: where the helper programs are, and
// process liveness by pid plus creation time (a pid alone can be reused).
#ifndef PK_WIN_TEST_UTIL_H
#define PK_WIN_TEST_UTIL_H

#include <windows.h>

#include <string>

namespace pkwin {

struct Identity {
    DWORD pid = 0;
    ULONGLONG created = 0; // FILETIME of creation; 0 = unknown
};

// The identity of a live process, or pid 0 when it is already gone.
Identity Identify(DWORD pid);
// True while the same process (pid and creation time) is still running.
bool Alive(const Identity &id);
// Waits up to timeout_ms for the process to be gone; true once it is.
bool WaitGone(const Identity &id, int timeout_ms);

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
