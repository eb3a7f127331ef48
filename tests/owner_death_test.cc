// When the process that owns a group dies without freeing it, SIGKILL
// included, its tree dies anyway (the keeper), within a second; with the
// opt-out flag the tree survives. Also for the pk CLI.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "processkit.h"
#include "support/proc_util.h"

extern char** environ;

namespace {

std::string Runfile(const std::string& rel) {
    const char* srcdir = getenv("TEST_SRCDIR");
    const char* ws = getenv("TEST_WORKSPACE");
    if (srcdir && ws)
        return std::string(srcdir) + "/" + ws + "/" + rel;
    return rel;
}

struct Owner {
    pid_t pid = -1;
    FILE* out = nullptr;
};

// Starts a program with a stdout pipe.
Owner Start(const std::vector<std::string>& args) {
    Owner o;
    int fds[2];
    if (pipe(fds) != 0)
        return o;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&o.pid, argv[0], &fa, nullptr, argv.data(), environ) != 0)
        o.pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    o.out = fdopen(fds[0], "r");
    return o;
}

std::string ReadLine(FILE* f) {
    char buf[4096];
    if (!f || !fgets(buf, sizeof buf, f))
        return "";
    std::string s(buf);
    if (!s.empty() && s.back() == '\n')
        s.pop_back();
    return s;
}

void KillAndReap(Owner& o) {
    kill(o.pid, SIGKILL);
    int st;
    waitpid(o.pid, &st, 0);
    if (o.out)
        fclose(o.out);
}

bool DirGone(const std::string& dir, int timeout_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    struct stat sb;
    while (stat(dir.c_str(), &sb) == 0) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        usleep(5000);
    }
    return true;
}

TEST(OwnerDeath, SigkilledOwnerTakesItsTreeAlong) {
    Owner o = Start({Runfile("tests/owner_main")});
    ASSERT_GT(o.pid, 0);
    std::string gc_line = ReadLine(o.out), leaf_line = ReadLine(o.out), features = ReadLine(o.out);
    ASSERT_EQ(0u, gc_line.rfind("GRANDCHILD ", 0)) << gc_line;
    pktest::ProcId gc = pktest::Identify(atoi(gc_line.c_str() + 11));
    ASSERT_TRUE(pktest::Alive(gc));
    std::string leaf = leaf_line.substr(5);
    ASSERT_NE("-", leaf);
    EXPECT_NE(0u, std::stoul(features.substr(9)) & PK_FEATURE_OWNER_DEATH);

    auto t0 = std::chrono::steady_clock::now();
    KillAndReap(o);
    bool dead = pktest::WaitDead(gc, 5000);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(dead) << "the grandchild outlived its SIGKILLed owner";
    printf("grandchild gone %.1f ms after the owner's SIGKILL\n", ms);
    EXPECT_TRUE(DirGone(leaf, 5000)) << leaf;
    pktest::KillIfAlive(gc);
}

TEST(OwnerDeath, OptOutLeavesTheTreeRunning) {
    Owner o = Start({Runfile("tests/owner_main"), "--no-keeper"});
    ASSERT_GT(o.pid, 0);
    std::string gc_line = ReadLine(o.out), leaf_line = ReadLine(o.out), features = ReadLine(o.out);
    ASSERT_EQ(0u, gc_line.rfind("GRANDCHILD ", 0)) << gc_line;
    pktest::ProcId gc = pktest::Identify(atoi(gc_line.c_str() + 11));
    std::string leaf = leaf_line.substr(5);
    EXPECT_EQ(0u, std::stoul(features.substr(9)) & PK_FEATURE_OWNER_DEATH);
    KillAndReap(o);
    usleep(300 * 1000);
    EXPECT_TRUE(pktest::Alive(gc)) << "opting out must leave the tree alone";
    // Clean up what the opt-out left: kill the leaf and remove it.
    std::ofstream(leaf + "/cgroup.kill") << "1";
    EXPECT_TRUE(pktest::WaitDead(gc, 5000));
    for (int i = 0; i < 200 && rmdir(leaf.c_str()) != 0; i++)
        usleep(5000);
    EXPECT_TRUE(DirGone(leaf, 100));
}

TEST(OwnerDeath, SigkilledPkTakesItsTreeAlong) {
    Owner o = Start({Runfile("cli/pk"), "run", "--", "sh", "-c", "sleep 300 & echo $!; wait"});
    ASSERT_GT(o.pid, 0);
    std::string gc_line = ReadLine(o.out);
    pktest::ProcId gc = pktest::Identify(atoi(gc_line.c_str()));
    ASSERT_TRUE(pktest::Alive(gc)) << gc_line;
    auto t0 = std::chrono::steady_clock::now();
    KillAndReap(o);
    bool dead = pktest::WaitDead(gc, 5000);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(dead) << "pk's grandchild outlived pk's SIGKILL";
    printf("pk's grandchild gone %.1f ms after pk's SIGKILL\n", ms);
    pktest::KillIfAlive(gc);
}

}  // namespace
