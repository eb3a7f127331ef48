/* Option parsing shared by `pk run`, `pk pipe` and `pk supervise`: one
 * table says which options take a value and which subcommands accept
 * them; the values are checked by cli_parse.c's parsers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <io.h>
#define O_CLOEXEC 0 /* Windows handles are not inherited unless asked for */
#else
#include <regex.h>
#include <unistd.h>
#endif

#include "cli_parse.h"
#include "pk_cli.h"

#define ALL (PKCLI_RUN | PKCLI_PIPE | PKCLI_SUPERVISE)

static const struct {
    const char *name;
    int valued;
    unsigned subs;
} specs[] = {
    {"--timeout", 1, ALL},
    {"--grace", 1, ALL},
    {"--signal", 1, ALL},
    {"--backend", 1, ALL},
    {"--cwd", 1, ALL},
    {"--env", 1, ALL},
    {"--unset", 1, ALL},
    {"--clear-env", 0, ALL},
    {"--no-window", 0, ALL},
    {"--stdin", 1, ALL},
    {"--memory-max", 1, ALL},
    {"--pids-max", 1, ALL},
    {"--cpu-max", 1, ALL},
    {"--capture", 0, PKCLI_RUN | PKCLI_PIPE},
    {"--json", 0, PKCLI_RUN | PKCLI_PIPE},
    {"--max-output", 1, PKCLI_RUN | PKCLI_PIPE},
    {"--pty", 0, PKCLI_RUN},
    {"--ready-line", 1, PKCLI_RUN},
    {"--ready-port", 1, PKCLI_RUN},
    {"--ready-timeout", 1, PKCLI_RUN},
    {"--retry", 1, PKCLI_RUN},
    {"--retry-backoff", 1, PKCLI_RUN},
    {"--restart", 1, PKCLI_SUPERVISE},
    {"--max-restarts", 1, PKCLI_SUPERVISE},
    {"--window", 1, PKCLI_SUPERVISE},
    {"--backoff", 1, PKCLI_SUPERVISE},
};
#define SPEC_COUNT (sizeof specs / sizeof specs[0])

/* The table entry for an option this subcommand accepts, or -1. */
static int find_spec(const char *name, unsigned sub)
{
    for (size_t i = 0; i < SPEC_COUNT; i++)
        if (strcmp(name, specs[i].name) == 0)
            return (specs[i].subs & sub) ? (int)i : -1;
    return -1;
}

/* The option's name: the argument up to any '='. */
static void option_name(const char *arg, char *name, size_t len)
{
    const char *eq = strchr(arg, '=');
    snprintf(name, len, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
}

void pkcli_options_init(pkcli_options *o, unsigned sub, const char *sub_name)
{
    memset(o, 0, sizeof *o);
    o->sub = sub;
    o->sub_name = sub_name;
    o->grace_ms = 2000;
    o->signal = SIGTERM;
    o->max_output = 16u << 20;
    pk_group_options defaults = PK_GROUP_OPTIONS_INIT;
    o->group = defaults;
    o->ready_timeout_ms = 30000;
    o->retry_backoff_ms = 100;
    o->restart = PK_RESTART_ON_FAILURE;
    o->backoff_ms = 200;
    o->prog = -1;
}

void pkcli_options_free(pkcli_options *o)
{
    for (size_t i = 0; i < o->env_count; i++)
        free(o->env_storage[i]);
    free(o->env_storage);
    o->env_storage = NULL;
    free(o->env_ops);
    o->env_ops = NULL;
    o->env_count = 0;
}

static int push_env_op(pkcli_options *o, char kind, const char *value)
{
    size_t len = strlen(value);
    char *entry = malloc(len + 2);
    const char **ops = realloc(o->env_ops, (o->env_count + 1) * sizeof *ops);
    if (ops)
        o->env_ops = ops;
    char **storage = ops ? realloc(o->env_storage, (o->env_count + 1) * sizeof *storage) : NULL;
    if (storage)
        o->env_storage = storage;
    if (!entry || !ops || !storage) {
        free(entry);
        return pkcli_die("out of memory");
    }
    entry[0] = kind;
    memcpy(entry + 1, value, len + 1);
    o->env_storage[o->env_count] = entry;
    o->env_ops[o->env_count++] = entry;
    return 0;
}

static int parse_port(const char *value, uint32_t *out)
{
    uint64_t v;
    char err[128];
    if (pkcli_parse_count(value, &v, err, sizeof err) != 0 || v > 65535)
        return pkcli_die("--ready-port: bad port '%s' (1..65535)", value);
    *out = (uint32_t)v;
    return 0;
}

static int parse_u32_count(const char *name, const char *value, uint32_t *out)
{
    uint64_t v;
    char err[128];
    if (pkcli_parse_count(value, &v, err, sizeof err) != 0)
        return pkcli_die("%s: %s", name, err);
    if (v > 1000000)
        return pkcli_die("%s: %s is more than 1000000", name, value);
    *out = (uint32_t)v;
    return 0;
}

/* Applies one option that takes a value. */
static int apply_valued(const char *name, const char *value, pkcli_options *o)
{
    char err[256];
    int rc = 0;
    if (strcmp(name, "--timeout") == 0)
        rc = pkcli_parse_duration_ms(value, &o->timeout_ms, err, sizeof err);
    else if (strcmp(name, "--grace") == 0)
        rc = pkcli_parse_duration_ms(value, &o->grace_ms, err, sizeof err);
    else if (strcmp(name, "--signal") == 0)
        rc = pkcli_parse_signal(value, &o->signal, err, sizeof err);
    else if (strcmp(name, "--max-output") == 0)
        rc = pkcli_parse_size(value, &o->max_output, err, sizeof err);
    else if (strcmp(name, "--memory-max") == 0)
        rc = pkcli_parse_size(value, &o->group.memory_max, err, sizeof err);
    else if (strcmp(name, "--pids-max") == 0)
        rc = pkcli_parse_count(value, &o->group.pids_max, err, sizeof err);
    else if (strcmp(name, "--cpu-max") == 0)
        rc = pkcli_parse_cores(value, &o->group.cpu_max, err, sizeof err);
    else if (strcmp(name, "--cwd") == 0)
        o->cwd = value;
    else if (strcmp(name, "--stdin") == 0)
        o->stdin_spec = value;
    else if (strcmp(name, "--backend") == 0) {
        if (strcmp(value, "auto") == 0)
            o->group.backend = PK_BACKEND_AUTO;
        else if (strcmp(value, "cgroup") == 0)
            o->group.backend = PK_BACKEND_CGROUP_V2;
        else if (strcmp(value, "pgroup") == 0)
            o->group.backend = PK_BACKEND_PROCESS_GROUP;
        else if (strcmp(value, "job") == 0)
            o->group.backend = PK_BACKEND_JOB_OBJECT;
        else
            return pkcli_die("unknown backend '%s' (auto, cgroup, pgroup or job)", value);
    } else if (strcmp(name, "--env") == 0) {
        size_t at;
        if (pkcli_parse_env_pair(value, &at, err, sizeof err) != 0)
            return pkcli_die("%s", err);
        return push_env_op(o, 'E', value);
    } else if (strcmp(name, "--unset") == 0) {
        if (!value[0] || strchr(value, '='))
            return pkcli_die("--unset: bad variable name '%s'", value);
        return push_env_op(o, 'U', value);
    } else if (strcmp(name, "--ready-line") == 0) {
#ifndef _WIN32 /* no POSIX regex on Windows; pk.exe refuses the option */
        regex_t re;
        int err_code = regcomp(&re, value, REG_EXTENDED | REG_NOSUB);
        if (err_code != 0) {
            regerror(err_code, &re, err, sizeof err);
            return pkcli_die("--ready-line: bad regular expression '%s': %s", value, err);
        }
        regfree(&re);
#endif
        o->ready_line = value;
    } else if (strcmp(name, "--ready-port") == 0) {
        return parse_port(value, &o->ready_port);
    } else if (strcmp(name, "--ready-timeout") == 0) {
        o->ready_timeout_set = 1;
        rc = pkcli_parse_duration_ms(value, &o->ready_timeout_ms, err, sizeof err);
    } else if (strcmp(name, "--retry") == 0) {
        return parse_u32_count(name, value, &o->retry);
    } else if (strcmp(name, "--retry-backoff") == 0) {
        o->retry_backoff_set = 1;
        rc = pkcli_parse_duration_ms(value, &o->retry_backoff_ms, err, sizeof err);
    } else if (strcmp(name, "--restart") == 0) {
        if (strcmp(value, "on-failure") == 0)
            o->restart = PK_RESTART_ON_FAILURE;
        else if (strcmp(value, "always") == 0)
            o->restart = PK_RESTART_ALWAYS;
        else if (strcmp(value, "never") == 0)
            o->restart = PK_RESTART_NEVER;
        else
            return pkcli_die("--restart: unknown policy '%s' (on-failure, always or never)", value);
    } else if (strcmp(name, "--max-restarts") == 0) {
        o->max_restarts_set = 1;
        return parse_u32_count(name, value, &o->max_restarts);
    } else if (strcmp(name, "--window") == 0) {
        o->window_set = 1;
        rc = pkcli_parse_duration_ms(value, &o->window_ms, err, sizeof err);
        if (rc == 0 && o->window_ms == 0)
            return pkcli_die("--window: the window must be longer than 0");
    } else if (strcmp(name, "--backoff") == 0) {
        rc = pkcli_parse_duration_ms(value, &o->backoff_ms, err, sizeof err);
    }
    if (rc != 0)
        return pkcli_die("%s: %s", name, err);
    return 0;
}

/* Options that only make sense together. */
static int check_combinations(const pkcli_options *o)
{
    int ready = o->ready_line || o->ready_port;
    if (o->retry && (o->pty || ready))
        return pkcli_die("--retry cannot be combined with --pty, --ready-line or --ready-port");
    if (o->retry_backoff_set && !o->retry)
        return pkcli_die("--retry-backoff needs --retry");
    if (o->ready_timeout_set && !ready)
        return pkcli_die("--ready-timeout needs --ready-line or --ready-port");
    if (o->window_set && !o->max_restarts_set)
        return pkcli_die("--window needs --max-restarts (N restarts within the window give up)");
    return 0;
}

int pkcli_parse(int argc, char **argv, pkcli_options *o)
{
    /* First find where the program starts (and answer --help). */
    int i = 2;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            pkcli_usage(stdout);
            exit(0);
        }
        if (strcmp(argv[i], "--") == 0) {
            o->prog = i + 1;
            break;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            o->prog = i;
            break;
        }
        char name[64];
        option_name(argv[i], name, sizeof name);
        int k = find_spec(name, o->sub);
        if (k >= 0 && specs[k].valued && !strchr(argv[i], '='))
            i++;
    }
    if (o->prog < 0 || o->prog >= argc)
        return pkcli_die("no program given (pk %s [OPTIONS] -- PROGRAM [ARG...])", o->sub_name);

    for (int a = 2; a < o->prog && strcmp(argv[a], "--") != 0; a++) {
        const char *arg = argv[a];
        const char *eq = strchr(arg, '=');
        char name[64];
        option_name(arg, name, sizeof name);
        int k = find_spec(name, o->sub);
        if (k < 0)
            return pkcli_die("unknown option '%s' (see pk %s --help)", arg, o->sub_name);
        int rc = 0;
        if (!specs[k].valued) {
            if (eq)
                return pkcli_die("option '%s' takes no value", name);
            if (strcmp(name, "--capture") == 0)
                o->capture = 1;
            else if (strcmp(name, "--json") == 0)
                o->json = 1;
            else if (strcmp(name, "--clear-env") == 0)
                o->clear_env = 1;
            else if (strcmp(name, "--pty") == 0)
                o->pty = 1;
            else if (strcmp(name, "--no-window") == 0)
                o->no_window = 1;
        } else {
            rc = apply_valued(name, eq ? eq + 1 : argv[++a], o);
        }
        if (rc != 0)
            return rc;
    }
    return check_combinations(o);
}

int pkcli_command_new(char *const *words, int count, const pkcli_options *o, pk_command **out)
{
    if (count < 1 || !words[0][0])
        return pkcli_die("the program name is empty");
    pk_command *cmd;
    if (pk_command_new(words[0], &cmd) != PK_OK)
        return pkcli_die("%s", pk_last_error());
    int rc = PK_OK;
    for (int a = 1; a < count && rc == PK_OK; a++)
        rc = pk_command_arg(cmd, words[a]);
    if (rc == PK_OK && o->clear_env)
        rc = pk_command_env_clear(cmd);
    for (size_t i = 0; i < o->env_count && rc == PK_OK; i++) {
        const char *op = o->env_ops[i];
        if (op[0] == 'U') {
            rc = pk_command_env_unset(cmd, op + 1);
        } else {
            const char *eq = strchr(op + 1, '=');
            size_t key_len = (size_t)(eq - (op + 1));
            char *key = malloc(key_len + 1);
            if (key) {
                memcpy(key, op + 1, key_len);
                key[key_len] = '\0';
            }
            rc = key ? pk_command_env(cmd, key, eq + 1) : PK_ERR_NOMEM;
            free(key);
        }
    }
    if (rc == PK_OK && o->cwd) {
        struct stat st;
        if (stat(o->cwd, &st) != 0 || !S_ISDIR(st.st_mode)) {
            pk_command_free(cmd);
            return pkcli_die("--cwd %s: not a directory", o->cwd);
        }
        rc = pk_command_cwd(cmd, o->cwd);
    }
    if (rc == PK_OK)
        rc = pk_command_group_options(cmd, &o->group);
    uint32_t flags = o->no_window ? PK_COMMAND_NO_WINDOW : 0;
#ifdef _WIN32
    /* CTRL_BREAK, the one polite signal, reaches only a console group of the
     * program's own. */
    if (o->signal == 21)
        flags |= PK_COMMAND_NEW_SESSION;
#endif
    if (rc == PK_OK && flags)
        rc = pk_command_flags(cmd, flags);
    if (rc != PK_OK) {
        int status = pkcli_die("%s", pk_last_error());
        pk_command_free(cmd);
        return status;
    }
    *out = cmd;
    return 0;
}

int pkcli_command_stdin(pk_command *cmd, const pkcli_options *o)
{
    int rc;
    if (!o->stdin_spec || strcmp(o->stdin_spec, "-") == 0) {
        rc = pk_command_stdin_inherit(cmd);
    } else if (strcmp(o->stdin_spec, "null") == 0) {
        rc = pk_command_stdin_null(cmd);
    } else {
        int fd = open(o->stdin_spec, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return pkcli_die("--stdin %s: %s", o->stdin_spec, strerror(errno));
        close(fd);
        rc = pk_command_stdin_file(cmd, o->stdin_spec);
    }
    return rc == PK_OK ? 0 : pkcli_die("%s", pk_last_error());
}
