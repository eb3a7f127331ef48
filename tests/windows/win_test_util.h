// Test helpers for the Windows suite: where the helper programs are, temp
// paths, and running a command line. Process liveness (pid plus creation
// time) is pktest's, as on Linux: tests/support/proc_util.h.
#ifndef PK_WIN_TEST_UTIL_H
#define PK_WIN_TEST_UTIL_H

#include <gtest/gtest.h>
#include <windows.h>

#include <string>
#include <vector>

#include "processkit.h"

namespace pkwin {

// Absolute Windows paths of the helper programs (Bazel data deps).
std::string TestChild();   // tests/windows/pk_test_child.exe
std::string OwnerHelper(); // tests/windows/owner_helper.exe
std::string PkExe();       // cli/windows/pk.exe

// A command running pk_test_child with args (a gtest failure if it cannot be
// built). Inline, so a test that only loads the DLL does not link the library.
inline pk_command *Child(const std::vector<std::string> &args)
{
    pk_command *cmd = nullptr;
    EXPECT_EQ(pk_command_new(TestChild().c_str(), &cmd), PK_OK) << pk_last_error();
    for (const auto &a : args)
        EXPECT_EQ(pk_command_arg(cmd, a.c_str()), PK_OK);
    return cmd;
}
// The number a file holds (pk_test_child's "count" mode), or -1.
long ReadCount(const std::string &path);

// A fresh path inside the test's temporary directory.
std::string TempPath(const char *name);

// Runs a command line, returning its exit code and stdout.
int RunCapture(const std::string &cmdline, std::string *out, int timeout_ms = 60000);

} // namespace pkwin

#endif
