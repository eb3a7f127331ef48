/**
 * @file processkit.h
 * @brief processkit: kill-on-free process containment with a stable C ABI.
 *
 * A group (::pk_group) holds child processes so that every child spawned into
 * it, and everything those children spawn, dies when the group is freed. The
 * group reports which kernel mechanism holds it (cgroup v2, POSIX process
 * group, Windows Job Object) and why a stronger one was not used.
 *
 * Conventions (the same for every function):
 * - Every function that can fail returns an `int`: ::PK_OK (0) or a negative
 *   ::pk_error code. The calling thread's last-error message then says what
 *   went wrong (pk_last_error()).
 * - Results come back through out-parameters, which are written only on
 *   success.
 * - Handles are opaque. A NULL, freed or wrong-type handle yields
 *   ::PK_ERR_HANDLE, never a crash.
 * - Every struct that crosses the ABI starts with `uint32_t size`, which the
 *   caller sets to the `sizeof` it was compiled with (the `..._INIT` macros do
 *   this). A smaller size (an older caller) is accepted and the missing fields
 *   take their defaults; a larger size (a newer caller) is accepted only when
 *   every byte this library does not know is zero, else ::PK_ERR_VERSION.
 *   Output structs are written up to the caller's size.
 *
 * Thread safety: unless a function says otherwise, every function may be
 * called from any thread, concurrently, on the same or different handles.
 * Freeing a handle while another thread still uses it is safe: the other call
 * either completes or fails with ::PK_ERR_HANDLE.
 */
#ifndef PROCESSKIT_H
#define PROCESSKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#if defined(PK_BUILDING_LIBRARY)
#define PK_API __declspec(dllexport)
#else
#define PK_API
#endif
#else
#define PK_API __attribute__((visibility("default")))
#endif

/** @name Version
 *  The header's version; pk_version() gives the library's at run time.
 *  @{ */
#define PK_VERSION_MAJOR 1
#define PK_VERSION_MINOR 0
#define PK_VERSION_PATCH 0
/** Packed as (major << 16) | (minor << 8) | patch. */
#define PK_VERSION_NUMBER ((PK_VERSION_MAJOR << 16) | (PK_VERSION_MINOR << 8) | PK_VERSION_PATCH)
/** @} */

/** The library's version, packed as ::PK_VERSION_NUMBER. Never fails. */
PK_API uint32_t pk_version(void);
/** The library's version as "major.minor.patch" (static storage). Never fails. */
PK_API const char *pk_version_string(void);

/** Error codes. Every failing call returns one of these (all negative). */
typedef enum pk_error {
    PK_OK = 0,
    PK_ERR_INVALID = -1,     /**< A bad argument: NULL pointer, empty argv, bad enum value... */
    PK_ERR_NOMEM = -2,       /**< Out of memory. */
    PK_ERR_HANDLE = -3,      /**< NULL, freed or wrong-type handle. */
    PK_ERR_OS = -4,          /**< An operating-system call failed; the message names it and errno. */
    PK_ERR_UNAVAILABLE = -5, /**< The requested backend or minimum mechanism is not available here. */
    PK_ERR_LIMIT = -6,       /**< A resource limit was asked for but cannot be enforced here. */
    PK_ERR_NOT_FOUND = -7,   /**< The program was not found. */
    PK_ERR_PERMISSION = -8,  /**< The program exists but may not be executed, or an operation was refused. */
    PK_ERR_NO_PROCESS = -9,  /**< No such process: not a child of the caller, or already reaped. */
    PK_ERR_TIMEOUT = -10,    /**< A wait ran out of time; nothing was changed. */
    PK_ERR_UNSUPPORTED = -11,/**< The mechanism or platform cannot do this. */
    PK_ERR_VERSION = -12,    /**< A struct from a newer caller sets fields this library does not know. */
    PK_ERR_CANCELLED = -13,  /**< The operation was cancelled. */
    PK_ERR_OVERFLOW = -14,   /**< Output exceeded its cap under the error policy. */
    PK_ERR_STATE = -15       /**< Not allowed in the object's current state (e.g. spawn while suspended). */
} pk_error;

/** A short static description of an error code ("invalid argument", ...). Never fails. */
PK_API const char *pk_strerror(int err);
/**
 * The message of the last failing call on this thread ("" if none). The
 * storage is thread-local and valid until the thread's next processkit call.
 */
PK_API const char *pk_last_error(void);

/** How a group's processes are held, from weakest to strongest. */
typedef enum pk_mechanism {
    PK_MECHANISM_NONE = 0,          /**< Not contained (only reported by a probe of an unavailable backend). */
    PK_MECHANISM_PROCESS_GROUP = 1, /**< POSIX process groups (killpg): a descendant that calls setsid escapes. */
    PK_MECHANISM_CGROUP_V2 = 2,     /**< A Linux cgroup v2 leaf: the whole tree, setsid or not. */
    PK_MECHANISM_JOB_OBJECT = 3     /**< A Windows Job Object with kill-on-close. */
} pk_mechanism;

/** The stable name of a mechanism ("cgroup-v2", "process-group", "job-object", "none"); NULL for an unknown value. */
PK_API const char *pk_mechanism_name(int mechanism);

/** Which backend a group should use. */
typedef enum pk_backend {
    PK_BACKEND_AUTO = 0,          /**< The strongest available: cgroup v2, else process group (Linux). */
    PK_BACKEND_CGROUP_V2 = 1,
    PK_BACKEND_PROCESS_GROUP = 2,
    PK_BACKEND_JOB_OBJECT = 3
} pk_backend;

/** What a mechanism guarantees or can do (bits of pk_containment.features). */
enum pk_feature {
    PK_FEATURE_CONTAINS_SETSID = 1u << 0,  /**< A descendant that calls setsid/setpgid stays contained. */
    PK_FEATURE_ATOMIC_KILL = 1u << 1,      /**< Kill reaches the whole tree at once; racing forks die too. */
    PK_FEATURE_FREEZE = 1u << 2,           /**< Suspend is a true freeze (not SIGSTOP, which a tracer can undo). */
    PK_FEATURE_ALL_MEMBERS = 1u << 3,      /**< pk_group_members lists every descendant (else the tracked leaders only). */
    PK_FEATURE_CPU_STATS = 1u << 4,        /**< pk_group_stats reports CPU time. */
    PK_FEATURE_MEMORY_STATS = 1u << 5,     /**< pk_group_stats reports peak memory. */
    PK_FEATURE_LIMIT_MEMORY = 1u << 6,     /**< A memory limit can be enforced. */
    PK_FEATURE_LIMIT_PIDS = 1u << 7,       /**< A process-count limit can be enforced. */
    PK_FEATURE_LIMIT_CPU = 1u << 8,        /**< A CPU limit can be enforced. */
    PK_FEATURE_SIGNALS = 1u << 9,          /**< Signals other than kill can be sent to the tree. */
    PK_FEATURE_OWNER_DEATH = 1u << 10      /**< The kernel kills the tree even if the owner dies by SIGKILL. */
};

/**
 * What holds a group (pk_group_containment) or what a group would get on this
 * host (pk_host_probe).
 */
typedef struct pk_containment {
    uint32_t size;          /**< sizeof(pk_containment) as the caller compiled it. */
    int32_t mechanism;      /**< ::pk_mechanism; NONE when a probed backend is unavailable. */
    uint32_t features;      /**< ::pk_feature bits for this mechanism on this host. */
    int32_t reserved;       /**< Zero. */
    char reason[256];       /**< Why a stronger mechanism was not used (or why the probed one is unavailable); "" if none was wanted. */
    char cgroup_mount[256]; /**< The cgroup2 mount point, or "" when there is none. */
    char cgroup_path[512];  /**< The group's cgroup leaf directory (groups only), or "". */
} pk_containment;
#define PK_CONTAINMENT_INIT {sizeof(pk_containment), 0, 0, 0, {0}, {0}, {0}}

/**
 * What a group would get on this host if created with @p backend (a
 * ::pk_backend), without creating or spawning anything. For an unavailable
 * backend, out->mechanism is ::PK_MECHANISM_NONE and out->reason says why; the
 * call still succeeds.
 */
PK_API int pk_host_probe(int32_t backend, pk_containment *out);

/** Options for pk_group_create(). Start from ::PK_GROUP_OPTIONS_INIT. */
typedef struct pk_group_options {
    uint32_t size;               /**< sizeof(pk_group_options) as the caller compiled it. */
    int32_t backend;             /**< ::pk_backend; default AUTO. */
    int32_t min_mechanism;       /**< Refuse (::PK_ERR_UNAVAILABLE) anything weaker than this ::pk_mechanism. cgroup-v2 and job-object are equally strong. Default NONE. */
    int32_t parent_death_signal; /**< Default for spawns: the signal a direct child gets when its spawning thread dies (Linux); 0 = none. */
    uint64_t memory_max;         /**< Bytes; 0 = no limit. */
    uint64_t pids_max;           /**< Processes in the tree; 0 = no limit. */
    double cpu_max;              /**< CPU cores (1.5 = one and a half); 0 = no limit. */
} pk_group_options;
#define PK_GROUP_OPTIONS_INIT {sizeof(pk_group_options), PK_BACKEND_AUTO, PK_MECHANISM_NONE, 0, 0, 0, 0.0}

typedef struct pk_group pk_group; /**< A kill-on-free container of processes. */
typedef struct pk_child pk_child; /**< A direct child spawned into a group. */

/**
 * Create a group. @p opts may be NULL for the defaults. With limits set, the
 * call fails with ::PK_ERR_LIMIT (and creates nothing) when this host cannot
 * enforce them: limits never downgrade silently.
 */
PK_API int pk_group_create(const pk_group_options *opts, pk_group **out);

/**
 * Free a group: SIGKILL the whole tree, reap the group's direct children, and
 * remove what the backend created (the cgroup leaf). If the last
 * pk_group_shutdown() ran with escalate off and no spawn or adopt followed,
 * the survivors are spared (on cgroup v2 they are moved out to the parent
 * cgroup so the leaf can be removed). Child handles stay valid after this.
 */
PK_API int pk_group_free(pk_group *group);

/** What holds this group, and why nothing stronger does. */
PK_API int pk_group_containment(pk_group *group, pk_containment *out);

/** Stdio slots of pk_spawn_options. A value >= 0 is a caller fd that becomes the child's. */
#define PK_STDIO_INHERIT (-1) /**< The child uses the caller's fd of the same number. */
#define PK_STDIO_NULL (-2)    /**< The child gets /dev/null. */

/** Bits of pk_spawn_options.flags. */
enum pk_spawn_flag {
    PK_SPAWN_NEW_SESSION = 1u << 0,   /**< The child calls setsid() (it leads a new session and process group). */
    PK_SPAWN_NO_PATH_SEARCH = 1u << 1 /**< Do not search PATH for a program without a slash. */
};

/** How to start a child. Start from ::PK_SPAWN_OPTIONS_INIT. */
typedef struct pk_spawn_options {
    uint32_t size;               /**< sizeof(pk_spawn_options) as the caller compiled it. */
    uint32_t flags;              /**< ::pk_spawn_flag bits. */
    const char *program;         /**< The file to run; NULL = argv[0]. Without a slash it is searched in PATH (the child's PATH if envp sets one). */
    const char *const *argv;     /**< NULL-terminated, at least one element. */
    const char *const *envp;     /**< NULL-terminated "K=V" strings; NULL = the caller's environment. */
    const char *cwd;             /**< Working directory; NULL = the caller's. */
    int32_t stdin_fd;            /**< An fd, ::PK_STDIO_INHERIT or ::PK_STDIO_NULL. */
    int32_t stdout_fd;           /**< An fd, ::PK_STDIO_INHERIT or ::PK_STDIO_NULL. */
    int32_t stderr_fd;           /**< An fd, ::PK_STDIO_INHERIT or ::PK_STDIO_NULL. */
    int32_t parent_death_signal; /**< -1 = the group's default; 0 = none; else a signal number (Linux). */
} pk_spawn_options;
#define PK_SPAWN_OPTIONS_INIT {sizeof(pk_spawn_options), 0, NULL, NULL, NULL, NULL, PK_STDIO_INHERIT, PK_STDIO_INHERIT, PK_STDIO_INHERIT, -1}

/**
 * Start a child inside the group. On Linux the child is placed into the
 * group's cgroup at birth (clone3 CLONE_INTO_CGROUP), so not even its first
 * instruction runs outside it. The child inherits exactly fds 0-2 as asked;
 * every other fd is closed. Fails with ::PK_ERR_NOT_FOUND or
 * ::PK_ERR_PERMISSION when the program cannot be executed (nothing is left
 * running), and ::PK_ERR_STATE while the group is suspended. Re-arms
 * kill-on-free after a non-escalating shutdown.
 */
PK_API int pk_group_spawn(pk_group *group, const pk_spawn_options *opts, pk_child **out);

/**
 * Bring an existing child of the calling process (and its future
 * descendants) into the group. Adopting an exited but unreaped child
 * succeeds (there is nothing left to contain); a pid that is not a child of
 * the caller, or was already reaped, fails with ::PK_ERR_NO_PROCESS. Adopting
 * the same child twice tracks it once. Its existing descendants are not
 * moved. Re-arms kill-on-free after a non-escalating shutdown.
 */
PK_API int pk_group_adopt(pk_group *group, int32_t pid);

/** Send signal @p sig to every process in the group (SIGKILL takes the atomic kill path). */
PK_API int pk_group_signal(pk_group *group, int32_t sig);

/** SIGKILL the whole tree. Idempotent; the group stays usable. */
PK_API int pk_group_kill(pk_group *group);

/** Stop every process in the group (cgroup freeze, or SIGSTOP). */
PK_API int pk_group_suspend(pk_group *group);

/** Undo pk_group_suspend(). */
PK_API int pk_group_resume(pk_group *group);

/**
 * The pids in the group: every process on cgroup v2, the tracked group
 * leaders and adopted pids on the process group. Writes up to @p capacity
 * pids and sets *count to the number found (which may exceed @p capacity).
 * @p pids may be NULL when @p capacity is 0.
 */
PK_API int pk_group_members(pk_group *group, int32_t *pids, size_t capacity, size_t *count);

/** Usage of a group. Fields a mechanism cannot tell are -1. */
typedef struct pk_group_stats {
    uint32_t size;             /**< sizeof(pk_group_stats) as the caller compiled it. */
    uint32_t live_processes;   /**< Processes alive now (tracked entries on the process group). */
    int64_t cpu_time_us;       /**< User+system CPU time of the tree, exited members included; -1 if unknown. */
    int64_t peak_memory_bytes; /**< Peak memory of the tree; -1 if unknown. */
} pk_group_stats;
#define PK_GROUP_STATS_INIT {sizeof(pk_group_stats), 0, 0, 0}

PK_API int pk_group_stats_get(pk_group *group, pk_group_stats *out);

/** How pk_group_shutdown() proceeds. Start from ::PK_SHUTDOWN_OPTIONS_INIT. */
typedef struct pk_shutdown_options {
    uint32_t size;     /**< sizeof(pk_shutdown_options) as the caller compiled it. */
    int32_t signal;    /**< The polite signal; default SIGTERM (15). */
    uint32_t grace_ms; /**< How long the tree gets to drain; default 2000. */
    int32_t escalate;  /**< Non-zero (default): SIGKILL what is left after the grace. Zero: spare survivors, also at free. */
} pk_shutdown_options;
#define PK_SHUTDOWN_OPTIONS_INIT {sizeof(pk_shutdown_options), 15, 2000, 1}

/** What pk_group_shutdown() did. */
typedef struct pk_shutdown_report {
    uint32_t size;           /**< sizeof(pk_shutdown_report) as the caller compiled it. */
    uint32_t members_before; /**< Live members when it started. */
    uint32_t members_after;  /**< Live members when it returned. */
    int32_t drained;         /**< Non-zero if the tree emptied within the grace. */
    int32_t escalated;       /**< Non-zero if survivors were SIGKILLed. */
    int32_t reserved;        /**< Zero. */
    uint64_t elapsed_us;     /**< Wall time the call took. */
} pk_shutdown_report;
#define PK_SHUTDOWN_REPORT_INIT {sizeof(pk_shutdown_report), 0, 0, 0, 0, 0, 0}

/**
 * Graceful shutdown: send the signal to the tree, wait until it drains or the
 * grace ends (returning as soon as it drains), then SIGKILL the rest if
 * escalating. The group's direct children are reaped as they exit. @p opts and
 * @p report may be NULL.
 */
PK_API int pk_group_shutdown(pk_group *group, const pk_shutdown_options *opts, pk_shutdown_report *report);

/** How a child ended. */
typedef enum pk_exit_kind {
    PK_EXIT_RUNNING = 0, /**< Not ended yet. */
    PK_EXIT_CODE = 1,    /**< It exited; `code` holds the exit code. */
    PK_EXIT_SIGNAL = 2   /**< A signal killed it; `signal` holds the number. */
} pk_exit_kind;

typedef struct pk_exit_status {
    uint32_t size;        /**< sizeof(pk_exit_status) as the caller compiled it. */
    int32_t kind;         /**< ::pk_exit_kind. */
    int32_t code;         /**< The exit code for PK_EXIT_CODE, else 0. */
    int32_t signal;       /**< The signal for PK_EXIT_SIGNAL, else 0. */
    int32_t core_dumped;  /**< Non-zero if it dumped core. */
} pk_exit_status;
#define PK_EXIT_STATUS_INIT {sizeof(pk_exit_status), 0, 0, 0, 0}

/** The child's process id. */
PK_API int pk_child_pid(pk_child *child, int32_t *pid);

/**
 * An fd that becomes readable when the child exits (its pidfd on Linux), for
 * poll/epoll or a host event loop. It belongs to the handle: do not close it.
 */
PK_API int pk_child_pollfd(pk_child *child, int *fd);

/**
 * Wait up to @p timeout_ms (-1 = forever, 0 = just look) for the child to end,
 * reap it and decode its status. ::PK_ERR_TIMEOUT if it is still running.
 * Once reaped, every later call returns the same status.
 */
PK_API int pk_child_wait(pk_child *child, int32_t timeout_ms, pk_exit_status *status);

/** Signal the child alone, through its pidfd: never a recycled pid. ::PK_ERR_NO_PROCESS once it has been reaped. */
PK_API int pk_child_signal(pk_child *child, int32_t sig);

/**
 * Release the handle. The process is not touched: it stays in its group,
 * which kills it on free and reaps it if nobody else does.
 */
PK_API int pk_child_free(pk_child *child);

#ifdef __cplusplus
}
#endif

#endif /* PROCESSKIT_H */
