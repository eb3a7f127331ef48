// pk.exe's exit statuses and JSON under wine, as tests/cli_test.cc checks
// the Linux pk.
#include <gtest/gtest.h>

#include <windows.h>

#include <cstdio>
#include <string>

#include "support/proc_util.h"
#include "win_test_util.h"

namespace {

int Pk(const std::string &args, std::string *out)
{
    return pkwin::RunCapture("\"" + pkwin::PkExe() + "\" " + args, out);
}

std::string ChildQ()
{
    return "\"" + pkwin::TestChild() + "\"";
}

TEST(PkExe, ExitStatusIsTheProgramsOwn)
{
    std::string out;
    EXPECT_EQ(Pk("run -- " + ChildQ() + " out hi exit 7", &out), 7);
    EXPECT_EQ(out, "hi");
    out.clear();
    EXPECT_EQ(Pk("run -- " + ChildQ() + " exit 0", &out), 0);
}

TEST(PkExe, TimeoutIs124AndKillsTheTree)
{
    std::string out;
    DWORD t0 = GetTickCount();
    EXPECT_EQ(Pk("run --timeout 300ms -- " + ChildQ() + " grandchild sleep 600000", &out), 124);
    EXPECT_LT(GetTickCount() - t0, 10000u);
    pktest::ProcId gc = pktest::Identify((DWORD)strtoul(out.c_str(), nullptr, 10));
    EXPECT_FALSE(pktest::Alive(gc)) << out;
}

TEST(PkExe, NotFoundIs127AndPkErrorsAre125)
{
    std::string out;
    EXPECT_EQ(Pk("run -- no-such-program-pk", &out), 127);
    EXPECT_EQ(Pk("run --pty -- " + ChildQ(), &out), 125);
    EXPECT_EQ(Pk("run --timeout nonsense -- " + ChildQ(), &out), 125);
    EXPECT_EQ(Pk("pipe -- a '|' b", &out), 125);
    EXPECT_EQ(Pk("run --ready-line x -- " + ChildQ(), &out), 125);
    EXPECT_EQ(Pk("frobnicate", &out), 125);
}

TEST(PkExe, JsonReport)
{
    std::string out;
    EXPECT_EQ(Pk("run --capture --json -- " + ChildQ() + " out \"a \\\"q\\\"\" err e exit 2", &out), 2);
    EXPECT_NE(out.find("\"outcome\":\"exited\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"exit_code\":2"), std::string::npos) << out;
    EXPECT_NE(out.find("\"mechanism\":\"job-object\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"stdout\":\"a \\\"q\\\"\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"stderr\":\"e\""), std::string::npos) << out;
}

TEST(PkExe, RetryRunsAgainAndCountsAttempts)
{
    std::string counter = pkwin::TempPath("count");
    std::string out;
    EXPECT_EQ(Pk("run --retry 3 --retry-backoff 10ms --json -- " + ChildQ() + " count \"" + counter + "\" 2", &out), 0);
    EXPECT_NE(out.find("\"attempts\":2"), std::string::npos) << out;
    DeleteFileA(counter.c_str());
    out.clear();
    // Out of attempts: the last attempt's status.
    EXPECT_EQ(Pk("run --retry 2 --retry-backoff 10ms -- " + ChildQ() + " exit 4", &out), 4);
}

TEST(PkExe, SuperviseRestartsThenGivesUpWithTheLastStatus)
{
    std::string counter = pkwin::TempPath("count");
    std::string out;
    EXPECT_EQ(Pk("supervise --max-restarts 2 --backoff 10ms -- " + ChildQ() + " count \"" + counter + "\" 100", &out),
              1);
    EXPECT_EQ(pkwin::ReadCount(counter), 3) << "one run and two restarts";
    DeleteFileA(counter.c_str());
}

TEST(PkExe, Probe)
{
    std::string out;
    EXPECT_EQ(Pk("probe --json", &out), 0);
    EXPECT_NE(out.find("\"mechanism\":\"job-object\""), std::string::npos) << out;
    out.clear();
    EXPECT_EQ(Pk("--version", &out), 0);
    EXPECT_EQ(out.rfind("pk ", 0), 0u) << out;
}

} // namespace
