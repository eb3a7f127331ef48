/* The command builder, and the snapshot of it a run takes at start. */
#ifndef PK_COMMAND_H
#define PK_COMMAND_H

#include <pthread.h>

#include "cancel.h"
#include "handle.h"
#include "process_spawn.h"
#include "processkit.h"

/* Process attributes (user, umask, rlimits, directory fd, fd map, PTY),
 * kept together so the builder and a run's snapshot share one copy routine. */
typedef struct pk_command_attrs {
    int set_ids;
    uint32_t uid, gid;
    pk_gid_t *groups;
    size_t group_count;
    int set_umask;
    uint32_t umask;
    pk_rlimit_set *rlimits;
    size_t rlimit_count;
    int cwd_fd; /* -1 = none */
    pk_fd_map *fd_maps; /* kept sorted by child_fd */
    size_t fd_map_count;
    int pty;
    uint16_t pty_rows, pty_cols;
} pk_command_attrs;

enum pk_stdin_mode { PK_IN_NULL, PK_IN_INHERIT, PK_IN_BYTES, PK_IN_FD, PK_IN_FILE, PK_IN_PIPE };

typedef struct pk_env_op {
    char *key;
    char *entry; /* "KEY=VALUE", or NULL to unset */
} pk_env_op;

typedef struct pk_command_obj {
    pk_object obj;
    pthread_mutex_t lock;
    char *program;
    char **argv; /* NULL-terminated; argv[0] == program */
    size_t argc, argv_cap;
    pk_env_op *env;
    size_t env_count;
    int env_clear;
    char *cwd;
    uint32_t flags;
    int parent_death_signal;
    int stdin_mode;
    uint8_t *stdin_data;
    size_t stdin_len;
    int stdin_fd;
    char *stdin_path;
    int out_mode[3], out_fd[3], policy[3];
    uint64_t limit[3];
    pk_line_fn line_fn[3];
    void *line_user[3];
    pk_line_fn event_fn;
    void *event_user;
    uint32_t timeout_ms, grace_ms;
    int timeout_signal;
    int32_t *ok_codes;
    size_t ok_count;
    pk_group_options group_opts;
    pk_cancel_obj *cancel;
    pk_command_attrs attrs;
} pk_command_obj;

/* What one run needs, copied from the command so the builder can change or
 * go away while the run goes on. */
typedef struct pk_command_plan {
    char *program;
    char **argv;
    char **envp; /* NULL-terminated; its entries are owned_env's */
    char **owned_env;
    size_t owned_count;
    char *cwd;
    uint32_t flags;
    int parent_death_signal;
    int stdin_mode;
    uint8_t *stdin_data;
    size_t stdin_len;
    int stdin_fd;
    char *stdin_path;
    int out_mode[3], out_fd[3], policy[3];
    uint64_t limit[3];
    pk_line_fn line_fn[3];
    void *line_user[3];
    pk_line_fn event_fn;
    void *event_user;
    uint32_t timeout_ms, grace_ms;
    int timeout_signal;
    int32_t *ok_codes;
    size_t ok_count;
    pk_group_options group_opts;
    pk_cancel_obj *cancel; /* referenced */
    pk_command_attrs attrs;
} pk_command_plan;

int pk__command_get(pk_command *handle, const char *fn, pk_command_obj **out);
int pk__command_plan(pk_command_obj *cmd, pk_command_plan *plan);
void pk__command_plan_free(pk_command_plan *plan);

#endif
