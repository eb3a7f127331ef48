/* An owner that dies hard: it makes a group, starts
 * "pk_test_child grandchild sleep 600000" in it, prints the child's and
 * the grandchild's pids, then waits to be killed. The test kills it with
 * TerminateProcess, so pk_group_free never runs: only the kernel closing
 * the job handle (kill-on-close) can take the tree down.
 * usage: owner_helper PATH_TO_pk_test_child.exe */
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>

#include "processkit.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    pk_group *group;
    if (pk_group_create(NULL, &group) != PK_OK) {
        fprintf(stderr, "owner_helper: %s\n", pk_last_error());
        return 3;
    }
    HANDLE rd, wr;
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    if (!CreatePipe(&rd, &wr, &sa, 0))
        return 4;
    int wfd = _open_osfhandle((intptr_t)wr, 0);
    const char *child_argv[] = {argv[1], "grandchild", "sleep", "600000", NULL};
    pk_spawn_options opts = PK_SPAWN_OPTIONS_INIT;
    opts.argv = child_argv;
    opts.stdout_fd = wfd;
    pk_child *child;
    if (pk_group_spawn(group, &opts, &child) != PK_OK) {
        fprintf(stderr, "owner_helper: %s\n", pk_last_error());
        return 5;
    }
    _close(wfd);
    /* The child may write its line in pieces: read up to the newline. */
    char line[64] = {0};
    size_t len = 0;
    DWORD n = 0;
    while (len < sizeof line - 1 && ReadFile(rd, line + len, 1, &n, NULL) && n == 1 && line[len] != '\n')
        len++;
    int32_t pid = 0;
    pk_child_pid(child, &pid);
    printf("%d %lu\n", (int)pid, strtoul(line, NULL, 10));
    fflush(stdout);
    Sleep(INFINITE);
    return 0;
}
