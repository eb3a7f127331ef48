// Run-and-capture on Windows, under wine: the loop over overlapped pipes
// and process handles, timeouts, stdin, cancellation and argv quoting.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <io.h>
#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "processkit.h"
#include "support/proc_util.h"
#include "win_test_util.h"

namespace {

using pkwin::Child;

std::string Output(pk_result *r, int stream)
{
    const uint8_t *d = nullptr;
    size_t n = 0;
    EXPECT_EQ(pk_result_output(r, stream, &d, &n), PK_OK);
    return std::string((const char *)d, n);
}

struct Outcome {
    int rc = PK_OK;
    pk_run_info info = PK_RUN_INFO_INIT;
    std::string out, err;
    std::string error; // the library's message when rc is not PK_OK
};

Outcome RunIt(pk_command *cmd)
{
    Outcome run;
    pk_result *r = nullptr;
    run.rc = pk_command_run(cmd, &r);
    if (run.rc != PK_OK)
        run.error = pk_last_error();
    if (run.rc == PK_OK) {
        pk_result_info(r, &run.info);
        run.out = Output(r, PK_STREAM_STDOUT);
        run.err = Output(r, PK_STREAM_STDERR);
        pk_result_free(r);
    }
    pk_command_free(cmd);
    return run;
}

std::string Hex(const std::string &s)
{
    static const char digits[] = "0123456789abcdef";
    std::string h;
    for (unsigned char c : s) {
        h += digits[c >> 4];
        h += digits[c & 15];
    }
    return h;
}

TEST(WinRun, CapturesStdoutStderrAndTheExitCode)
{
    Outcome r = RunIt(Child({"out", "hello\n", "err", "oops\n", "out", "world", "exit", "3"}));
    ASSERT_EQ(r.rc, PK_OK) << pk_last_error();
    EXPECT_EQ(r.out, "hello\nworld");
    EXPECT_EQ(r.err, "oops\n");
    EXPECT_EQ(r.info.outcome, PK_OUTCOME_EXITED);
    EXPECT_EQ(r.info.exit_code, 3);
    EXPECT_FALSE(r.info.success);
    EXPECT_EQ(r.info.mechanism, PK_MECHANISM_JOB_OBJECT);
    EXPECT_GT(r.info.pid, 0);
}

TEST(WinRun, NoWindowFlagStartsTheProgramWithoutAConsoleWindow)
{
    pk_command *plain = Child({"console-window"});
    Outcome base = RunIt(plain);
    ASSERT_EQ(base.rc, PK_OK) << base.error;
    pk_command *cmd = Child({"console-window", "out", "ran\n"});
    ASSERT_EQ(pk_command_flags(cmd, PK_COMMAND_NO_WINDOW), PK_OK);
    Outcome r = RunIt(cmd);
    ASSERT_EQ(r.rc, PK_OK) << r.error;
    EXPECT_EQ(r.info.outcome, PK_OUTCOME_EXITED);
    ASSERT_EQ(r.out.substr(r.out.size() >= 4 ? r.out.size() - 4 : 0), "ran\n");
    EXPECT_EQ(r.out.substr(0, 5), "none\n"); // CREATE_NO_WINDOW: no console at all
    if (base.out == "none\n")
        GTEST_SKIP() << "wine gives a program started without the flag no console window either, so only "
                        "that the flagged run starts and runs is shown here";
    EXPECT_EQ(base.out, "window\n");
}

TEST(WinRun, LargeOutputArrivesWhole)
{
    Outcome r = RunIt(Child({"bytes", "5000000"}));
    ASSERT_EQ(r.rc, PK_OK) << pk_last_error();
    ASSERT_EQ(r.out.size(), 5000000u);
    EXPECT_EQ(r.info.stdout_bytes, 5000000u);
    for (size_t i = 0; i < r.out.size(); i += 4093)
        ASSERT_EQ(r.out[i], (char)('a' + (i % 4096) % 26)) << "byte " << i;
}

TEST(WinRun, CommandLineLongerThanWindowsTakesIsRefused)
{
    // CreateProcess takes 32767 UTF-16 units; more must fail, not truncate.
    std::vector<std::string> args;
    for (int i = 0; i < 40; i++) {
        args.push_back("out");
        args.push_back(std::string(1000, 'x'));
    }
    Outcome r = RunIt(Child(args));
    EXPECT_EQ(r.rc, PK_ERR_INVALID);
    EXPECT_NE(r.error.find("32767"), std::string::npos) << r.error;
}

TEST(WinRun, ArgvSurvivesQuotingExactly)
{
    const std::vector<std::string> args = {"", "a b", "tab\there", "\"", "\\", "a\\\\b", "a\\\"b", "trailing\\",
                                           "trail ing\\\\", "x\"y z", "&|<>^%", "caf\xc3\xa9"};
    std::vector<std::string> all = {"argv"};
    all.insert(all.end(), args.begin(), args.end());
    Outcome r = RunIt(Child(all));
    ASSERT_EQ(r.rc, PK_OK) << pk_last_error();
    std::string want_shell = "shell:" + Hex("argv") + "\n";
    for (const auto &a : args) {
        want_shell += "shell:" + Hex(a) + "\n";
    }
    // The C runtime parses with the process's ANSI code page, the shell
    // parser in UTF-16: the crt lines are checked for the ASCII arguments.
    EXPECT_NE(r.out.find(want_shell), std::string::npos) << r.out;
    std::string ascii_crt = "crt:" + Hex("argv") + "\n";
    for (size_t i = 0; i + 1 < args.size(); i++)
        ascii_crt += "crt:" + Hex(args[i]) + "\n";
    EXPECT_EQ(r.out.compare(0, ascii_crt.size(), ascii_crt), 0) << r.out;
}

TEST(WinRun, TimeoutKillsTheTreeAtOnce)
{
    pk_command *cmd = Child({"grandchild", "sleep", "600000"});
    ASSERT_EQ(pk_command_timeout(cmd, 300, 0, 5000), PK_OK);
    DWORD t0 = GetTickCount();
    Outcome r = RunIt(cmd);
    DWORD took = GetTickCount() - t0;
    ASSERT_EQ(r.rc, PK_OK) << pk_last_error();
    EXPECT_EQ(r.info.outcome, PK_OUTCOME_TIMED_OUT);
    // The grace is for CTRL_BREAK only: a plain timeout is the atomic kill.
    EXPECT_LT(took, 4500u);
    pktest::ProcId gc = pktest::Identify((DWORD)strtoul(r.out.c_str(), nullptr, 10));
    EXPECT_FALSE(pktest::Alive(gc)) << "grandchild " << r.out << " survived the timeout";
}

TEST(WinRun, OnlyTheStdioHandlesAreInherited)
{
    // An inheritable handle of the host's must not leak into the child.
    SECURITY_ATTRIBUTES sa = {sizeof sa, nullptr, TRUE};
    HANDLE ev = CreateEventW(&sa, TRUE, FALSE, nullptr);
    ASSERT_NE(ev, nullptr);
    char hex[32];
    snprintf(hex, sizeof hex, "%llx", (unsigned long long)(uintptr_t)ev);
    Outcome r = RunIt(Child({"handle", hex}));
    CloseHandle(ev);
    ASSERT_EQ(r.rc, PK_OK) << r.error;
    if (r.out == "open\n")
        GTEST_SKIP() << "wine ignores PROC_THREAD_ATTRIBUTE_HANDLE_LIST and passes every inheritable handle "
                        "(Windows passes only the listed ones)";
    EXPECT_EQ(r.out, "closed\n");
}

TEST(WinRun, TimeoutWithBreakAsksPolitelyFirst)
{
    pk_command *cmd = Child({"on-break", "sleep", "600000"});
    ASSERT_EQ(pk_command_flags(cmd, PK_COMMAND_NEW_SESSION), PK_OK); // its own console group
    ASSERT_EQ(pk_command_timeout(cmd, 300, 21 /* SIGBREAK */, 3000), PK_OK);
    DWORD t0 = GetTickCount();
    Outcome r = RunIt(cmd);
    DWORD took = GetTickCount() - t0;
    ASSERT_EQ(r.rc, PK_OK) << r.error;
    EXPECT_EQ(r.info.outcome, PK_OUTCOME_TIMED_OUT);
    if (r.out.empty())
        GTEST_SKIP() << "no CTRL_BREAK reached the program under wine here (" << took
                     << " ms: the test has no console, so GenerateConsoleCtrlEvent fails and the run falls "
                        "back to the kill at once); a Windows console delivers it";
    EXPECT_EQ(r.out, "break\n");
    EXPECT_EQ(r.info.exit_code, 0);
    EXPECT_LT(took, 3000u);
}

TEST(WinRun, StdinBytesReachTheChild)
{
    std::string input;
    for (int i = 0; i < 20000; i++)
        input += "line " + std::to_string(i) + "\n";
    pk_command *cmd = Child({"cat"});
    ASSERT_EQ(pk_command_stdin_bytes(cmd, input.data(), input.size()), PK_OK);
    Outcome r = RunIt(cmd);
    ASSERT_EQ(r.rc, PK_OK) << pk_last_error();
    EXPECT_EQ(r.out.size(), input.size());
    EXPECT_TRUE(r.out == input);
}

TEST(WinRun, InteractiveStdinThroughTheLoop)
{
    pk_loop *loop = nullptr;
    ASSERT_EQ(pk_loop_new(&loop), PK_OK);
    pk_command *cmd = Child({"cat"});
    ASSERT_EQ(pk_command_stdin_pipe(cmd), PK_OK);
    pk_process *p = nullptr;
    ASSERT_EQ(pk_loop_start(loop, cmd, nullptr, &p), PK_OK) << pk_last_error();
    EXPECT_EQ(pk_process_write(p, "abc", 3), PK_OK);
    EXPECT_EQ(pk_process_write(p, "def\n", 4), PK_OK);
    EXPECT_EQ(pk_process_close_stdin(p), PK_OK);
    EXPECT_EQ(pk_loop_wait_all(loop, &p, 1, 30000), PK_OK) << pk_last_error();
    pk_result *r = nullptr;
    ASSERT_EQ(pk_process_result(p, &r), PK_OK);
    EXPECT_EQ(Output(r, PK_STREAM_STDOUT), "abcdef\n");
    pk_result_free(r);
    pk_process_free(p);
    pk_command_free(cmd);
    EXPECT_EQ(pk_loop_free(loop), PK_OK);
}

TEST(WinRun, StdinFromAnotherThreadWhileTheLoopWaits)
{
    // The loop thread sits in its wait while this thread writes and closes
    // stdin: the close must not pull a handle out from under that wait.
    pk_loop *loop = nullptr;
    ASSERT_EQ(pk_loop_new(&loop), PK_OK);
    pk_command *cmd = Child({"cat"});
    ASSERT_EQ(pk_command_stdin_pipe(cmd), PK_OK);
    pk_process *p = nullptr;
    ASSERT_EQ(pk_loop_start(loop, cmd, nullptr, &p), PK_OK) << pk_last_error();
    int wait_rc = -999;
    std::thread driver([&] { wait_rc = pk_loop_wait_all(loop, &p, 1, 30000); });
    std::string want;
    for (int i = 0; i < 200; i++) {
        std::string line = "line " + std::to_string(i) + "\n";
        want += line;
        ASSERT_EQ(pk_process_write(p, line.data(), line.size()), PK_OK) << pk_last_error();
        if (i % 50 == 0)
            Sleep(20);
    }
    ASSERT_EQ(pk_process_close_stdin(p), PK_OK);
    driver.join();
    EXPECT_EQ(wait_rc, PK_OK);
    pk_result *r = nullptr;
    ASSERT_EQ(pk_process_result(p, &r), PK_OK);
    EXPECT_EQ(Output(r, PK_STREAM_STDOUT), want);
    pk_result_free(r);
    pk_process_free(p);
    pk_command_free(cmd);
    EXPECT_EQ(pk_loop_free(loop), PK_OK);
}

TEST(WinRun, BatchFilesAreRefused)
{
    // cmd.exe would parse their command line with its own rules.
    std::string bat = pkwin::TempPath("script") + ".bat";
    FILE *f = fopen(bat.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("@echo hello\r\n", f);
    fclose(f);
    for (const std::string &name : {bat, bat + ". ", bat.substr(0, bat.size() - 4) + ".CmD"}) {
        pk_command *cmd = nullptr;
        ASSERT_EQ(pk_command_new(name.c_str(), &cmd), PK_OK);
        pk_command_arg(cmd, "&whoami");
        Outcome r = RunIt(cmd);
        EXPECT_EQ(r.rc, PK_ERR_INVALID) << name;
        EXPECT_NE(r.error.find("batch file"), std::string::npos) << r.error;
    }
    DeleteFileA(bat.c_str());
}

TEST(WinRun, StdioFromFilesFdsAndNull)
{
    std::string in_path = pkwin::TempPath("stdin"), out_path = pkwin::TempPath("stdout");
    FILE *f = fopen(in_path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fputs("from a file\n", f);
    fclose(f);

    pk_command *cmd = Child({"cat"});
    ASSERT_EQ(pk_command_stdin_file(cmd, in_path.c_str()), PK_OK);
    Outcome r = RunIt(cmd);
    ASSERT_EQ(r.rc, PK_OK) << r.error;
    EXPECT_EQ(r.out, "from a file\n");

    cmd = Child({"cat"});
    ASSERT_EQ(pk_command_stdin_null(cmd), PK_OK);
    r = RunIt(cmd);
    ASSERT_EQ(r.rc, PK_OK) << r.error;
    EXPECT_EQ(r.out, "");

    cmd = Child({"cat"});
    ASSERT_EQ(pk_command_stdin_file(cmd, (in_path + ".missing").c_str()), PK_OK);
    r = RunIt(cmd);
    EXPECT_EQ(r.rc, PK_ERR_NOT_FOUND) << r.error;

    // stdout into a caller's fd, stderr to null.
    int fd = _open(out_path.c_str(), _O_WRONLY | _O_CREAT | _O_TRUNC | _O_BINARY, 0600);
    ASSERT_GE(fd, 0);
    cmd = Child({"out", "to the fd", "err", "dropped"});
    ASSERT_EQ(pk_command_output(cmd, PK_STREAM_STDOUT, PK_OUTPUT_FD, fd), PK_OK);
    ASSERT_EQ(pk_command_output(cmd, PK_STREAM_STDERR, PK_OUTPUT_NULL, -1), PK_OK);
    r = RunIt(cmd);
    _close(fd);
    ASSERT_EQ(r.rc, PK_OK) << r.error;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "");
    std::string written;
    f = fopen(out_path.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char buf[64];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    written.assign(buf, n);
    EXPECT_EQ(written, "to the fd");
    DeleteFileA(in_path.c_str());
    DeleteFileA(out_path.c_str());
}

TEST(WinRun, ManyRunsOnOneLoop)
{
    pk_loop *loop = nullptr;
    ASSERT_EQ(pk_loop_new(&loop), PK_OK);
    // 30 runs hold about 90 handles (two pipes and the process each), more
    // than one wait takes (64): the loop waits on a rotating window.
    std::vector<pk_process *> procs;
    for (int i = 0; i < 30; i++) {
        pk_command *cmd = Child({"sleep", std::to_string(50 * (i % 5)), "out", "run " + std::to_string(i),
                                 "err", "e", "exit", std::to_string(i)});
        pk_process *p = nullptr;
        ASSERT_EQ(pk_loop_start(loop, cmd, nullptr, &p), PK_OK) << pk_last_error();
        procs.push_back(p);
        pk_command_free(cmd);
    }
    ASSERT_EQ(pk_loop_wait_all(loop, procs.data(), procs.size(), 60000), PK_OK) << pk_last_error();
    for (int i = 0; i < 30; i++) {
        pk_result *r = nullptr;
        ASSERT_EQ(pk_process_result(procs[i], &r), PK_OK);
        pk_run_info info = PK_RUN_INFO_INIT;
        pk_result_info(r, &info);
        EXPECT_EQ(info.exit_code, i);
        EXPECT_EQ(Output(r, PK_STREAM_STDOUT), "run " + std::to_string(i));
        pk_result_free(r);
        pk_process_free(procs[i]);
    }
    EXPECT_EQ(pk_loop_free(loop), PK_OK);
}

TEST(WinRun, CancelFromAnotherThread)
{
    pk_cancel *token = nullptr;
    ASSERT_EQ(pk_cancel_new(&token), PK_OK);
    pk_command *cmd = Child({"grandchild", "sleep", "600000"});
    ASSERT_EQ(pk_command_cancel_on(cmd, token), PK_OK);
    std::thread canceller([token] {
        Sleep(300);
        pk_cancel_trigger(token);
    });
    Outcome r = RunIt(cmd);
    canceller.join();
    ASSERT_EQ(r.rc, PK_OK) << pk_last_error();
    EXPECT_EQ(r.info.outcome, PK_OUTCOME_CANCELLED);
    pktest::ProcId gc = pktest::Identify((DWORD)strtoul(r.out.c_str(), nullptr, 10));
    EXPECT_FALSE(pktest::Alive(gc));
    pk_cancel_free(token);
}

TEST(WinRun, MergedOutputAndCaps)
{
    pk_command *cmd = Child({"out", "1", "err", "2", "out", "3"});
    ASSERT_EQ(pk_command_output(cmd, PK_STREAM_STDERR, PK_OUTPUT_MERGE, -1), PK_OK);
    Outcome r = RunIt(cmd);
    ASSERT_EQ(r.rc, PK_OK) << pk_last_error();
    EXPECT_EQ(r.out, "123");
    EXPECT_EQ(r.err, "");

    cmd = Child({"out", "0123456789"});
    ASSERT_EQ(pk_command_output_limit(cmd, PK_STREAM_STDOUT, 4, PK_OVERFLOW_KEEP_TAIL), PK_OK);
    r = RunIt(cmd);
    ASSERT_EQ(r.rc, PK_OK);
    EXPECT_EQ(r.out, "6789");
    EXPECT_TRUE(r.info.stdout_truncated);
}

TEST(WinRun, EnvironmentAndDirectory)
{
    char dir[MAX_PATH];
    GetTempPathA(MAX_PATH, dir);
    pk_command *cmd = nullptr;
    ASSERT_EQ(pk_command_new("cmd.exe", &cmd), PK_OK);
    pk_command_arg(cmd, "/c");
    pk_command_arg(cmd, "echo %PK_TEST_VAR%& cd");
    ASSERT_EQ(pk_command_env(cmd, "PK_TEST_VAR", "from-pk"), PK_OK);
    ASSERT_EQ(pk_command_cwd(cmd, dir), PK_OK);
    Outcome r = RunIt(cmd);
    ASSERT_EQ(r.rc, PK_OK) << pk_last_error();
    EXPECT_NE(r.out.find("from-pk"), std::string::npos) << r.out;
    std::string d = dir;
    if (!d.empty() && d.back() == '\\')
        d.pop_back();
    EXPECT_NE(r.out.find(d), std::string::npos) << r.out << " vs " << d;
}

TEST(WinRun, MissingProgramAndPosixOnlyAttributes)
{
    pk_command *cmd = nullptr;
    ASSERT_EQ(pk_command_new("no-such-program-pk", &cmd), PK_OK);
    pk_result *r = nullptr;
    EXPECT_EQ(pk_command_run(cmd, &r), PK_ERR_NOT_FOUND);
    EXPECT_EQ(pk_command_umask(cmd, 022), PK_ERR_UNSUPPORTED);
    EXPECT_EQ(pk_command_pty(cmd, 24, 80), PK_ERR_UNSUPPORTED);
    EXPECT_EQ(pk_command_user(cmd, 1, 1, nullptr, 0), PK_ERR_UNSUPPORTED);
    pk_command_free(cmd);
    pk_loop *loop = nullptr;
    ASSERT_EQ(pk_loop_new(&loop), PK_OK);
    int fd = -1;
    EXPECT_EQ(pk_loop_fd(loop, &fd), PK_ERR_UNSUPPORTED);
    pk_loop_free(loop);
}

// Pipelines on Windows: the stages are joined by anonymous pipes, and the
// whole pipeline lives in one job.
TEST(WinRun, PipelineJoinsStagesThroughAPipe)
{
    pk_pipeline *pl = nullptr;
    ASSERT_EQ(pk_pipeline_new(&pl), PK_OK) << pk_last_error();
    pk_command *a = Child({"out", "one two three"});
    pk_command *b = Child({"cat"});
    pk_command *c = Child({"cat", "exit", "4"});
    ASSERT_EQ(pk_pipeline_add(pl, a, 0), PK_OK) << pk_last_error();
    ASSERT_EQ(pk_pipeline_add(pl, b, 0), PK_OK) << pk_last_error();
    ASSERT_EQ(pk_pipeline_add(pl, c, 0), PK_OK) << pk_last_error();
    pk_result *r = nullptr;
    ASSERT_EQ(pk_pipeline_run(pl, &r), PK_OK) << pk_last_error();
    const uint8_t *data = nullptr;
    size_t len = 0;
    ASSERT_EQ(pk_result_output(r, PK_STREAM_STDOUT, &data, &len), PK_OK);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(data), len), "one two three");
    pk_run_info info = PK_RUN_INFO_INIT;
    ASSERT_EQ(pk_result_info(r, &info), PK_OK);
    EXPECT_EQ(info.stage_count, 3u);
    EXPECT_EQ(info.outcome, PK_OUTCOME_EXITED);
    EXPECT_EQ(info.exit_code, 4); /* the last stage's failure is the pipeline's */
    EXPECT_EQ(info.failed_stage, 2);
    EXPECT_EQ(pk_result_check(r), PK_ERR_FAILED);
    pk_result_free(r);
    pk_command_free(a);
    pk_command_free(b);
    pk_command_free(c);
    pk_pipeline_free(pl);
}

TEST(WinRun, PipelineTimeoutKillsEveryStage)
{
    pk_pipeline *pl = nullptr;
    ASSERT_EQ(pk_pipeline_new(&pl), PK_OK);
    pk_command *a = Child({"sleep", "600000"});
    pk_command *b = Child({"cat"});
    ASSERT_EQ(pk_pipeline_add(pl, a, 0), PK_OK);
    ASSERT_EQ(pk_pipeline_add(pl, b, 0), PK_OK);
    /* SIGTERM asked for: a job has no polite signal, so the timeout kills. */
    ASSERT_EQ(pk_pipeline_timeout(pl, 300, SIGTERM, 5000), PK_OK);
    DWORD t0 = GetTickCount();
    pk_result *r = nullptr;
    ASSERT_EQ(pk_pipeline_run(pl, &r), PK_OK) << pk_last_error();
    DWORD took = GetTickCount() - t0;
    pk_run_info info = PK_RUN_INFO_INIT;
    ASSERT_EQ(pk_result_info(r, &info), PK_OK);
    EXPECT_EQ(info.outcome, PK_OUTCOME_TIMED_OUT);
    EXPECT_LT(took, 4000u) << "the grace period was waited out although nothing polite was sent";
    EXPECT_EQ(pk_result_check(r), PK_ERR_TIMEOUT);
    pk_result_free(r);
    pk_command_free(a);
    pk_command_free(b);
    pk_pipeline_free(pl);
}

TEST(WinRun, SignalsOnARun)
{
    pk_loop *loop = nullptr;
    ASSERT_EQ(pk_loop_new(&loop), PK_OK);
    pk_command *cmd = Child({"sleep", "600000"});
    pk_process *p = nullptr;
    ASSERT_EQ(pk_loop_start(loop, cmd, nullptr, &p), PK_OK);
    EXPECT_EQ(pk_process_signal(p, 15), PK_ERR_UNSUPPORTED);
    EXPECT_EQ(pk_process_signal(p, 9), PK_OK) << pk_last_error();
    EXPECT_EQ(pk_loop_wait_all(loop, &p, 1, 30000), PK_OK);
    pk_result *r = nullptr;
    ASSERT_EQ(pk_process_result(p, &r), PK_OK);
    pk_run_info info = PK_RUN_INFO_INIT;
    pk_result_info(r, &info);
    EXPECT_EQ(info.exit_code, 1);
    pk_result_free(r);
    pk_process_free(p);
    pk_command_free(cmd);
    pk_loop_free(loop);
}

} // namespace
