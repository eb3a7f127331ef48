#include "win_test_util.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace pkwin {

static std::string Runfile(const char *rel)
{
    char full[MAX_PATH];
    DWORD n = GetFullPathNameA(rel, MAX_PATH, full, nullptr);
    return n ? std::string(full, n) : std::string(rel);
}

std::string TestChild()
{
    return Runfile("tests\\windows\\pk_test_child.exe");
}

std::string OwnerHelper()
{
    return Runfile("tests\\windows\\owner_helper.exe");
}

std::string PkExe()
{
    return Runfile("cli\\windows\\pk.exe");
}

long ReadCount(const std::string &path)
{
    long n = -1;
    FILE *f = fopen(path.c_str(), "r");
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = -1;
        fclose(f);
    }
    return n;
}

std::string TempPath(const char *name)
{
    const char *dir = getenv("TEST_TMPDIR");
    char buf[MAX_PATH];
    if (!dir) {
        GetTempPathA(MAX_PATH, buf);
        dir = buf;
    }
    static int serial;
    return std::string(dir) + "\\" + name + "." + std::to_string(GetCurrentProcessId()) + "." +
           std::to_string(++serial);
}

int RunCapture(const std::string &cmdline, std::string *out, int timeout_ms)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, nullptr, TRUE};
    HANDLE rd, wr;
    if (!CreatePipe(&rd, &wr, &sa, 0))
        return -1;
    SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
    STARTUPINFOA si = {};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = wr;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    PROCESS_INFORMATION pi;
    std::vector<char> line(cmdline.begin(), cmdline.end());
    line.push_back('\0');
    BOOL ok = CreateProcessA(nullptr, line.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si, &pi);
    CloseHandle(wr);
    if (!ok) {
        CloseHandle(rd);
        return -1;
    }
    char buf[4096];
    DWORD n;
    while (ReadFile(rd, buf, sizeof buf, &n, nullptr) && n)
        out->append(buf, n);
    CloseHandle(rd);
    DWORD code = (DWORD)-1;
    if (WaitForSingleObject(pi.hProcess, (DWORD)timeout_ms) == WAIT_OBJECT_0)
        GetExitCodeProcess(pi.hProcess, &code);
    else
        TerminateProcess(pi.hProcess, 1);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return (int)code;
}

} // namespace pkwin
