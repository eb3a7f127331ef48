/* A plain C user of the installed library: start a tree, free the group,
 * and show that the grandchild died with it. Build it like any C program:
 *   cc contain.c $(pkg-config --cflags --libs processkit) -o contain */
#define _DEFAULT_SOURCE /* pid_t, usleep */
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <processkit.h>

/* A process is gone once it no longer runs: reaped, or a zombie. */
static int running(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int alive = 1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "State:", 6) == 0)
            alive = !strchr(line, 'Z') && !strchr(line, 'X');
    fclose(f);
    return alive;
}

int main(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    const char *argv[] = {"sh", "-c", "sleep 300 & echo $!; wait", NULL};
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.argv = argv;
    so.stdout_fd = fds[1];

    pk_group *group;
    pk_child *child;
    pk_containment c = PK_CONTAINMENT_INIT;
    if (pk_group_create(NULL, &group) != PK_OK || pk_group_containment(group, &c) != PK_OK ||
        pk_group_spawn(group, &so, &child) != PK_OK) {
        fprintf(stderr, "processkit: %s\n", pk_last_error());
        return 1;
    }
    close(fds[1]);
    char buf[32] = "";
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    pid_t grandchild = n > 0 ? (pid_t)atoi(buf) : 0;
    printf("processkit %s, mechanism %s, grandchild %d running: %s\n", pk_version_string(),
           pk_mechanism_name(c.mechanism), (int)grandchild, running(grandchild) ? "yes" : "no");

    pk_group_free(group); /* SIGKILLs the whole tree */
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    pk_child_wait(child, -1, &st);
    pk_child_free(child);
    for (int i = 0; i < 500 && running(grandchild); i++)
        usleep(10000);
    int gone = grandchild > 0 && !running(grandchild);
    printf("after pk_group_free: child killed by signal %d, grandchild gone: %s\n", (int)st.signal,
           gone ? "yes" : "no");
    return gone ? 0 : 1;
}
