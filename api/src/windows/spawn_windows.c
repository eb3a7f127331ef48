/* Starting a child on Windows: CreateProcessW, suspended, with exactly the
 * three stdio handles inherited and nothing else. The group places it in
 * its job before pk__child_start lets its first thread run. */
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "error.h"
#include "process_spawn.h"
#include "sys_windows.h"
#include "win_cmdline.h"

static int has_separator(const char *s)
{
    return strchr(s, '\\') || strchr(s, '/') || strchr(s, ':');
}

/* The value of PATH in envp, else the caller's own PATH; malloc'd UTF-16. */
static wchar_t *path_for(const char *const *envp)
{
    if (envp) {
        for (size_t i = 0; envp[i]; i++)
            if (_strnicmp(envp[i], "PATH=", 5) == 0)
                return pk__utf16(envp[i] + 5);
        /* An environment without PATH searches the caller's, as the Linux
         * spawn falls back to a default path. */
    }
    DWORD n = GetEnvironmentVariableW(L"PATH", NULL, 0);
    if (n == 0)
        return NULL;
    wchar_t *w = malloc(n * sizeof *w);
    if (w && GetEnvironmentVariableW(L"PATH", w, n) >= n) {
        free(w);
        return NULL;
    }
    return w;
}

/* Resolves the program like a shell: a bare name is looked up in the
 * child's PATH (".exe" appended when it has no extension), so a changed
 * PATH means what the caller meant by it. */
static int resolve_program(const pk_spawn_request *req, const char *program, wchar_t **out)
{
    wchar_t *name = pk__utf16(program);
    if (!name)
        return pk__fail(PK_ERR_INVALID, "pk_group_spawn: the program name is not valid UTF-8 (or out of memory)");
    if (!req->search_path || has_separator(program)) {
        *out = name;
        return PK_OK;
    }
    wchar_t *path = path_for(req->envp);
    wchar_t found[MAX_PATH * 2];
    DWORD n = path ? SearchPathW(path, name, L".exe", MAX_PATH * 2, found, NULL) : 0;
    free(path);
    free(name);
    if (n >= MAX_PATH * 2)
        return pk__fail(PK_ERR_INVALID, "pk_group_spawn: the path of %s is longer than %d characters", program,
                        MAX_PATH * 2 - 1);
    if (n == 0)
        return pk__fail(PK_ERR_NOT_FOUND, "pk_group_spawn: %s was not found in PATH", program);
    *out = _wcsdup(found);
    return *out ? PK_OK : pk__fail(PK_ERR_NOMEM, "pk_group_spawn: out of memory");
}

/* CreateProcess runs a .bat or .cmd file through cmd.exe, which splits the
 * command line by its own rules (& | % ^ ...), not the C runtime's that
 * win_cmdline.c quotes for: an argument could run commands. Refused; a
 * caller who wants cmd.exe names it and owns its quoting. */
static int is_batch_file(const wchar_t *app)
{
    size_t n = wcslen(app);
    while (n > 0 && (app[n - 1] == L'.' || app[n - 1] == L' '))
        n--; /* Windows ignores trailing dots and spaces in a file name */
    return n >= 4 && (_wcsnicmp(app + n - 4, L".bat", 4) == 0 || _wcsnicmp(app + n - 4, L".cmd", 4) == 0);
}

/* A UTF-16 environment block ("K=V\0...\0\0") from envp. */
static int env_block(const char *const *envp, wchar_t **out)
{
    *out = NULL;
    if (!envp)
        return PK_OK;
    size_t total = 1;
    for (size_t i = 0; envp[i]; i++) {
        int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, envp[i], -1, NULL, 0);
        if (n <= 0)
            return pk__fail(PK_ERR_INVALID, "pk_group_spawn: environment entry %zu is not valid UTF-8", i);
        total += (size_t)n;
    }
    wchar_t *block = malloc((total + 1) * sizeof *block);
    if (!block)
        return pk__fail(PK_ERR_NOMEM, "pk_group_spawn: out of memory");
    wchar_t *w = block;
    for (size_t i = 0; envp[i]; i++)
        w += MultiByteToWideChar(CP_UTF8, 0, envp[i], -1, w, (int)(total - (size_t)(w - block)));
    *w++ = L'\0';
    if (w == block + 1)
        *w = L'\0'; /* an empty block still needs two terminators */
    *out = block;
    return PK_OK;
}

/* An inheritable duplicate of what the child's stream i should be. */
static int stdio_handle(int fd, int i, HANDLE *out)
{
    HANDLE src;
    if (fd == PK_STDIO_NULL) {
        SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
        *out = CreateFileW(L"NUL", i == 0 ? GENERIC_READ : GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                           OPEN_EXISTING, 0, NULL);
        if (*out == INVALID_HANDLE_VALUE)
            return pk__fail_win(PK_ERR_OS, GetLastError(), "pk_group_spawn: opening NUL");
        return PK_OK;
    }
    if (fd == PK_STDIO_INHERIT) {
        static const DWORD which[3] = {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
        src = GetStdHandle(which[i]);
        if (src == NULL || src == INVALID_HANDLE_VALUE) {
            *out = NULL; /* the caller has none: neither does the child */
            return PK_OK;
        }
    } else {
        src = pk__fd_handle(fd);
        if (!src)
            return pk__fail(PK_ERR_INVALID, "pk_group_spawn: fd %d is not open", fd);
    }
    if (!DuplicateHandle(GetCurrentProcess(), src, GetCurrentProcess(), out, 0, TRUE, DUPLICATE_SAME_ACCESS))
        return pk__fail_win(PK_ERR_OS, GetLastError(), "pk_group_spawn: duplicating the handle of stream %d", i);
    return PK_OK;
}

static int has_extra(const pk_spawn_extra *x)
{
    return x && (x->set_ids || x->set_umask || x->rlimit_count || x->cwd_fd >= 0 || x->fd_map_count ||
                 x->pty_slave_fd >= 0);
}

int pk__child_spawn(const pk_spawn_request *req, pk_child_obj **out)
{
    if (has_extra(req->extra))
        return pk__fail(PK_ERR_UNSUPPORTED, "pk_group_spawn: user, umask, rlimit, cwd fd, fd map and PTY "
                                            "attributes are POSIX-only");
    const char *program = req->program ? req->program : req->argv[0];
    wchar_t *app = NULL, *cmdline = NULL, *env = NULL, *cwd = NULL;
    char *line8 = NULL;
    HANDLE std[3] = {NULL, NULL, NULL};
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
    /* The command line first: an argv Windows cannot carry is the caller's
     * error whether or not the program exists. */
    int rc = pk__win_cmdline(req->argv, &line8);
    if (rc == PK_OK)
        rc = resolve_program(req, program, &app);
    if (rc == PK_OK && !(cmdline = pk__utf16(line8)))
        rc = pk__fail(PK_ERR_INVALID, "pk_group_spawn: an argument is not valid UTF-8 (or out of memory)");
    if (rc == PK_OK && is_batch_file(app))
        rc = pk__fail(PK_ERR_INVALID, "pk_group_spawn: %s is a batch file, which cmd.exe would run with its own "
                                      "argument rules; run cmd.exe /c with arguments quoted for it instead",
                      program);
    /* 32767 UTF-16 units, the terminating NUL included. */
    if (rc == PK_OK && wcslen(cmdline) >= 32767)
        rc = pk__fail(PK_ERR_INVALID,
                      "pk_group_spawn: the command line is %zu UTF-16 units; Windows takes fewer than 32767",
                      wcslen(cmdline));
    if (rc == PK_OK)
        rc = env_block(req->envp, &env);
    if (rc == PK_OK && req->cwd && !(cwd = pk__utf16(req->cwd)))
        rc = pk__fail(PK_ERR_INVALID, "pk_group_spawn: the directory is not valid UTF-8 (or out of memory)");
    for (int i = 0; i < 3 && rc == PK_OK; i++) {
        /* stderr merged into an inherited stdout arrives as fd 1; give it
         * stdout's own handle, which a GUI host's fd 1 need not be. */
        if (i == 2 && req->stdio[2] == 1 && req->stdio[1] == PK_STDIO_INHERIT && std[1]) {
            if (!DuplicateHandle(GetCurrentProcess(), std[1], GetCurrentProcess(), &std[2], 0, TRUE,
                                 DUPLICATE_SAME_ACCESS))
                rc = pk__fail_win(PK_ERR_OS, GetLastError(), "pk_group_spawn: duplicating stdout for stderr");
            continue;
        }
        rc = stdio_handle(req->stdio[i], i, &std[i]);
    }

    /* Only the stdio handles cross into the child, whatever else the host
     * left inheritable: Windows' counterpart of close-on-exec hygiene. */
    HANDLE inherit[3];
    DWORD inherit_count = 0;
    for (int i = 0; i < 3; i++)
        if (std[i]) /* each a duplicate of its own, so never listed twice */
            inherit[inherit_count++] = std[i];
    if (rc == PK_OK) {
        SIZE_T size = 0;
        InitializeProcThreadAttributeList(NULL, 1, 0, &size);
        attrs = malloc(size);
        if (!attrs)
            rc = pk__fail(PK_ERR_NOMEM, "pk_group_spawn: out of memory");
        else if (!InitializeProcThreadAttributeList(attrs, 1, 0, &size) ||
                 (inherit_count && !UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherit,
                                                              inherit_count * sizeof *inherit, NULL, NULL))) {
            rc = pk__fail_win(PK_ERR_OS, GetLastError(), "pk_group_spawn: preparing the inherited handle list");
            free(attrs);
            attrs = NULL;
        }
    }
    if (rc == PK_OK) {
        STARTUPINFOEXW si;
        memset(&si, 0, sizeof si);
        si.StartupInfo.cb = sizeof si;
        si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
        si.StartupInfo.hStdInput = std[0];
        si.StartupInfo.hStdOutput = std[1];
        si.StartupInfo.hStdError = std[2];
        si.lpAttributeList = attrs;
        DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT;
        if (req->new_session)
            flags |= CREATE_NEW_PROCESS_GROUP; /* its own console group, so CTRL_BREAK can reach it alone */
        if (req->no_window)
            flags |= CREATE_NO_WINDOW;
        PROCESS_INFORMATION pi;
        if (!CreateProcessW(app, cmdline, NULL, NULL, inherit_count > 0, flags, env, cwd, &si.StartupInfo, &pi)) {
            DWORD err = GetLastError();
            rc = pk__fail_win(pk__code_from_win(err), err, "pk_group_spawn: CreateProcess(%s)", program);
        } else {
            rc = pk__child_new((int32_t)pi.dwProcessId, pi.hProcess, out);
            if (rc == PK_OK) {
                (*out)->thread = pi.hThread;
            } else {
                TerminateProcess(pi.hProcess, 1); /* it never ran: suspended from birth */
                WaitForSingleObject(pi.hProcess, INFINITE);
                CloseHandle(pi.hThread);
                CloseHandle(pi.hProcess);
            }
        }
    }
    if (attrs) {
        DeleteProcThreadAttributeList(attrs);
        free(attrs);
    }
    for (int i = 0; i < 3; i++)
        if (std[i] && std[i] != INVALID_HANDLE_VALUE)
            CloseHandle(std[i]);
    free(app);
    free(cmdline);
    free(line8);
    free(env);
    free(cwd);
    return rc;
}
