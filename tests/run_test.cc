// Run-and-capture with real processes: the pk_command builder, pk_loop,
// pk_process, pk_result and pk_cancel.
//
// Every test leaves nothing behind: the fixture checks that this process has
// no child (live or zombie), no cgroup leaf and no extra fd after the test,
// and kills every grandchild a test learned of (by pid plus start time, so a
// recycled pid is never touched).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"
#include "support/file_util.h"
#include "support/pk_test.h"
#include "support/proc_util.h"

namespace {

using pktest::Cmd;
using pktest::Loop;
using pktest::Proc;
using pktest::Result;
using pktest::Cancel;

using pktest::Clock;
using pktest::NewCancel;
using pktest::NewCmd;
using pktest::NewLoop;
using pktest::Sh;
using pktest::MsSince;
using pktest::PathExists;
using pktest::Pipe;
using pktest::ReadText;
using pktest::ReadToEof;

// Generous bound for anything that should happen "soon". Not a timing goal.
constexpr int kLongMs = 10000;

bool WriteText(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return static_cast<bool>(out);
}

// True when this process has no child at all (__WALL also sees children
// cloned without an exit signal, as processkit's are).
bool NoChildren() {
    return pktest::NoChildren();
}

// Resident memory of this process in KiB (VmRSS).
long VmRssKb() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

// Points a standard fd of this process somewhere else for a scope.
class Redirect {
  public:
    Redirect(int target, int fd) : target_(target) {
        fflush(stdout);
        fflush(stderr);
        saved_ = fcntl(target, F_DUPFD_CLOEXEC, 3);
        dup2(fd, target);
    }
    ~Redirect() { Restore(); }
    void Restore() {
        if (saved_ < 0)
            return;
        fflush(stdout);
        fflush(stderr);
        dup2(saved_, target_);
        close(saved_);
        saved_ = -1;
    }

  private:
    int target_;
    int saved_ = -1;
};

// Everything about a finished run, copied out of its result.
struct Ran {
    int rc = -100;  // of pk_command_run / pk_process_result
    std::string error;
    pk_run_info info = PK_RUN_INFO_INIT;
    std::string out, err;
    int check = -100;  // pk_result_check
    std::string check_msg;
};

Ran Describe(pk_result* r) {
    Ran ran;
    ran.rc = PK_OK;
    EXPECT_EQ(PK_OK, pk_result_info(r, &ran.info)) << pk_last_error();
    const uint8_t* data = nullptr;
    size_t len = 0;
    EXPECT_EQ(PK_OK, pk_result_output(r, PK_STREAM_STDOUT, &data, &len)) << pk_last_error();
    ran.out.assign(reinterpret_cast<const char*>(data), len);
    EXPECT_EQ(PK_OK, pk_result_output(r, PK_STREAM_STDERR, &data, &len)) << pk_last_error();
    ran.err.assign(reinterpret_cast<const char*>(data), len);
    ran.check = pk_result_check(r);
    ran.check_msg = pk_last_error();
    return ran;
}

Ran RunCmd(pk_command* cmd) {
    pk_result* r = nullptr;
    int rc = pk_command_run(cmd, &r);
    if (rc != PK_OK) {
        Ran ran;
        ran.rc = rc;
        ran.error = pk_last_error();
        EXPECT_EQ(nullptr, r);
        return ran;
    }
    Result owner(r);
    return Describe(r);
}

Ran ResultOf(pk_process* p) {
    pk_result* r = nullptr;
    int rc = pk_process_result(p, &r);
    if (rc != PK_OK) {
        Ran ran;
        ran.rc = rc;
        ran.error = pk_last_error();
        return ran;
    }
    Result owner(r);
    return Describe(r);
}

Proc Start(pk_loop* loop, pk_command* cmd, pk_group* group = nullptr) {
    pk_process* p = nullptr;
    EXPECT_EQ(PK_OK, pk_loop_start(loop, cmd, group, &p)) << pk_last_error();
    return Proc(p);
}

bool Done(pk_process* p) {
    int32_t done = -1;
    EXPECT_EQ(PK_OK, pk_process_done(p, &done)) << pk_last_error();
    return done != 0;
}

// Collects lines from pk_line_fn callbacks.
struct Lines {
    std::mutex mu;
    std::vector<std::pair<int, std::string>> got;
    std::vector<std::string> Of(int stream) {
        std::lock_guard<std::mutex> lock(mu);
        std::vector<std::string> out;
        for (auto& e : got)
            if (e.first == stream)
                out.push_back(e.second);
        return out;
    }
};
void CollectLine(void* user, int32_t stream, const char* line, size_t len) {
    Lines* l = static_cast<Lines*>(user);
    std::lock_guard<std::mutex> lock(l->mu);
    l->got.emplace_back(stream, std::string(line, len));
}

#define ASSERT_RAN(ran)                                                   \
    do {                                                                  \
        ASSERT_EQ(PK_OK, (ran).rc) << "the run failed: " << (ran).error; \
    } while (0)

class Run : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        // Read the host facts once (pthread_once) before any fd is counted.
        pk_containment c = PK_CONTAINMENT_INIT;
        (void)pk_host_probe(PK_BACKEND_AUTO, &c);
    }
    void SetUp() override {
        ASSERT_TRUE(NoChildren()) << "a child exists before the test";
        fds_before_ = pktest::OpenFdCount();
    }
    void TearDown() override {
        for (const pktest::ProcId& id : strays_)
            pktest::KillIfAlive(id);
        for (const pktest::ProcId& id : strays_)
            EXPECT_TRUE(pktest::WaitDead(id, kLongMs)) << "stray pid " << id.pid << " survived teardown";
        EXPECT_TRUE(NoChildren()) << "the test left a child process behind";
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "the test left a cgroup behind";
        EXPECT_EQ(fds_before_, pktest::OpenFdCount()) << "the test leaked or closed fds";
    }

    pktest::TempDir tmp_;
    std::vector<pktest::ProcId> strays_;  // grandchildren to kill at the end
    int fds_before_ = -1;
};

// ===========================================================================
// 1. stdin modes

TEST_F(Run, StdinNullGivesEofAtOnce) {
    Cmd cmd = NewCmd({"cat"});
    ASSERT_TRUE(cmd);
    auto t0 = Clock::now();
    Ran ran = RunCmd(cmd.get());  // null is the default
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(0, ran.info.exit_code);
    EXPECT_EQ("", ran.out);
    EXPECT_LT(MsSince(t0), kLongMs);
    // Explicitly set, after another mode, it is null again.
    ASSERT_PK_OK(pk_command_stdin_bytes(cmd.get(), "x", 1));
    ASSERT_PK_OK(pk_command_stdin_null(cmd.get()));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("", ran.out);
    EXPECT_EQ(1, ran.info.success);
}

TEST_F(Run, StdinInheritUsesOurFd0) {
    Pipe p;
    ASSERT_TRUE(p.Open());
    const std::string text = "inherited stdin\n";
    ASSERT_EQ(static_cast<ssize_t>(text.size()), write(p.w, text.data(), text.size()));
    p.CloseWrite();
    Cmd cmd = NewCmd({"cat"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_stdin_inherit(cmd.get()));
    Ran ran;
    {
        Redirect in(0, p.r);
        ran = RunCmd(cmd.get());
    }
    ASSERT_RAN(ran);
    EXPECT_EQ(text, ran.out);
    EXPECT_EQ(1, ran.info.success);
}

TEST_F(Run, StdinBytesEchoExactly) {
    Cmd cmd = NewCmd({"cat"});
    ASSERT_TRUE(cmd);
    // NUL bytes in the middle and at the end.
    const std::string small("a\0b\0\0c\n\0", 8);
    ASSERT_PK_OK(pk_command_stdin_bytes(cmd.get(), small.data(), small.size()));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(small, ran.out);
    EXPECT_EQ(small.size(), ran.info.stdout_bytes);

    // 1 MiB of pseudo-random bytes (far more than a pipe holds).
    std::string big(1 << 20, '\0');
    std::mt19937 rng(42);
    for (char& c : big)
        c = static_cast<char>(rng());
    ASSERT_PK_OK(pk_command_stdin_bytes(cmd.get(), big.data(), big.size()));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(big.size(), ran.out.size());
    EXPECT_TRUE(big == ran.out) << "1 MiB did not round-trip";
    EXPECT_EQ(1, ran.info.success);

    // Empty bytes: EOF at once.
    ASSERT_PK_OK(pk_command_stdin_bytes(cmd.get(), nullptr, 0));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("", ran.out);
}

TEST_F(Run, StdinFdPipeAndFile) {
    // A pipe the test filled and closed.
    Pipe p;
    ASSERT_TRUE(p.Open());
    ASSERT_EQ(6, write(p.w, "piped\n", 6));
    p.CloseWrite();
    Cmd cmd = NewCmd({"cat"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_stdin_fd(cmd.get(), p.r));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("piped\n", ran.out);
    EXPECT_GE(fcntl(p.r, F_GETFD), 0) << "the library closed the caller's stdin fd";

    // A file fd.
    std::string path = tmp_.File("in.txt");
    ASSERT_TRUE(WriteText(path, "from a file fd\n"));
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_PK_OK(pk_command_stdin_fd(cmd.get(), fd));
    ran = RunCmd(cmd.get());
    EXPECT_GE(fcntl(fd, F_GETFD), 0) << "the library closed the caller's stdin fd";
    close(fd);
    ASSERT_RAN(ran);
    EXPECT_EQ("from a file fd\n", ran.out);
}

TEST_F(Run, StdinFileOpenedAtEachStart) {
    std::string path = tmp_.File("in.txt");
    ASSERT_TRUE(WriteText(path, std::string("first\0file\n", 11)));
    Cmd cmd = NewCmd({"cat"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_stdin_file(cmd.get(), path.c_str()));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(std::string("first\0file\n", 11), ran.out);
    // Changed between runs: the second run sees the new contents.
    ASSERT_TRUE(WriteText(path, "second\n"));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("second\n", ran.out);
    // A missing file fails the start, and nothing runs.
    ASSERT_PK_OK(pk_command_stdin_file(cmd.get(), tmp_.File("missing").c_str()));
    ran = RunCmd(cmd.get());
    EXPECT_EQ(PK_ERR_NOT_FOUND, ran.rc) << ran.error;
}

TEST_F(Run, StdinPipeInteractive) {
    Loop loop = NewLoop();
    Cmd cmd = NewCmd({"cat"});
    ASSERT_TRUE(loop && cmd);
    ASSERT_PK_OK(pk_command_stdin_pipe(cmd.get()));
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    std::string expected;
    for (int i = 0; i < 5; i++) {
        std::string chunk = "chunk " + std::to_string(i) + "\n";
        expected += chunk;
        EXPECT_PK_OK(pk_process_write(p.get(), chunk.data(), chunk.size()));
        // Let the loop move bytes in between writes.
        EXPECT_PK_OK(pk_loop_run_once(loop.get(), 0));
    }
    // A chunk larger than a pipe holds, queued without the loop running.
    std::string big(300000, 'z');
    expected += big;
    EXPECT_PK_OK(pk_process_write(p.get(), big.data(), big.size()));
    EXPECT_PK_OK(pk_process_write(p.get(), nullptr, 0));  // nothing, harmless
    EXPECT_PK_OK(pk_process_close_stdin(p.get()));
    EXPECT_PK_ERR(PK_ERR_STATE, pk_process_write(p.get(), "late", 4));
    EXPECT_NE(std::string::npos, std::string(pk_last_error()).find("closed")) << pk_last_error();
    pk_process* all[] = {p.get()};
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, kLongMs));
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(0, ran.info.exit_code);
    EXPECT_EQ(expected.size(), ran.out.size());
    EXPECT_TRUE(expected == ran.out);
    // After the run: still a state error, and closing again is harmless.
    EXPECT_PK_ERR(PK_ERR_STATE, pk_process_write(p.get(), "late", 4));
    EXPECT_PK_OK(pk_process_close_stdin(p.get()));
}

TEST_F(Run, ProcessWriteNeedsAPipe) {
    Loop loop = NewLoop();
    Cmd cmd = NewCmd({"sleep", "30"});
    ASSERT_TRUE(loop && cmd);
    for (int mode = 0; mode < 2; mode++) {
        SCOPED_TRACE(mode == 0 ? "stdin null" : "stdin bytes");
        if (mode == 1) {
            ASSERT_PK_OK(pk_command_stdin_bytes(cmd.get(), "abc", 3));
        }
        Proc p = Start(loop.get(), cmd.get());
        ASSERT_TRUE(p);
        EXPECT_PK_ERR(PK_ERR_STATE, pk_process_write(p.get(), "x", 1));
        EXPECT_NE(std::string::npos, std::string(pk_last_error()).find("not a pipe")) << pk_last_error();
        EXPECT_PK_ERR(PK_ERR_STATE, pk_process_close_stdin(p.get()));
        EXPECT_PK_OK(pk_process_cancel(p.get()));
        pk_process* all[] = {p.get()};
        ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, kLongMs));
        EXPECT_EQ(PK_OUTCOME_CANCELLED, ResultOf(p.get()).info.outcome);
    }
}

// ===========================================================================
// 2. stdout/stderr modes

TEST_F(Run, CaptureBothStreamsSeparately) {
    Cmd cmd = Sh("echo out1; echo err1 >&2; echo out2; printf 'err2' >&2");
    ASSERT_TRUE(cmd);
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("out1\nout2\n", ran.out);
    EXPECT_EQ("err1\nerr2", ran.err);
    EXPECT_EQ(10u, ran.info.stdout_bytes);
    EXPECT_EQ(9u, ran.info.stderr_bytes);
    EXPECT_EQ(0, ran.info.stdout_truncated);
    EXPECT_EQ(0, ran.info.stderr_truncated);
}

// Windows' create_no_window has no meaning where there are no console
// windows; portable code sets it everywhere, so it must not change a run.
TEST_F(Run, NoWindowFlagIsAcceptedAndChangesNothingHere) {
    Cmd cmd = Sh("echo ran; exit 4");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_flags(cmd.get(), PK_COMMAND_NO_WINDOW | PK_COMMAND_NEW_SESSION));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("ran\n", ran.out);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(4, ran.info.exit_code);
}

TEST_F(Run, InheritWritesToOurStdoutAndStderr) {
    Pipe out, err;
    ASSERT_TRUE(out.Open() && err.Open());
    Cmd cmd = Sh("printf to-stdout; printf to-stderr >&2");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDOUT, PK_OUTPUT_INHERIT, -1));
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDERR, PK_OUTPUT_INHERIT, -1));
    Ran ran;
    {
        Redirect r1(1, out.w);
        Redirect r2(2, err.w);
        ran = RunCmd(cmd.get());
    }
    out.CloseWrite();
    err.CloseWrite();
    ASSERT_RAN(ran);
    EXPECT_EQ("to-stdout", ReadToEof(out.r));
    EXPECT_EQ("to-stderr", ReadToEof(err.r));
    EXPECT_EQ("", ran.out);
    EXPECT_EQ("", ran.err);
    EXPECT_EQ(0u, ran.info.stdout_bytes);
    EXPECT_EQ(1, ran.info.success);
}

TEST_F(Run, NullDiscards) {
    Cmd cmd = Sh("echo gone; echo gone too >&2; exit 0");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDOUT, PK_OUTPUT_NULL, -1));
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDERR, PK_OUTPUT_NULL, -1));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("", ran.out);
    EXPECT_EQ("", ran.err);
    EXPECT_EQ(0u, ran.info.stdout_bytes);
    EXPECT_EQ(0u, ran.info.stderr_bytes);
    EXPECT_EQ(1, ran.info.success);
}

TEST_F(Run, FdModeWritesToCallerFds) {
    Pipe out, err;
    ASSERT_TRUE(out.Open() && err.Open());
    Cmd cmd = Sh("echo to-fd-out; echo to-fd-err >&2");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDOUT, PK_OUTPUT_FD, out.w));
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDERR, PK_OUTPUT_FD, err.w));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_GE(fcntl(out.w, F_GETFD), 0) << "the library closed the caller's fd";
    EXPECT_GE(fcntl(err.w, F_GETFD), 0) << "the library closed the caller's fd";
    out.CloseWrite();
    err.CloseWrite();
    EXPECT_EQ("to-fd-out\n", ReadToEof(out.r));
    EXPECT_EQ("to-fd-err\n", ReadToEof(err.r));
    EXPECT_EQ("", ran.out);
    EXPECT_EQ("", ran.err);
}

TEST_F(Run, MergeKeepsOneOrderedStream) {
    Cmd cmd = Sh("echo a; echo b >&2; echo c");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDERR, PK_OUTPUT_MERGE, -1));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("a\nb\nc\n", ran.out);
    EXPECT_EQ("", ran.err);
    EXPECT_EQ(6u, ran.info.stdout_bytes);
    EXPECT_EQ(0u, ran.info.stderr_bytes);

    // Merged into an inherited stdout: both land on our fd 1.
    Pipe out;
    ASSERT_TRUE(out.Open());
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDOUT, PK_OUTPUT_INHERIT, -1));
    {
        Redirect r1(1, out.w);
        ran = RunCmd(cmd.get());
    }
    out.CloseWrite();
    ASSERT_RAN(ran);
    EXPECT_EQ("a\nb\nc\n", ReadToEof(out.r));
    EXPECT_EQ("", ran.out);

    // Merged into a caller fd.
    Pipe fd;
    ASSERT_TRUE(fd.Open());
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDOUT, PK_OUTPUT_FD, fd.w));
    ran = RunCmd(cmd.get());
    fd.CloseWrite();
    ASSERT_RAN(ran);
    EXPECT_EQ("a\nb\nc\n", ReadToEof(fd.r));

    // Merge is for stderr only.
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_output(cmd.get(), PK_STREAM_STDOUT, PK_OUTPUT_MERGE, -1));
}

// ===========================================================================
// 3. environment, cwd, arguments

TEST_F(Run, EnvInheritClearSetUnset) {
    ASSERT_EQ(0, setenv("PKTEST_RUN_VAR", "from the test", 1));
    ASSERT_EQ(0, setenv("PKTEST_RUN_GONE", "should vanish", 1));
    Cmd cmd = Sh("echo \"${PKTEST_RUN_VAR-missing}|${PKTEST_RUN_GONE-unset}|${PKTEST_RUN_NEW-none}\"");
    ASSERT_TRUE(cmd);
    Ran ran = RunCmd(cmd.get());
    EXPECT_EQ("from the test|should vanish|none\n", ran.out);

    ASSERT_PK_OK(pk_command_env_unset(cmd.get(), "PKTEST_RUN_GONE"));
    ASSERT_PK_OK(pk_command_env(cmd.get(), "PKTEST_RUN_NEW", "a=b c"));
    ASSERT_PK_OK(pk_command_env(cmd.get(), "PKTEST_RUN_VAR", "overridden"));
    ran = RunCmd(cmd.get());
    EXPECT_EQ("overridden|unset|a=b c\n", ran.out);
    unsetenv("PKTEST_RUN_VAR");
    unsetenv("PKTEST_RUN_GONE");

    // Cleared: only what the command sets (env is found in the default PATH).
    Cmd env = NewCmd({"env"});
    ASSERT_TRUE(env);
    ASSERT_PK_OK(pk_command_env_clear(env.get()));
    ASSERT_PK_OK(pk_command_env(env.get(), "ONLY", "this"));
    ASSERT_PK_OK(pk_command_env(env.get(), "EMPTY", ""));
    ASSERT_PK_OK(pk_command_env(env.get(), "DROPPED", "x"));
    ASSERT_PK_OK(pk_command_env_unset(env.get(), "DROPPED"));
    ran = RunCmd(env.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("ONLY=this\nEMPTY=\n", ran.out);
}

TEST_F(Run, CwdIsUsed) {
    char real[PATH_MAX];
    ASSERT_NE(nullptr, realpath(tmp_.path().c_str(), real));
    Cmd cmd = NewCmd({"pwd", "-P"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), tmp_.path().c_str()));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(std::string(real) + "\n", ran.out);
    // A missing directory fails the start.
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), tmp_.File("nope").c_str()));
    ran = RunCmd(cmd.get());
    EXPECT_NE(PK_OK, ran.rc);
    // NULL restores the caller's.
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), nullptr));
    char here[PATH_MAX];
    ASSERT_NE(nullptr, getcwd(here, sizeof here));
    ASSERT_NE(nullptr, realpath(here, real));
    ran = RunCmd(cmd.get());
    EXPECT_EQ(std::string(real) + "\n", ran.out);
}

TEST_F(Run, ArgumentsArriveExactly) {
    const std::vector<std::string> args = {"plain",   "with space",  "  lead and trail  ", "it's",      "say \"hi\"",
                                           "",        "$HOME",       "`id`",               "back\\slash", "*",
                                           "tab\tx",  "new\nline",   "ünïcødé",            "--flag",    ""};
    std::vector<std::string> argv = {"printf", "%s|\n"};
    argv.insert(argv.end(), args.begin(), args.end());
    Cmd cmd = NewCmd(argv);
    ASSERT_TRUE(cmd);
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    std::string expected;
    for (const std::string& a : args)
        expected += a + "|\n";
    EXPECT_EQ(expected, ran.out);
    EXPECT_EQ(1, ran.info.success);
}

// ===========================================================================
// 4. outcome, exit code, signal

TEST_F(Run, ExitCodesAndCheck) {
    Cmd ok = NewCmd({"true"});
    ASSERT_TRUE(ok);
    Ran ran = RunCmd(ok.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(0, ran.info.exit_code);
    EXPECT_EQ(0, ran.info.signal);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
    EXPECT_GT(ran.info.duration_us, 0u);
    EXPECT_GT(ran.info.pid, 0);
    EXPECT_EQ(PK_MECHANISM_CGROUP_V2, ran.info.mechanism);

    Cmd three = Sh("echo some output; echo first problem >&2; echo 'the last words' >&2; exit 3");
    ASSERT_TRUE(three);
    ran = RunCmd(three.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(3, ran.info.exit_code);
    EXPECT_EQ(0, ran.info.signal);
    EXPECT_EQ(0, ran.info.success);
    EXPECT_GT(ran.info.duration_us, 0u);
    EXPECT_EQ(PK_ERR_FAILED, ran.check);
    EXPECT_NE(std::string::npos, ran.check_msg.find("sh")) << ran.check_msg;
    EXPECT_NE(std::string::npos, ran.check_msg.find("3")) << ran.check_msg;
    EXPECT_NE(std::string::npos, ran.check_msg.find("the last words")) << ran.check_msg;
    EXPECT_EQ(std::string::npos, ran.check_msg.find("first problem")) << ran.check_msg;

    // ok_codes {0,3}: 3 is a success, 0 still is, 4 is not.
    const int32_t codes[] = {0, 3};
    ASSERT_PK_OK(pk_command_ok_codes(three.get(), codes, 2));
    ran = RunCmd(three.get());
    EXPECT_EQ(3, ran.info.exit_code);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
    ASSERT_PK_OK(pk_command_ok_codes(ok.get(), codes, 2));
    EXPECT_EQ(1, RunCmd(ok.get()).info.success);
    Cmd four = Sh("exit 4");
    ASSERT_TRUE(four);
    ASSERT_PK_OK(pk_command_ok_codes(four.get(), codes, 2));
    EXPECT_EQ(0, RunCmd(four.get()).info.success);
    // count 0 restores the default.
    ASSERT_PK_OK(pk_command_ok_codes(three.get(), nullptr, 0));
    EXPECT_EQ(0, RunCmd(three.get()).info.success);
}

TEST_F(Run, KilledBySignal) {
    Cmd cmd = Sh("echo dying >&2; kill -TERM $$; sleep 5");
    ASSERT_TRUE(cmd);
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, ran.info.outcome);
    EXPECT_EQ(SIGTERM, ran.info.signal);
    EXPECT_EQ(-1, ran.info.exit_code);
    EXPECT_EQ(0, ran.info.success);
    EXPECT_EQ(PK_ERR_FAILED, ran.check);
    EXPECT_NE(std::string::npos, ran.check_msg.find("signal 15")) << ran.check_msg;
    EXPECT_NE(std::string::npos, ran.check_msg.find("dying")) << ran.check_msg;
}

TEST_F(Run, ProcessSignalReachesTheRun) {
    Loop loop = NewLoop();
    Cmd cmd = Sh("echo ready; exec sleep 30");
    ASSERT_TRUE(loop && cmd);
    Lines lines;
    ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, CollectLine, &lines));
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    auto t0 = Clock::now();
    while (lines.Of(PK_STREAM_STDOUT).empty() && MsSince(t0) < kLongMs)
        ASSERT_PK_OK(pk_loop_run_once(loop.get(), 100));
    ASSERT_PK_OK(pk_process_signal(p.get(), SIGUSR1));
    pk_process* all[] = {p.get()};
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, kLongMs));
    Ran ran = ResultOf(p.get());
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, ran.info.outcome);
    EXPECT_EQ(SIGUSR1, ran.info.signal);
    EXPECT_PK_ERR(PK_ERR_NO_PROCESS, pk_process_signal(p.get(), SIGTERM));
}

TEST_F(Run, MechanismFollowsGroupOptions) {
    Cmd cmd = NewCmd({"true"});
    ASSERT_TRUE(cmd);
    EXPECT_EQ(PK_MECHANISM_CGROUP_V2, RunCmd(cmd.get()).info.mechanism);
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.backend = PK_BACKEND_PROCESS_GROUP;
    ASSERT_PK_OK(pk_command_group_options(cmd.get(), &o));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_MECHANISM_PROCESS_GROUP, ran.info.mechanism);
    EXPECT_EQ(1, ran.info.success);
    o.backend = PK_BACKEND_CGROUP_V2;
    ASSERT_PK_OK(pk_command_group_options(cmd.get(), &o));
    EXPECT_EQ(PK_MECHANISM_CGROUP_V2, RunCmd(cmd.get()).info.mechanism);
}

// ===========================================================================
// 5. timeouts

TEST_F(Run, TimeoutGraceful) {
    Cmd cmd = Sh("trap 'echo bye >&2; exit 0' TERM; sleep 30 & wait");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_timeout(cmd.get(), 300, 0, 5000));
    auto t0 = Clock::now();
    Ran ran = RunCmd(cmd.get());
    int64_t elapsed = MsSince(t0);
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_TIMED_OUT, ran.info.outcome);
    EXPECT_NE(std::string::npos, ran.err.find("bye")) << ran.err;
    EXPECT_EQ(0, ran.info.success);
    EXPECT_GE(ran.info.duration_us, 300000u);
    EXPECT_LT(ran.info.duration_us, 4000000u) << "the run waited out the grace although it ended on TERM";
    EXPECT_LT(elapsed, 4000);
    EXPECT_EQ(PK_ERR_TIMEOUT, ran.check);
    EXPECT_NE(std::string::npos, ran.check_msg.find("300")) << ran.check_msg;
    EXPECT_NE(std::string::npos, ran.check_msg.find("bye")) << ran.check_msg;
}

TEST_F(Run, TimeoutForced) {
    Cmd cmd = Sh("trap '' TERM; sleep 30 & wait");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_timeout(cmd.get(), 300, SIGTERM, 300));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_TIMED_OUT, ran.info.outcome);
    EXPECT_EQ(SIGKILL, ran.info.signal);
    EXPECT_GE(ran.info.duration_us, 500000u);
    EXPECT_LT(ran.info.duration_us, static_cast<uint64_t>(kLongMs) * 1000u);
    EXPECT_EQ(PK_ERR_TIMEOUT, ran.check);
}

TEST_F(Run, TimeoutNotReachedIsANormalExit) {
    Cmd cmd = NewCmd({"true"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_timeout(cmd.get(), 5000, 0, 100));
    Ran ran = RunCmd(cmd.get());
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_LT(ran.info.duration_us, 4000000u);
}

// ===========================================================================
// 6. cancellation

// Waits (bounded) until thread `tid` of this process sits in an epoll wait.
bool WaitInEpoll(pid_t tid, int timeout_ms) {
    std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
    auto t0 = Clock::now();
    while (MsSince(t0) < timeout_ms) {
        std::string text = ReadText(path);
        if (text.empty())
            return false;  // not readable here: the caller falls back
        long nr = strtol(text.c_str(), nullptr, 10);
        if (nr == SYS_epoll_wait || nr == SYS_epoll_pwait
#ifdef SYS_epoll_pwait2
            || nr == SYS_epoll_pwait2
#endif
        )
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
}

TEST_F(Run, ProcessCancelFromAnotherThread) {
    Loop loop = NewLoop();
    Cmd cmd = NewCmd({"sleep", "30"});
    ASSERT_TRUE(loop && cmd);
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    const pid_t loop_tid = static_cast<pid_t>(syscall(SYS_gettid));
    std::atomic<int> cancel_rc{-100};
    std::thread canceller([&] {
        if (!WaitInEpoll(loop_tid, kLongMs))
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        cancel_rc = pk_process_cancel(p.get());
    });
    auto t0 = Clock::now();
    pk_process* all[] = {p.get()};
    int rc = pk_loop_wait_all(loop.get(), all, 1, 20000);
    int64_t elapsed = MsSince(t0);
    canceller.join();
    ASSERT_EQ(PK_OK, rc) << pk_last_error();
    EXPECT_EQ(PK_OK, cancel_rc.load());
    EXPECT_LT(elapsed, kLongMs);
    Ran ran = ResultOf(p.get());
    EXPECT_EQ(PK_OUTCOME_CANCELLED, ran.info.outcome);
    EXPECT_EQ(SIGKILL, ran.info.signal);
    EXPECT_EQ(0, ran.info.success);
    EXPECT_EQ(PK_ERR_CANCELLED, ran.check);
    // Cancelling a finished run changes nothing.
    EXPECT_PK_OK(pk_process_cancel(p.get()));
    EXPECT_EQ(PK_OUTCOME_CANCELLED, ResultOf(p.get()).info.outcome);
}

TEST_F(Run, CancelTokenStopsBlockingRun) {
    Cancel token = NewCancel();
    Cmd cmd = Sh("echo started; exec sleep 30");
    ASSERT_TRUE(token && cmd);
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    struct Started {
        std::mutex mu;
        std::condition_variable cv;
        bool yes = false;
    } started;
    ASSERT_PK_OK(pk_command_on_line(
        cmd.get(), PK_STREAM_STDOUT,
        [](void* user, int32_t, const char* line, size_t len) {
            auto* s = static_cast<Started*>(user);
            if (std::string(line, len) == "started") {
                std::lock_guard<std::mutex> lock(s->mu);
                s->yes = true;
                s->cv.notify_all();
            }
        },
        &started));
    std::atomic<int> trigger_rc{-100};
    std::thread canceller([&] {
        std::unique_lock<std::mutex> lock(started.mu);
        started.cv.wait_for(lock, std::chrono::milliseconds(kLongMs), [&] { return started.yes; });
        lock.unlock();
        trigger_rc = pk_cancel_trigger(token.get());
    });
    auto t0 = Clock::now();
    Ran ran = RunCmd(cmd.get());
    int64_t elapsed = MsSince(t0);
    canceller.join();
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OK, trigger_rc.load());
    EXPECT_TRUE(started.yes);
    EXPECT_LT(elapsed, 2 * kLongMs);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, ran.info.outcome);
    EXPECT_EQ(PK_ERR_CANCELLED, ran.check);
    EXPECT_EQ("started\n", ran.out);
    // Triggering again is harmless.
    EXPECT_PK_OK(pk_cancel_trigger(token.get()));
}

TEST_F(Run, CancelTokenTriggeredBeforeStart) {
    Cancel token = NewCancel();
    std::string marker = tmp_.File("ran");
    Cmd cmd = Sh("touch '" + marker + "'");
    Loop loop = NewLoop();
    ASSERT_TRUE(token && cmd && loop);
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));

    pk_process* p = nullptr;
    EXPECT_PK_ERR(PK_ERR_CANCELLED, pk_loop_start(loop.get(), cmd.get(), nullptr, &p));
    EXPECT_EQ(nullptr, p);
    pk_result* r = nullptr;
    EXPECT_PK_ERR(PK_ERR_CANCELLED, pk_command_run(cmd.get(), &r));
    EXPECT_EQ(nullptr, r);
    EXPECT_FALSE(PathExists(marker)) << "the command ran although its token was triggered";
    EXPECT_TRUE(NoChildren());

    // Detached, the command runs again.
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), nullptr));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_TRUE(PathExists(marker));
}

// One token cancels every run watching it, also several on the same loop.
TEST_F(Run, OneTokenSeveralRunsOnOneLoop) {
    Cancel token = NewCancel();
    Cmd cmd = NewCmd({"sleep", "30"});
    Loop loop = NewLoop();
    ASSERT_TRUE(token && cmd && loop);
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    pk_process* a = nullptr;
    pk_process* b = nullptr;
    ASSERT_PK_OK(pk_loop_start(loop.get(), cmd.get(), nullptr, &a));
    Proc pa(a);
    int rc = pk_loop_start(loop.get(), cmd.get(), nullptr, &b);
    EXPECT_EQ(PK_OK, rc) << "second run on the same token: " << pk_last_error();
    Proc pb(b);
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    std::vector<pk_process*> all = {a};
    if (b)
        all.push_back(b);
    // Bounded: a run the token no longer reaches would otherwise sleep 30 s.
    int wait_rc = pk_loop_wait_all(loop.get(), all.data(), all.size(), 3000);
    EXPECT_EQ(PK_OK, wait_rc) << "the token did not end every run watching it: " << pk_last_error();
    EXPECT_TRUE(Done(a)) << "the first run ignored the triggered token";
    if (wait_rc != PK_OK) {
        for (pk_process* p : all)
            EXPECT_PK_OK(pk_process_cancel(p));
        ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all.data(), all.size(), kLongMs));
    }
    for (pk_process* p : all)
        EXPECT_EQ(PK_OUTCOME_CANCELLED, ResultOf(p).info.outcome);
}

// Two runs of one token on one loop, one after the other: the first ending
// must not detach the token from the next.
TEST_F(Run, TokenReusedOnOneLoopAfterARunEnds) {
    Cancel token = NewCancel();
    Cmd quick = NewCmd({"true"});
    Cmd slow = NewCmd({"sleep", "30"});
    Loop loop = NewLoop();
    ASSERT_TRUE(token && quick && slow && loop);
    ASSERT_PK_OK(pk_command_cancel_on(quick.get(), token.get()));
    ASSERT_PK_OK(pk_command_cancel_on(slow.get(), token.get()));
    Proc q = Start(loop.get(), quick.get());
    ASSERT_TRUE(q);
    pk_process* first[] = {q.get()};
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), first, 1, kLongMs));
    Proc s = Start(loop.get(), slow.get());
    ASSERT_TRUE(s);
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    pk_process* second[] = {s.get()};
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), second, 1, kLongMs));
    EXPECT_EQ(PK_OUTCOME_CANCELLED, ResultOf(s.get()).info.outcome);
    EXPECT_EQ(PK_OUTCOME_EXITED, ResultOf(q.get()).info.outcome);
}

// ===========================================================================
// 7. overflow policies

TEST_F(Run, OverflowPolicies) {
    Cmd cmd = NewCmd({"printf", "0123456789abcdef"});
    ASSERT_TRUE(cmd);

    ASSERT_PK_OK(pk_command_output_limit(cmd.get(), PK_STREAM_STDOUT, 10, PK_OVERFLOW_KEEP_HEAD));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("0123456789", ran.out);
    EXPECT_EQ(1, ran.info.stdout_truncated);
    EXPECT_EQ(0, ran.info.stderr_truncated);
    EXPECT_EQ(16u, ran.info.stdout_bytes);
    EXPECT_EQ(0, ran.info.overflowed);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;

    ASSERT_PK_OK(pk_command_output_limit(cmd.get(), PK_STREAM_STDOUT, 10, PK_OVERFLOW_KEEP_TAIL));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("6789abcdef", ran.out);
    EXPECT_EQ(1, ran.info.stdout_truncated);
    EXPECT_EQ(16u, ran.info.stdout_bytes);
    EXPECT_EQ(1, ran.info.success);

    ASSERT_PK_OK(pk_command_output_limit(cmd.get(), PK_STREAM_STDOUT, 10, PK_OVERFLOW_ERROR));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("0123456789", ran.out);
    EXPECT_EQ(1, ran.info.stdout_truncated);
    EXPECT_EQ(1, ran.info.overflowed);
    EXPECT_EQ(0, ran.info.success);
    EXPECT_EQ(0, ran.info.exit_code);
    EXPECT_EQ(PK_ERR_OVERFLOW, ran.check);
    EXPECT_NE(std::string::npos, ran.check_msg.find("printf")) << ran.check_msg;

    // Exactly at the cap is not an overflow, under any policy.
    for (int policy : {PK_OVERFLOW_KEEP_HEAD, PK_OVERFLOW_KEEP_TAIL, PK_OVERFLOW_ERROR}) {
        SCOPED_TRACE(policy);
        ASSERT_PK_OK(pk_command_output_limit(cmd.get(), PK_STREAM_STDOUT, 16, policy));
        ran = RunCmd(cmd.get());
        EXPECT_EQ("0123456789abcdef", ran.out);
        EXPECT_EQ(0, ran.info.stdout_truncated);
        EXPECT_EQ(0, ran.info.overflowed);
        EXPECT_EQ(1, ran.info.success);
    }

    // A cap on stderr, with stdout uncapped.
    Cmd both = Sh("printf 0123456789abcdef; printf 0123456789abcdef >&2");
    ASSERT_TRUE(both);
    ASSERT_PK_OK(pk_command_output_limit(both.get(), PK_STREAM_STDERR, 4, PK_OVERFLOW_KEEP_TAIL));
    ran = RunCmd(both.get());
    EXPECT_EQ("0123456789abcdef", ran.out);
    EXPECT_EQ("cdef", ran.err);
    EXPECT_EQ(0, ran.info.stdout_truncated);
    EXPECT_EQ(1, ran.info.stderr_truncated);
    EXPECT_EQ(16u, ran.info.stderr_bytes);
}

TEST_F(Run, OverflowTailAcrossManyWrites) {
    // Many small writes through a tail cap: the ring must come out in order.
    Cmd cmd = Sh("i=0; while [ $i -lt 300 ]; do printf '%04d,' $i; i=$((i+1)); done");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_output_limit(cmd.get(), PK_STREAM_STDOUT, 37, PK_OVERFLOW_KEEP_TAIL));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    std::string all;
    for (int i = 0; i < 300; i++) {
        char buf[8];
        snprintf(buf, sizeof buf, "%04d,", i);
        all += buf;
    }
    EXPECT_EQ(all.substr(all.size() - 37), ran.out);
    EXPECT_EQ(all.size(), ran.info.stdout_bytes);
    // And a head cap larger than one read chunk.
    Cmd big = NewCmd({"head", "-c", "300000", "/dev/urandom"});
    ASSERT_TRUE(big);
    ASSERT_PK_OK(pk_command_output_limit(big.get(), PK_STREAM_STDOUT, 100000, PK_OVERFLOW_KEEP_HEAD));
    ran = RunCmd(big.get());
    EXPECT_EQ(100000u, ran.out.size());
    EXPECT_EQ(300000u, ran.info.stdout_bytes);
    EXPECT_EQ(1, ran.info.stdout_truncated);
}

TEST_F(Run, BinarySafeAll256Bytes) {
    std::string bytes;
    for (int rep = 0; rep < 4; rep++)
        for (int i = 0; i < 256; i++)
            bytes.push_back(static_cast<char>(i));
    Cmd cmd = NewCmd({"cat"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_stdin_bytes(cmd.get(), bytes.data(), bytes.size()));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_TRUE(bytes == ran.out) << "lengths " << bytes.size() << " vs " << ran.out.size();
    // Through stderr, and through a capped tail.
    Cmd err = Sh("cat >&2");
    ASSERT_TRUE(err);
    ASSERT_PK_OK(pk_command_stdin_bytes(err.get(), bytes.data(), bytes.size()));
    ASSERT_PK_OK(pk_command_output_limit(err.get(), PK_STREAM_STDERR, 256, PK_OVERFLOW_KEEP_TAIL));
    ran = RunCmd(err.get());
    EXPECT_TRUE(bytes.substr(768) == ran.err);
}

// ===========================================================================
// 8. line callbacks

TEST_F(Run, LinesSplitAcrossChunks) {
    Cmd cmd = Sh("printf ab; sleep 0.1; printf 'c\\nd'");
    ASSERT_TRUE(cmd);
    Lines lines;
    ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, CollectLine, &lines));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("abc\nd", ran.out) << "line callbacks must not take bytes from the capture";
    EXPECT_EQ((std::vector<std::string>{"abc", "d"}), lines.Of(PK_STREAM_STDOUT));
    EXPECT_TRUE(lines.Of(PK_STREAM_STDERR).empty());
}

TEST_F(Run, LinesWithAndWithoutTrailingNewline) {
    struct Case {
        const char* script;
        std::vector<std::string> want;
    } cases[] = {
        {"printf 'x\\ny\\n'", {"x", "y"}},
        {"printf 'x\\ny'", {"x", "y"}},
        {"printf 'x\\n\\ny\\n'", {"x", "", "y"}},
        {"printf '\\n'", {""}},
        {"true", {}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.script);
        Cmd cmd = Sh(c.script);
        ASSERT_TRUE(cmd);
        Lines out, err;
        ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, CollectLine, &out));
        ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDERR, CollectLine, &err));
        Ran ran = RunCmd(cmd.get());
        ASSERT_RAN(ran);
        EXPECT_EQ(c.want, out.Of(PK_STREAM_STDOUT));
        EXPECT_TRUE(err.got.empty());
    }
}

TEST_F(Run, PerStreamAndEventCallbacks) {
    Cmd cmd = Sh("for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf out-last; printf err-last >&2");
    ASSERT_TRUE(cmd);
    Lines out, err, events;
    ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, CollectLine, &out));
    ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDERR, CollectLine, &err));
    ASSERT_PK_OK(pk_command_on_event(cmd.get(), CollectLine, &events));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    std::vector<std::string> want_out = {"out1", "out2", "out3", "out4", "out5", "out-last"};
    std::vector<std::string> want_err = {"err1", "err2", "err3", "err4", "err5", "err-last"};
    // Per-stream callbacks see only their stream.
    EXPECT_EQ(want_out, out.Of(PK_STREAM_STDOUT));
    EXPECT_TRUE(out.Of(PK_STREAM_STDERR).empty());
    EXPECT_EQ(want_err, err.Of(PK_STREAM_STDERR));
    EXPECT_TRUE(err.Of(PK_STREAM_STDOUT).empty());
    // The event callback sees both, tagged, each stream in its own order.
    EXPECT_EQ(12u, events.got.size());
    EXPECT_EQ(want_out, events.Of(PK_STREAM_STDOUT));
    EXPECT_EQ(want_err, events.Of(PK_STREAM_STDERR));
    // Capture is unaffected.
    EXPECT_EQ("out1\nout2\nout3\nout4\nout5\nout-last", ran.out);

    // NULL removes a callback.
    ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, nullptr, nullptr));
    ASSERT_PK_OK(pk_command_on_event(cmd.get(), nullptr, nullptr));
    out.got.clear();
    err.got.clear();
    events.got.clear();
    ran = RunCmd(cmd.get());
    EXPECT_TRUE(out.got.empty());
    EXPECT_TRUE(events.got.empty());
    EXPECT_EQ(want_err, err.Of(PK_STREAM_STDERR));
}

TEST_F(Run, MergedLinesAreTaggedStdout) {
    Cmd cmd = Sh("echo a; echo b >&2; echo c");
    ASSERT_TRUE(cmd);
    Lines events;
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDERR, PK_OUTPUT_MERGE, -1));
    ASSERT_PK_OK(pk_command_on_event(cmd.get(), CollectLine, &events));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ((std::vector<std::string>{"a", "b", "c"}), events.Of(PK_STREAM_STDOUT));
    EXPECT_TRUE(events.Of(PK_STREAM_STDERR).empty());
}

TEST_F(Run, EndlessLineComesInBoundedPieces) {
    const size_t n = 2500000;
    Cmd cmd = Sh("head -c " + std::to_string(n) + " /dev/zero | tr '\\0' x");
    ASSERT_TRUE(cmd);
    struct Sizes {
        std::vector<size_t> v;
        bool all_x = true;
    } sizes;
    ASSERT_PK_OK(pk_command_on_line(
        cmd.get(), PK_STREAM_STDOUT,
        [](void* user, int32_t, const char* line, size_t len) {
            auto* s = static_cast<Sizes*>(user);
            s->v.push_back(len);
            for (size_t i = 0; i < len; i++)
                if (line[i] != 'x')
                    s->all_x = false;
        },
        &sizes));
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDOUT, PK_OUTPUT_CAPTURE, -1));
    ASSERT_PK_OK(pk_command_output_limit(cmd.get(), PK_STREAM_STDOUT, 16, PK_OVERFLOW_KEEP_HEAD));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    size_t total = 0;
    for (size_t s : sizes.v) {
        EXPECT_LE(s, size_t{1} << 20);
        EXPECT_GT(s, 0u);
        total += s;
    }
    EXPECT_EQ(n, total);
    EXPECT_GE(sizes.v.size(), 3u);
    EXPECT_TRUE(sizes.all_x);
}

// ===========================================================================
// 9. wait-any

TEST_F(Run, WaitAnyReturnsTheFirstAndTheRestStayUsable) {
    Loop loop = NewLoop();
    Cmd slow = NewCmd({"sleep", "5"});
    Cmd fast = NewCmd({"sleep", "0.2"});
    ASSERT_TRUE(loop && slow && fast);
    Proc ps = Start(loop.get(), slow.get());
    Proc pf = Start(loop.get(), fast.get());
    ASSERT_TRUE(ps && pf);
    pk_process* both[] = {ps.get(), pf.get()};
    size_t index = 99;
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_loop_wait_any(loop.get(), both, 2, kLongMs, &index));
    EXPECT_LT(MsSince(t0), 4000);
    EXPECT_EQ(1u, index);
    EXPECT_TRUE(Done(pf.get()));
    EXPECT_FALSE(Done(ps.get()));
    Ran fast_ran = ResultOf(pf.get());
    EXPECT_EQ(PK_OUTCOME_EXITED, fast_ran.info.outcome);
    EXPECT_EQ(1, fast_ran.info.success);

    // The loser still runs and stays usable.
    int32_t pid = 0;
    ASSERT_PK_OK(pk_process_pid(ps.get(), &pid));
    pktest::ProcId loser = pktest::Identify(pid);
    EXPECT_TRUE(pktest::Alive(loser));
    pk_result* r = nullptr;
    EXPECT_PK_ERR(PK_ERR_STATE, pk_process_result(ps.get(), &r));
    EXPECT_EQ(nullptr, r);
    // Waiting for a finished one returns at once with its index.
    index = 99;
    ASSERT_PK_OK(pk_loop_wait_any(loop.get(), both, 2, 0, &index));
    EXPECT_EQ(1u, index);
    // A short wait on the loser alone times out, and nothing changes.
    pk_process* loser_only[] = {ps.get()};
    EXPECT_PK_ERR(PK_ERR_TIMEOUT, pk_loop_wait_any(loop.get(), loser_only, 1, 50, &index));
    EXPECT_PK_ERR(PK_ERR_TIMEOUT, pk_loop_wait_all(loop.get(), both, 2, 50));
    EXPECT_FALSE(Done(ps.get()));

    ASSERT_PK_OK(pk_process_cancel(ps.get()));
    t0 = Clock::now();
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), loser_only, 1, kLongMs));
    EXPECT_LT(MsSince(t0), 4000);
    EXPECT_TRUE(Done(ps.get()));
    EXPECT_EQ(PK_OUTCOME_CANCELLED, ResultOf(ps.get()).info.outcome);
    EXPECT_TRUE(pktest::WaitDead(loser, kLongMs));
}

// ===========================================================================
// 10. output flood through a small cap

TEST_F(Run, FloodThroughSmallTailCapStaysSmall) {
    std::string expected;
    for (int i = 1; i <= 100000; i++)
        expected += std::to_string(i) + "\n";
    long rss_before = VmRssKb();
    ASSERT_GT(rss_before, 0);

    Cmd cmd = NewCmd({"seq", "1", "100000"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_output_limit(cmd.get(), PK_STREAM_STDOUT, 1000, PK_OVERFLOW_KEEP_TAIL));
    struct Count {
        size_t lines = 0;
        std::string last;
    } count;
    ASSERT_PK_OK(pk_command_on_line(
        cmd.get(), PK_STREAM_STDOUT,
        [](void* user, int32_t, const char* line, size_t len) {
            auto* c = static_cast<Count*>(user);
            c->lines++;
            c->last.assign(line, len);
        },
        &count));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(expected.substr(expected.size() - 1000), ran.out);
    EXPECT_EQ(expected.size(), ran.info.stdout_bytes);
    EXPECT_EQ(1, ran.info.stdout_truncated);
    EXPECT_EQ(100000u, count.lines);
    EXPECT_EQ("100000", count.last);

    // A bigger flood (64 MiB) through the same cap, with no line callback.
    ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, nullptr, nullptr));
    Cmd zero = NewCmd({"head", "-c", "67108864", "/dev/zero"});
    ASSERT_TRUE(zero);
    ASSERT_PK_OK(pk_command_output_limit(zero.get(), PK_STREAM_STDOUT, 1000, PK_OVERFLOW_KEEP_TAIL));
    ran = RunCmd(zero.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(std::string(1000, '\0'), ran.out);
    EXPECT_EQ(67108864u, ran.info.stdout_bytes);

    long rss_after = VmRssKb();
    EXPECT_LT(rss_after - rss_before, 50 * 1024) << "VmRSS grew from " << rss_before << " to " << rss_after << " KiB";
}

// ===========================================================================
// 11. a pipe held open by a grandchild

// The grandchild prints its pid; the callback identifies it while the script
// is held on a FIFO, then releases the script, which exits while the
// grandchild still holds stdout open.
struct Grandchild {
    std::string fifo;
    std::vector<pktest::ProcId> ids;
    bool released = false;
};

void IdentifyAndRelease(void* user, int32_t, const char* line, size_t len) {
    auto* g = static_cast<Grandchild*>(user);
    std::string text(line, len);
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
        return;
    g->ids.push_back(pktest::Identify(static_cast<pid_t>(atoi(text.c_str()))));
    auto t0 = Clock::now();
    while (MsSince(t0) < kLongMs) {
        int fd = open(g->fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            g->released = write(fd, "go\n", 3) == 3;
            close(fd);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the script has not opened it yet
    }
}

class RunGrandchild : public Run, public ::testing::WithParamInterface<std::pair<int, bool>> {};

TEST_P(RunGrandchild, PipeHeldByGrandchildDoesNotBlock) {
    const int backend = GetParam().first;
    const bool setsid = GetParam().second;
    Grandchild g;
    g.fifo = tmp_.File("go.fifo");
    ASSERT_EQ(0, mkfifo(g.fifo.c_str(), 0600));
    std::string script = std::string(setsid ? "setsid " : "") + "sh -c 'echo $$; exec sleep 30' & read x < '" +
                         g.fifo + "'; echo started";
    Cmd cmd = Sh(script);
    ASSERT_TRUE(cmd);
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.backend = backend;
    ASSERT_PK_OK(pk_command_group_options(cmd.get(), &o));
    ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, IdentifyAndRelease, &g));
    auto t0 = Clock::now();
    Ran ran = RunCmd(cmd.get());
    int64_t elapsed = MsSince(t0);
    for (const pktest::ProcId& id : g.ids)
        if (id.start_time)
            strays_.push_back(id);
    ASSERT_RAN(ran);
    EXPECT_LT(elapsed, 5000) << "pk_command_run waited for the grandchild holding the pipe";
    ASSERT_EQ(1u, g.ids.size()) << "stdout: " << ran.out;
    EXPECT_NE(0u, g.ids[0].start_time) << "the grandchild was gone before it was identified";
    EXPECT_TRUE(g.released);
    EXPECT_NE(std::string::npos, ran.out.find("started\n")) << ran.out;
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(1, ran.info.success);
    // Dead by the time the run returned (allow a moment for the kernel to
    // finish a kill already delivered).
    EXPECT_TRUE(pktest::WaitDead(g.ids[0], 1000)) << "the grandchild survived the run";
}

std::string GrandchildName(const ::testing::TestParamInfo<std::pair<int, bool>>& info) {
    return std::string(info.param.first == PK_BACKEND_PROCESS_GROUP ? "ProcessGroup" : "CgroupV2") +
           (info.param.second ? "Setsid" : "Plain");
}

// The setsid escaper is contained on cgroup v2 only, so it is not tried on the
// process-group backend.
INSTANTIATE_TEST_SUITE_P(Backends, RunGrandchild,
                         ::testing::Values(std::make_pair(static_cast<int>(PK_BACKEND_AUTO), false),
                                           std::make_pair(static_cast<int>(PK_BACKEND_AUTO), true),
                                           std::make_pair(static_cast<int>(PK_BACKEND_PROCESS_GROUP), false)),
                         GrandchildName);

// ===========================================================================
// 12. no deadlock with all three pipes full

TEST_F(Run, NoDeadlockWithBigStdinStdoutStderr) {
    const size_t n = 8 << 20;
    std::string in(n, 'i');
    std::string count = tmp_.File("count");
    Cmd cmd = Sh("exec 3<&0; cat <&3 | wc -c > '" + count + "' & exec 3<&-; head -c " + std::to_string(n) +
                 " /dev/zero; head -c " + std::to_string(n) + " /dev/zero >&2; wait");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_stdin_bytes(cmd.get(), in.data(), in.size()));
    ASSERT_PK_OK(pk_command_timeout(cmd.get(), 60000, SIGKILL, 0));  // a deadlock must not hang the suite
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(n, ran.out.size());
    EXPECT_EQ(n, ran.err.size());
    EXPECT_EQ(n, ran.info.stdout_bytes);
    EXPECT_EQ(n, ran.info.stderr_bytes);
    EXPECT_EQ(std::string::npos, ran.out.find_first_not_of('\0'));
    EXPECT_EQ(std::string::npos, ran.err.find_first_not_of('\0'));
    EXPECT_EQ(std::to_string(n), std::to_string(atoll(ReadText(count).c_str())));
}

// ===========================================================================
// 13. loop embedding

TEST_F(Run, LoopFdTurnsReadableWhenAChildExits) {
    Loop loop = NewLoop();
    Cmd cmd = NewCmd({"sleep", "0.2"});
    ASSERT_TRUE(loop && cmd);
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDOUT, PK_OUTPUT_NULL, -1));
    ASSERT_PK_OK(pk_command_output(cmd.get(), PK_STREAM_STDERR, PK_OUTPUT_NULL, -1));
    int fd = -1;
    ASSERT_PK_OK(pk_loop_fd(loop.get(), &fd));
    ASSERT_GE(fd, 0);
    int fd2 = -1;
    ASSERT_PK_OK(pk_loop_fd(loop.get(), &fd2));
    EXPECT_EQ(fd, fd2);
    // Nothing to do on an idle loop.
    struct pollfd pfd = {fd, POLLIN, 0};
    EXPECT_EQ(0, poll(&pfd, 1, 0));
    EXPECT_PK_OK(pk_loop_run_once(loop.get(), 0));

    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    pfd.revents = 0;
    EXPECT_EQ(0, poll(&pfd, 1, 0)) << "readable while the child still runs";
    EXPECT_FALSE(Done(p.get()));
    pfd.revents = 0;
    auto t0 = Clock::now();
    ASSERT_EQ(1, poll(&pfd, 1, kLongMs)) << "the loop fd never turned readable";
    EXPECT_TRUE(pfd.revents & POLLIN);
    EXPECT_GE(MsSince(t0), 100);
    EXPECT_FALSE(Done(p.get())) << "finished without the loop being driven";
    ASSERT_PK_OK(pk_loop_run_once(loop.get(), 0));
    EXPECT_TRUE(Done(p.get()));
    Ran ran = ResultOf(p.get());
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(1, ran.info.success);
    pfd.revents = 0;
    EXPECT_EQ(0, poll(&pfd, 1, 0)) << "still readable after the run was handled";
}

// ===========================================================================
// 14. many processes on one loop

TEST_F(Run, ManyRunsOnOneLoop) {
    Loop loop = NewLoop();
    ASSERT_TRUE(loop);
    std::vector<Cmd> cmds;
    std::vector<Proc> procs;
    std::vector<pk_process*> raw;
    for (int i = 0; i < 20; i++) {
        cmds.push_back(NewCmd({"sh", "-c", "echo $1; echo e$1 >&2; exit $(($1 % 3))", "sh", std::to_string(i)}));
        ASSERT_TRUE(cmds.back());
        procs.push_back(Start(loop.get(), cmds.back().get()));
        ASSERT_TRUE(procs.back());
        raw.push_back(procs.back().get());
    }
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), raw.data(), raw.size(), 3 * kLongMs));
    std::vector<int32_t> pids;
    for (int i = 0; i < 20; i++) {
        SCOPED_TRACE(i);
        Ran ran = ResultOf(raw[i]);
        ASSERT_RAN(ran);
        EXPECT_EQ(std::to_string(i) + "\n", ran.out);
        EXPECT_EQ("e" + std::to_string(i) + "\n", ran.err);
        EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
        EXPECT_EQ(i % 3, ran.info.exit_code);
        EXPECT_EQ(i % 3 == 0 ? 1 : 0, ran.info.success);
        pids.push_back(ran.info.pid);
    }
    std::sort(pids.begin(), pids.end());
    EXPECT_EQ(pids.end(), std::adjacent_find(pids.begin(), pids.end())) << "two runs report the same pid";
}

// A process freed while it runs is cancelled, and the loop still reaps it.
TEST_F(Run, FreeingRunningProcessAndLoop) {
    Loop loop = NewLoop();
    Cmd cmd = NewCmd({"sleep", "30"});
    ASSERT_TRUE(loop && cmd);
    pk_process* p = nullptr;
    ASSERT_PK_OK(pk_loop_start(loop.get(), cmd.get(), nullptr, &p));
    int32_t pid = 0;
    ASSERT_PK_OK(pk_process_pid(p, &pid));
    pktest::ProcId id = pktest::Identify(pid);
    ASSERT_PK_OK(pk_process_free(p));
    EXPECT_TRUE(pktest::WaitDead(id, kLongMs));
    // A second process left running when the loop is freed.
    pk_process* q = nullptr;
    ASSERT_PK_OK(pk_loop_start(loop.get(), cmd.get(), nullptr, &q));
    Proc pq(q);
    auto t0 = Clock::now();
    loop.reset();
    EXPECT_LT(MsSince(t0), kLongMs);
    EXPECT_TRUE(Done(q));
    EXPECT_EQ(PK_OUTCOME_CANCELLED, ResultOf(q).info.outcome);
}

// Freeing the loop from inside one of its callbacks is refused, not a crash.
struct FreeFromCallback {
    pk_loop* loop = nullptr;
    int rc = -100;
    std::string msg;
};

TEST_F(Run, LoopFreeInsideCallbackIsRefused) {
    Loop loop = NewLoop();
    Cmd cmd = Sh("echo hi");
    ASSERT_TRUE(loop && cmd);
    FreeFromCallback ctx;
    ctx.loop = loop.get();
    ASSERT_PK_OK(pk_command_on_line(
        cmd.get(), PK_STREAM_STDOUT,
        [](void* user, int32_t, const char*, size_t) {
            auto* c = static_cast<FreeFromCallback*>(user);
            c->rc = pk_loop_free(c->loop);
            c->msg = pk_last_error();
        },
        &ctx));
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    pk_process* all[] = {p.get()};
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, kLongMs));
    EXPECT_EQ(PK_ERR_STATE, ctx.rc) << ctx.msg;
    EXPECT_EQ(1, ResultOf(p.get()).info.success);
    // The loop is intact and is freed normally by its owner.
}

// In a shared group the rest of the tree is not the run's to kill: a
// grandchild holding stdout is waited for a while, then the pipe is abandoned;
// the grandchild lives until the group is freed.
TEST_F(Run, SharedGroupAbandonsPipeHeldByGrandchild) {
    pk_group* g = nullptr;
    ASSERT_PK_OK(pk_group_create(nullptr, &g));
    Loop loop = NewLoop();
    Cmd cmd = Sh("sleep 30 & echo $!");
    ASSERT_TRUE(loop && cmd);
    Proc p = Start(loop.get(), cmd.get(), g);
    ASSERT_TRUE(p);
    pk_process* all[] = {p.get()};
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, 3 * kLongMs));
    int64_t elapsed = MsSince(t0);
    Ran ran = ResultOf(p.get());
    EXPECT_LT(elapsed, kLongMs);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(1, ran.info.success);
    pktest::ProcId gc = pktest::Identify(static_cast<pid_t>(atoi(ran.out.c_str())));
    EXPECT_NE(0u, gc.start_time) << "the grandchild of a shared group died with the run; out: " << ran.out;
    if (gc.start_time)
        strays_.push_back(gc);
    EXPECT_PK_OK(pk_group_free(g));
    EXPECT_TRUE(pktest::WaitDead(gc, kLongMs)) << "the grandchild survived pk_group_free";
}

// ===========================================================================
// 15. no leaks

TEST_F(Run, TwoHundredRunsLeakNothing) {
    Cmd cmd = NewCmd({"true"});
    ASSERT_TRUE(cmd);
    // One run first, so anything the library sets up once is in place.
    ASSERT_EQ(1, RunCmd(cmd.get()).info.success);
    int fds = pktest::OpenFdCount();
    long rss = VmRssKb();
    for (int i = 0; i < 200; i++) {
        Ran ran = RunCmd(cmd.get());
        ASSERT_RAN(ran);
        ASSERT_EQ(1, ran.info.success) << "run " << i;
    }
    EXPECT_EQ(fds, pktest::OpenFdCount());
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
    EXPECT_TRUE(NoChildren());
    EXPECT_LT(VmRssKb() - rss, 20 * 1024);
}

// ===========================================================================
// 16. bad input

// Every run-API function that takes a handle, against handles that are not
// (or no longer) valid ones of the expected type.
void ExpectRunHandleErrors(pk_command* cmd, pk_loop* loop, pk_process* proc, pk_result* res, pk_cancel* tok,
                           const char* what) {
    SCOPED_TRACE(what);
    int fd = -7;
    int32_t i32 = -7;
    size_t index = 99;
    pk_process* out_proc = nullptr;
    pk_result* out_res = nullptr;
    pk_run_info info = PK_RUN_INFO_INIT;
    info.outcome = 77;
    const uint8_t* data = nullptr;
    size_t len = 99;
    pk_group_options go = PK_GROUP_OPTIONS_INIT;
    const int32_t codes[] = {0};

    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_arg(cmd, "x"));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_env(cmd, "K", "V"));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_env_unset(cmd, "K"));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_env_clear(cmd));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_cwd(cmd, "/"));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_flags(cmd, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_parent_death_signal(cmd, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_stdin_null(cmd));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_stdin_inherit(cmd));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_stdin_bytes(cmd, "x", 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_stdin_fd(cmd, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_stdin_file(cmd, "/dev/null"));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_stdin_pipe(cmd));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_output(cmd, PK_STREAM_STDOUT, PK_OUTPUT_NULL, -1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_output_limit(cmd, PK_STREAM_STDOUT, 10, PK_OVERFLOW_KEEP_HEAD));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_on_line(cmd, PK_STREAM_STDOUT, CollectLine, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_on_event(cmd, CollectLine, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_timeout(cmd, 10, 0, 10));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_ok_codes(cmd, codes, 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_group_options(cmd, &go));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_cancel_on(cmd, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_run(cmd, &out_res));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_free(cmd));

    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_cancel_trigger(tok));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_cancel_free(tok));

    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_loop_fd(loop, &fd));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_loop_run_once(loop, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_loop_start(loop, cmd, nullptr, &out_proc));
    pk_process* procs[] = {proc};
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_loop_wait_any(loop, procs, 1, 0, &index));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_loop_wait_all(loop, procs, 1, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_loop_free(loop));

    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_pid(proc, &i32));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_write(proc, "x", 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_close_stdin(proc));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_signal(proc, SIGTERM));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_cancel(proc));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_done(proc, &i32));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_result(proc, &out_res));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_free(proc));

    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_result_info(res, &info));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_result_output(res, PK_STREAM_STDOUT, &data, &len));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_result_check(res));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_result_free(res));

    // Out-parameters are written only on success.
    EXPECT_EQ(-7, fd);
    EXPECT_EQ(-7, i32);
    EXPECT_EQ(99u, index);
    EXPECT_EQ(nullptr, out_proc);
    EXPECT_EQ(nullptr, out_res);
    EXPECT_EQ(77, info.outcome);
    EXPECT_EQ(nullptr, data);
    EXPECT_EQ(99u, len);
}

TEST_F(Run, BadHandlesNull) {
    ExpectRunHandleErrors(nullptr, nullptr, nullptr, nullptr, nullptr, "NULL handles");
}

TEST_F(Run, BadHandlesFreedAndWrongType) {
    // One live object of each type, with a finished run.
    Loop loop = NewLoop();
    Cmd cmd = NewCmd({"true"});
    Cancel tok = NewCancel();
    ASSERT_TRUE(loop && cmd && tok);
    Proc proc = Start(loop.get(), cmd.get());
    ASSERT_TRUE(proc);
    pk_process* all[] = {proc.get()};
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, kLongMs));
    pk_result* res = nullptr;
    ASSERT_PK_OK(pk_process_result(proc.get(), &res));
    Result res_owner(res);

    // Every handle passed as the next type along (and groups/children too).
    ExpectRunHandleErrors(reinterpret_cast<pk_command*>(loop.get()), reinterpret_cast<pk_loop*>(cmd.get()),
                          reinterpret_cast<pk_process*>(res), reinterpret_cast<pk_result*>(proc.get()),
                          reinterpret_cast<pk_cancel*>(cmd.get()), "wrong types");
    ExpectRunHandleErrors(reinterpret_cast<pk_command*>(tok.get()), reinterpret_cast<pk_loop*>(proc.get()),
                          reinterpret_cast<pk_process*>(loop.get()), reinterpret_cast<pk_result*>(tok.get()),
                          reinterpret_cast<pk_cancel*>(res), "wrong types, shifted");
    pk_group* g = nullptr;
    ASSERT_PK_OK(pk_group_create(nullptr, &g));
    ExpectRunHandleErrors(reinterpret_cast<pk_command*>(g), reinterpret_cast<pk_loop*>(g),
                          reinterpret_cast<pk_process*>(g), reinterpret_cast<pk_result*>(g),
                          reinterpret_cast<pk_cancel*>(g), "a group as everything");
    // A run-API handle where a group is wanted, in pk_loop_start.
    pk_process* out = nullptr;
    EXPECT_PK_ERR(PK_ERR_HANDLE,
                  pk_loop_start(loop.get(), cmd.get(), reinterpret_cast<pk_group*>(cmd.get()), &out));
    EXPECT_EQ(nullptr, out);
    // A process of another loop in a wait.
    Loop other = NewLoop();
    size_t index = 99;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_wait_any(other.get(), all, 1, 0, &index));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_wait_all(other.get(), all, 1, 0));
    EXPECT_EQ(99u, index);
    // A token of the wrong type for cancel_on.
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_cancel_on(cmd.get(), reinterpret_cast<pk_cancel*>(loop.get())));

    // Every object still works.
    Ran ran = ResultOf(proc.get());
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(1, Describe(res).info.success);
    EXPECT_PK_OK(pk_cancel_trigger(tok.get()));
    EXPECT_PK_OK(pk_loop_run_once(loop.get(), 0));
    EXPECT_PK_OK(pk_command_arg(cmd.get(), "still-fine"));
    EXPECT_PK_OK(pk_group_free(g));

    // Now free them all and try again.
    pk_command* c = cmd.release();
    pk_loop* l = loop.release();
    pk_process* p = proc.release();
    pk_result* r = res_owner.release();
    pk_cancel* t = tok.release();
    ASSERT_PK_OK(pk_result_free(r));
    ASSERT_PK_OK(pk_process_free(p));
    ASSERT_PK_OK(pk_loop_free(l));
    ASSERT_PK_OK(pk_command_free(c));
    ASSERT_PK_OK(pk_cancel_free(t));
    ExpectRunHandleErrors(c, l, p, r, t, "freed handles");
    // Still invalid after new objects have taken slots.
    Loop l2 = NewLoop();
    Cmd c2 = NewCmd({"true"});
    Cancel t2 = NewCancel();
    ExpectRunHandleErrors(c, l, p, r, t, "freed handles, new objects live");
}

TEST_F(Run, BadValues) {
    pk_command* out = nullptr;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_new("", &out));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_new(nullptr, &out));
    EXPECT_EQ(nullptr, out);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_new("true", nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_new(nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_cancel_new(nullptr));

    Cmd cmd = NewCmd({"true"});
    Loop loop = NewLoop();
    ASSERT_TRUE(cmd && loop);
    pk_command* c = cmd.get();
    // Streams: stdin (0) and 3 are neither stdout nor stderr.
    for (int32_t stream : {0, 3, -1}) {
        SCOPED_TRACE(stream);
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_output(c, stream, PK_OUTPUT_CAPTURE, -1));
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_output_limit(c, stream, 10, PK_OVERFLOW_KEEP_HEAD));
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_on_line(c, stream, CollectLine, nullptr));
    }
    for (int32_t mode : {9, 5, -1}) {
        SCOPED_TRACE(mode);
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_output(c, PK_STREAM_STDOUT, mode, -1));
    }
    for (int32_t policy : {5, 3, -1}) {
        SCOPED_TRACE(policy);
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_output_limit(c, PK_STREAM_STDOUT, 10, policy));
    }
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_output(c, PK_STREAM_STDOUT, PK_OUTPUT_FD, -1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_output(c, PK_STREAM_STDOUT, PK_OUTPUT_FD, 100000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_output(c, PK_STREAM_STDOUT, PK_OUTPUT_MERGE, -1));
    // Environment keys.
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_env(c, "A=B", "v"));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_env(c, "", "v"));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_env(c, nullptr, "v"));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_env(c, "K", nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_env_unset(c, "A=B"));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_env_unset(c, ""));
    // Other setters.
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_arg(c, nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_cwd(c, ""));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_flags(c, 1u << 5));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_parent_death_signal(c, -1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_parent_death_signal(c, 1000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_stdin_bytes(c, nullptr, 3));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_stdin_fd(c, -1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_stdin_fd(c, 100000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_stdin_file(c, nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_stdin_file(c, ""));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_timeout(c, 10, -1, 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_timeout(c, 10, 1000, 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_ok_codes(c, nullptr, 2));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_group_options(c, nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_run(c, nullptr));
    // Loop calls.
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_fd(loop.get(), nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_run_once(loop.get(), -2));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_start(loop.get(), c, nullptr, nullptr));
    size_t index = 0;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_wait_any(loop.get(), nullptr, 0, 0, &index));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_wait_all(loop.get(), nullptr, 1, 0));

    // The command is still fine after all that and runs `true`.
    Ran ran = RunCmd(c);
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success);
}

TEST_F(Run, BadValuesOnRunsAndResults) {
    Loop loop = NewLoop();
    Cmd cmd = Sh("echo ready; exec sleep 30");
    ASSERT_TRUE(loop && cmd);
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    pk_result* r = nullptr;
    EXPECT_PK_ERR(PK_ERR_STATE, pk_process_result(p.get(), &r));
    EXPECT_EQ(nullptr, r);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_result(p.get(), nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_pid(p.get(), nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_done(p.get(), nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_signal(p.get(), 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_signal(p.get(), -1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_signal(p.get(), 1000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_write(p.get(), nullptr, 4));
    pk_process* all[] = {p.get()};
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_wait_any(loop.get(), all, 1, 0, nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_loop_wait_all(loop.get(), all, 1, -2));
    EXPECT_FALSE(Done(p.get()));
    ASSERT_PK_OK(pk_process_cancel(p.get()));
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, kLongMs));

    ASSERT_PK_OK(pk_process_result(p.get(), &r));
    Result owner(r);
    // A new handle each call; both usable, freed independently.
    pk_result* r2 = nullptr;
    ASSERT_PK_OK(pk_process_result(p.get(), &r2));
    EXPECT_NE(r, r2);
    EXPECT_PK_OK(pk_result_free(r2));
    const uint8_t* data = nullptr;
    size_t len = 0;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_result_output(r, PK_STREAM_STDIN, &data, &len));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_result_output(r, 3, &data, &len));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_result_output(r, PK_STREAM_STDOUT, nullptr, &len));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_result_output(r, PK_STREAM_STDOUT, &data, nullptr));
    EXPECT_EQ(nullptr, data);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_result_info(r, nullptr));
    // The result outlives the process handle.
    p.reset();
    pk_run_info info = PK_RUN_INFO_INIT;
    EXPECT_PK_OK(pk_result_info(r, &info));
    EXPECT_EQ(PK_OUTCOME_CANCELLED, info.outcome);
}

TEST_F(Run, MissingOrNonExecutableProgramLeavesNothing) {
    Cmd missing = NewCmd({"pktest-no-such-program-xyz"});
    ASSERT_TRUE(missing);
    Ran ran = RunCmd(missing.get());
    EXPECT_EQ(PK_ERR_NOT_FOUND, ran.rc) << ran.error;
    EXPECT_NE(std::string::npos, ran.error.find("pktest-no-such-program-xyz")) << ran.error;
    EXPECT_TRUE(NoChildren());
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());

    Cmd abs_missing = NewCmd({tmp_.File("nope")});
    ASSERT_TRUE(abs_missing);
    EXPECT_EQ(PK_ERR_NOT_FOUND, RunCmd(abs_missing.get()).rc);

    Cmd passwd = NewCmd({"/etc/passwd"});
    ASSERT_TRUE(passwd);
    ran = RunCmd(passwd.get());
    EXPECT_EQ(PK_ERR_PERMISSION, ran.rc) << ran.error;
    EXPECT_TRUE(NoChildren());
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());

    // Through a loop too: no process handle, and the loop stays usable.
    Loop loop = NewLoop();
    ASSERT_TRUE(loop);
    pk_process* p = nullptr;
    EXPECT_PK_ERR(PK_ERR_NOT_FOUND, pk_loop_start(loop.get(), missing.get(), nullptr, &p));
    EXPECT_PK_ERR(PK_ERR_PERMISSION, pk_loop_start(loop.get(), passwd.get(), nullptr, &p));
    EXPECT_EQ(nullptr, p);
    EXPECT_PK_OK(pk_loop_run_once(loop.get(), 0));
    Cmd ok = NewCmd({"true"});
    Proc good = Start(loop.get(), ok.get());
    ASSERT_TRUE(good);
    pk_process* all[] = {good.get()};
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, kLongMs));
    EXPECT_EQ(1, ResultOf(good.get()).info.success);
}

// pk_loop_wake from any thread: a wait the library drives ends with
// PK_ERR_CANCELLED and leaves the runs alone; a bare run_once returns PK_OK.
TEST_F(Run, LoopWakeEndsAWaitFromAnotherThread) {
    Loop loop = NewLoop();
    Cmd cmd = NewCmd({"sleep", "30"});
    pk_process* raw = nullptr;
    ASSERT_PK_OK(pk_loop_start(loop.get(), cmd.get(), nullptr, &raw));
    Proc p(raw);
    for (int round = 0; round < 3; round++) {
        std::thread waker([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            EXPECT_PK_OK(pk_loop_wake(loop.get()));
        });
        pk_process* all[] = {p.get()};
        auto t0 = Clock::now();
        EXPECT_PK_ERR(PK_ERR_CANCELLED, pk_loop_wait_all(loop.get(), all, 1, -1));
        waker.join();
        EXPECT_LT(MsSince(t0), 10000) << "round " << round;
        int32_t done = 1;
        ASSERT_PK_OK(pk_process_done(p.get(), &done));
        EXPECT_EQ(0, done) << "a wake must not end the run";
    }
    std::thread waker([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        EXPECT_PK_OK(pk_loop_wake(loop.get()));
    });
    EXPECT_PK_OK(pk_loop_run_once(loop.get(), -1));
    waker.join();
    // A wake is never lost: one that comes before the wait ends the next
    // wait at once, and only that one.
    ASSERT_PK_OK(pk_loop_wake(loop.get()));
    pk_process* one[] = {p.get()};
    auto t1 = Clock::now();
    EXPECT_PK_ERR(PK_ERR_CANCELLED, pk_loop_wait_all(loop.get(), one, 1, -1));
    EXPECT_LT(MsSince(t1), 5000);
    EXPECT_PK_ERR(PK_ERR_TIMEOUT, pk_loop_wait_all(loop.get(), one, 1, 200));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_loop_wake(nullptr));
    ASSERT_PK_OK(pk_process_cancel(p.get()));
    pk_process* all[] = {p.get()};
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), all, 1, 10000));
}

}  // namespace
