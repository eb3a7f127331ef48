/* Parsers for pk's option values. Each returns 0 and writes *out, or -1 and
 * writes a message into err (they never print or exit, so they can be unit
 * tested and fuzzed). */
#ifndef PK_CLI_PARSE_H
#define PK_CLI_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* "250ms", "2s", "1.5m", "1h"; a bare number is seconds. At most 24 days. */
int pkcli_parse_duration_ms(const char *text, uint32_t *out, char *err, size_t err_len);
/* "TERM", "SIGTERM", "term" or a number 1..64. */
int pkcli_parse_signal(const char *text, int *out, char *err, size_t err_len);
/* Bytes with an optional K, M, G or T suffix (powers of 1024, "KiB" forms too). */
int pkcli_parse_size(const char *text, uint64_t *out, char *err, size_t err_len);
/* A positive whole number. */
int pkcli_parse_count(const char *text, uint64_t *out, char *err, size_t err_len);
/* A positive number of CPU cores ("0.5", "2"). */
int pkcli_parse_cores(const char *text, double *out, char *err, size_t err_len);
/* "KEY=VALUE" with a non-empty key; *value_at is the offset of VALUE. */
int pkcli_parse_env_pair(const char *text, size_t *value_at, char *err, size_t err_len);
/* The name of a signal number ("TERM"), or NULL. */
const char *pkcli_signal_name(int sig);

/* `pk timeout`, whose DURATION and --signal follow GNU timeout(1):
 * A DURATION is a floating-point number as strtod reads it (exponents, hex
 * floats, "inf") with an optional suffix s, m, h or d, in nanoseconds. Tiny
 * values round up to 1 ns (0 only for zero), huge ones saturate at
 * UINT64_MAX; negative or malformed text is an error. */
int pkcli_parse_gnu_duration(const char *text, uint64_t *ns, char *err, size_t err_len);
#ifndef _WIN32
/* A signal as GNU timeout's -s takes it: a name in any case with or without
 * "SIG" (TERM, sigterm, CLD, RTMIN+2, RTMAX-1, EXIT), a number 0..SIGRTMAX,
 * or a shell status for a signal (143 is TERM). 0 is the null signal. */
int pkcli_parse_gnu_signal(const char *text, int *out, char *err, size_t err_len);
/* The signal's name as pk timeout reports it ("TERM", "RTMIN+1", "EXIT" for
 * 0), or its number. */
void pkcli_gnu_signal_name(int sig, char *buf, size_t len);
#endif

#endif
