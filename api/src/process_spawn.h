/* Starting one child process: the only code that runs between fork and exec. */
#ifndef PK_SPAWN_H
#define PK_SPAWN_H

#include <sys/types.h>

#include "backend.h"

typedef struct pk_spawn_request {
    const char *program;     /* NULL = argv[0] */
    const char *const *argv;
    const char *const *envp; /* NULL = the caller's environ */
    const char *cwd;         /* NULL = unchanged */
    int stdio[3];            /* an fd, PK_STDIO_INHERIT or PK_STDIO_NULL */
    int new_session;
    int search_path;
    int parent_death_signal; /* 0 = none */
    pk_spawn_target target;
} pk_spawn_request;

/* Starts the child. On success *pid and *pidfd (O_CLOEXEC) are set and the
 * child has exec'd (or is about to, in its own process). On failure nothing
 * is left running and the thread's error message says which step failed. */
int pk__spawn(const pk_spawn_request *req, pid_t *pid, int *pidfd);

/* Tests force the pre-clone3 path (glibc clone, no cgroup placement). */
void pk__spawn_force_legacy(int on);

#endif
