//! Groups: kill-on-free containers of process trees, and their children.
use std::ffi::{CString, OsStr, OsString};
use std::os::raw::c_char;
use std::os::unix::io::RawFd;
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::Duration;

use crate::error::{char_array, check, Result};
use crate::sys;
use crate::util::{cstring, timeout_ms_i32};

/// How a group's processes are held (`pk_mechanism`), weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// Not contained (a probe of an unavailable backend).
    None,
    /// POSIX process groups: a descendant that calls setsid escapes.
    ProcessGroup,
    /// A Linux cgroup v2 leaf: the whole tree, setsid or not.
    CgroupV2,
    /// A Windows Job Object with kill-on-close.
    JobObject,
    /// A value this crate does not know (from a newer library).
    Unknown(i32),
}

impl Mechanism {
    /// The variant for a raw `pk_mechanism` value.
    pub fn from_raw(v: i32) -> Mechanism {
        match v {
            sys::PK_MECHANISM_NONE => Mechanism::None,
            sys::PK_MECHANISM_PROCESS_GROUP => Mechanism::ProcessGroup,
            sys::PK_MECHANISM_CGROUP_V2 => Mechanism::CgroupV2,
            sys::PK_MECHANISM_JOB_OBJECT => Mechanism::JobObject,
            other => Mechanism::Unknown(other),
        }
    }

    /// The raw `pk_mechanism` value.
    pub fn raw(self) -> i32 {
        match self {
            Mechanism::None => sys::PK_MECHANISM_NONE,
            Mechanism::ProcessGroup => sys::PK_MECHANISM_PROCESS_GROUP,
            Mechanism::CgroupV2 => sys::PK_MECHANISM_CGROUP_V2,
            Mechanism::JobObject => sys::PK_MECHANISM_JOB_OBJECT,
            Mechanism::Unknown(v) => v,
        }
    }

    /// The library's stable name: "cgroup-v2", "process-group", "job-object",
    /// "none" (`pk_mechanism_name`), or "unknown".
    pub fn name(self) -> &'static str {
        // The manifest's members (the same names pk_mechanism_name gives) ...
        if let Some(name) = sys::pk_mechanism_str(self.raw()) {
            return name;
        }
        // ... and for a value it does not list, a newer library may know one.
        // SAFETY: pk_mechanism_name returns static storage or NULL.
        let p = unsafe { sys::pk_mechanism_name(self.raw()) };
        if p.is_null() {
            return "unknown";
        }
        // SAFETY: static, NUL-terminated, ASCII.
        unsafe { std::ffi::CStr::from_ptr(p) }.to_str().unwrap_or("unknown")
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which backend a group uses (`pk_backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// The strongest available: cgroup v2, else process group (Linux).
    #[default]
    Auto,
    /// A cgroup v2 leaf.
    CgroupV2,
    /// POSIX process groups.
    ProcessGroup,
    /// A Windows Job Object.
    JobObject,
}

impl Backend {
    /// The raw `pk_backend` value.
    pub fn raw(self) -> i32 {
        match self {
            Backend::Auto => sys::PK_BACKEND_AUTO,
            Backend::CgroupV2 => sys::PK_BACKEND_CGROUP_V2,
            Backend::ProcessGroup => sys::PK_BACKEND_PROCESS_GROUP,
            Backend::JobObject => sys::PK_BACKEND_JOB_OBJECT,
        }
    }
}

/// What holds a group, or what a group would get on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containment {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// `pk_feature` bits (see [`crate::sys`]`::PK_FEATURE_*`).
    pub features: u32,
    /// Why a stronger mechanism was not used ("" if none was wanted).
    pub reason: String,
    /// The cgroup2 mount point, or "".
    pub cgroup_mount: String,
    /// The group's cgroup leaf directory (groups only), or "".
    pub cgroup_path: String,
}

impl Containment {
    fn from_raw(c: &sys::pk_containment) -> Containment {
        Containment {
            mechanism: Mechanism::from_raw(c.mechanism),
            features: c.features,
            reason: char_array(&c.reason),
            cgroup_mount: char_array(&c.cgroup_mount),
            cgroup_path: char_array(&c.cgroup_path),
        }
    }

    /// Whether a `PK_FEATURE_*` bit is set.
    pub fn has(&self, feature: u32) -> bool {
        self.features & feature == feature
    }
}

/// What a group created with `backend` would get on this host, creating nothing.
pub fn host_probe(backend: Backend) -> Result<Containment> {
    let mut c = sys::pk_containment::zeroed();
    // SAFETY: c is a valid, sized pk_containment.
    check(unsafe { sys::pk_host_probe(backend.raw(), &mut c) })?;
    Ok(Containment::from_raw(&c))
}

/// Options for a new [`Group`] (a by-value builder; `GroupOptions::default()`
/// is the library's defaults: auto backend, no minimum, no limits).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GroupOptions {
    backend: Backend,
    min_mechanism: Option<Mechanism>,
    parent_death_signal: i32,
    memory_max: u64,
    pids_max: u64,
    cpu_max: f64,
}

impl GroupOptions {
    /// The defaults.
    pub fn new() -> GroupOptions {
        GroupOptions::default()
    }
    /// Which backend to use.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
    /// Refuse ([`crate::ErrorCode::Unavailable`]) anything weaker.
    pub fn min_mechanism(mut self, mechanism: Mechanism) -> Self {
        self.min_mechanism = Some(mechanism);
        self
    }
    /// Default parent-death signal of spawns (0 = none).
    pub fn parent_death_signal(mut self, sig: impl Into<crate::Signal>) -> Self {
        self.parent_death_signal = sig.into().raw();
        self
    }
    /// A memory limit in bytes (0 = none). Fails at creation if it cannot be enforced.
    pub fn memory_max(mut self, bytes: u64) -> Self {
        self.memory_max = bytes;
        self
    }
    /// A limit on processes in the tree (0 = none).
    pub fn pids_max(mut self, n: u64) -> Self {
        self.pids_max = n;
        self
    }
    /// A CPU limit in cores (0 = none).
    pub fn cpu_max(mut self, cores: f64) -> Self {
        self.cpu_max = cores;
        self
    }
    /// Create a group with these options.
    pub fn create(self) -> Result<Group> {
        Group::with_options(self)
    }

    pub(crate) fn to_raw(self) -> sys::pk_group_options {
        let mut o = sys::pk_group_options::zeroed();
        o.backend = self.backend.raw();
        o.min_mechanism = self.min_mechanism.map_or(sys::PK_MECHANISM_NONE, Mechanism::raw);
        o.parent_death_signal = self.parent_death_signal;
        o.memory_max = self.memory_max;
        o.pids_max = self.pids_max;
        o.cpu_max = self.cpu_max;
        o
    }
}

/// Where a spawned child's stdin, stdout or stderr comes from or goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// The caller's fd of the same number.
    #[default]
    Inherit,
    /// /dev/null.
    Null,
    /// This caller fd (not closed by the library).
    Fd(RawFd),
}

impl Stdio {
    fn raw(self) -> i32 {
        match self {
            Stdio::Inherit => sys::PK_STDIO_INHERIT,
            Stdio::Null => sys::PK_STDIO_NULL,
            Stdio::Fd(fd) => fd,
        }
    }
}

/// How [`Group::spawn_with`] starts a child. Defaults: stdio inherited, the
/// caller's environment and directory, PATH searched, the group's
/// parent-death signal.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    program: Option<OsString>,
    env_clear: bool,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    new_session: bool,
    no_path_search: bool,
    parent_death_signal: Option<i32>,
}

impl SpawnOptions {
    /// The defaults.
    pub fn new() -> SpawnOptions {
        SpawnOptions::default()
    }
    /// The file to run, when it is not `argv[0]`.
    pub fn program(mut self, program: impl AsRef<OsStr>) -> Self {
        self.program = Some(program.as_ref().to_owned());
        self
    }
    /// Set one variable in the child's environment.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }
    /// Remove one variable from the child's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }
    /// Start from an empty environment instead of the caller's.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self.env.clear();
        self
    }
    /// The child's working directory.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }
    /// The child's stdin.
    pub fn stdin(mut self, s: Stdio) -> Self {
        self.stdin = s;
        self
    }
    /// The child's stdout.
    pub fn stdout(mut self, s: Stdio) -> Self {
        self.stdout = s;
        self
    }
    /// The child's stderr.
    pub fn stderr(mut self, s: Stdio) -> Self {
        self.stderr = s;
        self
    }
    /// The child calls setsid() (still contained on cgroup v2).
    pub fn new_session(mut self, on: bool) -> Self {
        self.new_session = on;
        self
    }
    /// Do not search PATH for a program without a slash.
    pub fn no_path_search(mut self, on: bool) -> Self {
        self.no_path_search = on;
        self
    }
    /// The signal the child gets when its spawning thread dies (0 = none).
    pub fn parent_death_signal(mut self, sig: impl Into<crate::Signal>) -> Self {
        self.parent_death_signal = Some(sig.into().raw());
        self
    }

    fn envp(&self) -> Result<Option<Vec<CString>>> {
        if !self.env_clear && self.env.is_empty() {
            return Ok(None);
        }
        let mut vars: Vec<(OsString, OsString)> =
            if self.env_clear { Vec::new() } else { std::env::vars_os().collect() };
        for (k, v) in &self.env {
            vars.retain(|(key, _)| key != k);
            if let Some(v) = v {
                vars.push((k.clone(), v.clone()));
            }
        }
        let mut out = Vec::with_capacity(vars.len());
        for (k, v) in vars {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            out.push(cstring(&kv, "environment entry")?);
        }
        Ok(Some(out))
    }
}

/// A kill-on-free container of processes (`pk_group`).
///
/// Dropping it SIGKILLs the whole tree (children, grandchildren, and on
/// cgroup v2 even those that called setsid), reaps the direct children and
/// removes the cgroup leaf. Every method may be called from any thread.
#[derive(Debug)]
pub struct Group {
    raw: *mut sys::pk_group,
}

// SAFETY: the library makes every group function thread-safe, and handles
// are reference counted for each call.
unsafe impl Send for Group {}
unsafe impl Sync for Group {}

impl Group {
    /// A group with the default options (the strongest mechanism available).
    pub fn new() -> Result<Group> {
        Group::with_options(GroupOptions::default())
    }

    /// A builder: `Group::builder().backend(Backend::ProcessGroup).create()`.
    pub fn builder() -> GroupOptions {
        GroupOptions::new()
    }

    /// A group with these options.
    pub fn with_options(opts: GroupOptions) -> Result<Group> {
        let o = opts.to_raw();
        let mut raw = ptr::null_mut();
        // SAFETY: o is a valid sized struct; raw is an out-pointer.
        check(unsafe { sys::pk_group_create(&o, &mut raw) })?;
        Ok(Group { raw })
    }

    /// The raw handle, for use with [`crate::sys`]. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::pk_group {
        self.raw
    }

    /// Start `argv` (`argv[0]` searched in PATH) with stdio inherited.
    pub fn spawn<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<Child> {
        self.spawn_with(argv, &SpawnOptions::default())
    }

    /// Start `argv` with these options.
    pub fn spawn_with<S: AsRef<OsStr>>(&self, argv: &[S], opts: &SpawnOptions) -> Result<Child> {
        let args: Vec<CString> = argv.iter().map(|a| cstring(a.as_ref(), "argument")).collect::<Result<_>>()?;
        let mut argv_ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(ptr::null());
        let program = opts.program.as_ref().map(|p| cstring(p, "program")).transpose()?;
        let cwd = opts.cwd.as_ref().map(|d| cstring(d.as_os_str(), "cwd")).transpose()?;
        let env = opts.envp()?;
        let env_ptrs: Option<Vec<*const c_char>> = env.as_ref().map(|e| {
            let mut v: Vec<*const c_char> = e.iter().map(|s| s.as_ptr()).collect();
            v.push(ptr::null());
            v
        });

        let mut o = sys::pk_spawn_options::zeroed();
        o.flags = (if opts.new_session { sys::PK_SPAWN_NEW_SESSION } else { 0 })
            | (if opts.no_path_search { sys::PK_SPAWN_NO_PATH_SEARCH } else { 0 });
        o.program = program.as_ref().map_or(ptr::null(), |p| p.as_ptr());
        o.argv = argv_ptrs.as_ptr();
        o.envp = env_ptrs.as_ref().map_or(ptr::null(), |v| v.as_ptr());
        o.cwd = cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        o.stdin_fd = opts.stdin.raw();
        o.stdout_fd = opts.stdout.raw();
        o.stderr_fd = opts.stderr.raw();
        o.parent_death_signal = opts.parent_death_signal.unwrap_or(-1);

        let mut child = ptr::null_mut();
        // SAFETY: every pointer in o outlives the call.
        check(unsafe { sys::pk_group_spawn(self.raw, &o, &mut child) })?;
        let mut pid = 0;
        // SAFETY: child is a fresh handle.
        let rc = unsafe { sys::pk_child_pid(child, &mut pid) };
        let child = Child { raw: child, pid };
        check(rc)?;
        Ok(child)
    }

    /// Bring an existing child of this process (and its future descendants) into the group.
    pub fn adopt(&self, pid: i32) -> Result<()> {
        // SAFETY: plain call on an owned handle.
        check(unsafe { sys::pk_group_adopt(self.raw, pid) })
    }

    /// The mechanism that holds this group.
    pub fn mechanism(&self) -> Result<Mechanism> {
        Ok(self.containment()?.mechanism)
    }

    /// What holds this group, and why nothing stronger does.
    pub fn containment(&self) -> Result<Containment> {
        let mut c = sys::pk_containment::zeroed();
        // SAFETY: c is a valid sized struct.
        check(unsafe { sys::pk_group_containment(self.raw, &mut c) })?;
        Ok(Containment::from_raw(&c))
    }

    /// Send `sig` to every process in the group.
    pub fn signal(&self, sig: impl Into<crate::Signal>) -> Result<()> {
        let sig = sig.into().raw();
        // SAFETY: plain call on an owned handle.
        check(unsafe { sys::pk_group_signal(self.raw, sig) })
    }

    /// SIGKILL the whole tree; the group stays usable.
    pub fn kill(&self) -> Result<()> {
        // SAFETY: plain call on an owned handle.
        check(unsafe { sys::pk_group_kill(self.raw) })
    }

    /// Stop every process (cgroup freeze, or SIGSTOP).
    pub fn suspend(&self) -> Result<()> {
        // SAFETY: plain call on an owned handle.
        check(unsafe { sys::pk_group_suspend(self.raw) })
    }

    /// Undo [`Group::suspend`].
    pub fn resume(&self) -> Result<()> {
        // SAFETY: plain call on an owned handle.
        check(unsafe { sys::pk_group_resume(self.raw) })
    }

    /// The pids in the group (every process on cgroup v2).
    pub fn members(&self) -> Result<Vec<i32>> {
        let mut pids: Vec<i32> = Vec::new();
        loop {
            let mut count = 0usize;
            let cap = pids.len();
            let p = if cap == 0 { ptr::null_mut() } else { pids.as_mut_ptr() };
            // SAFETY: p points to cap writable i32s (or is NULL with cap 0).
            check(unsafe { sys::pk_group_members(self.raw, p, cap, &mut count) })?;
            if count <= cap {
                pids.truncate(count);
                return Ok(pids);
            }
            pids = vec![0; count + 16];
        }
    }

    /// The group's usage now.
    pub fn stats(&self) -> Result<GroupStats> {
        let mut s = sys::pk_group_stats::zeroed();
        // SAFETY: s is a valid sized struct.
        check(unsafe { sys::pk_group_stats_get(self.raw, &mut s) })?;
        Ok(GroupStats {
            live_processes: s.live_processes,
            cpu_time: u64::try_from(s.cpu_time_us).ok().map(Duration::from_micros),
            peak_memory_bytes: u64::try_from(s.peak_memory_bytes).ok(),
        })
    }

    /// Graceful shutdown: the signal, a grace to drain, then SIGKILL if escalating.
    pub fn shutdown(&self, opts: ShutdownOptions) -> Result<ShutdownReport> {
        let mut o = sys::pk_shutdown_options::zeroed();
        o.signal = opts.signal;
        o.grace_ms = u32::try_from(opts.grace.as_millis()).unwrap_or(u32::MAX);
        o.escalate = opts.escalate as i32;
        let mut r = sys::pk_shutdown_report::zeroed();
        // SAFETY: both structs are valid and sized.
        check(unsafe { sys::pk_group_shutdown(self.raw, &o, &mut r) })?;
        Ok(ShutdownReport {
            members_before: r.members_before,
            members_after: r.members_after,
            drained: r.drained != 0,
            escalated: r.escalated != 0,
            elapsed: Duration::from_micros(r.elapsed_us),
        })
    }

    /// Free the group now (kill the tree, reap, remove the cgroup leaf),
    /// reporting an error instead of ignoring it as `Drop` does.
    pub fn close(self) -> Result<()> {
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: raw is owned and freed exactly once.
        check(unsafe { sys::pk_group_free(raw) })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: raw is owned and freed exactly once.
        unsafe {
            sys::pk_group_free(self.raw);
        }
    }
}

/// A group's usage ([`Group::stats`]); `None` where the mechanism cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStats {
    /// Processes alive now.
    pub live_processes: u32,
    /// User+system CPU time of the tree.
    pub cpu_time: Option<Duration>,
    /// Peak memory of the tree.
    pub peak_memory_bytes: Option<u64>,
}

/// How [`Group::shutdown`] proceeds (default: SIGTERM, 2 s grace, then SIGKILL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownOptions {
    /// The polite signal.
    pub signal: i32,
    /// How long the tree gets to drain.
    pub grace: Duration,
    /// SIGKILL what is left after the grace (false: spare survivors, also at drop).
    pub escalate: bool,
}

impl Default for ShutdownOptions {
    fn default() -> Self {
        ShutdownOptions { signal: crate::signal::SIGTERM, grace: Duration::from_secs(2), escalate: true }
    }
}

/// What [`Group::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Live members when it started.
    pub members_before: u32,
    /// Live members when it returned.
    pub members_after: u32,
    /// The tree emptied within the grace.
    pub drained: bool,
    /// Survivors were SIGKILLed.
    pub escalated: bool,
    /// Wall time the call took.
    pub elapsed: Duration,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled {
        /// The signal number.
        signal: i32,
        /// It dumped core.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// Exited with code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
    /// The exit code, if it exited.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(c),
            _ => None,
        }
    }
    /// The signal, if one killed it.
    pub fn signal(self) -> Option<i32> {
        match self {
            ExitStatus::Signaled { signal, .. } => Some(signal),
            _ => None,
        }
    }
}

/// A direct child spawned into a [`Group`] (`pk_child`). Dropping it
/// releases the handle only: the process stays in its group, which kills it
/// when the group is dropped.
#[derive(Debug)]
pub struct Child {
    raw: *mut sys::pk_child,
    pid: i32,
}

// SAFETY: every child function is thread-safe.
unsafe impl Send for Child {}
unsafe impl Sync for Child {}

impl Child {
    /// The process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The raw handle, for use with [`crate::sys`]. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::pk_child {
        self.raw
    }

    /// Wait for the child to end and reap it (every later call gives the same status).
    pub fn wait(&self) -> Result<ExitStatus> {
        self.wait_raw(-1).map(|s| s.expect("an unbounded wait ends with a status"))
    }

    /// Wait up to `timeout`; `None` if it is still running.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>> {
        self.wait_raw(timeout_ms_i32(Some(timeout)))
    }

    /// Look without waiting; `None` if it is still running.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.wait_raw(0)
    }

    fn wait_raw(&self, timeout_ms: i32) -> Result<Option<ExitStatus>> {
        let mut s = sys::pk_exit_status::zeroed();
        // SAFETY: s is a valid sized struct.
        let rc = unsafe { sys::pk_child_wait(self.raw, timeout_ms, &mut s) };
        if rc == sys::PK_ERR_TIMEOUT {
            return Ok(None);
        }
        check(rc)?;
        Ok(Some(match s.kind {
            sys::PK_EXIT_SIGNAL => ExitStatus::Signaled { signal: s.signal, core_dumped: s.core_dumped != 0 },
            _ => ExitStatus::Exited(s.code),
        }))
    }

    /// Signal the child alone (through its pidfd: never a recycled pid).
    pub fn signal(&self, sig: impl Into<crate::Signal>) -> Result<()> {
        let sig = sig.into().raw();
        // SAFETY: plain call on an owned handle.
        check(unsafe { sys::pk_child_signal(self.raw, sig) })
    }

    /// An fd that becomes readable when the child exits (owned by the handle: do not close it).
    pub fn pollfd(&self) -> Result<RawFd> {
        let mut fd = -1;
        // SAFETY: fd is an out-pointer.
        check(unsafe { sys::pk_child_pollfd(self.raw, &mut fd) })?;
        Ok(fd)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: raw is owned and freed exactly once.
        unsafe {
            sys::pk_child_free(self.raw);
        }
    }
}
