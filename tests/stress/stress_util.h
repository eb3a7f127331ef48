// Helpers shared by the stress and soak tier (tests/stress): bounded loops
// (a count AND a wall-time budget), environment knobs, the subreaper that
// brings every orphan of a test back to it, and a few /proc readers.
#ifndef PK_TESTS_STRESS_UTIL_H
#define PK_TESTS_STRESS_UTIL_H

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pkstress {

using Clock = std::chrono::steady_clock;

// An integer from the environment, or def when unset or not a number > 0.
long EnvLong(const char* name, long def);

// Milliseconds since t0.
int64_t MsSince(Clock::time_point t0);

// A loop bound: stop after `count` iterations or when `budget_ms` has passed,
// whichever comes first.
class Budget {
  public:
    Budget(long count, int64_t budget_ms) : count_(count), budget_ms_(budget_ms), start_(Clock::now()) {}
    bool TimeLeft() const { return MsSince(start_) < budget_ms_; }
    long count() const { return count_; }
    int64_t elapsed_ms() const { return MsSince(start_); }
    int64_t budget_ms() const { return budget_ms_; }

  private:
    long count_;
    int64_t budget_ms_;
    Clock::time_point start_;
};

// Makes this process the subreaper of its descendants (PR_SET_CHILD_SUBREAPER),
// so an orphan is reparented here instead of to PID 1: every process a test's
// trees create can be found again (pktest::Children) and reaped.
bool BecomeSubreaper();

// Reaps every exited child that reports with SIGCHLD (reparented orphans,
// children forked by the test). Never __WALL: the library's own children
// have exit signal 0 and are reaped by the library through their pidfds.
// Returns how many were reaped.
int ReapOrphans();

// Resident set size of this process in KiB (VmRSS), or -1.
long VmRssKiB();

// Session id of pid, or -1.
pid_t SessionOf(pid_t pid);

// The command line of pid with NULs as spaces ("" if gone).
std::string Cmdline(pid_t pid);

// Reaps our dead children (ReapOrphans) and returns the live ones (the
// keeper excluded), waiting up to timeout_ms for the list to become empty.
std::vector<pid_t> LiveChildrenAfter(int timeout_ms);

}  // namespace pkstress

#endif
