// Process attributes: user and groups, umask, rlimits, cwd fd and fd maps.
// The privilege tests need root (they switch to nobody, 65534); they skip
// otherwise.
#include "support/layers_fixture.h"

namespace {

using namespace layers;
using Attributes = Layers;


TEST_F(Attributes, RunAsNobody) {
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root";
    Cmd cmd = Sh("id -u; id -g; id -G");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), "/"));  // our own cwd may be closed to nobody
    ASSERT_PK_OK(pk_command_user(cmd.get(), 65534, 65534, nullptr, 0));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("65534\n65534\n65534\n", ran.out) << ran.err;
    EXPECT_EQ(1, ran.info.success) << ran.err;
    // The run's private group is a cgroup-v2 leaf created by root; the child
    // was born in it before dropping, and is torn down all the same.
    if (HostHasCgroupV2())
        EXPECT_EQ(PK_MECHANISM_CGROUP_V2, ran.info.mechanism);

    // Supplementary groups, in the order given.
    const uint32_t groups[] = {1234, 5678};
    ASSERT_PK_OK(pk_command_user(cmd.get(), 65534, 65534, groups, 2));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("65534\n65534\n65534 1234 5678\n", ran.out) << ran.err;

    // A dropped child cannot get back: setuid(0) fails.
    const char* python = "/usr/bin/python3";
    if (access(python, X_OK) == 0) {
        Cmd back = NewCmd({python, "-c",
                           "import os\ntry:\n    os.setuid(0)\n    print('root again')\nexcept PermissionError:\n"
                           "    print('denied')\n"});
        ASSERT_TRUE(back);
        ASSERT_PK_OK(pk_command_cwd(back.get(), "/"));
        ASSERT_PK_OK(pk_command_user(back.get(), 65534, 65534, nullptr, 0));
        ran = RunCmd(back.get());
        ASSERT_RAN(ran);
        EXPECT_EQ("denied\n", ran.out) << ran.err;
    }

    // In a shared cgroup group too: members include the dropped child, and
    // killing the group ends it.
    Group g = NewGroup();
    ASSERT_TRUE(g);
    Cmd sleeper = Sh("echo up; sleep 30");
    ASSERT_TRUE(sleeper);
    ASSERT_PK_OK(pk_command_cwd(sleeper.get(), "/"));
    ASSERT_PK_OK(pk_command_user(sleeper.get(), 65534, 65534, nullptr, 0));
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), sleeper.get(), g.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), 0, "up", 0, kLongMs));
    int32_t pid = 0;
    ASSERT_PK_OK(pk_process_pid(p.get(), &pid));
    std::string status = ReadText("/proc/" + std::to_string(pid) + "/status");
    EXPECT_TRUE(Contains(status, "Uid:\t65534\t65534\t65534\t65534")) << status;
    int32_t members[64];
    size_t count = 0;
    ASSERT_PK_OK(pk_group_members(g.get(), members, 64, &count));
    EXPECT_NE(members + std::min<size_t>(count, 64), std::find(members, members + std::min<size_t>(count, 64), pid));
    ASSERT_PK_OK(pk_group_kill(g.get()));
    pk_process* raw = p.get();
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), &raw, 1, kLongMs));
    Ran killed = ResultOf(p.get());
    ASSERT_RAN(killed);
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, killed.info.outcome);
    EXPECT_EQ(SIGKILL, killed.info.signal);
}

TEST_F(Attributes, Umask) {
    Cmd cmd = Sh("umask; touch f; stat -c %a f; rm f");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), tmp_.path().c_str()));
    ASSERT_PK_OK(pk_command_umask(cmd.get(), 027));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("0027\n640\n", ran.out) << ran.err;
    ASSERT_PK_OK(pk_command_umask(cmd.get(), 0));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("0000\n666\n", ran.out) << ran.err;
}

TEST_F(Attributes, Rlimits) {
    Cmd cmd = Sh("ulimit -n; ulimit -Hn; ulimit -c");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_rlimit(cmd.get(), RLIMIT_NOFILE, 64, 128));
    ASSERT_PK_OK(pk_command_rlimit(cmd.get(), RLIMIT_CORE, 0, 0));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("64\n128\n0\n", ran.out) << ran.err;
    // Setting the same resource again replaces it.
    ASSERT_PK_OK(pk_command_rlimit(cmd.get(), RLIMIT_NOFILE, 100, 100));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("100\n100\n0\n", ran.out) << ran.err;
    // Our own limits are untouched.
    struct rlimit ours;
    ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &ours));
    EXPECT_GT(ours.rlim_cur, 100u);
}

TEST_F(Attributes, CwdFd) {
    int dir = open(tmp_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir, 0);
    char real[PATH_MAX];
    ASSERT_NE(nullptr, realpath(tmp_.path().c_str(), real));
    Cmd cmd = NewCmd({"pwd", "-P"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_cwd_fd(cmd.get(), dir));
    Ran ran = RunCmd(cmd.get());
    EXPECT_EQ(PK_OK, ran.rc) << ran.error;
    EXPECT_EQ(std::string(real) + "\n", ran.out) << ran.err;
    // It wins over a path cwd.
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), "/"));
    ran = RunCmd(cmd.get());
    EXPECT_EQ(std::string(real) + "\n", ran.out) << ran.err;
    // -1 clears it: the path applies again.
    ASSERT_PK_OK(pk_command_cwd_fd(cmd.get(), -1));
    ran = RunCmd(cmd.get());
    EXPECT_EQ("/\n", ran.out) << ran.err;
    close(dir);
}

TEST_F(Attributes, MapFd) {
    Pipe p;
    ASSERT_TRUE(p.Open());
    Cmd cmd = Sh("echo hi >&5");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_map_fd(cmd.get(), 5, p.w));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success) << ran.err;
    // Only the child had the other copy; ours closed, EOF follows the line.
    p.CloseWrite();
    EXPECT_EQ("hi\n", ReadToEof(p.r));

    // Nothing else is inherited: 0-2, 5, and ls's own directory fd (3).
    Pipe q;
    ASSERT_TRUE(q.Open());
    int stray = open("/dev/null", O_RDONLY);  // not O_CLOEXEC: must still not leak
    ASSERT_GE(stray, 0);
    Cmd ls = NewCmd({"ls", "/proc/self/fd"});
    ASSERT_TRUE(ls);
    ASSERT_PK_OK(pk_command_map_fd(ls.get(), 5, q.w));
    ran = RunCmd(ls.get());
    close(stray);
    ASSERT_RAN(ran);
    EXPECT_EQ("0\n1\n2\n3\n5\n", ran.out) << ran.err;

    // Several maps, one high, and one whose source number is another map's
    // target (parent fd 200 becomes child fd 7 while child fd 200 comes from
    // elsewhere): no dup may clobber a source still needed.
    Pipe r, s;
    ASSERT_TRUE(r.Open());
    ASSERT_TRUE(s.Open());
    ASSERT_EQ(-1, fcntl(200, F_GETFD)) << "fd 200 is in use in the test process";
    ASSERT_EQ(200, dup3(r.w, 200, O_CLOEXEC));
    r.CloseWrite();
    Cmd two = NewCmd({"bash", "-c", "echo a >&7; echo b >&200; ls /proc/self/fd | sort -n | tr '\\n' ' '"});
    ASSERT_TRUE(two);
    ASSERT_PK_OK(pk_command_map_fd(two.get(), 200, s.w));
    ASSERT_PK_OK(pk_command_map_fd(two.get(), 7, 200));
    ran = RunCmd(two.get());
    close(200);
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success) << ran.err;
    EXPECT_TRUE(Contains(ran.out, " 7 200 ")) << ran.out;
    s.CloseWrite();
    EXPECT_EQ("a\n", ReadToEof(r.r));
    EXPECT_EQ("b\n", ReadToEof(s.r));
}

TEST_F(Attributes, AttributeBadInput) {
    Cmd cmd = NewCmd({"true"});
    ASSERT_TRUE(cmd);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_user(cmd.get(), static_cast<uint32_t>(-1), 0, nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_user(cmd.get(), 0, static_cast<uint32_t>(-1), nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_user(cmd.get(), 0, 0, nullptr, 2));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_umask(cmd.get(), 01000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_rlimit(cmd.get(), 99, 1, 1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_rlimit(cmd.get(), -1, 1, 1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_rlimit(cmd.get(), RLIMIT_NOFILE, 65, 64));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_map_fd(cmd.get(), 2, 1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_map_fd(cmd.get(), 0, 1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_map_fd(cmd.get(), 5, -1));
    Pipe closed;
    ASSERT_TRUE(closed.Open());
    int gone = closed.w;
    closed.CloseWrite();
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_map_fd(cmd.get(), 5, gone));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_cwd_fd(cmd.get(), gone));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_cwd_fd(cmd.get(), -2));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_pty(cmd.get(), 0, 80));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_pty(cmd.get(), 24, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_user(nullptr, 0, 0, nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_umask(nullptr, 022));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_rlimit(nullptr, RLIMIT_NOFILE, 1, 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_cwd_fd(nullptr, -1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_map_fd(nullptr, 5, 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_pty(nullptr, 24, 80));
    // None of the refused calls changed the command.
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success);

    // An fd closed after it was mapped: the run fails to start, cleanly. (A
    // high number, so no fd the library opens for the run takes it over.)
    Pipe late;
    ASSERT_TRUE(late.Open());
    ASSERT_EQ(-1, fcntl(900, F_GETFD));
    ASSERT_EQ(900, dup3(late.w, 900, O_CLOEXEC));
    ASSERT_PK_OK(pk_command_map_fd(cmd.get(), 5, 900));
    close(900);
    ran = RunCmd(cmd.get());
    EXPECT_EQ(PK_ERR_INVALID, ran.rc) << ran.error;
}

// ===========================================================================

}  // namespace
