/* The Windows backend: one Job Object per group.
 *
 * The job is created with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE and its handle
 * is never inheritable, so the only handle is ours: when it closes (group
 * free, or the kernel closing it because the owner died, even by
 * TerminateProcess) Windows kills every process in the job. Children join
 * while still suspended, and their descendants inherit the job, so nothing
 * runs outside it. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "error.h"
#include "sys_windows.h"

#include <tlhelp32.h> /* after windows.h, which it needs */

#define KILLED_EXIT_CODE 1

typedef struct frozen_thread {
    HANDLE thread;
    DWORD tid;
} frozen_thread;

typedef struct job_state {
    HANDLE job;
    /* Threads we suspended, each once, so resume undoes exactly our part and
     * a thread someone else suspended stays suspended. */
    frozen_thread *frozen;
    size_t frozen_len, frozen_cap;
    int suspended;
} job_state;

static const uint32_t JOB_FEATURES = PK_FEATURE_CONTAINS_SETSID | PK_FEATURE_ATOMIC_KILL | PK_FEATURE_ALL_MEMBERS |
                                     PK_FEATURE_CPU_STATS | PK_FEATURE_MEMORY_STATS | PK_FEATURE_LIMIT_MEMORY |
                                     PK_FEATURE_LIMIT_PIDS | PK_FEATURE_LIMIT_CPU | PK_FEATURE_OWNER_DEATH;

static void job_probe(pk_backend_probe *out)
{
    memset(out, 0, sizeof *out);
    out->available = 1;
    out->features = JOB_FEATURES;
}

static int set_cpu_rate(HANDLE job, double cores)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    double share = cores / (double)(si.dwNumberOfProcessors ? si.dwNumberOfProcessors : 1);
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION rate;
    memset(&rate, 0, sizeof rate);
    rate.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
    /* Units of 1/100 of a percent of the whole machine, at least 1. */
    DWORD units = share >= 1.0 ? 10000 : (DWORD)(share * 10000.0);
    rate.CpuRate = units ? units : 1;
    if (!SetInformationJobObject(job, JobObjectCpuRateControlInformation, &rate, sizeof rate))
        return pk__fail_win(PK_ERR_LIMIT, GetLastError(), "pk_group_create: the job refused a CPU rate of %.2f cores",
                            cores);
    return PK_OK;
}

static int job_create(const pk_limits *limits, void **state)
{
    job_state *s = calloc(1, sizeof *s);
    if (!s)
        return pk__fail(PK_ERR_NOMEM, "pk_group_create: out of memory");
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    s->job = CreateJobObjectW(&sa, NULL);
    if (!s->job) {
        free(s);
        return pk__fail_win(PK_ERR_OS, GetLastError(), "pk_group_create: CreateJobObject");
    }
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    memset(&info, 0, sizeof info);
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (limits->memory_max) {
        info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
        info.JobMemoryLimit = (SIZE_T)limits->memory_max;
    }
    if (limits->pids_max) {
        info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
        info.BasicLimitInformation.ActiveProcessLimit = limits->pids_max > 0xffffffffu ? 0xffffffffu
                                                                                       : (DWORD)limits->pids_max;
    }
    int rc = PK_OK;
    if (!SetInformationJobObject(s->job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
        DWORD err = GetLastError();
        rc = pk__fail_win(limits->memory_max || limits->pids_max ? PK_ERR_LIMIT : PK_ERR_OS, err,
                          "pk_group_create: SetInformationJobObject(kill on close%s)",
                          limits->memory_max || limits->pids_max ? " and limits" : "");
    }
    if (rc == PK_OK && limits->cpu_max > 0)
        rc = set_cpu_rate(s->job, limits->cpu_max);
    if (rc != PK_OK) {
        CloseHandle(s->job);
        free(s);
        return rc;
    }
    *state = s;
    return PK_OK;
}

static void thaw(job_state *s)
{
    for (size_t i = 0; i < s->frozen_len; i++) {
        ResumeThread(s->frozen[i].thread);
        CloseHandle(s->frozen[i].thread);
    }
    s->frozen_len = 0;
    s->suspended = 0;
}

static void job_destroy(void *state, int spare)
{
    job_state *s = state;
    thaw(s);
    int close_job = 1;
    if (spare) {
        /* Survivors must outlive the handle: lift kill-on-close first. If
         * that fails, closing would kill them, so the handle is left open
         * for the life of the process instead. */
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
        memset(&info, 0, sizeof info);
        close_job = SetInformationJobObject(s->job, JobObjectExtendedLimitInformation, &info, sizeof info) != 0;
    }
    if (close_job)
        CloseHandle(s->job);
    free(s->frozen);
    free(s);
}

static int job_prepare_spawn(void *state, pk_spawn_target *target)
{
    (void)state, (void)target; /* placement happens in track, while the child is suspended */
    return PK_OK;
}

static int assign(job_state *s, pid_t pid, pk_proc_ref proc, const char *fn)
{
    if (AssignProcessToJobObject(s->job, proc))
        return PK_OK;
    DWORD err = GetLastError();
    return pk__fail_win(pk__code_from_win(err), err, "%s: AssignProcessToJobObject(pid %d)", fn, (int)pid);
}

static int job_track(void *state, pid_t pid, pk_proc_ref proc, int new_session)
{
    (void)new_session; /* a console group changes nothing about job membership */
    return assign(state, pid, proc, "pk_group_spawn");
}

static int job_adopt(void *state, pid_t pid, pk_proc_ref proc)
{
    return assign(state, pid, proc, "pk_group_adopt");
}

static int job_signal_all(void *state, int sig)
{
    (void)state;
    return pk__fail(PK_ERR_UNSUPPORTED, "signal %d: a job object can only be killed as a whole (SIGKILL); Windows "
                                        "has no other signals", sig);
}

static int job_kill_all(void *state)
{
    job_state *s = state;
    if (!TerminateJobObject(s->job, KILLED_EXIT_CODE))
        return pk__fail_win(PK_ERR_OS, GetLastError(), "TerminateJobObject");
    return PK_OK;
}

/* The job's live pids (the list can grow between the size query and the
 * read, hence the loop). */
static int job_pids(job_state *s, pk_pid_list *out)
{
    DWORD cap = 64;
    for (;;) {
        size_t bytes = sizeof(JOBOBJECT_BASIC_PROCESS_ID_LIST) + cap * sizeof(ULONG_PTR);
        JOBOBJECT_BASIC_PROCESS_ID_LIST *list = calloc(1, bytes);
        if (!list)
            return pk__fail(PK_ERR_NOMEM, "out of memory for the job's pid list");
        list->NumberOfAssignedProcesses = cap;
        BOOL ok = QueryInformationJobObject(s->job, JobObjectBasicProcessIdList, list, (DWORD)bytes, NULL);
        DWORD err = GetLastError();
        if (!ok && err != ERROR_MORE_DATA) {
            free(list);
            return pk__fail_win(PK_ERR_OS, err, "QueryInformationJobObject(process ids)");
        }
        if (ok && list->NumberOfProcessIdsInList >= list->NumberOfAssignedProcesses) {
            int rc = PK_OK;
            for (DWORD i = 0; i < list->NumberOfProcessIdsInList && rc == PK_OK; i++)
                rc = pk__pid_list_push(out, (int32_t)list->ProcessIdList[i]);
            free(list);
            return rc;
        }
        cap = list->NumberOfAssignedProcesses > cap ? list->NumberOfAssignedProcesses + 16 : cap * 2;
        free(list);
    }
}

static int job_members(void *state, pk_pid_list *out)
{
    return job_pids(state, out);
}

static int already_frozen(job_state *s, DWORD tid)
{
    for (size_t i = 0; i < s->frozen_len; i++)
        if (s->frozen[i].tid == tid)
            return 1;
    return 0;
}

static int remember(job_state *s, HANDLE thread, DWORD tid)
{
    if (s->frozen_len == s->frozen_cap) {
        size_t cap = s->frozen_cap ? s->frozen_cap * 2 : 32;
        frozen_thread *grown = realloc(s->frozen, cap * sizeof *grown);
        if (!grown)
            return pk__fail(PK_ERR_NOMEM, "pk_group_suspend: out of memory");
        s->frozen = grown;
        s->frozen_cap = cap;
    }
    s->frozen[s->frozen_len++] = (frozen_thread){thread, tid};
    return PK_OK;
}

static int thread_in_job(job_state *s, HANDLE thread)
{
    DWORD pid = GetProcessIdOfThread(thread);
    HANDLE proc = pid ? OpenProcess(PROCESS_QUERY_INFORMATION, FALSE, pid) : NULL;
    if (!proc)
        return 0;
    BOOL in = FALSE;
    int ok = IsProcessInJob(proc, s->job, &in) && in;
    CloseHandle(proc);
    return ok;
}

/* One pass over every thread of every member; returns how many threads it
 * newly suspended. */
static int suspend_pass(job_state *s, size_t *newly)
{
    pk_pid_list pids = {0};
    int rc = job_pids(s, &pids);
    if (rc != PK_OK)
        return rc;
    *newly = 0;
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    if (snap == INVALID_HANDLE_VALUE) {
        pk__pid_list_free(&pids);
        return pk__fail_win(PK_ERR_OS, GetLastError(), "pk_group_suspend: thread snapshot");
    }
    THREADENTRY32 e;
    e.dwSize = sizeof e;
    for (BOOL ok = Thread32First(snap, &e); ok && rc == PK_OK; ok = Thread32Next(snap, &e)) {
        int member = 0;
        for (size_t i = 0; i < pids.len && !member; i++)
            member = (DWORD)pids.pids[i] == e.th32OwnerProcessID;
        if (!member || already_frozen(s, e.th32ThreadID))
            continue;
        HANDLE t = OpenThread(THREAD_SUSPEND_RESUME | THREAD_QUERY_LIMITED_INFORMATION | THREAD_GET_CONTEXT, FALSE,
                              e.th32ThreadID);
        if (!t)
            continue; /* it exited since the snapshot */
        /* The tid may have been reused since the snapshot: suspend only a
         * thread whose process is in our job now (the open thread handle
         * keeps that thread, and so its process, from going away). */
        if (!thread_in_job(s, t) || SuspendThread(t) == (DWORD)-1) {
            CloseHandle(t);
            continue;
        }
        /* SuspendThread is asynchronous; reading the context waits until the
         * thread has really stopped, so the next pass sees what it started. */
        CONTEXT ctx;
        ctx.ContextFlags = CONTEXT_CONTROL;
        (void)GetThreadContext(t, &ctx);
        rc = remember(s, t, e.th32ThreadID);
        if (rc != PK_OK) {
            ResumeThread(t);
            CloseHandle(t);
        } else {
            (*newly)++;
        }
    }
    CloseHandle(snap);
    pk__pid_list_free(&pids);
    return rc;
}

/* Windows has no job-wide freeze: suspend every thread of every member.
 * A member can start a thread or a process while we go, so repeat until a
 * pass finds nothing new running. */
static int job_suspend(void *state)
{
    job_state *s = state;
    if (s->suspended)
        return PK_OK;
    for (int pass = 0; pass < 64; pass++) {
        size_t newly = 0;
        int rc = suspend_pass(s, &newly);
        if (rc != PK_OK) {
            thaw(s);
            return rc;
        }
        if (newly == 0 && pass > 0) {
            s->suspended = 1;
            return PK_OK;
        }
    }
    thaw(s);
    return pk__fail(PK_ERR_OS, "pk_group_suspend: the job kept starting threads faster than they could be suspended");
}

static int job_resume(void *state)
{
    thaw(state);
    return PK_OK;
}

static int job_stats(void *state, pk_group_stats *out)
{
    job_state *s = state;
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION acct;
    if (!QueryInformationJobObject(s->job, JobObjectBasicAccountingInformation, &acct, sizeof acct, NULL))
        return pk__fail_win(PK_ERR_OS, GetLastError(), "QueryInformationJobObject(accounting)");
    out->live_processes = acct.ActiveProcesses;
    /* 100 ns units, exited members included. */
    out->cpu_time_us = (int64_t)((acct.TotalUserTime.QuadPart + acct.TotalKernelTime.QuadPart) / 10);
    /* The peak of committed memory. A job that has held a process cannot
     * have a peak of 0: that is a host that does not keep it (wine). */
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION ext;
    if (QueryInformationJobObject(s->job, JobObjectExtendedLimitInformation, &ext, sizeof ext, NULL) &&
        (ext.PeakJobMemoryUsed > 0 || acct.TotalProcesses == 0))
        out->peak_memory_bytes = (int64_t)ext.PeakJobMemoryUsed;
    else
        out->peak_memory_bytes = -1;
    return PK_OK;
}

static int job_drained(void *state)
{
    job_state *s = state;
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION acct;
    if (!QueryInformationJobObject(s->job, JobObjectBasicAccountingInformation, &acct, sizeof acct, NULL))
        return 0;
    return acct.ActiveProcesses == 0;
}

const pk_backend_ops pk__backend_job_object = {
    .version = 1,
    .name = "job-object",
    .backend_id = PK_BACKEND_JOB_OBJECT,
    .mechanism = PK_MECHANISM_JOB_OBJECT,
    .probe = job_probe,
    .create = job_create,
    .destroy = job_destroy,
    .prepare_spawn = job_prepare_spawn,
    .track = job_track,
    .adopt = job_adopt,
    .signal = job_signal_all,
    .kill = job_kill_all,
    .suspend = job_suspend,
    .resume = job_resume,
    .members = job_members,
    .stats = job_stats,
    .drained = job_drained,
    /* no drain_fd: a job signals no fd; the core re-checks on a short interval */
};
