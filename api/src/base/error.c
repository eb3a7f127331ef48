#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One message per thread, so concurrent callers never see each other's. */
static _Thread_local char last_message[512];

static void vset(const char *fmt, va_list ap, int errnum)
{
    int n = vsnprintf(last_message, sizeof last_message, fmt, ap);
    if (n < 0)
        last_message[0] = '\0';
    if (errnum != 0 && n >= 0 && (size_t)n < sizeof last_message) {
        char errbuf[128];
        /* strerror_r keeps the message thread-safe; the GNU flavour may return
         * a static string instead of filling errbuf. */
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
        const char *text = strerror_r(errnum, errbuf, sizeof errbuf);
#elif defined(_WIN32)
        const char *text = strerror_s(errbuf, sizeof errbuf, errnum) == 0 ? errbuf : "unknown error";
#else
        const char *text = strerror_r(errnum, errbuf, sizeof errbuf) == 0 ? errbuf : "unknown error";
#endif
        snprintf(last_message + n, sizeof last_message - (size_t)n, ": %s (errno %d)", text, errnum);
    }
}

int pk__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(fmt, ap, 0);
    va_end(ap);
    return code;
}

int pk__fail_errno(int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(fmt, ap, errnum);
    va_end(ap);
    return code;
}

int pk__code_from_errno(int errnum)
{
    switch (errnum) {
    case ENOMEM:
        return PK_ERR_NOMEM;
    case ENOENT:
    case ENOTDIR:
        return PK_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
    case ENOEXEC:
        return PK_ERR_PERMISSION;
    case ESRCH:
    case ECHILD:
        return PK_ERR_NO_PROCESS;
    case EINVAL:
        return PK_ERR_INVALID;
    case ENOSYS:
    case EOPNOTSUPP:
        return PK_ERR_UNSUPPORTED;
    default:
        return PK_ERR_OS;
    }
}

void pk__clear_error(void)
{
    last_message[0] = '\0';
}

char *pk__format(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 && len > 0)
        buf[0] = '\0';
    return buf;
}

const char *pk_last_error(void)
{
    return last_message;
}

const char *pk_strerror(int err)
{
    switch (err) {
    case PK_OK: return "success";
    case PK_ERR_INVALID: return "invalid argument";
    case PK_ERR_NOMEM: return "out of memory";
    case PK_ERR_HANDLE: return "invalid handle";
    case PK_ERR_OS: return "operating system error";
    case PK_ERR_UNAVAILABLE: return "mechanism unavailable";
    case PK_ERR_LIMIT: return "limit unavailable";
    case PK_ERR_NOT_FOUND: return "program not found";
    case PK_ERR_PERMISSION: return "permission denied";
    case PK_ERR_NO_PROCESS: return "no such process";
    case PK_ERR_TIMEOUT: return "timed out";
    case PK_ERR_UNSUPPORTED: return "unsupported";
    case PK_ERR_VERSION: return "unknown struct fields from a newer caller";
    case PK_ERR_CANCELLED: return "cancelled";
    case PK_ERR_OVERFLOW: return "output too large";
    case PK_ERR_STATE: return "not allowed in the current state";
    case PK_ERR_FAILED: return "command failed";
    case PK_ERR_NOT_READY: return "not ready";
    default: return "unknown error code";
    }
}
