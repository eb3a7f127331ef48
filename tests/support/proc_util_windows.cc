// pktest's process helpers on Windows (see proc_util.h): identity is the pid
// plus the creation time, "children" are live processes whose recorded
// parent is this process and that were created after it, and the fd count
// is the process's handle count. There are no cgroups and no zombies.
#include <windows.h>

#include <tlhelp32.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "proc_util.h"

namespace pktest {

static uint64_t CreationTime(HANDLE h)
{
    FILETIME created, exited, kernel, user;
    if (!GetProcessTimes(h, &created, &exited, &kernel, &user))
        return 0;
    return ((uint64_t)created.dwHighDateTime << 32) | created.dwLowDateTime;
}

ProcId Identify(pid_t pid)
{
    ProcId id;
    id.pid = pid;
    HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, (DWORD)pid);
    if (!h)
        return id;
    if (WaitForSingleObject(h, 0) == WAIT_TIMEOUT)
        id.start_time = CreationTime(h);
    CloseHandle(h);
    return id;
}

bool Alive(const ProcId &id)
{
    if (!id.start_time)
        return false;
    HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, (DWORD)id.pid);
    if (!h)
        return false;
    bool alive = WaitForSingleObject(h, 0) == WAIT_TIMEOUT && CreationTime(h) == id.start_time;
    CloseHandle(h);
    return alive;
}

bool WaitDead(const ProcId &id, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        if (!Alive(id))
            return true;
        if (waited >= timeout_ms)
            return false;
        Sleep(10);
    }
}

pid_t ReadPidFile(const std::string &path, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        std::ifstream in(path);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!text.empty() && text.back() == '\n')
            return (pid_t)strtol(text.c_str(), nullptr, 10);
        Sleep(10);
    }
    return 0;
}

char State(pid_t pid)
{
    // Windows has no stopped state to read; a live process counts as sleeping.
    return Alive(Identify(pid)) ? 'S' : 0;
}

std::vector<pid_t> Children()
{
    std::vector<pid_t> out;
    uint64_t mine = CreationTime(GetCurrentProcess());
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snap == INVALID_HANDLE_VALUE)
        return out;
    PROCESSENTRY32W e;
    e.dwSize = sizeof e;
    for (BOOL ok = Process32FirstW(snap, &e); ok; ok = Process32NextW(snap, &e)) {
        if (e.th32ParentProcessID != GetCurrentProcessId())
            continue;
        ProcId id = Identify((pid_t)e.th32ProcessID);
        if (Alive(id) && id.start_time >= mine)
            out.push_back(id.pid);
    }
    CloseHandle(snap);
    return out;
}

bool NoChildren()
{
    return Children().empty();
}

int OpenFdCount()
{
    DWORD count = 0;
    GetProcessHandleCount(GetCurrentProcess(), &count);
    return (int)count;
}

std::vector<std::string> OurCgroupLeaves()
{
    return {};
}

std::string CgroupMount()
{
    return "";
}

TempDir::TempDir()
{
    const char *base = getenv("TEST_TMPDIR");
    char tmp[MAX_PATH];
    if (!base) {
        GetTempPathA(MAX_PATH, tmp);
        base = tmp;
    }
    static int serial;
    path_ = std::string(base) + "\\pktest-" + std::to_string(GetCurrentProcessId()) + "-" + std::to_string(++serial);
    CreateDirectoryA(path_.c_str(), nullptr);
}

TempDir::~TempDir()
{
    WIN32_FIND_DATAA f;
    HANDLE h = FindFirstFileA((path_ + "\\*").c_str(), &f);
    if (h != INVALID_HANDLE_VALUE) {
        do {
            std::string name = f.cFileName;
            if (name != "." && name != "..")
                DeleteFileA((path_ + "\\" + name).c_str());
        } while (FindNextFileA(h, &f));
        FindClose(h);
    }
    RemoveDirectoryA(path_.c_str());
}

void KillIfAlive(const ProcId &id)
{
    HANDLE h = OpenProcess(PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)id.pid);
    if (!h)
        return;
    if (CreationTime(h) == id.start_time)
        TerminateProcess(h, 1);
    CloseHandle(h);
}

} // namespace pktest
