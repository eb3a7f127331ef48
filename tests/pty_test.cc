// PTY runs (pk_command_pty, pk_process_resize): a terminal on stdin and
// stdout, resizes, and a child that leads its own session and stays
// contained.
#include "support/layers_fixture.h"

namespace {

using namespace layers;
using Pty = Layers;


TEST_F(Pty, PtyIsATerminal) {
    Cmd cmd = Sh("test -t 0 && test -t 1 && test -t 2 && echo tty");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_pty(cmd.get(), 24, 80));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_TRUE(Contains(ran.out, "tty")) << ran.out;
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ("", ran.err) << "everything arrives as stdout";

    Cmd size = NewCmd({"stty", "size"});
    ASSERT_TRUE(size);
    ASSERT_PK_OK(pk_command_pty(size.get(), 24, 80));
    ran = RunCmd(size.get());
    ASSERT_RAN(ran);
    EXPECT_TRUE(Contains(ran.out, "24 80")) << ran.out;

    // Without a PTY, not a terminal.
    Cmd plain = Sh("test -t 1 && echo tty || echo notty");
    ASSERT_TRUE(plain);
    ran = RunCmd(plain.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("notty\n", ran.out);
}

TEST_F(Pty, PtyResizeReachesTheChild) {
    Cmd cmd = Sh("trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_pty(cmd.get(), 24, 80));
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "ready", 0, kLongMs));
    ASSERT_PK_OK(pk_process_resize(p.get(), 40, 120));
    EXPECT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "40 120", 0, kLongMs));
    ASSERT_PK_OK(pk_process_resize(p.get(), 10, 33));
    EXPECT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "10 33", 0, kLongMs));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_resize(p.get(), 0, 10));
    CancelAndWait(loop.get(), p.get());
    EXPECT_PK_ERR(PK_ERR_STATE, pk_process_resize(p.get(), 40, 120));
}

TEST_F(Pty, PtyWrite) {
    Cmd cmd = Sh("read x; echo got $x");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_pty(cmd.get(), 24, 80));
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_write(p.get(), "hello\n", 6));
    pk_process* raw = p.get();
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), &raw, 1, kLongMs));
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_TRUE(Contains(ran.out, "got hello")) << ran.out;
    EXPECT_EQ(1, ran.info.success);
}

TEST_F(Pty, ResizeWithoutPtyIsAStateError) {
    Cmd cmd = NewCmd({"sleep", "30"});
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    EXPECT_PK_ERR(PK_ERR_STATE, pk_process_resize(p.get(), 40, 120));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_resize(nullptr, 40, 120));
    EXPECT_FALSE(Done(p.get()));
    CancelAndWait(loop.get(), p.get());
}

TEST_F(Pty, PtyChildLeadsANewSessionAndStaysContained) {
    Group g = NewGroup();
    ASSERT_TRUE(g);
    Cmd cmd = Sh("sleep 30 & echo $! > '" + tmp_.File("bg") + "'; echo ready; wait");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_pty(cmd.get(), 24, 80));
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get(), g.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "ready", 0, kLongMs));
    int32_t pid = 0;
    ASSERT_PK_OK(pk_process_pid(p.get(), &pid));
    long pgrp = 0, sid = 0, tty = 0;
    ASSERT_TRUE(SessionOf(pid, &pgrp, &sid, &tty));
    EXPECT_EQ(pid, sid) << "the child leads its own session";
    EXPECT_EQ(pid, pgrp);
    EXPECT_NE(0, tty) << "with a controlling terminal";
    EXPECT_NE(getsid(0), sid);
    pktest::ProcId bg = Learn(tmp_.File("bg"));

    int32_t members[64];
    size_t count = 0;
    ASSERT_PK_OK(pk_group_members(g.get(), members, 64, &count));
    const size_t n = std::min<size_t>(count, 64);
    EXPECT_NE(members + n, std::find(members, members + n, pid)) << "the session leader is a member";
    pk_containment c = PK_CONTAINMENT_INIT;
    ASSERT_PK_OK(pk_group_containment(g.get(), &c));
    if (c.mechanism == PK_MECHANISM_CGROUP_V2)
        EXPECT_NE(members + n, std::find(members, members + n, bg.pid)) << "and so is its background child";

    ASSERT_PK_OK(pk_group_kill(g.get()));
    pk_process* raw = p.get();
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), &raw, 1, kLongMs));
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, ran.info.outcome);
    EXPECT_EQ(SIGKILL, ran.info.signal);
    if (c.mechanism == PK_MECHANISM_CGROUP_V2)
        EXPECT_TRUE(pktest::WaitDead(bg, kLongMs)) << "the group kill reached the whole session";

    // In a private group (pk_command_run), the run's end takes the tree along.
    Cmd leave = Sh("sleep 30 & echo $! > '" + tmp_.File("bg2") + "'; echo done");
    ASSERT_TRUE(leave);
    ASSERT_PK_OK(pk_command_pty(leave.get(), 24, 80));
    auto t0 = Clock::now();
    ran = RunCmd(leave.get());
    ASSERT_RAN(ran);
    EXPECT_LT(MsSince(t0), kLongMs);
    EXPECT_TRUE(Contains(ran.out, "done")) << ran.out;
    pid_t left = pktest::ReadPidFile(tmp_.File("bg2"), kLongMs);
    ASSERT_GT(left, 0);
    EXPECT_TRUE(pktest::WaitDead(pktest::Identify(left), 2000)) << "the background sleep outlived its PTY run";
}

}  // namespace
