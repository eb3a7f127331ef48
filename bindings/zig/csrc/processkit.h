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
 *   ::PK_ERR_HANDLE, never a crash. A handle value is never issued twice
 *   (a slot has 2^44 generations on 64-bit hosts and is retired, not reused,
 *   when they run out), so a freed handle can never act on a later object.
 * - Every struct that crosses the ABI starts with `uint32_t size`, which the
 *   caller sets to the `sizeof` it was compiled with (the `..._INIT` macros do
 *   this). A smaller size (an older caller) is accepted and the missing fields
 *   take their defaults; a larger size (a newer caller) is accepted only when
 *   every byte this library does not know is zero, else ::PK_ERR_VERSION.
 *   A size more than 1024 bytes past this library's struct is refused with
 *   ::PK_ERR_VERSION before any of it is read.
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
/** Marks a function the library exports. */
#define PK_API __attribute__((visibility("default")))
#endif

/** @name Version
 *  The header's version; pk_version() gives the library's at run time.
 *  @{ */
#define PK_VERSION_MAJOR 1 /**< Incompatible ABI changes (never so far). */
#define PK_VERSION_MINOR 2 /**< Compatible additions. */
#define PK_VERSION_PATCH 0 /**< Fixes only. */
/** Packed as (major << 16) | (minor << 8) | patch. */
#define PK_VERSION_NUMBER ((PK_VERSION_MAJOR << 16) | (PK_VERSION_MINOR << 8) | PK_VERSION_PATCH)
/** @} */

/* ======================================================================== */
/** @name Struct sizes and the version
 *  Never fail, but pk_struct_size() (::PK_ERR_INVALID for an unknown id or a
 *  NULL out).
 *  @{ */

/** The public structs, named for pk_struct_size(). */
typedef enum pk_struct_id {
    PK_STRUCT_CONTAINMENT = 1,
    PK_STRUCT_GROUP_OPTIONS = 2,
    PK_STRUCT_SPAWN_OPTIONS = 3,
    PK_STRUCT_GROUP_STATS = 4,
    PK_STRUCT_SHUTDOWN_OPTIONS = 5,
    PK_STRUCT_SHUTDOWN_REPORT = 6,
    PK_STRUCT_EXIT_STATUS = 7,
    PK_STRUCT_RUN_INFO = 8,
    PK_STRUCT_RETRY_OPTIONS = 9,
    PK_STRUCT_SUPERVISE_OPTIONS = 10,
    PK_STRUCT_SUPERVISE_REPORT = 11,
    PK_STRUCT_READINESS_INFO = 12 /**< pk_readiness_info (since 1.1). */
} pk_struct_id;

/**
 * The size this library gives a public struct (::pk_struct_id), so a caller
 * that never saw this header (a foreign runtime reading the ABI manifest)
 * can allocate it and set its `size` field.
 */
PK_API int pk_struct_size(int32_t id, size_t *size);

/** The library's version, packed as ::PK_VERSION_NUMBER. Never fails. */
PK_API uint32_t pk_version(void);
/** The library's version as "major.minor.patch" (static storage). Never fails. */
PK_API const char *pk_version_string(void);

/** @} */

/* ======================================================================== */
/** @name Errors
 *  Every public function returns ::PK_OK or one of these, and on failure sets
 *  a message for the calling thread (pk_last_error()). pk_strerror() and
 *  pk_last_error() never fail.
 *  @{ */

/** Error codes. Every failing call returns one of these (all negative). */
typedef enum pk_error {
    PK_OK = 0,               /**< Success. */
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
    PK_ERR_STATE = -15,      /**< Not allowed in the object's current state (e.g. spawn while suspended). */
    PK_ERR_FAILED = -16,     /**< A command ended without success (an exit code not accepted, a signal). */
    PK_ERR_NOT_READY = -17   /**< A readiness probe was not satisfied in time; the message says what was seen. */
} pk_error;

/** A short static description of an error code ("invalid argument", ...). Never fails. */
PK_API const char *pk_strerror(int err);
/**
 * The message of the last failing call on this thread ("" if none). The
 * storage is thread-local and valid until the thread's next processkit call.
 */
PK_API const char *pk_last_error(void);

/** @} */

/* ======================================================================== */
/** @name Mechanisms and the host probe
 *  What holds a group here, and why a stronger mechanism was not used.
 *  pk_host_probe() fails only with ::PK_ERR_INVALID (an unknown backend, a NULL
 *  out) or ::PK_ERR_VERSION (an out struct of an impossible size).
 *  @{ */

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
    PK_FEATURE_OWNER_DEATH = 1u << 10      /**< The tree dies even if the owner dies by SIGKILL (a keeper process, or the kernel). */
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
/** A pk_containment ready to be filled: its size set, the rest zero. */
#define PK_CONTAINMENT_INIT {sizeof(pk_containment), 0, 0, 0, {0}, {0}, {0}}

/**
 * What a group would get on this host if created with @p backend (a
 * ::pk_backend), without creating or spawning anything. For an unavailable
 * backend, out->mechanism is ::PK_MECHANISM_NONE and out->reason says why; the
 * call still succeeds.
 */
PK_API int pk_host_probe(int32_t backend, pk_containment *out);

/** @} */

/* ======================================================================== */
/** @name Groups
 *  A kill-on-free container: every child spawned into it, and all they
 *  spawn, dies when it is freed. Common errors: ::PK_ERR_HANDLE,
 *  ::PK_ERR_INVALID, ::PK_ERR_NOMEM, ::PK_ERR_VERSION (a struct of an impossible
 *  size); ::PK_ERR_OS when the kernel refuses (the message names the call and
 *  errno); ::PK_ERR_STATE while suspended; each function names the rest.
 *  @{ */

/** Bits of pk_group_options.flags. */
enum pk_group_flag {
    /** Do not kill the tree when the owning process dies without freeing the
     *  group (by default a keeper process does, on cgroup v2). */
    PK_GROUP_NO_OWNER_DEATH_KILL = 1u << 0
};

/** Options for pk_group_create(). Start from ::PK_GROUP_OPTIONS_INIT. */
typedef struct pk_group_options {
    uint32_t size;               /**< sizeof(pk_group_options) as the caller compiled it. */
    int32_t backend;             /**< ::pk_backend; default AUTO. */
    int32_t min_mechanism;       /**< Refuse (::PK_ERR_UNAVAILABLE) anything weaker than this ::pk_mechanism. cgroup-v2 and job-object are equally strong. Default NONE. */
    int32_t parent_death_signal; /**< Default for spawns: the signal a direct child gets when its spawning thread dies (Linux); 0 = none. */
    uint64_t memory_max;         /**< Bytes; 0 = no limit. */
    uint64_t pids_max;           /**< Processes in the tree; 0 = no limit. */
    double cpu_max;              /**< CPU cores (1.5 = one and a half); 0 = no limit. */
    uint32_t flags;              /**< ::pk_group_flag bits; default 0. */
} pk_group_options;
/** The default group options: auto backend, no minimum, no limits, owner-death kill on. */
#define PK_GROUP_OPTIONS_INIT {sizeof(pk_group_options), PK_BACKEND_AUTO, PK_MECHANISM_NONE, 0, 0, 0, 0.0, 0}

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
    PK_SPAWN_NEW_SESSION = 1u << 0,    /**< The child calls setsid() (it leads a new session and process group). */
    PK_SPAWN_NO_PATH_SEARCH = 1u << 1, /**< Do not search PATH for a program without a slash. */
    PK_SPAWN_NO_WINDOW = 1u << 2       /**< Windows: CREATE_NO_WINDOW, a console program gets no console window. Elsewhere accepted and without effect (since 1.2). */
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
/** Spawn options with stdio inherited and the group's parent-death signal; set argv. */
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
 * moved. Re-arms kill-on-free after a non-escalating shutdown. The
 * library's own keeper process (Linux; it kills every group's tree if the
 * caller dies) is refused with ::PK_ERR_PERMISSION.
 */
PK_API int pk_group_adopt(pk_group *group, int32_t pid);

/** Send signal @p sig to every process in the group (SIGKILL takes the atomic kill path).
 *  A job object (Windows) has no other signal: ::PK_ERR_UNSUPPORTED. */
PK_API int pk_group_signal(pk_group *group, int32_t sig);

/** SIGKILL the whole tree. Idempotent; the group stays usable. */
PK_API int pk_group_kill(pk_group *group);

/** Stop every process in the group (cgroup freeze, SIGSTOP, or every thread suspended on Windows). */
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
/** A pk_group_stats ready to be filled. */
#define PK_GROUP_STATS_INIT {sizeof(pk_group_stats), 0, 0, 0}

/** The group's usage now (see pk_group_stats for what each mechanism can tell). */
PK_API int pk_group_stats_get(pk_group *group, pk_group_stats *out);

/** How pk_group_shutdown() proceeds. Start from ::PK_SHUTDOWN_OPTIONS_INIT. */
typedef struct pk_shutdown_options {
    uint32_t size;     /**< sizeof(pk_shutdown_options) as the caller compiled it. */
    int32_t signal;    /**< The polite signal; default SIGTERM (15). */
    uint32_t grace_ms; /**< How long the tree gets to drain; default 2000. */
    int32_t escalate;  /**< Non-zero (default): SIGKILL what is left after the grace. Zero: spare survivors, also at free. */
} pk_shutdown_options;
/** SIGTERM, a 2 s grace, then SIGKILL. */
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
/** A pk_shutdown_report ready to be filled. */
#define PK_SHUTDOWN_REPORT_INIT {sizeof(pk_shutdown_report), 0, 0, 0, 0, 0, 0}

/**
 * Graceful shutdown: send the signal to the tree, wait until it drains or the
 * grace ends (returning as soon as it drains), then SIGKILL the rest if
 * escalating. The group's direct children are reaped as they exit. @p opts and
 * @p report may be NULL.
 */
PK_API int pk_group_shutdown(pk_group *group, const pk_shutdown_options *opts, pk_shutdown_report *report);

/** @} */

/* ======================================================================== */
/** @name Children
 *  A direct child spawned into a group. Errors: ::PK_ERR_HANDLE,
 *  ::PK_ERR_INVALID, ::PK_ERR_TIMEOUT (a wait ran out), ::PK_ERR_NO_PROCESS
 *  (reaped already, or its status taken by the host), ::PK_ERR_UNSUPPORTED
 *  (pk_child_pollfd() on Windows), ::PK_ERR_OS.
 *  @{ */

/** How a child ended. */
typedef enum pk_exit_kind {
    PK_EXIT_RUNNING = 0, /**< Not ended yet. */
    PK_EXIT_CODE = 1,    /**< It exited; `code` holds the exit code. */
    PK_EXIT_SIGNAL = 2   /**< A signal killed it; `signal` holds the number. */
} pk_exit_kind;

/** How a child ended, from pk_child_wait(). */
typedef struct pk_exit_status {
    uint32_t size;        /**< sizeof(pk_exit_status) as the caller compiled it. */
    int32_t kind;         /**< ::pk_exit_kind. */
    int32_t code;         /**< The exit code for PK_EXIT_CODE, else 0. */
    int32_t signal;       /**< The signal for PK_EXIT_SIGNAL, else 0. */
    int32_t core_dumped;  /**< Non-zero if it dumped core. */
} pk_exit_status;
/** A pk_exit_status ready to be filled. */
#define PK_EXIT_STATUS_INIT {sizeof(pk_exit_status), 0, 0, 0, 0}

/** The child's process id. */
PK_API int pk_child_pid(pk_child *child, int32_t *pid);

/**
 * An fd that becomes readable when the child exits (its pidfd on Linux), for
 * poll/epoll or a host event loop. It belongs to the handle: do not close it.
 * Windows has no such fd: ::PK_ERR_UNSUPPORTED (use pk_child_wait()).
 */
PK_API int pk_child_pollfd(pk_child *child, int *fd);

/**
 * Wait up to @p timeout_ms (-1 = forever, 0 = just look) for the child to end,
 * reap it and decode its status into @p status (which may be NULL).
 * ::PK_ERR_TIMEOUT if it is still running. Once reaped, every later call
 * returns the same status.
 */
PK_API int pk_child_wait(pk_child *child, int32_t timeout_ms, pk_exit_status *status);

/** Signal the child alone, through its pidfd: never a recycled pid. ::PK_ERR_NO_PROCESS once it has been reaped. */
PK_API int pk_child_signal(pk_child *child, int32_t sig);

/**
 * Release the handle. The process is not touched: it stays in its group,
 * which kills it on free and reaps it if nobody else does.
 */
PK_API int pk_child_free(pk_child *child);


/** @} */

/* ======================================================================== */
/** @name Run-and-capture: the objects
 *  Commands (::pk_command) run on an event loop (::pk_loop) as processes
 *  (::pk_process) whose outcome and output end up in a ::pk_result; a
 *  ::pk_cancel stops runs from any thread, and a ::pk_pipeline joins commands.
 *  Every function below returns ::PK_OK or a negative ::pk_error, and sets the
 *  thread's message (pk_last_error()) when it fails. Common to all: a NULL,
 *  freed or wrong-type handle is ::PK_ERR_HANDLE; a bad argument (a NULL
 *  pointer, an out-of-range enum or signal, a negative timeout other than -1)
 *  is ::PK_ERR_INVALID; an allocation that fails is ::PK_ERR_NOMEM. Each
 *  function's comment names the codes it adds.
 *  @{ */

typedef struct pk_command pk_command; /**< What to run, and how: a reusable builder. */

typedef struct pk_loop pk_loop;       /**< One thread's event loop over many processes. */

typedef struct pk_process pk_process; /**< A command running (or finished) on a loop. */

typedef struct pk_result pk_result;   /**< The outcome and captured output of a finished run. */

typedef struct pk_cancel pk_cancel;   /**< A cancellation token, triggerable from any thread. */

typedef struct pk_pipeline pk_pipeline; /**< `a | b | c` without a shell, in one group. */

/** How a run ended. */
typedef enum pk_outcome {
    PK_OUTCOME_RUNNING = 0,   /**< Not finished. */
    PK_OUTCOME_EXITED = 1,    /**< The program exited; see exit_code. */
    PK_OUTCOME_SIGNALLED = 2, /**< A signal killed it (not ours); see signal. */
    PK_OUTCOME_TIMED_OUT = 3, /**< The timeout fired and the tree was torn down. */
    PK_OUTCOME_CANCELLED = 4, /**< It was cancelled and the tree was killed. */
    PK_OUTCOME_STATUS_LOST = 5 /**< It ended, but its exit status is gone: the host reaped it (a waitpid(-1)
                                    loop, or SIGCHLD ignored) on a kernel before 6.15, whose pidfds keep no
                                    status. exit_code is -1 and signal 0; pk_result_check() fails with
                                    ::PK_ERR_NO_PROCESS. See docs/mechanisms.md. */
} pk_outcome;

/** The child's standard streams. */
typedef enum pk_stream {
    PK_STREAM_STDIN = 0,
    PK_STREAM_STDOUT = 1,
    PK_STREAM_STDERR = 2
} pk_stream;

/** Where a child's stdout or stderr goes. */
typedef enum pk_output_mode {
    PK_OUTPUT_CAPTURE = 0, /**< Read by the loop into the result (default). */
    PK_OUTPUT_INHERIT = 1, /**< The caller's own stdout/stderr. */
    PK_OUTPUT_NULL = 2,    /**< /dev/null. */
    PK_OUTPUT_FD = 3,      /**< A caller fd. */
    PK_OUTPUT_MERGE = 4    /**< stderr only: into the same pipe as stdout (one ordered stream). */
} pk_output_mode;

/** What a capped stream keeps when it overflows. */
typedef enum pk_overflow {
    PK_OVERFLOW_KEEP_HEAD = 0, /**< Keep the first bytes, drop the rest. */
    PK_OVERFLOW_KEEP_TAIL = 1, /**< Keep the last bytes. */
    PK_OVERFLOW_ERROR = 2      /**< Keep the head, and fail the run's check with ::PK_ERR_OVERFLOW. */
} pk_overflow;

/** Bits for pk_command_flags(). */
enum pk_command_flag {
    PK_COMMAND_NEW_SESSION = 1u << 0, /**< The child calls setsid(). */
    PK_COMMAND_NO_WINDOW = 1u << 1    /**< Windows: CREATE_NO_WINDOW (processkit's create_no_window); elsewhere no effect (since 1.2). */
};

/** Called for each complete line (without its newline; a final unterminated
 *  line is delivered at end of stream). Runs on the loop's thread, inside
 *  pk_loop_run_once(); @p line is valid only during the call. */
typedef void (*pk_line_fn)(void *user, int32_t stream, const char *line, size_t len);

/** Everything about a finished run but its output bytes. */
typedef struct pk_run_info {
    uint32_t size;             /**< sizeof(pk_run_info) as the caller compiled it. */
    int32_t outcome;           /**< ::pk_outcome. */
    int32_t exit_code;         /**< The exit code when the program exited, else -1. */
    int32_t signal;            /**< The signal that killed it, else 0. */
    int32_t pid;               /**< The program's pid. */
    int32_t mechanism;         /**< The ::pk_mechanism that held the run. */
    int32_t success;           /**< Non-zero if it exited with an accepted code and no ERROR-policy cap overflowed. */
    int32_t stdout_truncated;  /**< Non-zero if captured stdout lost bytes to its cap. */
    int32_t stderr_truncated;  /**< Non-zero if captured stderr lost bytes to its cap. */
    int32_t overflowed;        /**< Non-zero if an ERROR-policy cap was exceeded. */
    uint64_t duration_us;      /**< From spawn to the end of the run. */
    uint64_t stdout_bytes;     /**< Bytes the program wrote to captured stdout (kept or not). */
    uint64_t stderr_bytes;     /**< Bytes the program wrote to captured stderr (kept or not). */
    int32_t failed_stage;      /**< Pipelines: the stage the outcome is attributed to (pipefail), or -1. */
    uint32_t stage_count;      /**< Pipelines: the number of stages (1 for a single run). */
} pk_run_info;
/** @} */

/* ======================================================================== */
/** @name Commands
 *  Building a command, and running it. Setters only record: they fail with
 *  ::PK_ERR_HANDLE or ::PK_ERR_INVALID (and ::PK_ERR_NOMEM when they copy), and
 *  the POSIX-only attributes (user, umask, rlimit, cwd fd, fd map, PTY) with
 *  ::PK_ERR_UNSUPPORTED on Windows. Running (pk_command_run(),
 *  pk_command_run_retry()) adds what starting can fail with:
 *  ::PK_ERR_NOT_FOUND, ::PK_ERR_PERMISSION, ::PK_ERR_OS, and from the command's
 *  group options ::PK_ERR_UNAVAILABLE and ::PK_ERR_LIMIT. A run that ends
 *  without success is not an error of these calls: see pk_result_check().
 *  @{ */

/** A new command for @p program (searched in PATH without a slash); argv[0] is @p program. */
PK_API int pk_command_new(const char *program, pk_command **out);

/** Free the builder; runs already started are not affected. */
PK_API int pk_command_free(pk_command *cmd);

/** Append one argument (any bytes but NUL). */
PK_API int pk_command_arg(pk_command *cmd, const char *arg);

/** Set KEY=VALUE in the child's environment. */
PK_API int pk_command_env(pk_command *cmd, const char *key, const char *value);

/** Remove KEY from the child's environment. */
PK_API int pk_command_env_unset(pk_command *cmd, const char *key);

/** Start the child's environment empty instead of from the caller's (later env/env_unset still apply). */
PK_API int pk_command_env_clear(pk_command *cmd);

/** The child's working directory (NULL: the caller's). */
PK_API int pk_command_cwd(pk_command *cmd, const char *dir);

/** ::pk_command_flag bits. */
PK_API int pk_command_flags(pk_command *cmd, uint32_t flags);

/** The signal the child gets when its spawning thread dies (Linux); 0 = none (default). */
PK_API int pk_command_parent_death_signal(pk_command *cmd, int32_t sig);

/** stdin: /dev/null (the default). */
PK_API int pk_command_stdin_null(pk_command *cmd);

/** stdin: the caller's own. */
PK_API int pk_command_stdin_inherit(pk_command *cmd);

/** stdin: these bytes (copied), then end of file. */
PK_API int pk_command_stdin_bytes(pk_command *cmd, const void *data, size_t len);

/** stdin: a caller fd (not closed by the library). */
PK_API int pk_command_stdin_fd(pk_command *cmd, int fd);

/** stdin: a file, opened at each start. */
PK_API int pk_command_stdin_file(pk_command *cmd, const char *path);

/** stdin: a pipe the caller writes with pk_process_write() and closes with pk_process_close_stdin(). */
PK_API int pk_command_stdin_pipe(pk_command *cmd);

/** Where @p stream (stdout or stderr) goes; @p fd is used by ::PK_OUTPUT_FD only. */
PK_API int pk_command_output(pk_command *cmd, int32_t stream, int32_t mode, int fd);

/** Cap a captured stream at @p max_bytes (0 = no cap, the default) with a ::pk_overflow policy. */
PK_API int pk_command_output_limit(pk_command *cmd, int32_t stream, uint64_t max_bytes, int32_t policy);

/** Call @p fn for every line of @p stream (stdout or stderr). NULL removes it. */
PK_API int pk_command_on_line(pk_command *cmd, int32_t stream, pk_line_fn fn, void *user);

/** Call @p fn for every line of either stream, in arrival order, tagged with its stream. */
PK_API int pk_command_on_event(pk_command *cmd, pk_line_fn fn, void *user);

/** Bound the run: after @p timeout_ms send @p sig (0 = SIGTERM) to the tree,
 *  wait @p grace_ms, then SIGKILL the tree. timeout_ms 0 = no timeout. */
PK_API int pk_command_timeout(pk_command *cmd, uint32_t timeout_ms, int32_t sig, uint32_t grace_ms);

/** Exit codes that count as success (default: just 0). count 0 restores the default. */
PK_API int pk_command_ok_codes(pk_command *cmd, const int32_t *codes, size_t count);

/** The options of the private group each run gets (backend, minimum mechanism, limits). */
PK_API int pk_command_group_options(pk_command *cmd, const pk_group_options *opts);

/** Cancel runs of this command when @p token is triggered (NULL detaches). */
PK_API int pk_command_cancel_on(pk_command *cmd, pk_cancel *token);

/** Run as this user and group, with these supplementary groups (@p groups
 *  may be NULL with @p count 0 to drop them all), set in the child after it
 *  is placed in its group: setgroups, setgid, then setuid. */
PK_API int pk_command_user(pk_command *cmd, uint32_t uid, uint32_t gid, const uint32_t *groups, size_t count);

/** The child's umask. */
PK_API int pk_command_umask(pk_command *cmd, uint32_t mask);

/** Set a resource limit (RLIMIT_* number) in the child. Repeatable. */
PK_API int pk_command_rlimit(pk_command *cmd, int32_t resource, uint64_t soft, uint64_t hard);

/** The working directory as an open directory fd (fchdir); wins over pk_command_cwd(). */
PK_API int pk_command_cwd_fd(pk_command *cmd, int dir_fd);

/** Make the caller's @p parent_fd the child's fd @p child_fd (>= 3). Repeatable. */
PK_API int pk_command_map_fd(pk_command *cmd, int child_fd, int parent_fd);

/** Run on a new pseudo-terminal of @p rows x @p cols: it becomes the child's
 *  controlling terminal in a new session, and stdin, stdout and stderr. Its
 *  output arrives as stdout; write with pk_process_write(). */
PK_API int pk_command_pty(pk_command *cmd, uint16_t rows, uint16_t cols);

/** Start @p cmd in a private group, capture, wait, and return the result.
 *  A non-zero exit is data, not an error: check it with pk_result_check(). */
PK_API int pk_command_run(pk_command *cmd, pk_result **out);

/** How pk_command_run_retry() retries. Start from ::PK_RETRY_OPTIONS_INIT. */
typedef struct pk_retry_options {
    uint32_t size;             /**< sizeof(pk_retry_options) as the caller compiled it. */
    uint32_t max_attempts;     /**< Runs at most, the first included; default 3. */
    uint32_t initial_delay_ms; /**< Delay before the second attempt; default 100. */
    uint32_t max_delay_ms;     /**< Cap on any delay; default 30000. */
    double multiplier;         /**< Growth per attempt; default 2.0. */
    int32_t jitter;            /**< Non-zero (default): each delay is uniformly random in [0, delay] ("full jitter"). */
    int32_t reserved;          /**< Zero. */
} pk_retry_options;

/** Three attempts, 100 ms doubling to 30 s at most, full jitter. */
#define PK_RETRY_OPTIONS_INIT {sizeof(pk_retry_options), 3, 100, 30000, 2.0, 1, 0}

/** Decides whether a finished attempt is worth another; non-zero = retry.
 *  @p attempt counts from 1. */
typedef int (*pk_retry_fn)(void *user, pk_result *result, uint32_t attempt);

/** Run @p cmd until it succeeds, the classifier (NULL: retry any failure)
 *  says stop, or the attempts run out; the result is the last attempt's.
 *  Cancellation is terminal. A stdin that cannot be replayed (a pipe or a
 *  caller fd) is refused up front with ::PK_ERR_INVALID. */
PK_API int pk_command_run_retry(pk_command *cmd, const pk_retry_options *opts, pk_retry_fn classify, void *user,
                                pk_result **out);
/** @} */

/* ======================================================================== */
/** @name Cancellation tokens
 *  A token triggered from any thread cancels every run that watches it.
 *  Errors: ::PK_ERR_HANDLE, ::PK_ERR_INVALID, ::PK_ERR_NOMEM, and ::PK_ERR_OS
 *  when the OS refuses the waitable object (an eventfd, an event).
 *  @{ */

/** A cancellation token. */
PK_API int pk_cancel_new(pk_cancel **out);

/** Trigger it: every run watching it is killed and ends as cancelled. Any thread; idempotent. */
PK_API int pk_cancel_trigger(pk_cancel *token);

/** Free the token; runs watching it keep watching until they end. */
PK_API int pk_cancel_free(pk_cancel *token);
/** @} */

/* ======================================================================== */
/** @name Loops
 *  One thread drives a loop at a time; pk_loop_wake(), pk_process_cancel()
 *  and pk_cancel_trigger() may come from any thread. Errors: ::PK_ERR_HANDLE
 *  (a freed loop, also for a wait another thread's pk_loop_free() ended),
 *  ::PK_ERR_INVALID, ::PK_ERR_NOMEM, ::PK_ERR_OS (epoll or a wait failed),
 *  ::PK_ERR_STATE (freed from inside its own callback), ::PK_ERR_TIMEOUT (a
 *  wait ran out of time), ::PK_ERR_CANCELLED (a wait pk_loop_wake() ended);
 *  pk_loop_start() adds the start errors of pk_command_run().
 *  @{ */

/** A new event loop. One thread drives it at a time; pk_process_cancel() and
 *  pk_cancel_trigger() may come from any thread. */
PK_API int pk_loop_new(pk_loop **out);

/** Kill and reap everything still running on the loop, then free it. Not from inside a callback. */
PK_API int pk_loop_free(pk_loop *loop);

/** An fd that polls readable when pk_loop_run_once() has work (for libuv,
 *  tokio's AsyncFd, Go's netpoll, asyncio's add_reader...). Linux only: a
 *  Windows loop waits on handles, so there it is ::PK_ERR_UNSUPPORTED. */
PK_API int pk_loop_fd(pk_loop *loop, int *fd);

/** Wait up to @p timeout_ms (-1 forever, 0 not at all) for events and handle them. */
PK_API int pk_loop_run_once(pk_loop *loop, int32_t timeout_ms);

/** Wake the loop, from any thread (not from a signal handler), so a caller
 *  blocked on it can stop waiting (since 1.1). It ends the call in progress
 *  on the loop, or if there is none the next one, and only that call: a
 *  pk_loop_run_once() returns ::PK_OK; a wait the library drives on the loop
 *  (pk_loop_wait_any(), pk_loop_wait_all(), pk_process_wait_for_line(),
 *  _port() and pk_process_wait_for()) returns ::PK_ERR_CANCELLED. Every run
 *  goes on as it was. A wake is never lost, so a caller that wakes the loop
 *  when its own cancellation fires needs no retry; a caller that sees
 *  ::PK_ERR_CANCELLED without having asked for it (another thread woke the
 *  loop) just waits again. pk_loop_fd() turns readable. */
PK_API int pk_loop_wake(pk_loop *loop);

/** Start @p cmd on the loop, in @p group, or in a private group of its own
 *  when @p group is NULL (then the rest of its tree dies when the program
 *  ends). */
PK_API int pk_loop_start(pk_loop *loop, pk_command *cmd, pk_group *group, pk_process **out);

/** Drive the loop until one of @p procs is finished; *index says which.
 *  The others keep running and stay usable. ::PK_ERR_TIMEOUT if none finished in time. */
PK_API int pk_loop_wait_any(pk_loop *loop, pk_process *const *procs, size_t count, int32_t timeout_ms, size_t *index);

/** Drive the loop until all of @p procs are finished. */
PK_API int pk_loop_wait_all(pk_loop *loop, pk_process *const *procs, size_t count, int32_t timeout_ms);
/** @} */

/* ======================================================================== */
/** @name Processes
 *  A command running (or finished) on a loop, and its readiness probes.
 *  Errors: ::PK_ERR_HANDLE, ::PK_ERR_INVALID, ::PK_ERR_NOMEM; ::PK_ERR_STATE
 *  for what the run's state forbids (writing to a closed stdin, a result while
 *  running, a second line probe at once, resizing a run without a terminal);
 *  the probes add ::PK_ERR_NOT_READY, ::PK_ERR_CANCELLED (pk_loop_wake()) and
 *  ::PK_ERR_UNSUPPORTED (a regex on Windows).
 *  @{ */

/** The program's pid. */
PK_API int pk_process_pid(pk_process *proc, int32_t *pid);

/** Queue bytes for a ::pk_command_stdin_pipe stdin; the loop writes them as the child reads. */
PK_API int pk_process_write(pk_process *proc, const void *data, size_t len);

/** Close the stdin pipe once the queued bytes are written. */
PK_API int pk_process_close_stdin(pk_process *proc);

/** Send @p sig to the process's tree (its private group), or to the process alone in a shared group.
 *  Windows: SIGKILL (9) kills; SIGBREAK (21) sends CTRL_BREAK to a run started with
 *  ::PK_COMMAND_NEW_SESSION; anything else is ::PK_ERR_UNSUPPORTED. */
PK_API int pk_process_signal(pk_process *proc, int32_t sig);

/** Kill the tree and end the run as cancelled. Any thread. */
PK_API int pk_process_cancel(pk_process *proc);

/** *done = non-zero once the run is finished. */
PK_API int pk_process_done(pk_process *proc, int32_t *done);

/** The result of a finished run (a new handle each call). ::PK_ERR_STATE while running. */
PK_API int pk_process_result(pk_process *proc, pk_result **out);

/** Release the handle; a run still going is cancelled and reaped first. */
PK_API int pk_process_free(pk_process *proc);

/** Resize a PTY run's terminal (the child gets SIGWINCH). */
PK_API int pk_process_resize(pk_process *proc, uint16_t rows, uint16_t cols);

/** Bits of pk_process_wait_for_line()'s @p flags. */
enum pk_match_flag {
    PK_MATCH_SUBSTRING = 0,     /**< The line contains the pattern (default). */
    PK_MATCH_REGEX = 1u << 0    /**< The pattern is a POSIX extended regular expression (not on Windows: ::PK_ERR_UNSUPPORTED). */
};

/** Wait until a line of @p stream (stdout, stderr, or 0 for either) matches,
 *  driving the process's loop. Lines seen before the call count too; every
 *  line still reaches the capture and the callbacks. ::PK_ERR_NOT_READY when
 *  @p timeout_ms passes or the run ends first, with the last lines seen in
 *  the message. The process is never killed by a probe. */
PK_API int pk_process_wait_for_line(pk_process *proc, int32_t stream, const char *pattern, uint32_t flags,
                                    int32_t timeout_ms);

/** Wait until a TCP connection to 127.0.0.1:@p port succeeds. */
PK_API int pk_process_wait_for_port(pk_process *proc, uint16_t port, int32_t timeout_ms);

/** Called by pk_process_wait_for(); non-zero means ready. */
typedef int (*pk_ready_fn)(void *user);

/** Wait until @p ready returns non-zero, asking every @p interval_ms. */
PK_API int pk_process_wait_for(pk_process *proc, pk_ready_fn ready, void *user, uint32_t interval_ms,
                               int32_t timeout_ms);

/** What a readiness probe waited for (since 1.1). */
typedef enum pk_ready_kind {
    PK_READY_NONE = 0,  /**< No probe has run on this process. */
    PK_READY_LINE = 1,  /**< pk_process_wait_for_line(). */
    PK_READY_PORT = 2,  /**< pk_process_wait_for_port(). */
    PK_READY_CHECK = 3  /**< pk_process_wait_for() (the caller's predicate). */
} pk_ready_kind;

/** How a readiness probe ended (since 1.1). */
typedef enum pk_ready_outcome {
    PK_READY_PENDING = 0,   /**< No probe has ended yet. */
    PK_READY_MET = 1,       /**< The condition held (the probe returned ::PK_OK). */
    PK_READY_TIMED_OUT = 2, /**< Its timeout passed first (::PK_ERR_NOT_READY). */
    PK_READY_RUN_ENDED = 3, /**< The run finished first (::PK_ERR_NOT_READY). */
    PK_READY_WOKEN = 4,     /**< pk_loop_wake() ended the wait (::PK_ERR_CANCELLED). */
    PK_READY_FAILED = 5     /**< Another error ended it (the probe's return code says which). */
} pk_ready_outcome;

/** The outcome of the last readiness probe on a process, as data (since
 *  1.1): what it waited for, how long, and what it last saw. Start from
 *  ::PK_READINESS_INFO_INIT. */
typedef struct pk_readiness_info {
    uint32_t size;          /**< sizeof(pk_readiness_info) as the caller compiled it. */
    int32_t kind;           /**< ::pk_ready_kind. */
    int32_t outcome;        /**< ::pk_ready_outcome. */
    int32_t stream;         /**< LINE: the stream it watched (0 = either). */
    uint32_t port;          /**< PORT: the port on 127.0.0.1. */
    uint32_t lines_seen;    /**< LINE: how many lines it looked at, those before the call included. */
    uint64_t waited_us;     /**< How long it waited. */
    char last_line[160];    /**< LINE: the last line it looked at (cut to 159 bytes), or "". */
} pk_readiness_info;

/** Defaults: no probe. */
#define PK_READINESS_INFO_INIT {sizeof(pk_readiness_info), 0, 0, 0, 0, 0, 0, {0}}

/** The last readiness probe's outcome on @p proc (kind ::PK_READY_NONE
 *  before any), so a binding need not parse the message (since 1.1). */
PK_API int pk_process_readiness(pk_process *proc, pk_readiness_info *out);
/** @} */

/* ======================================================================== */
/** @name Results
 *  What a finished run left: its ::pk_run_info, its output, and a check.
 *  Errors: ::PK_ERR_HANDLE, ::PK_ERR_INVALID, ::PK_ERR_VERSION (an out
 *  struct whose size no release of this library could have written);
 *  pk_result_check() turns the outcome into ::PK_OK, ::PK_ERR_FAILED,
 *  ::PK_ERR_TIMEOUT, ::PK_ERR_CANCELLED, ::PK_ERR_OVERFLOW or
 *  ::PK_ERR_NO_PROCESS.
 *  @{ */

/** A pk_run_info ready to be filled. */
#define PK_RUN_INFO_INIT {sizeof(pk_run_info), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0}

/** The outcome, status, duration and output counters of a run. */
PK_API int pk_result_info(pk_result *result, pk_run_info *out);

/** The captured bytes of a stream (valid until pk_result_free; len 0 when not captured). */
PK_API int pk_result_output(pk_result *result, int32_t stream, const uint8_t **data, size_t *len);

/** ::PK_OK if the run succeeded; otherwise ::PK_ERR_FAILED, ::PK_ERR_TIMEOUT,
 *  ::PK_ERR_CANCELLED or ::PK_ERR_OVERFLOW with a message naming the
 *  program, its status and the last line of its stderr. */
PK_API int pk_result_check(pk_result *result);

/** Release a result handle (the bytes from pk_result_output() go with it). */
PK_API int pk_result_free(pk_result *result);

/** Per-stage information of a pipeline result (@p index < stage_count). */
PK_API int pk_result_stage_info(pk_result *result, uint32_t index, pk_run_info *out);
/** @} */

/* ======================================================================== */
/** @name Pipelines
 *  `a | b | c` without a shell, every stage in one group. Errors:
 *  ::PK_ERR_HANDLE, ::PK_ERR_INVALID, ::PK_ERR_NOMEM; pk_pipeline_run() adds
 *  the start errors of pk_command_run() for any stage, and ::PK_ERR_OS for a
 *  pipe the OS refuses.
 *  @{ */

/** Bits of pk_pipeline_add()'s @p stage_flags. */
enum pk_stage_flag {
    PK_STAGE_UNCHECKED = 1u << 0 /**< This stage's failure never fails the pipeline. */
};

/** Bits of pk_pipeline_flags(). */
enum pk_pipeline_flag {
    PK_PIPELINE_SIGPIPE_FAILS = 1u << 0 /**< A producer killed by SIGPIPE counts as failed (by default it does not). */
};

/** A new, empty pipeline. */
PK_API int pk_pipeline_new(pk_pipeline **out);

/** Free the pipeline; its stages' commands are released, runs already finished are not affected. */
PK_API int pk_pipeline_free(pk_pipeline *pipeline);

/** Append a stage. Its stdout feeds the next stage's stdin through an OS
 *  pipe; the first stage's stdin and the last stage's stdout are the
 *  commands' own settings. The command is snapshotted when the pipeline runs. */
PK_API int pk_pipeline_add(pk_pipeline *pipeline, pk_command *stage, uint32_t stage_flags);

/** ::pk_pipeline_flag bits. */
PK_API int pk_pipeline_flags(pk_pipeline *pipeline, uint32_t flags);

/** Bound the whole pipeline: @p sig to every stage's tree after @p timeout_ms, SIGKILL after @p grace_ms. */
PK_API int pk_pipeline_timeout(pk_pipeline *pipeline, uint32_t timeout_ms, int32_t sig, uint32_t grace_ms);

/** Cancel the whole pipeline when @p token triggers (NULL detaches). */
PK_API int pk_pipeline_cancel_on(pk_pipeline *pipeline, pk_cancel *token);

/** Run every stage in one private group and wait. The result carries the
 *  last stage's output; its outcome, exit code and signal are those of the
 *  first stage that failed (pipefail), or of the last stage. */
PK_API int pk_pipeline_run(pk_pipeline *pipeline, pk_result **out);
/** @} */

/* ======================================================================== */
/** @name Supervision
 *  Run a command again and again by a restart policy, with backoff and a
 *  storm guard, until it is told to stop. Errors: ::PK_ERR_HANDLE,
 *  ::PK_ERR_INVALID, ::PK_ERR_NOMEM, ::PK_ERR_VERSION (an options or report
 *  struct of an impossible size), and the start errors of
 *  pk_command_run() for the first run.
 *  @{ */

/** When pk_supervise() restarts the command. */
typedef enum pk_restart {
    PK_RESTART_NEVER = 0,
    PK_RESTART_ON_FAILURE = 1, /**< When a run did not succeed (default). */
    PK_RESTART_ALWAYS = 2
} pk_restart;

/** What the storm guard does when restarts come too fast. */
typedef enum pk_storm_action {
    PK_STORM_GIVE_UP = 0, /**< Stop supervising. */
    PK_STORM_PAUSE = 1    /**< Wait storm_pause_ms, then go on. */
} pk_storm_action;

/** How pk_supervise() keeps a command running. Start from ::PK_SUPERVISE_OPTIONS_INIT. */
typedef struct pk_supervise_options {
    uint32_t size;             /**< sizeof(pk_supervise_options) as the caller compiled it. */
    int32_t restart;           /**< ::pk_restart; default ON_FAILURE. */
    uint32_t max_restarts;     /**< 0 = unlimited (default). */
    uint32_t backoff_initial_ms; /**< Delay before the first restart; default 200. */
    uint32_t backoff_max_ms;   /**< Cap; default 30000. */
    int32_t jitter;            /**< Non-zero (default): delays are scaled by a random factor in [0.5, 1.5). */
    double backoff_multiplier; /**< Default 2.0. */
    uint32_t storm_restarts;   /**< Storm guard: this many restarts... (0 = guard off, the default) */
    uint32_t storm_window_ms;  /**< ...within this window trip it. */
    int32_t storm_action;      /**< ::pk_storm_action. */
    uint32_t storm_pause_ms;   /**< For ::PK_STORM_PAUSE. */
} pk_supervise_options;

/** Restart on failure, unlimited, 200 ms doubling to 30 s with jitter, no storm guard. */
#define PK_SUPERVISE_OPTIONS_INIT {sizeof(pk_supervise_options), PK_RESTART_ON_FAILURE, 0, 200, 30000, 1, 2.0, 0, 0, PK_STORM_GIVE_UP, 0}

/** Lifecycle events of a supervised command. */
typedef enum pk_supervise_event {
    PK_SUPERVISE_STARTED = 1,
    PK_SUPERVISE_EXITED = 2,     /**< `result` is the run's. */
    PK_SUPERVISE_RESTARTING = 3, /**< `delay_ms` says when. */
    PK_SUPERVISE_STORM_PAUSE = 4,
    PK_SUPERVISE_GAVE_UP = 5,
    PK_SUPERVISE_STOPPED = 6     /**< The stop predicate or the stop token ended it. */
} pk_supervise_event;

/** Receives lifecycle events; @p result is valid only during the call (may be NULL). */
typedef void (*pk_supervise_fn)(void *user, int32_t event, uint32_t restarts, uint32_t delay_ms, pk_result *result);

/** After each run: non-zero stops supervision. */
typedef int (*pk_stop_when_fn)(void *user, pk_result *result);

/** What pk_supervise() did. */
typedef struct pk_supervise_report {
    uint32_t size;          /**< sizeof(pk_supervise_report) as the caller compiled it. */
    uint32_t runs;          /**< How many times the command started. */
    uint32_t restarts;      /**< runs - 1, when it ran at all. */
    uint32_t storm_pauses;  /**< Times the storm guard paused. */
    int32_t stop_reason;    /**< The last ::pk_supervise_event: STOPPED, GAVE_UP, or EXITED when the policy was satisfied. */
    int32_t reserved;       /**< Zero. */
} pk_supervise_report;

/** A pk_supervise_report ready to be filled. */
#define PK_SUPERVISE_REPORT_INIT {sizeof(pk_supervise_report), 0, 0, 0, 0, 0}

/** Keep @p cmd running per @p opts until the policy is satisfied, the stop
 *  predicate says so, or @p stop is triggered (which also stops the current
 *  run's tree gracefully: its timeout signal, then SIGKILL after 2 s; on
 *  Windows the kill at once unless that signal is SIGBREAK, see docs/windows.md).
 *  Blocking; @p opts, the callbacks, @p stop and @p report may be NULL. */
PK_API int pk_supervise(pk_command *cmd, const pk_supervise_options *opts, pk_supervise_fn on_event,
                        pk_stop_when_fn stop_when, void *user, pk_cancel *stop, pk_supervise_report *report);
/** @} */



#ifdef __cplusplus
}
#endif

#endif /* PROCESSKIT_H */
