/* processkit on Windows against the raw floor, round-robin in one run:
 *   raw        CreateProcessW + WaitForSingleObject (no job, no pipes)
 *   raw_job    the same, created suspended, put in a fresh kill-on-close job, resumed
 *   pk_spawn   pk_group_spawn + pk_child_wait in one long-lived group
 *   pk_run     pk_command_run with stdout captured (a private job per run)
 * Each sample starts pk_test_child "exit 0". Prints medians and ratios to
 * raw. Under wine these are wine's costs, not Windows': see docs/windows.md.
 * usage: spawn_compare PATH_TO_pk_test_child.exe [ROUNDS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "processkit.h"

static double now_us(void)
{
    static LARGE_INTEGER freq;
    if (!freq.QuadPart)
        QueryPerformanceFrequency(&freq);
    LARGE_INTEGER t;
    QueryPerformanceCounter(&t);
    return (double)t.QuadPart * 1e6 / (double)freq.QuadPart;
}

static wchar_t child_w[MAX_PATH];
static const char *child;

static int raw(int with_job)
{
    wchar_t line[MAX_PATH + 32];
    swprintf(line, MAX_PATH + 32, L"\"%ls\" exit 0", child_w);
    STARTUPINFOW si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    HANDLE job = NULL;
    if (with_job) {
        job = CreateJobObjectW(NULL, NULL);
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
        memset(&info, 0, sizeof info);
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info);
    }
    if (!CreateProcessW(child_w, line, NULL, NULL, FALSE, with_job ? CREATE_SUSPENDED : 0, NULL, NULL, &si, &pi))
        return -1;
    if (with_job) {
        AssignProcessToJobObject(job, pi.hProcess);
        ResumeThread(pi.hThread);
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    if (job)
        CloseHandle(job);
    return 0;
}

static pk_group *shared;

static int pk_spawn(void)
{
    const char *argv[] = {child, "exit", "0", NULL};
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.argv = argv;
    so.stdin_fd = so.stdout_fd = so.stderr_fd = PK_STDIO_NULL;
    pk_child *c;
    if (pk_group_spawn(shared, &so, &c) != PK_OK)
        return -1;
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    int rc = pk_child_wait(c, -1, &st);
    pk_child_free(c);
    return rc;
}

static int pk_run(void)
{
    pk_command *cmd;
    pk_command_new(child, &cmd);
    pk_command_arg(cmd, "exit");
    pk_command_arg(cmd, "0");
    pk_result *r;
    int rc = pk_command_run(cmd, &r);
    if (rc == PK_OK)
        pk_result_free(r);
    pk_command_free(cmd);
    return rc;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: spawn_compare PATH_TO_pk_test_child.exe [ROUNDS]\n");
        return 2;
    }
    child = argv[1];
    MultiByteToWideChar(CP_UTF8, 0, child, -1, child_w, MAX_PATH);
    int rounds = argc > 2 ? atoi(argv[2]) : 200;
    if (pk_group_create(NULL, &shared) != PK_OK) {
        fprintf(stderr, "%s\n", pk_last_error());
        return 1;
    }
    static const char *names[4] = {"raw CreateProcess+wait", "raw + kill-on-close job", "pk_group_spawn+wait",
                                   "pk_command_run (capture)"};
    double *t[4];
    for (int k = 0; k < 4; k++)
        t[k] = calloc((size_t)rounds, sizeof(double));
    for (int i = 0; i < rounds; i++) {
        for (int k = 0; k < 4; k++) {
            double t0 = now_us();
            int rc = k == 0 ? raw(0) : k == 1 ? raw(1) : k == 2 ? pk_spawn() : pk_run();
            t[k][i] = now_us() - t0;
            if (rc != 0) {
                fprintf(stderr, "%s failed: %s\n", names[k], pk_last_error());
                return 1;
            }
        }
    }
    double floor = 0;
    printf("%-28s %12s %8s\n", "scenario (rounds)", "median us", "ratio");
    for (int k = 0; k < 4; k++) {
        qsort(t[k], (size_t)rounds, sizeof(double), cmp);
        double median = t[k][rounds / 2];
        if (k == 0)
            floor = median;
        printf("%-28s %12.1f %8.3f\n", names[k], median, median / floor);
        free(t[k]);
    }
    pk_group_free(shared);
    return 0;
}
