/* The few things that differ between the Linux and the Windows build at the
 * level of types and constants, so the shared modules (groups, commands,
 * runs) compile unchanged on both. */
#ifndef PK_PLATFORM_H
#define PK_PLATFORM_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef _WIN32
/* A process HANDLE. While it is open Windows does not reuse the pid, which
 * is what makes a pid held next to it trustworthy. */
typedef void *pk_proc_ref;
#define PK_PROC_REF_NONE ((pk_proc_ref)0)

/* The ABI speaks Linux signal numbers everywhere; mingw's <signal.h> lacks
 * most of them. Only SIGKILL has an exact Windows meaning (termination). */
#ifndef SIGHUP
#define SIGHUP 1
#endif
#ifndef SIGQUIT
#define SIGQUIT 3
#endif
#ifndef SIGKILL
#define SIGKILL 9
#endif
#ifndef SIGUSR1
#define SIGUSR1 10
#endif
#ifndef SIGUSR2
#define SIGUSR2 12
#endif
#ifndef SIGPIPE
#define SIGPIPE 13
#endif
#ifndef SIGALRM
#define SIGALRM 14
#endif
#ifndef SIGCONT
#define SIGCONT 18
#endif
#ifndef SIGSTOP
#define SIGSTOP 19
#endif
#define PK_NSIG 65
typedef uint32_t pk_uid_t;
typedef uint32_t pk_gid_t;
#else
/* A pidfd: signals and waits through it can never reach a recycled pid. */
typedef int pk_proc_ref;
#define PK_PROC_REF_NONE (-1)
#define PK_NSIG _NSIG
typedef uid_t pk_uid_t;
typedef gid_t pk_gid_t;
#endif

/* What an interruptible sleep watches: on Linux an fd that polls readable
 * (a token's eventfd, or an epoll set of several), -1 for none; on Windows
 * a set of up to two handles, NULL for none. */
#ifdef _WIN32
typedef struct pk_wait_set {
    void *handles[2];
    unsigned count;
} pk_wait_set;
typedef const pk_wait_set *pk_wait_ref;
#define PK_WAIT_NONE ((pk_wait_ref)0)
#else
typedef int pk_wait_ref;
#define PK_WAIT_NONE (-1)
#endif

/* Non-zero when fd is an open descriptor of the caller's (a C runtime fd on
 * Windows). */
int pk__fd_is_open(int fd);

/* The calling process's pid. */
int32_t pk__self_pid(void);

/* Non-zero when pid is a process this library runs for itself (the keeper
 * on Linux), which no caller's group may take in: killing it would disarm
 * owner-death cleanup for every other group. */
int pk__is_own_helper(int32_t pid);

#endif
