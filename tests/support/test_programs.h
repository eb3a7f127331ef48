// The programs the shared tests start, per OS: on Linux the system's `true`
// and `sleep`; on Windows the suite's own pk_test_child.exe in those modes.
#ifndef PK_TESTS_TEST_PROGRAMS_H
#define PK_TESTS_TEST_PROGRAMS_H

#include <string>
#include <vector>

#include "processkit.h"

namespace pktest {

// An argv (NULL-terminated, valid as long as the returned object lives).
class Argv {
  public:
    explicit Argv(std::vector<std::string> words);
    Argv(const Argv &other) : Argv(other.words_) {} // rebuilds the pointers
    Argv &operator=(const Argv &) = delete;
    const char *const *get() const { return ptrs_.data(); }
    const char **mut() { return ptrs_.data(); }

  private:
    std::vector<std::string> words_;
    std::vector<const char *> ptrs_;
};

// A program that exits 0 at once.
Argv TrueArgv();
// A program that sleeps for about `seconds`.
Argv SleepArgv(int seconds);

// The backend a group gets here by default, and one this OS does not have.
constexpr int32_t kNativeBackend =
#ifdef _WIN32
    PK_BACKEND_JOB_OBJECT;
#else
    PK_BACKEND_PROCESS_GROUP;
#endif
constexpr int32_t kNativeMechanism =
#ifdef _WIN32
    PK_MECHANISM_JOB_OBJECT;
#else
    PK_MECHANISM_PROCESS_GROUP;
#endif
constexpr int32_t kForeignBackend =
#ifdef _WIN32
    PK_BACKEND_CGROUP_V2;
#else
    PK_BACKEND_JOB_OBJECT;
#endif

} // namespace pktest

#endif
