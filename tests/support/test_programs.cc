#include "test_programs.h"

#ifdef _WIN32
#include <windows.h>
#endif

namespace pktest {

Argv::Argv(std::vector<std::string> words) : words_(std::move(words))
{
    for (const auto &w : words_)
        ptrs_.push_back(w.c_str());
    ptrs_.push_back(nullptr);
}

#ifdef _WIN32
static std::string TestChild()
{
    char full[MAX_PATH];
    DWORD n = GetFullPathNameA("tests\\windows\\pk_test_child.exe", MAX_PATH, full, nullptr);
    return std::string(full, n);
}

Argv TrueArgv()
{
    return Argv({TestChild(), "exit", "0"});
}

Argv SleepArgv(int seconds)
{
    return Argv({TestChild(), "sleep", std::to_string(seconds * 1000)});
}
#else
Argv TrueArgv()
{
    return Argv({"true"});
}

Argv SleepArgv(int seconds)
{
    return Argv({"sleep", std::to_string(seconds)});
}
#endif

} // namespace pktest
