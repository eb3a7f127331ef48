/* A process that owns a group and then waits to be killed: the owner-death
 * test SIGKILLs it and checks that its tree dies anyway.
 *   owner_main [--no-keeper] [--backend pgroup]
 * prints "GRANDCHILD <pid>\nLEAF <cgroup dir or ->\n" on stdout, then sleeps. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "processkit.h"

int main(int argc, char **argv)
{
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-keeper") == 0)
            o.flags |= PK_GROUP_NO_OWNER_DEATH_KILL;
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc && strcmp(argv[++i], "pgroup") == 0)
            o.backend = PK_BACKEND_PROCESS_GROUP;
    }
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    const char *script = "sleep 300 & echo $!; wait";
    const char *args[] = {"sh", "-c", script, NULL};
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.argv = args;
    so.stdout_fd = fds[1];
    pk_group *g;
    pk_child *c;
    pk_containment info = PK_CONTAINMENT_INIT;
    if (pk_group_create(&o, &g) != PK_OK || pk_group_spawn(g, &so, &c) != PK_OK ||
        pk_group_containment(g, &info) != PK_OK) {
        fprintf(stderr, "owner: %s\n", pk_last_error());
        return 1;
    }
    close(fds[1]);
    char buf[32] = "";
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    if (n <= 0)
        return 1;
    printf("GRANDCHILD %d\nLEAF %s\nFEATURES %u\n", atoi(buf), info.cgroup_path[0] ? info.cgroup_path : "-",
           info.features);
    fflush(stdout);
    for (;;)
        pause();
}
