#include "cli_parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t err_len, const char *fmt, const char *text)
{
    snprintf(err, err_len, fmt, text);
    return -1;
}

/* A finite, non-negative decimal number filling the given length. */
static int parse_number(const char *text, size_t len, double *out)
{
    if (len == 0 || len > 64)
        return -1;
    char buf[65];
    memcpy(buf, text, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)buf[i]) && buf[i] != '.')
            return -1;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

int pkcli_parse_duration_ms(const char *text, uint32_t *out, char *err, size_t err_len)
{
    if (!text)
        return fail(err, err_len, "missing duration%s", "");
    size_t len = strlen(text), num = 0;
    while (num < len && (isdigit((unsigned char)text[num]) || text[num] == '.'))
        num++;
    const char *unit = text + num;
    double scale;
    if (strcmp(unit, "ms") == 0)
        scale = 1;
    else if (strcmp(unit, "s") == 0 || *unit == '\0')
        scale = 1000;
    else if (strcmp(unit, "m") == 0)
        scale = 60000;
    else if (strcmp(unit, "h") == 0)
        scale = 3600000;
    else
        return fail(err, err_len, "bad duration '%s' (use e.g. 250ms, 2s, 1.5m, 1h)", text);
    double v;
    if (parse_number(text, num, &v) != 0)
        return fail(err, err_len, "bad duration '%s' (use e.g. 250ms, 2s, 1.5m, 1h)", text);
    double ms = v * scale;
    if (ms > 24.0 * 24 * 3600 * 1000)
        return fail(err, err_len, "duration '%s' is longer than 24 days", text);
    *out = (uint32_t)llround(ms);
    return 0;
}

static const struct {
    const char *name;
    int number;
} signal_names[] = {
#ifdef _WIN32
    /* The ABI's (Linux) numbers; on Windows only KILL and BREAK act (see
     * docs/windows.md), the rest are accepted so scripts parse the same. */
    {"HUP", 1}, {"INT", 2}, {"QUIT", 3}, {"KILL", 9}, {"TERM", 15}, {"BREAK", 21},
#else
    {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT},   {"ILL", SIGILL},   {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},     {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP},   {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"SYS", SIGSYS},
#endif
};

const char *pkcli_signal_name(int sig)
{
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (signal_names[i].number == sig)
            return signal_names[i].name;
    return NULL;
}

int pkcli_parse_signal(const char *text, int *out, char *err, size_t err_len)
{
    if (!text || !*text)
        return fail(err, err_len, "missing signal%s", "");
    if (isdigit((unsigned char)text[0])) {
        char *end;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (errno || *end || v < 1 || v > 64)
            return fail(err, err_len, "bad signal number '%s' (1..64)", text);
        *out = (int)v;
        return 0;
    }
    const char *name = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
        if (strcasecmp(name, signal_names[i].name) == 0) {
            *out = signal_names[i].number;
            return 0;
        }
    }
    return fail(err, err_len, "unknown signal '%s' (use TERM, INT, HUP, ... or a number)", text);
}

int pkcli_parse_size(const char *text, uint64_t *out, char *err, size_t err_len)
{
    if (!text || !*text)
        return fail(err, err_len, "missing size%s", "");
    size_t len = strlen(text), num = 0;
    while (num < len && isdigit((unsigned char)text[num]))
        num++;
    if (num == 0 || num > 20)
        return fail(err, err_len, "bad size '%s' (bytes, or with a K, M, G or T suffix)", text);
    const char *unit = text + num;
    unsigned shift;
    if (*unit == '\0' || strcasecmp(unit, "B") == 0)
        shift = 0;
    else if (strcasecmp(unit, "K") == 0 || strcasecmp(unit, "KiB") == 0 || strcasecmp(unit, "KB") == 0)
        shift = 10;
    else if (strcasecmp(unit, "M") == 0 || strcasecmp(unit, "MiB") == 0 || strcasecmp(unit, "MB") == 0)
        shift = 20;
    else if (strcasecmp(unit, "G") == 0 || strcasecmp(unit, "GiB") == 0 || strcasecmp(unit, "GB") == 0)
        shift = 30;
    else if (strcasecmp(unit, "T") == 0 || strcasecmp(unit, "TiB") == 0 || strcasecmp(unit, "TB") == 0)
        shift = 40;
    else
        return fail(err, err_len, "bad size '%s' (bytes, or with a K, M, G or T suffix)", text);
    char digits[21];
    memcpy(digits, text, num);
    digits[num] = '\0';
    errno = 0;
    unsigned long long v = strtoull(digits, NULL, 10);
    if (errno || (shift && v > (UINT64_MAX >> shift)))
        return fail(err, err_len, "size '%s' is too large", text);
    *out = (uint64_t)v << shift;
    return 0;
}

int pkcli_parse_count(const char *text, uint64_t *out, char *err, size_t err_len)
{
    if (!text || !*text)
        return fail(err, err_len, "missing number%s", "");
    for (const char *p = text; *p; p++)
        if (!isdigit((unsigned char)*p))
            return fail(err, err_len, "bad number '%s' (a positive whole number)", text);
    errno = 0;
    unsigned long long v = strtoull(text, NULL, 10);
    if (errno || v == 0)
        return fail(err, err_len, "bad number '%s' (a positive whole number)", text);
    *out = v;
    return 0;
}

int pkcli_parse_cores(const char *text, double *out, char *err, size_t err_len)
{
    double v;
    if (!text || parse_number(text, strlen(text), &v) != 0 || v <= 0 || v > 1e6)
        return fail(err, err_len, "bad CPU count '%s' (a positive number of cores, e.g. 0.5)", text ? text : "");
    *out = v;
    return 0;
}

int pkcli_parse_env_pair(const char *text, size_t *value_at, char *err, size_t err_len)
{
    const char *eq = text ? strchr(text, '=') : NULL;
    if (!eq || eq == text)
        return fail(err, err_len, "bad environment pair '%s' (use KEY=VALUE)", text ? text : "");
    *value_at = (size_t)(eq - text) + 1;
    return 0;
}

/* ------------------------------------------------------------ pk timeout */

int pkcli_parse_gnu_duration(const char *text, uint64_t *ns, char *err, size_t err_len)
{
    const char *shown = text ? text : "";
    if (!text || !*text)
        return fail(err, err_len, "invalid time interval '%s'", shown);
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    int range = errno == ERANGE;
    if (end == text)
        return fail(err, err_len, "invalid time interval '%s'", shown);
    /* A negative number is refused; "-0" is zero. An underflow keeps its
     * sign, so "-1e-400" (negative, however tiny) is refused too. */
    if (!(v >= 0) || (v == 0 && signbit(v) && range))
        return fail(err, err_len, "invalid time interval '%s'", shown);
    double scale;
    switch (*end) {
    case '\0':
    case 's': scale = 1; break;
    case 'm': scale = 60; break;
    case 'h': scale = 3600; break;
    case 'd': scale = 86400; break;
    default: return fail(err, err_len, "invalid time interval '%s'", shown);
    }
    if (*end && end[1])
        return fail(err, err_len, "invalid time interval '%s'", shown);
    if (v == 0) {
        /* A value that underflowed was not zero in the text: the smallest step. */
        *ns = range ? 1 : 0;
        return 0;
    }
    double x = v * scale * 1e9;
    if (x >= 18446744073709551616.0) /* 2^64, and infinity */
        *ns = UINT64_MAX;
    else {
        uint64_t whole = (uint64_t)ceil(x);
        *ns = whole ? whole : 1;
    }
    return 0;
}

#ifndef _WIN32
static const struct {
    const char *name;
    int number;
} gnu_signal_names[] = {
    {"EXIT", 0},       {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"IOT", SIGABRT},      {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},
    {"ALRM", SIGALRM}, {"TERM", SIGTERM},
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"CHLD", SIGCHLD}, {"CLD", SIGCHLD},      {"CONT", SIGCONT},     {"STOP", SIGSTOP},   {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},       {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},   {"IO", SIGIO},       {"POLL", SIGIO},
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
    {"SYS", SIGSYS},
};
#define GNU_SIGNAL_COUNT (sizeof gnu_signal_names / sizeof gnu_signal_names[0])

/* Decimal digits only, no sign or space; -1 when not that or too large. */
static long plain_decimal(const char *text)
{
    if (!*text)
        return -1;
    long v = 0;
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > 100000000)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* Whether a number is a signal this host has (0, the null signal, included). */
static int known_signal(long sig)
{
    if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        return 1;
    for (size_t i = 0; i < GNU_SIGNAL_COUNT; i++)
        if (gnu_signal_names[i].number == sig)
            return 1;
    return 0;
}

int pkcli_parse_gnu_signal(const char *text, int *out, char *err, size_t err_len)
{
    const char *shown = text ? text : "";
    if (!text || !*text)
        return fail(err, err_len, "invalid signal '%s'", shown);
    const char *name = text;
    if (!isdigit((unsigned char)name[0]) && strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    long sig = -1;
    if (isdigit((unsigned char)name[0])) {
        long v = plain_decimal(name);
        /* A shell's status for a signal (128+N, or 256+N from ksh) names N. */
        if (v >= 0)
            sig = v >= 0xFF ? (v & 0xFF) : (v & 0x7F);
    } else if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
        int from_max = toupper((unsigned char)name[4]) == 'X';
        const char *rest = name + 5;
        long k = 0;
        if (*rest) {
            if (*rest != (from_max ? '-' : '+') || (k = plain_decimal(rest + 1)) < 0)
                k = -1;
        }
        if (k >= 0 && k <= SIGRTMAX - SIGRTMIN)
            sig = from_max ? SIGRTMAX - k : SIGRTMIN + k;
    } else {
        for (size_t i = 0; i < GNU_SIGNAL_COUNT; i++)
            if (strcasecmp(name, gnu_signal_names[i].name) == 0) {
                sig = gnu_signal_names[i].number;
                break;
            }
    }
    if (sig < 0 || !known_signal(sig))
        return fail(err, err_len, "invalid signal '%s'", shown);
    *out = (int)sig;
    return 0;
}

void pkcli_gnu_signal_name(int sig, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        if (sig == SIGRTMIN)
            snprintf(buf, len, "RTMIN");
        else if (sig == SIGRTMAX)
            snprintf(buf, len, "RTMAX");
        else if (sig <= (SIGRTMIN + SIGRTMAX) / 2)
            snprintf(buf, len, "RTMIN+%d", sig - SIGRTMIN);
        else
            snprintf(buf, len, "RTMAX-%d", SIGRTMAX - sig);
        return;
    }
    for (size_t i = 0; i < GNU_SIGNAL_COUNT; i++)
        if (gnu_signal_names[i].number == sig) {
            snprintf(buf, len, "%s", gnu_signal_names[i].name);
            return;
        }
    snprintf(buf, len, "%d", sig);
}
#endif
