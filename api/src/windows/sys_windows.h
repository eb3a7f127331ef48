/* Small Win32 helpers shared by the Windows modules: UTF-8 to UTF-16, and
 * error messages that carry GetLastError's text. */
#ifndef PK_SYS_WINDOWS_H
#define PK_SYS_WINDOWS_H

#include <windows.h>

#include "error.h"

/* The Win32 handle behind a C runtime fd, or NULL when the fd is not open. */
HANDLE pk__fd_handle(int fd);

/* A malloc'd UTF-16 copy of a UTF-8 string, or NULL (out of memory, or not
 * valid UTF-8). */
wchar_t *pk__utf16(const char *utf8);

/* As pk__fail, appending ": <FormatMessage text> (Win32 error N)". */
int pk__fail_win(int code, DWORD err, const char *fmt, ...) PK_PRINTF(3, 4);

/* The pk_error closest to a Win32 error code. */
int pk__code_from_win(DWORD err);

#endif
