/* Starting one child process: the only code that runs between fork and exec. */
#ifndef PK_SPAWN_H
#define PK_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "platform.h"

/* Process attributes beyond the basics (pk_command_user, _umask, _rlimit,
 * _cwd_fd, _map_fd, _pty). All optional; zeroed = none. */
typedef struct pk_fd_map {
    int child_fd;  /* >= 3 */
    int parent_fd;
} pk_fd_map;

typedef struct pk_rlimit_set {
    int resource;
    uint64_t soft, hard;
} pk_rlimit_set;

typedef struct pk_spawn_extra {
    int set_ids;
    pk_uid_t uid;
    pk_gid_t gid;
    const pk_gid_t *groups;
    size_t group_count;
    int set_umask;
    mode_t umask;
    const pk_rlimit_set *rlimits;
    size_t rlimit_count;
    int cwd_fd;            /* >= 0: fchdir to it (wins over cwd) */
    const pk_fd_map *fd_maps; /* sorted by child_fd */
    size_t fd_map_count;
    int pty_slave_fd;      /* >= 0: the controlling terminal and stdio (implies a new session) */
} pk_spawn_extra;

typedef struct pk_spawn_request {
    const char *program;     /* NULL = argv[0] */
    const char *const *argv;
    const char *const *envp; /* NULL = the caller's environ */
    const char *cwd;         /* NULL = unchanged */
    int stdio[3];            /* an fd, PK_STDIO_INHERIT or PK_STDIO_NULL */
    int new_session;
    int search_path;
    int no_window;           /* Windows only: CREATE_NO_WINDOW */
    int parent_death_signal; /* 0 = none */
    pk_spawn_target target;
    const pk_spawn_extra *extra; /* NULL = none */
} pk_spawn_request;

/* Starts the child. On success *pid and *pidfd (O_CLOEXEC) are set and the
 * child has exec'd (or is about to, in its own process). On failure nothing
 * is left running and the thread's error message says which step failed. */
int pk__spawn(const pk_spawn_request *req, pid_t *pid, int *pidfd);

/* Tests force the pre-clone3 path (glibc clone, no cgroup placement). */
void pk__spawn_force_legacy(int on);

#endif
