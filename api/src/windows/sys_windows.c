/* Windows versions of the portable helpers in sys.h, plus sys_windows.h. */
#include <winsock2.h> /* before windows.h (via sys_windows.h) */

#include "sys_windows.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "sys.h"

#ifndef ERROR_ELEVATION_REQUIRED
#define ERROR_ELEVATION_REQUIRED 740
#endif

uint64_t pk__now_ns(void)
{
    static LARGE_INTEGER freq;
    if (!freq.QuadPart)
        QueryPerformanceFrequency(&freq); /* constant since boot; a racing first call stores the same */
    LARGE_INTEGER now;
    QueryPerformanceCounter(&now);
    return (uint64_t)((double)now.QuadPart * 1e9 / (double)freq.QuadPart);
}

int pk__os_pipe(int fds[2])
{
    return _pipe(fds, 65536, _O_BINARY | _O_NOINHERIT) == 0 ? 0 : -errno;
}

void pk__os_close(int fd)
{
    _close(fd);
}

void pk__sleep_ms(unsigned ms)
{
    Sleep(ms);
}

HANDLE pk__fd_handle(int fd)
{
    if (fd < 0)
        return NULL;
    intptr_t h = _get_osfhandle(fd);
    return h == -1 || h == -2 ? NULL : (HANDLE)h; /* -2: a standard fd with no stream behind it */
}

int pk__fd_is_open(int fd)
{
    return pk__fd_handle(fd) != NULL;
}

int pk__is_own_helper(int32_t pid)
{
    (void)pid; /* no helper processes on Windows: the job object outlives its owner's death by itself */
    return 0;
}

int32_t pk__self_pid(void)
{
    return (int32_t)GetCurrentProcessId();
}

wchar_t *pk__utf16(const char *utf8)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, -1, NULL, 0);
    if (n <= 0)
        return NULL;
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, -1, w, n) != n) {
        free(w);
        return NULL;
    }
    return w;
}

int pk__code_from_win(DWORD err)
{
    switch (err) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_DIRECTORY: return PK_ERR_NOT_FOUND;
    case ERROR_ACCESS_DENIED:
    case ERROR_BAD_EXE_FORMAT:
    case ERROR_ELEVATION_REQUIRED: return PK_ERR_PERMISSION;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY: return PK_ERR_NOMEM;
    case ERROR_INVALID_PARAMETER: return PK_ERR_INVALID;
    default: return PK_ERR_OS;
    }
}

int pk__fail_win(int code, DWORD err, const char *fmt, ...)
{
    char head[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    /* Wide, then UTF-8: the ANSI variant would give the console code page. */
    wchar_t wide[512];
    DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err, 0, wide,
                             sizeof wide / sizeof wide[0], NULL);
    while (n > 0 && (wide[n - 1] == L'\n' || wide[n - 1] == L'\r' || wide[n - 1] == L'.'))
        wide[--n] = L'\0';
    char text[1024] = "";
    if (n > 0 && WideCharToMultiByte(CP_UTF8, 0, wide, -1, text, sizeof text, NULL, NULL) <= 0)
        text[0] = '\0';
    return pk__fail(code, "%s: %s (Win32 error %lu)", head, text[0] ? text : "unknown error", (unsigned long)err);
}

static int winsock_ready;
static pthread_once_t winsock_once = PTHREAD_ONCE_INIT;

static void winsock_start(void)
{
    WSADATA data;
    winsock_ready = WSAStartup(MAKEWORD(2, 2), &data) == 0; /* kept for the process's life */
}

int pk__tcp_port_open(uint16_t port, int wait_ms)
{
    pthread_once(&winsock_once, winsock_start);
    if (!winsock_ready)
        return 0;
    SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET)
        return 0;
    u_long nonblocking = 1;
    ioctlsocket(s, FIONBIO, &nonblocking);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(s, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (!ok && WSAGetLastError() == WSAEWOULDBLOCK) {
        fd_set writable, failed;
        FD_ZERO(&writable);
        FD_ZERO(&failed);
        FD_SET(s, &writable);
        FD_SET(s, &failed);
        struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
        int err = 0, len = sizeof err;
        ok = select(0, NULL, &writable, &failed, wait_ms < 0 ? NULL : &tv) == 1 && FD_ISSET(s, &writable) &&
             getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&err, &len) == 0 && err == 0;
    }
    closesocket(s);
    return ok;
}
