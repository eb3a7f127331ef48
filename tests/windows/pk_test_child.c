/* A Windows test program with one behaviour per mode, so the tests need
 * nothing from the host but this and wine:
 *   argv                 print the argv the C runtime and CommandLineToArgvW
 *                        parsed, one hex-encoded argument per line
 *   out TEXT / err TEXT  write TEXT to stdout / stderr (repeatable, in order)
 *   exit N               exit with N (after the modes before it)
 *   sleep MS             sleep
 *   cat                  copy stdin to stdout
 *   grandchild           start "pk_test_child sleep 600000", print its pid
 *   heartbeat PATH       rewrite PATH with a rising counter every 5 ms, forever
 *   spawn N              try to start N "sleep 600000" children; print how many started
 *   bytes N              write N bytes ('a' to 'z' repeating) to stdout
 *   handle HEX           print "open" if handle value HEX is valid in this process, else "closed"
 *   on-break             on CTRL_BREAK print "break" and exit 0 (then go on to the next mode)
 *   commit MB            commit MB megabytes; print "committed" or "refused"
 *   count PATH N         add one to the number in PATH; exit 1 until it reaches N, then 0
 *   listen PORT          accept TCP connections on 127.0.0.1:PORT (and go on to the next mode) */
#include <fcntl.h>
#include <io.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winsock2.h>
#include <windows.h>

#include <shellapi.h>

static void print_hex_line(const char *tag, const unsigned char *s, size_t n)
{
    printf("%s:", tag);
    for (size_t i = 0; i < n; i++)
        printf("%02x", s[i]);
    printf("\n");
}

static void print_argv(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        print_hex_line("crt", (const unsigned char *)argv[i], strlen(argv[i]));
    int wargc = 0;
    wchar_t **wargv = CommandLineToArgvW(GetCommandLineW(), &wargc);
    for (int i = 1; wargv && i < wargc; i++) {
        char utf8[4096];
        int n = WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, utf8, sizeof utf8, NULL, NULL);
        print_hex_line("shell", (const unsigned char *)utf8, n > 0 ? (size_t)n - 1 : 0);
    }
    LocalFree(wargv);
}

static HANDLE start_self(const char *args)
{
    wchar_t self[MAX_PATH];
    GetModuleFileNameW(NULL, self, MAX_PATH);
    wchar_t line[MAX_PATH + 64];
    swprintf(line, MAX_PATH + 64, L"\"%ls\" %hs", self, args);
    STARTUPINFOW si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    if (!CreateProcessW(self, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return NULL;
    CloseHandle(pi.hThread);
    return pi.hProcess;
}

static BOOL WINAPI on_break(DWORD event)
{
    if (event != CTRL_BREAK_EVENT)
        return FALSE;
    fputs("break\n", stdout);
    ExitProcess(0);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Bytes in, bytes out: no CRLF translation to account for in tests. */
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
    for (int i = 1; i < argc; i++) {
        const char *mode = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(mode, "argv")) {
            print_argv(argc, argv);
            return 0;
        } else if (!strcmp(mode, "out")) {
            fputs(arg, stdout);
            fflush(stdout);
            i++;
        } else if (!strcmp(mode, "err")) {
            fputs(arg, stderr);
            fflush(stderr);
            i++;
        } else if (!strcmp(mode, "exit")) {
            return atoi(arg);
        } else if (!strcmp(mode, "console-window")) {
            puts(GetConsoleWindow() ? "window" : "none");
            fflush(stdout);
        } else if (!strcmp(mode, "sleep")) {
            Sleep((DWORD)atoi(arg));
            i++;
        } else if (!strcmp(mode, "cat")) {
            char buf[4096];
            size_t n;
            while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
                fwrite(buf, 1, n, stdout);
        } else if (!strcmp(mode, "grandchild")) {
            HANDLE h = start_self("sleep 600000");
            if (!h)
                return 90;
            printf("%lu\n", (unsigned long)GetProcessId(h));
        } else if (!strcmp(mode, "spawn")) {
            int want = atoi(arg), started = 0;
            for (int k = 0; k < want; k++)
                started += start_self("sleep 600000") != NULL;
            printf("%d\n", started);
            i++;
        } else if (!strcmp(mode, "bytes")) {
            char buf[4096];
            for (size_t k = 0; k < sizeof buf; k++)
                buf[k] = (char)('a' + k % 26);
            for (long left = atol(arg); left > 0; left -= (long)sizeof buf)
                fwrite(buf, 1, left < (long)sizeof buf ? (size_t)left : sizeof buf, stdout);
            i++;
        } else if (!strcmp(mode, "handle")) {
            DWORD flags;
            HANDLE h = (HANDLE)(uintptr_t)strtoull(arg, NULL, 16);
            puts(GetHandleInformation(h, &flags) ? "open" : "closed");
            i++;
        } else if (!strcmp(mode, "commit")) {
            SIZE_T bytes = (SIZE_T)atol(arg) << 20;
            void *p = VirtualAlloc(NULL, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
            puts(p ? "committed" : "refused");
            i++;
        } else if (!strcmp(mode, "count")) {
            long n = 0;
            FILE *f = fopen(arg, "r");
            if (f) {
                if (fscanf(f, "%ld", &n) != 1)
                    n = 0;
                fclose(f);
            }
            f = fopen(arg, "w");
            if (!f)
                return 98;
            fprintf(f, "%ld\n", ++n);
            fclose(f);
            return n >= atol(i + 2 < argc ? argv[i + 2] : "1") ? 0 : 1;
        } else if (!strcmp(mode, "listen")) {
            WSADATA wsa;
            if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
                return 97;
            SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
            struct sockaddr_in addr;
            memset(&addr, 0, sizeof addr);
            addr.sin_family = AF_INET;
            addr.sin_port = htons((u_short)atoi(arg));
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (s == INVALID_SOCKET || bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s, 8) != 0)
                return 96;
            i++;
        } else if (!strcmp(mode, "on-break")) {
            SetConsoleCtrlHandler(on_break, TRUE);
        } else if (!strcmp(mode, "heartbeat")) {
            for (unsigned long beat = 0;; beat++) {
                FILE *f = fopen(arg, "w");
                if (f) {
                    fprintf(f, "%lu\n", beat);
                    fclose(f);
                }
                Sleep(5);
            }
        } else {
            fprintf(stderr, "pk_test_child: unknown mode %s\n", mode);
            return 99;
        }
    }
    return 0;
}
