// Helpers for tests that check real processes: identity by pid plus start
// time (so a recycled pid never reads as a survivor), pid files written by
// test scripts, fd counts and cgroup leftovers.
#ifndef PK_TESTS_PROC_UTIL_H
#define PK_TESTS_PROC_UTIL_H

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pktest {

struct ProcId {
    pid_t pid = 0;
    uint64_t start_time = 0;  // clock ticks since boot; 0 = not found
};

// Identity of a live process now (start_time 0 if it does not exist).
ProcId Identify(pid_t pid);
// True while the same process (same pid and start time) exists and is not a zombie.
bool Alive(const ProcId& id);
// Waits up to timeout_ms for the process to be gone; true if it is.
bool WaitDead(const ProcId& id, int timeout_ms);
// Waits up to timeout_ms for a file to hold a pid followed by a newline.
pid_t ReadPidFile(const std::string& path, int timeout_ms);
// The process's state letter from /proc/PID/stat ('R', 'S', 'T', 'Z'...), or 0.
char State(pid_t pid);
// Direct children of this process, live or zombie, except the library's
// keeper process (named pk-keeper), which lives as long as this process by
// design (it kills the groups' trees if this process dies).
std::vector<pid_t> Children();
// True when this process has no child but the keeper.
bool NoChildren();
// Number of open fds of this process.
int OpenFdCount();
// Directories named processkit-<our pid>-* under the cgroup2 mount (our own leaves).
std::vector<std::string> OurCgroupLeaves();
// The cgroup2 mount point ("" if none).
std::string CgroupMount();
// A fresh private directory, removed with everything in it on destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string File(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

// Kills (SIGKILL) a process we started and that is still the same one.
void KillIfAlive(const ProcId& id);

}  // namespace pktest

#endif
