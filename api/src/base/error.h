/* Error reporting shared by every module: a code plus a per-thread message. */
#ifndef PK_ERROR_H
#define PK_ERROR_H

#include "processkit.h"

#if defined(__MINGW32__)
/* The Windows build formats with mingw's C99 printf (%zu, %lld). */
#define PK_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#elif defined(__GNUC__)
#define PK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PK_PRINTF(a, b)
#endif

/* Record a message for this thread and return code (so callers can write
 * `return pk__fail(PK_ERR_INVALID, "...")`). */
int pk__fail(int code, const char *fmt, ...) PK_PRINTF(2, 3);

/* As pk__fail, appending ": <strerror(errnum)> (errno N)". */
int pk__fail_errno(int code, int errnum, const char *fmt, ...) PK_PRINTF(3, 4);

/* Maps an errno from an OS call to the closest pk_error. */
int pk__code_from_errno(int errnum);

/* Clear this thread's message at the start of a public call. */
void pk__clear_error(void);

/* Format into a caller buffer, truncating safely; returns buf. */
char *pk__format(char *buf, size_t len, const char *fmt, ...) PK_PRINTF(3, 4);

#endif
