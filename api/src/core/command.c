/* The command builder. Setters copy what they are given; a run takes a
 * snapshot (pk__command_plan), so a command can be reused and changed while
 * earlier runs of it go on. */
#include "command.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/resource.h>
#endif

#include "abi_struct.h"
#include "error.h"

extern char **environ;

static void attrs_free(pk_command_attrs *a)
{
    free(a->groups);
    free(a->rlimits);
    free(a->fd_maps);
    memset(a, 0, sizeof *a);
    a->cwd_fd = -1;
}

/* Deep copy; returns 0, or -1 when out of memory (dst then holds nothing). */
static int attrs_copy(pk_command_attrs *dst, const pk_command_attrs *src)
{
    *dst = *src;
    dst->groups = NULL;
    dst->rlimits = NULL;
    dst->fd_maps = NULL;
    if (src->group_count && !(dst->groups = malloc(src->group_count * sizeof *dst->groups)))
        goto oom;
    if (src->rlimit_count && !(dst->rlimits = malloc(src->rlimit_count * sizeof *dst->rlimits)))
        goto oom;
    if (src->fd_map_count && !(dst->fd_maps = malloc(src->fd_map_count * sizeof *dst->fd_maps)))
        goto oom;
    if (src->group_count)
        memcpy(dst->groups, src->groups, src->group_count * sizeof *dst->groups);
    if (src->rlimit_count)
        memcpy(dst->rlimits, src->rlimits, src->rlimit_count * sizeof *dst->rlimits);
    if (src->fd_map_count)
        memcpy(dst->fd_maps, src->fd_maps, src->fd_map_count * sizeof *dst->fd_maps);
    return 0;
oom:
    attrs_free(dst);
    return -1;
}

static void command_destroy(pk_object *obj)
{
    pk_command_obj *cmd = (pk_command_obj *)obj;
    free(cmd->program);
    for (size_t i = 0; i < cmd->argc; i++)
        free(cmd->argv[i]);
    free(cmd->argv);
    for (size_t i = 0; i < cmd->env_count; i++) {
        free(cmd->env[i].key);
        free(cmd->env[i].entry);
    }
    free(cmd->env);
    free(cmd->cwd);
    free(cmd->stdin_data);
    free(cmd->stdin_path);
    free(cmd->ok_codes);
    if (cmd->cancel)
        pk__object_unref(&cmd->cancel->obj);
    attrs_free(&cmd->attrs);
    pthread_mutex_destroy(&cmd->lock);
    free(cmd);
}

int pk__command_get(pk_command *handle, const char *fn, pk_command_obj **out)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_get(handle, PK_OBJ_COMMAND, fn, &obj);
    if (rc == PK_OK) {
        *out = (pk_command_obj *)obj;
        pthread_mutex_lock(&(*out)->lock);
    }
    return rc;
}

static int done(pk_command_obj *cmd, int rc)
{
    pthread_mutex_unlock(&cmd->lock);
    pk__object_unref(&cmd->obj);
    return rc;
}

static int push_arg(pk_command_obj *cmd, const char *arg)
{
    if (cmd->argc + 2 > cmd->argv_cap) {
        size_t cap = cmd->argv_cap ? cmd->argv_cap * 2 : 8;
        char **grown = realloc(cmd->argv, cap * sizeof *grown);
        if (!grown)
            return pk__fail(PK_ERR_NOMEM, "pk_command_arg: out of memory");
        cmd->argv = grown;
        cmd->argv_cap = cap;
    }
    char *copy = strdup(arg);
    if (!copy)
        return pk__fail(PK_ERR_NOMEM, "pk_command_arg: out of memory");
    cmd->argv[cmd->argc++] = copy;
    cmd->argv[cmd->argc] = NULL;
    return PK_OK;
}

int pk_command_new(const char *program, pk_command **out)
{
    pk__clear_error();
    if (!program || !out)
        return pk__fail(PK_ERR_INVALID, "pk_command_new: %s is NULL", !program ? "program" : "out");
    if (!program[0])
        return pk__fail(PK_ERR_INVALID, "pk_command_new: the program name is empty");
    pk_command_obj *cmd = calloc(1, sizeof *cmd);
    if (!cmd)
        return pk__fail(PK_ERR_NOMEM, "pk_command_new: out of memory");
    pk__object_init(&cmd->obj, PK_OBJ_COMMAND, command_destroy);
    pthread_mutex_init(&cmd->lock, NULL);
    cmd->stdin_mode = PK_IN_NULL;
    cmd->stdin_fd = -1;
    cmd->attrs.cwd_fd = -1;
    cmd->timeout_signal = SIGTERM;
    pk_group_options defaults = PK_GROUP_OPTIONS_INIT;
    cmd->group_opts = defaults;
    cmd->program = strdup(program);
    int rc = cmd->program ? push_arg(cmd, program) : pk__fail(PK_ERR_NOMEM, "pk_command_new: out of memory");
    void *h = NULL;
    if (rc == PK_OK)
        rc = pk__handle_new(&cmd->obj, &h);
    if (rc != PK_OK) {
        pk__object_unref(&cmd->obj);
        return rc;
    }
    *out = h;
    return PK_OK;
}

int pk_command_free(pk_command *handle)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_retire(handle, PK_OBJ_COMMAND, "pk_command_free", &obj);
    if (rc == PK_OK)
        pk__object_unref(obj);
    return rc;
}

int pk_command_arg(pk_command *handle, const char *arg)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_arg", &cmd);
    if (rc != PK_OK)
        return rc;
    return done(cmd, arg ? push_arg(cmd, arg) : pk__fail(PK_ERR_INVALID, "pk_command_arg: arg is NULL"));
}

static int set_env(pk_command_obj *cmd, const char *key, const char *value, const char *fn)
{
    if (!key || !key[0] || strchr(key, '='))
        return pk__fail(PK_ERR_INVALID, "%s: the key must be non-empty and hold no '='", fn);
    char *entry = NULL;
    if (value) {
        size_t len = strlen(key) + 1 + strlen(value) + 1;
        entry = malloc(len);
        if (!entry)
            return pk__fail(PK_ERR_NOMEM, "%s: out of memory", fn);
        pk__format(entry, len, "%s=%s", key, value);
    }
    for (size_t i = 0; i < cmd->env_count; i++) {
        if (strcmp(cmd->env[i].key, key) == 0) {
            free(cmd->env[i].entry);
            cmd->env[i].entry = entry;
            return PK_OK;
        }
    }
    pk_env_op *grown = realloc(cmd->env, (cmd->env_count + 1) * sizeof *grown);
    char *key_copy = strdup(key);
    if (!grown || !key_copy) {
        if (grown)
            cmd->env = grown;
        free(key_copy);
        free(entry);
        return pk__fail(PK_ERR_NOMEM, "%s: out of memory", fn);
    }
    cmd->env = grown;
    cmd->env[cmd->env_count++] = (pk_env_op){.key = key_copy, .entry = entry};
    return PK_OK;
}

int pk_command_env(pk_command *handle, const char *key, const char *value)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_env", &cmd);
    if (rc != PK_OK)
        return rc;
    if (!value)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_env: value is NULL (use pk_command_env_unset)"));
    return done(cmd, set_env(cmd, key, value, "pk_command_env"));
}

int pk_command_env_unset(pk_command *handle, const char *key)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_env_unset", &cmd);
    if (rc != PK_OK)
        return rc;
    return done(cmd, set_env(cmd, key, NULL, "pk_command_env_unset"));
}

int pk_command_env_clear(pk_command *handle)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_env_clear", &cmd);
    if (rc != PK_OK)
        return rc;
    cmd->env_clear = 1;
    return done(cmd, PK_OK);
}

static int replace_string(char **slot, const char *value, const char *fn)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return pk__fail(PK_ERR_NOMEM, "%s: out of memory", fn);
    free(*slot);
    *slot = copy;
    return PK_OK;
}

int pk_command_cwd(pk_command *handle, const char *dir)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_cwd", &cmd);
    if (rc != PK_OK)
        return rc;
    if (dir && !dir[0])
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_cwd: the directory is empty"));
    return done(cmd, replace_string(&cmd->cwd, dir, "pk_command_cwd"));
}

int pk_command_flags(pk_command *handle, uint32_t flags)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_flags", &cmd);
    if (rc != PK_OK)
        return rc;
    if (flags & ~(uint32_t)(PK_COMMAND_NEW_SESSION | PK_COMMAND_NO_WINDOW))
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_flags: unknown flags 0x%x", (unsigned)flags));
    cmd->flags = flags;
    return done(cmd, PK_OK);
}

int pk_command_parent_death_signal(pk_command *handle, int32_t sig)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_parent_death_signal", &cmd);
    if (rc != PK_OK)
        return rc;
    if (sig < 0 || sig >= PK_NSIG)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_parent_death_signal: %d is not a signal", (int)sig));
    cmd->parent_death_signal = sig;
    return done(cmd, PK_OK);
}

static void reset_stdin(pk_command_obj *cmd, int mode)
{
    free(cmd->stdin_data);
    free(cmd->stdin_path);
    cmd->stdin_data = NULL;
    cmd->stdin_path = NULL;
    cmd->stdin_len = 0;
    cmd->stdin_fd = -1;
    cmd->stdin_mode = mode;
}

int pk_command_stdin_null(pk_command *handle)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_stdin_null", &cmd);
    if (rc != PK_OK)
        return rc;
    reset_stdin(cmd, PK_IN_NULL);
    return done(cmd, PK_OK);
}

int pk_command_stdin_inherit(pk_command *handle)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_stdin_inherit", &cmd);
    if (rc != PK_OK)
        return rc;
    reset_stdin(cmd, PK_IN_INHERIT);
    return done(cmd, PK_OK);
}

int pk_command_stdin_pipe(pk_command *handle)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_stdin_pipe", &cmd);
    if (rc != PK_OK)
        return rc;
    reset_stdin(cmd, PK_IN_PIPE);
    return done(cmd, PK_OK);
}

int pk_command_stdin_bytes(pk_command *handle, const void *data, size_t len)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_stdin_bytes", &cmd);
    if (rc != PK_OK)
        return rc;
    if (!data && len)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_stdin_bytes: data is NULL with len %zu", len));
    if (len > PTRDIFF_MAX) /* no object is that large: a wrapped length */
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_stdin_bytes: len %zu is larger than any buffer", len));
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return done(cmd, pk__fail(PK_ERR_NOMEM, "pk_command_stdin_bytes: out of memory for %zu bytes", len));
    if (len)
        memcpy(copy, data, len);
    reset_stdin(cmd, PK_IN_BYTES);
    cmd->stdin_data = copy;
    cmd->stdin_len = len;
    return done(cmd, PK_OK);
}

int pk_command_stdin_fd(pk_command *handle, int fd)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_stdin_fd", &cmd);
    if (rc != PK_OK)
        return rc;
    if (fd < 0 || !pk__fd_is_open(fd))
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_stdin_fd: %d is not an open fd", fd));
    reset_stdin(cmd, PK_IN_FD);
    cmd->stdin_fd = fd;
    return done(cmd, PK_OK);
}

int pk_command_stdin_file(pk_command *handle, const char *path)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_stdin_file", &cmd);
    if (rc != PK_OK)
        return rc;
    if (!path || !path[0])
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_stdin_file: path is %s", !path ? "NULL" : "empty"));
    char *copy = strdup(path);
    if (!copy)
        return done(cmd, pk__fail(PK_ERR_NOMEM, "pk_command_stdin_file: out of memory"));
    reset_stdin(cmd, PK_IN_FILE);
    cmd->stdin_path = copy;
    return done(cmd, PK_OK);
}

static int check_stream(int32_t stream, const char *fn)
{
    if (stream != PK_STREAM_STDOUT && stream != PK_STREAM_STDERR)
        return pk__fail(PK_ERR_INVALID, "%s: stream %d is neither PK_STREAM_STDOUT nor PK_STREAM_STDERR", fn,
                        (int)stream);
    return PK_OK;
}

int pk_command_output(pk_command *handle, int32_t stream, int32_t mode, int fd)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_output", &cmd);
    if (rc != PK_OK)
        return rc;
    rc = check_stream(stream, "pk_command_output");
    if (rc == PK_OK && (mode < PK_OUTPUT_CAPTURE || mode > PK_OUTPUT_MERGE))
        rc = pk__fail(PK_ERR_INVALID, "pk_command_output: mode %d is not a pk_output_mode", (int)mode);
    if (rc == PK_OK && mode == PK_OUTPUT_MERGE && stream != PK_STREAM_STDERR)
        rc = pk__fail(PK_ERR_INVALID, "pk_command_output: only stderr can be merged (into stdout)");
    if (rc == PK_OK && mode == PK_OUTPUT_FD && (fd < 0 || !pk__fd_is_open(fd)))
        rc = pk__fail(PK_ERR_INVALID, "pk_command_output: %d is not an open fd", fd);
    if (rc == PK_OK) {
        cmd->out_mode[stream] = mode;
        cmd->out_fd[stream] = mode == PK_OUTPUT_FD ? fd : -1;
    }
    return done(cmd, rc);
}

int pk_command_output_limit(pk_command *handle, int32_t stream, uint64_t max_bytes, int32_t policy)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_output_limit", &cmd);
    if (rc != PK_OK)
        return rc;
    rc = check_stream(stream, "pk_command_output_limit");
    if (rc == PK_OK && (policy < PK_OVERFLOW_KEEP_HEAD || policy > PK_OVERFLOW_ERROR))
        rc = pk__fail(PK_ERR_INVALID, "pk_command_output_limit: policy %d is not a pk_overflow", (int)policy);
    if (rc == PK_OK && max_bytes > SIZE_MAX / 2)
        rc = pk__fail(PK_ERR_INVALID, "pk_command_output_limit: %llu bytes cannot be held in memory",
                      (unsigned long long)max_bytes);
    if (rc == PK_OK) {
        cmd->limit[stream] = max_bytes;
        cmd->policy[stream] = policy;
    }
    return done(cmd, rc);
}

int pk_command_on_line(pk_command *handle, int32_t stream, pk_line_fn fn, void *user)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_on_line", &cmd);
    if (rc != PK_OK)
        return rc;
    rc = check_stream(stream, "pk_command_on_line");
    if (rc == PK_OK) {
        cmd->line_fn[stream] = fn;
        cmd->line_user[stream] = user;
    }
    return done(cmd, rc);
}

int pk_command_on_event(pk_command *handle, pk_line_fn fn, void *user)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_on_event", &cmd);
    if (rc != PK_OK)
        return rc;
    cmd->event_fn = fn;
    cmd->event_user = user;
    return done(cmd, PK_OK);
}

int pk_command_timeout(pk_command *handle, uint32_t timeout_ms, int32_t sig, uint32_t grace_ms)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_timeout", &cmd);
    if (rc != PK_OK)
        return rc;
    if (sig < 0 || sig >= PK_NSIG)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_timeout: %d is not a signal", (int)sig));
    cmd->timeout_ms = timeout_ms;
    cmd->timeout_signal = sig ? sig : SIGTERM;
    cmd->grace_ms = grace_ms;
    return done(cmd, PK_OK);
}

int pk_command_ok_codes(pk_command *handle, const int32_t *codes, size_t count)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_ok_codes", &cmd);
    if (rc != PK_OK)
        return rc;
    if (count && !codes)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_ok_codes: codes is NULL with count %zu", count));
    if (count > 4096)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_ok_codes: %zu codes is more than 4096", count));
    int32_t *copy = NULL;
    if (count) {
        copy = malloc(count * sizeof *copy);
        if (!copy)
            return done(cmd, pk__fail(PK_ERR_NOMEM, "pk_command_ok_codes: out of memory"));
        memcpy(copy, codes, count * sizeof *copy);
    }
    free(cmd->ok_codes);
    cmd->ok_codes = copy;
    cmd->ok_count = count;
    return done(cmd, PK_OK);
}

int pk_command_group_options(pk_command *handle, const pk_group_options *opts)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_group_options", &cmd);
    if (rc != PK_OK)
        return rc;
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    if (!opts)
        rc = pk__fail(PK_ERR_INVALID, "pk_command_group_options: opts is NULL");
    else
        rc = pk__struct_in(&pk__layout_group_options, &o, opts, "pk_command_group_options: opts");
    if (rc == PK_OK)
        cmd->group_opts = o;
    return done(cmd, rc);
}

int pk_command_cancel_on(pk_command *handle, pk_cancel *token)
{
    pk_command_obj *cmd;
    int rc = pk__command_get(handle, "pk_command_cancel_on", &cmd);
    if (rc != PK_OK)
        return rc;
    pk_object *obj = NULL;
    if (token)
        rc = pk__handle_get(token, PK_OBJ_CANCEL, "pk_command_cancel_on", &obj);
    if (rc == PK_OK) {
        if (cmd->cancel)
            pk__object_unref(&cmd->cancel->obj);
        cmd->cancel = (pk_cancel_obj *)obj;
    }
    return done(cmd, rc);
}

static char **copy_strings(char *const *src, size_t n)
{
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        if (!(out[i] = strdup(src[i]))) {
            for (size_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

/* The child's environment: the caller's (unless cleared), minus unset keys,
 * with set keys replaced or added. Every entry is a copy the plan owns. */
static int build_env(pk_command_obj *cmd, pk_command_plan *plan)
{
    size_t base = 0;
    if (!cmd->env_clear)
        while (environ && environ[base])
            base++;
    char **envp = calloc(base + cmd->env_count + 1, sizeof *envp);
    char **owned = calloc(base + cmd->env_count + 1, sizeof *owned);
    if (!envp || !owned) {
        free(envp);
        free(owned);
        return pk__fail(PK_ERR_NOMEM, "out of memory for the environment");
    }
    size_t n = 0, o = 0;
    for (size_t i = 0; i < base; i++) {
        const char *entry = environ[i];
        const char *eq = strchr(entry, '=');
        size_t klen = eq ? (size_t)(eq - entry) : strlen(entry);
        int overridden = 0;
        for (size_t j = 0; j < cmd->env_count && !overridden; j++)
            overridden = strlen(cmd->env[j].key) == klen && strncmp(cmd->env[j].key, entry, klen) == 0;
        if (overridden)
            continue;
        /* Copy: another thread may setenv() while the run is being set up. */
        char *copy = strdup(entry);
        if (!copy)
            goto oom;
        owned[o++] = copy;
        envp[n++] = copy;
    }
    for (size_t j = 0; j < cmd->env_count; j++) {
        if (!cmd->env[j].entry)
            continue;
        char *copy = strdup(cmd->env[j].entry);
        if (!copy)
            goto oom;
        owned[o++] = copy;
        envp[n++] = copy;
    }
    plan->envp = envp;
    plan->owned_env = owned;
    plan->owned_count = o;
    return PK_OK;
oom:
    for (size_t i = 0; i < o; i++)
        free(owned[i]);
    free(owned);
    free(envp);
    return pk__fail(PK_ERR_NOMEM, "out of memory for the environment");
}

int pk__command_plan(pk_command_obj *cmd, pk_command_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->program = strdup(cmd->program);
    plan->argv = copy_strings(cmd->argv, cmd->argc);
    plan->cwd = cmd->cwd ? strdup(cmd->cwd) : NULL;
    plan->stdin_path = cmd->stdin_path ? strdup(cmd->stdin_path) : NULL;
    plan->stdin_data = cmd->stdin_len ? malloc(cmd->stdin_len) : NULL;
    plan->ok_codes = cmd->ok_count ? malloc(cmd->ok_count * sizeof *plan->ok_codes) : NULL;
    if (!plan->program || !plan->argv || (cmd->cwd && !plan->cwd) || (cmd->stdin_path && !plan->stdin_path) ||
        (cmd->stdin_len && !plan->stdin_data) || (cmd->ok_count && !plan->ok_codes)) {
        pk__command_plan_free(plan);
        return pk__fail(PK_ERR_NOMEM, "out of memory starting %s", cmd->program);
    }
    int rc = build_env(cmd, plan);
    if (rc != PK_OK) {
        pk__command_plan_free(plan);
        return rc;
    }
    if (cmd->stdin_len)
        memcpy(plan->stdin_data, cmd->stdin_data, cmd->stdin_len);
    if (cmd->ok_count)
        memcpy(plan->ok_codes, cmd->ok_codes, cmd->ok_count * sizeof *plan->ok_codes);
    plan->flags = cmd->flags;
    plan->parent_death_signal = cmd->parent_death_signal;
    plan->stdin_mode = cmd->stdin_mode;
    plan->stdin_len = cmd->stdin_len;
    plan->stdin_fd = cmd->stdin_fd;
    memcpy(plan->out_mode, cmd->out_mode, sizeof plan->out_mode);
    memcpy(plan->out_fd, cmd->out_fd, sizeof plan->out_fd);
    memcpy(plan->policy, cmd->policy, sizeof plan->policy);
    memcpy(plan->limit, cmd->limit, sizeof plan->limit);
    memcpy(plan->line_fn, cmd->line_fn, sizeof plan->line_fn);
    memcpy(plan->line_user, cmd->line_user, sizeof plan->line_user);
    plan->event_fn = cmd->event_fn;
    plan->event_user = cmd->event_user;
    plan->timeout_ms = cmd->timeout_ms;
    plan->grace_ms = cmd->grace_ms;
    plan->timeout_signal = cmd->timeout_signal;
    plan->ok_count = cmd->ok_count;
    plan->group_opts = cmd->group_opts;
    plan->cancel = cmd->cancel;
    if (plan->cancel)
        pk__object_ref(&plan->cancel->obj);
    if (attrs_copy(&plan->attrs, &cmd->attrs) != 0) {
        pk__command_plan_free(plan);
        return pk__fail(PK_ERR_NOMEM, "out of memory starting %s", cmd->program);
    }
    return PK_OK;
}

void pk__command_plan_free(pk_command_plan *plan)
{
    free(plan->program);
    if (plan->argv)
        for (size_t i = 0; plan->argv[i]; i++)
            free(plan->argv[i]);
    free(plan->argv);
    for (size_t i = 0; i < plan->owned_count; i++)
        free(plan->owned_env[i]);
    free(plan->owned_env);
    free(plan->envp);
    free(plan->cwd);
    free(plan->stdin_data);
    free(plan->stdin_path);
    free(plan->ok_codes);
    if (plan->cancel)
        pk__object_unref(&plan->cancel->obj);
    attrs_free(&plan->attrs);
    memset(plan, 0, sizeof *plan);
    plan->attrs.cwd_fd = -1;
}

/* pk__command_get for the POSIX process attributes (user, umask, rlimit,
 * cwd fd, fd map, PTY), which Windows has no equivalent of: there the
 * lookup itself refuses, releasing the command. */
static int get_posix_attr(pk_command *handle, const char *fn, pk_command_obj **out)
{
    int rc = pk__command_get(handle, fn, out);
#ifdef _WIN32
    if (rc == PK_OK)
        rc = done(*out, pk__fail(PK_ERR_UNSUPPORTED, "%s: a POSIX process attribute, with no Windows equivalent", fn));
#endif
    return rc;
}

int pk_command_user(pk_command *handle, uint32_t uid, uint32_t gid, const uint32_t *groups, size_t count)
{
    pk_command_obj *cmd;
    int rc = get_posix_attr(handle, "pk_command_user", &cmd);
    if (rc != PK_OK)
        return rc;
    if (count && !groups)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_user: groups is NULL with count %zu", count));
    if (count > 65536)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_user: %zu groups is more than the kernel allows", count));
    if (uid == (uint32_t)-1 || gid == (uint32_t)-1)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_user: -1 is not a user or group id"));
    pk_gid_t *copy = NULL;
    if (count) {
        copy = malloc(count * sizeof *copy);
        if (!copy)
            return done(cmd, pk__fail(PK_ERR_NOMEM, "pk_command_user: out of memory"));
        for (size_t i = 0; i < count; i++)
            copy[i] = (pk_gid_t)groups[i];
    }
    free(cmd->attrs.groups);
    cmd->attrs.set_ids = 1;
    cmd->attrs.uid = uid;
    cmd->attrs.gid = gid;
    cmd->attrs.groups = copy;
    cmd->attrs.group_count = count;
    return done(cmd, PK_OK);
}

int pk_command_umask(pk_command *handle, uint32_t mask)
{
    pk_command_obj *cmd;
    int rc = get_posix_attr(handle, "pk_command_umask", &cmd);
    if (rc != PK_OK)
        return rc;
    if (mask > 0777)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_umask: %o is not a permission mask", (unsigned)mask));
    cmd->attrs.set_umask = 1;
    cmd->attrs.umask = mask;
    return done(cmd, PK_OK);
}

int pk_command_rlimit(pk_command *handle, int32_t resource, uint64_t soft, uint64_t hard)
{
    pk_command_obj *cmd;
    int rc = get_posix_attr(handle, "pk_command_rlimit", &cmd);
    if (rc != PK_OK)
        return rc;
#ifndef _WIN32 /* unreachable there: get_posix_attr refused */
    if (resource < 0 || resource >= RLIM_NLIMITS)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_rlimit: %d is not an RLIMIT_* resource", (int)resource));
#endif
    if (soft > hard)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_rlimit: the soft limit exceeds the hard one"));
    for (size_t i = 0; i < cmd->attrs.rlimit_count; i++) {
        if (cmd->attrs.rlimits[i].resource == resource) {
            cmd->attrs.rlimits[i].soft = soft;
            cmd->attrs.rlimits[i].hard = hard;
            return done(cmd, PK_OK);
        }
    }
    pk_rlimit_set *grown = realloc(cmd->attrs.rlimits, (cmd->attrs.rlimit_count + 1) * sizeof *grown);
    if (!grown)
        return done(cmd, pk__fail(PK_ERR_NOMEM, "pk_command_rlimit: out of memory"));
    cmd->attrs.rlimits = grown;
    cmd->attrs.rlimits[cmd->attrs.rlimit_count++] = (pk_rlimit_set){resource, soft, hard};
    return done(cmd, PK_OK);
}

int pk_command_cwd_fd(pk_command *handle, int dir_fd)
{
    pk_command_obj *cmd;
    int rc = get_posix_attr(handle, "pk_command_cwd_fd", &cmd);
    if (rc != PK_OK)
        return rc;
    if (dir_fd < -1 || (dir_fd >= 0 && !pk__fd_is_open(dir_fd)))
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_cwd_fd: %d is not an open fd (-1 clears)", dir_fd));
    cmd->attrs.cwd_fd = dir_fd;
    return done(cmd, PK_OK);
}

int pk_command_map_fd(pk_command *handle, int child_fd, int parent_fd)
{
    pk_command_obj *cmd;
    int rc = get_posix_attr(handle, "pk_command_map_fd", &cmd);
    if (rc != PK_OK)
        return rc;
    if (child_fd < 3 || child_fd > 65535)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_map_fd: child fd %d (use 3..65535; 0-2 are stdio)",
                                  child_fd));
    if (parent_fd < 0 || !pk__fd_is_open(parent_fd))
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_map_fd: %d is not an open fd", parent_fd));
    size_t n = cmd->attrs.fd_map_count, at = 0;
    while (at < n && cmd->attrs.fd_maps[at].child_fd < child_fd)
        at++;
    if (at < n && cmd->attrs.fd_maps[at].child_fd == child_fd) {
        cmd->attrs.fd_maps[at].parent_fd = parent_fd;
        return done(cmd, PK_OK);
    }
    if (n == 64)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_map_fd: 64 mapped fds at most"));
    pk_fd_map *grown = realloc(cmd->attrs.fd_maps, (n + 1) * sizeof *grown);
    if (!grown)
        return done(cmd, pk__fail(PK_ERR_NOMEM, "pk_command_map_fd: out of memory"));
    memmove(grown + at + 1, grown + at, (n - at) * sizeof *grown);
    grown[at] = (pk_fd_map){child_fd, parent_fd};
    cmd->attrs.fd_maps = grown;
    cmd->attrs.fd_map_count = n + 1;
    return done(cmd, PK_OK);
}

int pk_command_pty(pk_command *handle, uint16_t rows, uint16_t cols)
{
    pk_command_obj *cmd;
    int rc = get_posix_attr(handle, "pk_command_pty", &cmd);
    if (rc != PK_OK)
        return rc;
    if (!rows || !cols)
        return done(cmd, pk__fail(PK_ERR_INVALID, "pk_command_pty: a terminal needs at least one row and column"));
    cmd->attrs.pty = 1;
    cmd->attrs.pty_rows = rows;
    cmd->attrs.pty_cols = cols;
    return done(cmd, PK_OK);
}
