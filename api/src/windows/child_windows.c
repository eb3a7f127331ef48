/* The Windows side of children: process HANDLEs. A held HANDLE keeps the
 * pid from being reused, so nothing here can touch a stranger. */
#include <string.h>

#include "child.h"
#include "sys_windows.h"

#include <tlhelp32.h> /* after windows.h, which it needs */

/* What a job kill and pk_child_signal(SIGKILL) leave as the exit code: the
 * same as the Rust standard library's Child::kill. */
#define KILLED_EXIT_CODE 1

int pk__child_reap_now(pk_child_obj *child)
{
    DWORD w = WaitForSingleObject(child->proc, 0);
    if (w == WAIT_TIMEOUT)
        return 0;
    if (w != WAIT_OBJECT_0)
        return pk__fail_win(PK_ERR_OS, GetLastError(), "waiting for pid %d", (int)child->pid);
    DWORD code = 0;
    if (!GetExitCodeProcess(child->proc, &code))
        return pk__fail_win(PK_ERR_OS, GetLastError(), "reading the exit code of pid %d", (int)child->pid);
    memset(&child->status, 0, sizeof child->status);
    child->status.size = sizeof child->status;
    child->status.kind = PK_EXIT_CODE;
    child->status.code = (int32_t)code; /* NTSTATUS crash codes stay visible as negative numbers */
    child->reaped = 1;
    return 1;
}

int pk__proc_wait(pk_child_obj *child, int timeout_ms)
{
    DWORD w = WaitForSingleObject(child->proc, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
    if (w == WAIT_OBJECT_0)
        return 1;
    if (w == WAIT_TIMEOUT)
        return 0;
    return pk__fail_win(PK_ERR_OS, GetLastError(), "waiting for pid %d", (int)child->pid);
}

int pk__proc_signal(pk_child_obj *child, int sig)
{
    if (sig != SIGKILL)
        return pk__fail(PK_ERR_UNSUPPORTED, "pk_child_signal: Windows has no signal %d; only SIGKILL (9), "
                                            "which terminates the process", sig);
    if (!TerminateProcess(child->proc, KILLED_EXIT_CODE) && WaitForSingleObject(child->proc, 0) != WAIT_OBJECT_0)
        return pk__fail_win(PK_ERR_OS, GetLastError(), "pk_child_signal: TerminateProcess(pid %d)", (int)child->pid);
    return PK_OK;
}

int pk__proc_pollfd(pk_child_obj *child, int *fd)
{
    (void)child, (void)fd;
    return pk__fail(PK_ERR_UNSUPPORTED, "pk_child_pollfd: Windows has no fd for a process; wait with pk_child_wait "
                                        "or a pk_loop");
}

void pk__proc_close(pk_proc_ref proc)
{
    CloseHandle(proc);
}

int pk__child_start(pk_child_obj *child)
{
    if (!child->thread)
        return PK_OK;
    DWORD prev = ResumeThread(child->thread);
    CloseHandle(child->thread);
    child->thread = NULL;
    if (prev == (DWORD)-1)
        return pk__fail_win(PK_ERR_OS, GetLastError(), "pk_group_spawn: resuming pid %d", (int)child->pid);
    return PK_OK;
}

void pk__child_discard(pk_child_obj *child)
{
    TerminateProcess(child->proc, KILLED_EXIT_CODE);
    WaitForSingleObject(child->proc, INFINITE);
    if (child->thread) {
        CloseHandle(child->thread);
        child->thread = NULL;
    }
    pthread_mutex_lock(&child->lock);
    (void)pk__child_reap_now(child);
    pthread_mutex_unlock(&child->lock);
    pk__object_unref(&child->obj);
}

void pk__child_wait_any(pk_child_obj *const *children, size_t count, int drain_fd, int timeout_ms)
{
    (void)drain_fd; /* jobs offer no fd; the core re-checks on a short interval */
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    DWORD n = 0;
    for (size_t i = 0; i < count && n < MAXIMUM_WAIT_OBJECTS; i++)
        h[n++] = children[i]->proc;
    if (n)
        (void)WaitForMultipleObjects(n, h, FALSE, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
    else
        Sleep(timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
}

static int creation_time(HANDLE proc, ULONGLONG *out)
{
    FILETIME created, exited, kernel, user;
    if (!GetProcessTimes(proc, &created, &exited, &kernel, &user))
        return 0;
    *out = ((ULONGLONG)created.dwHighDateTime << 32) | created.dwLowDateTime;
    return 1;
}

/* The parent pid Windows recorded for pid, or 0. */
static DWORD parent_of(DWORD pid)
{
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snap == INVALID_HANDLE_VALUE)
        return 0;
    PROCESSENTRY32W e;
    e.dwSize = sizeof e;
    DWORD parent = 0;
    for (BOOL ok = Process32FirstW(snap, &e); ok; ok = Process32NextW(snap, &e))
        if (e.th32ProcessID == pid) {
            parent = e.th32ParentProcessID;
            break;
        }
    CloseHandle(snap);
    return parent;
}

int pk__proc_open_child(int32_t pid, pk_proc_ref *out)
{
    HANDLE h = OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE |
                               PROCESS_SUSPEND_RESUME,
                           FALSE, (DWORD)pid);
    if (!h) {
        DWORD err = GetLastError();
        return err == ERROR_INVALID_PARAMETER
                   ? pk__fail(PK_ERR_NO_PROCESS, "pk_group_adopt: no process has pid %d", (int)pid)
                   : pk__fail_win(pk__code_from_win(err), err, "pk_group_adopt: OpenProcess(%d)", (int)pid);
    }
    if (WaitForSingleObject(h, 0) == WAIT_OBJECT_0) {
        CloseHandle(h);
        return 0; /* exited: nothing left to contain */
    }
    /* Windows recycles pids, and a parent pid can name a dead parent's
     * successor. A process that records us as its parent and was created
     * after us is one we created (or one created on our behalf, with
     * PROC_THREAD_ATTRIBUTE_PARENT_PROCESS, by someone with rights over us). */
    ULONGLONG mine = 0, theirs = 0;
    if (parent_of((DWORD)pid) != GetCurrentProcessId() || !creation_time(GetCurrentProcess(), &mine) ||
        !creation_time(h, &theirs) || theirs < mine) {
        CloseHandle(h);
        return pk__fail(PK_ERR_NO_PROCESS, "pk_group_adopt: pid %d is not a child of this process", (int)pid);
    }
    *out = h;
    return 1;
}
