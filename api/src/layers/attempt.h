/* What retry.c and supervise.c share: one run of a command in a private
 * group on a loop of its own (as pk_command_run does it), a graceful stop of
 * that run, lending a result handle to a callback, the stdin replay check
 * and the backoff arithmetic. */
#ifndef PK_ATTEMPT_H
#define PK_ATTEMPT_H

#include <stdint.h>

#include "cancel.h"
#include "command.h"
#include "loop.h"

typedef struct pk_attempt {
    pk_loop_obj *loop;
    pk_process_obj *proc;
} pk_attempt;

/* Starts cmd in a private group on a new loop. On failure nothing is left. */
int pk__attempt_start(pk_command_obj *cmd, pk_attempt *a);

/* Drives the loop until the run is finished. With @stop: once it triggers,
 * the run's tree gets the command's timeout signal, and SIGKILL (the run
 * then ends as cancelled) if it is still going @grace_ms later; *stopped
 * says whether that happened. */
int pk__attempt_wait(pk_attempt *a, pk_cancel_obj *stop, uint32_t grace_ms, int *stopped);

/* Takes a reference to the run's result into *out (NULL when it has none),
 * kills and reaps whatever is left, and frees the loop. */
int pk__attempt_end(pk_attempt *a, pk_result_obj **out);

/* A public handle to r for the duration of a callback (NULL if it cannot
 * be made), and its retirement. */
struct pk_result *pk__result_lend(pk_result_obj *r);
void pk__result_unlend(struct pk_result *handle);

/* PK_ERR_INVALID when cmd's stdin is a pipe, or (unless @allow_fd) a caller
 * fd: one-shot sources that a second run cannot replay. */
int pk__attempt_check_stdin(pk_command_obj *cmd, const char *fn, int allow_fd);

/* The command's cancellation token now, referenced (NULL if none). */
pk_cancel_obj *pk__attempt_cancel_token(pk_command_obj *cmd);

/* initial * multiplier^(n - 1), capped at max_ms, rounded to the nearest
 * millisecond; n >= 1. */
uint64_t pk__backoff_ms(uint32_t initial_ms, double multiplier, uint32_t max_ms, uint32_t n);

#endif
