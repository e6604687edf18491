//! `EmbeddedMilvus`: Milvus Lite 2.5.1 run as a child process serving gRPC on
//! `127.0.0.1:<free port>`, started by `shihua` when `MILVUS_URI` is a local path such as
//! `./data/milvus.db`. Owns finding the Milvus Lite binary (`find_lite_lib_dir`), the db file
//! lock (the same `.<db>.lock` + `lockf` convention as pymilvus' launcher, so two servers never
//! open one file), its port (a free one, or a given one; the server that answers there must be
//! the child, checked in `/proc`, else we would be talking to someone else's database), the
//! child's life cycle (parent-death signal, readiness wait, SIGTERM then SIGKILL), its log file
//! `<db dir>/milvus-lite.log`, and its private `HOME` `<db dir>/.<db>.home`.
//!
//! Why a private `HOME`: Milvus Lite 2.5.1 keeps segcore's scratch and mmap folder at
//! `$HOME/.cache/milvus` and, when it creates or loads a collection, *deletes and recreates*
//! that folder. Two Milvus Lite processes sharing one `HOME` (two shihua instances, or tests in
//! parallel) race there, and the loser fails every later call with "Mmap manager has not been
//! init" (reproduced: 3 of 30 simultaneous create_collection pairs with a shared `HOME`, 0 of 30
//! with one each). Without `HOME` at all (a bare service environment) it would crash on start.
//! The folder is per database, so the db lock also guards it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::error::StoreError;
use super::milvus::MilvusStore;

/// How long to wait for a started server to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Start attempts (a new free port each time) when the child exits during start-up.
const START_ATTEMPTS: usize = 3;
/// Name of the log file written next to the database.
pub const LOG_FILE: &str = "milvus-lite.log";

/// A running Milvus Lite server owned by this process.
#[derive(Debug)]
pub struct EmbeddedMilvus {
    child: Option<Child>,
    binary: PathBuf,
    lib_dir: PathBuf,
    port: u16,
    db_path: PathBuf,
    log_path: PathBuf,
    /// Holds the `lockf` lock on `.<db name>.lock` while the server runs.
    _lock: File,
}

impl EmbeddedMilvus {
    /// Starts Milvus Lite on `db_path` (created if missing) with the binary from `lib_dir`
    /// (the `milvus_lite/lib` folder), and waits until it serves gRPC (30 s at most).
    ///
    /// The child gets SIGTERM when the *thread* that spawned it ends (Linux
    /// `PR_SET_PDEATHSIG`), which covers shihua being SIGKILLed. Call this from the main
    /// runtime (a long-lived worker thread), not from `spawn_blocking` or a short-lived thread.
    pub async fn start(db_path: &Path, lib_dir: &Path) -> Result<Self, StoreError> {
        Self::start_on(db_path, lib_dir, None).await
    }

    /// [`EmbeddedMilvus::start`] on a given port (`None`: a free one, with up to three tries
    /// when the child dies during start-up). A port some other process serves is never taken
    /// for ours: the server that answers must be the child (checked in `/proc`).
    pub async fn start_on(
        db_path: &Path,
        lib_dir: &Path,
        port: Option<u16>,
    ) -> Result<Self, StoreError> {
        let binary = lib_dir.join("milvus");
        if !binary.is_file() {
            return Err(StoreError::LiteBinaryMissing { path: binary });
        }
        let lib_dir = lib_dir
            .canonicalize()
            .map_err(|e| StoreError::io(format!("resolving {}", lib_dir.display()), e))?;
        let binary = lib_dir.join("milvus");
        let db_path = absolute(db_path)?;
        let name = db_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        check_db_name(&name)?;
        let dir = db_path
            .parent()
            .ok_or_else(|| StoreError::LiteBadDbName {
                name: name.clone(),
                reason: "it has no parent folder".into(),
            })?
            .to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| StoreError::io(format!("resolving {}", dir.display()), e))?;
        let db_path = dir.join(&name);

        let lock = lock_db(&dir, &name, &db_path)?;
        let log_path = dir.join(LOG_FILE);

        let mut last_err = None;
        let attempts = if port.is_some() { 1 } else { START_ATTEMPTS };
        for attempt in 1..=attempts {
            let port = match port {
                Some(p) => p,
                None => free_port()?,
            };
            let mut child = spawn(&binary, &lib_dir, &db_path, &log_path, port)?;
            let pid = child.id();
            tracing::info!(pid, port, db = %db_path.display(), "started Milvus Lite");
            match wait_ready(&mut child, port, &log_path).await {
                Ok(()) => {
                    return Ok(EmbeddedMilvus {
                        child: Some(child),
                        binary,
                        lib_dir,
                        port,
                        db_path,
                        log_path,
                        _lock: lock,
                    })
                }
                Err(Ready::Exited(reason)) => {
                    tracing::warn!(attempt, %reason, "Milvus Lite exited during start-up");
                    last_err = Some(reason);
                }
                Err(Ready::PortTaken) => {
                    kill_and_reap(&mut child, Duration::from_millis(500));
                    let reason = format!("127.0.0.1:{port} is served by another process");
                    tracing::warn!(attempt, %reason, "Milvus Lite could not have its port");
                    last_err = Some(reason);
                }
                Err(Ready::TimedOut) => {
                    kill_and_reap(&mut child, Duration::from_millis(500));
                    return Err(StoreError::LiteStart {
                        reason: format!(
                            "no answer on 127.0.0.1:{port} within {} s",
                            READY_TIMEOUT.as_secs()
                        ),
                        log_tail: log_tail(&log_path),
                        log: log_path,
                    });
                }
            }
        }
        Err(StoreError::LiteStart {
            reason: last_err.unwrap_or_else(|| "it exited".into()),
            log_tail: log_tail(&log_path),
            log: log_path,
        })
    }

    /// True while the child process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// If the child has died (crash, OOM kill, someone's `kill -9`), start it again on the same
    /// port and database and wait until it answers, so connected clients recover by themselves.
    /// Returns whether a restart happened. Call it from a long-lived thread (the parent-death
    /// signal is tied to the spawning thread).
    pub async fn revive(&mut self) -> Result<bool, StoreError> {
        if self.is_running() {
            return Ok(false);
        }
        if let Some(mut old) = self.child.take() {
            let _ = old.wait();
        }
        let mut child = spawn(
            &self.binary,
            &self.lib_dir,
            &self.db_path,
            &self.log_path,
            self.port,
        )?;
        match wait_ready(&mut child, self.port, &self.log_path).await {
            Ok(()) => {
                tracing::warn!(
                    port = self.port,
                    pid = child.id(),
                    "Milvus Lite had stopped; restarted it"
                );
                self.child = Some(child);
                Ok(true)
            }
            Err(_) => {
                kill_and_reap(&mut child, Duration::from_millis(300));
                Err(StoreError::LiteStart {
                    reason: format!("restart on 127.0.0.1:{} failed", self.port),
                    log_tail: log_tail(&self.log_path),
                    log: self.log_path.clone(),
                })
            }
        }
    }

    /// gRPC address for `StoreConfig::uri`.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the child (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The database file served.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Where the child's stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Stops the server: SIGTERM, up to 5 s to exit, then SIGKILL.
    pub async fn stop(mut self) -> Result<(), StoreError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child
            .try_wait()
            .map_err(|e| StoreError::io("checking Milvus Lite", e))?
            .is_some()
        {
            return Ok(());
        }
        // SAFETY: plain kill(2) on our own child's pid, which is not yet reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let started = Instant::now();
        while started.elapsed() < STOP_GRACE {
            if child
                .try_wait()
                .map_err(|e| StoreError::io("waiting for Milvus Lite", e))?
                .is_some()
            {
                tracing::info!(
                    ms = started.elapsed().as_millis() as u64,
                    "Milvus Lite stopped"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!("Milvus Lite ignored SIGTERM for 5 s; killing it");
        child
            .kill()
            .map_err(|e| StoreError::io("killing Milvus Lite", e))?;
        child
            .wait()
            .map_err(|e| StoreError::io("waiting for Milvus Lite", e))?;
        Ok(())
    }
}

impl Drop for EmbeddedMilvus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Milvus Lite keeps what it acknowledged across SIGKILL; give SIGTERM a moment first.
            kill_and_reap(&mut child, Duration::from_millis(300));
        }
    }
}

/// Finds the `milvus_lite/lib` folder: `$SHIHUA_MILVUS_LITE_LIB` if set, else the first
/// `<dir>/.venv/lib/python3*/site-packages/milvus_lite/lib` holding a `milvus` binary, for
/// `dir` = `start` and each of its ancestors.
pub fn find_lite_lib_dir(start: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SHIHUA_MILVUS_LITE_LIB").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    crate::paths::venv_site_packages(start)
        .into_iter()
        .map(|site| site.join("milvus_lite").join("lib"))
        .find(|candidate| candidate.join("milvus").is_file())
}

fn absolute(p: &Path) -> Result<PathBuf, StoreError> {
    crate::paths::absolute(p).map_err(|e| StoreError::io("reading the current dir", e))
}

/// Milvus Lite's own rules (from its launcher): `^[a-zA-Z0-9.\-_]+$`, at most 36 characters.
fn check_db_name(name: &str) -> Result<(), StoreError> {
    let bad = |reason: &str| {
        Err(StoreError::LiteBadDbName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if name.is_empty() {
        return bad("the path has no file name");
    }
    if name.len() > 36 {
        return bad("it is longer than 36 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return bad("only letters, digits, '.', '-' and '_' are allowed");
    }
    Ok(())
}

fn lock_db(dir: &Path, name: &str, db_path: &Path) -> Result<File, StoreError> {
    let lock_path = dir.join(format!(".{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lock_path)
        .map_err(|e| StoreError::io(format!("opening {}", lock_path.display()), e))?;
    // `lockf` (POSIX record lock) is what pymilvus' launcher takes, so a Python Milvus Lite on
    // the same file is detected; `flock` also catches a second start inside this process
    // (record locks are per process).
    // SAFETY: lockf / flock on a valid, open descriptor owned by `file`.
    let rc = unsafe {
        let fd = file.as_raw_fd();
        if libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) == 0 {
            libc::lockf(fd, libc::F_TLOCK, 0)
        } else {
            -1
        }
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Err(StoreError::LiteDbLocked {
                db: db_path.to_path_buf(),
            }),
            _ => Err(StoreError::io(
                format!("locking {}", lock_path.display()),
                err,
            )),
        };
    }
    Ok(file)
}

fn free_port() -> Result<u16, StoreError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| StoreError::io("finding a free port on 127.0.0.1", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| StoreError::io("finding a free port on 127.0.0.1", e))?
        .port();
    Ok(port)
}

/// The private `HOME` of the Milvus Lite serving `db_path` (see the module docs):
/// `<db dir>/.<db name>.home`.
fn lite_home(db_path: &Path) -> PathBuf {
    let name = db_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    db_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.home"))
}

/// Starts the Milvus Lite child for the absolute `db_path`, in the database's folder, with its
/// own `HOME`.
fn spawn(
    binary: &Path,
    lib_dir: &Path,
    db_path: &Path,
    log_path: &Path,
    port: u16,
) -> Result<Child, StoreError> {
    let dir = db_path.parent().unwrap_or(Path::new("."));
    let home = lite_home(db_path);
    std::fs::create_dir_all(&home)
        .map_err(|e| StoreError::io(format!("creating {}", home.display()), e))?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(|e| StoreError::io(format!("opening {}", log_path.display()), e))?;
    let _ = writeln!(
        log,
        "--- shihua: starting Milvus Lite on 127.0.0.1:{port} for {}",
        db_path.display()
    );
    let stderr = log
        .try_clone()
        .map_err(|e| StoreError::io(format!("opening {}", log_path.display()), e))?;
    let mut ld_path = lib_dir.as_os_str().to_owned();
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
        ld_path.push(":");
        ld_path.push(old);
    }
    let log_level =
        std::env::var("SHIHUA_MILVUS_LITE_LOG_LEVEL").unwrap_or_else(|_| "ERROR".into());
    let parent_pid = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(binary);
    cmd.arg(db_path)
        .arg(format!("127.0.0.1:{port}"))
        .arg(log_level)
        .current_dir(dir)
        .env("HOME", &home)
        .env("LD_LIBRARY_PATH", ld_path)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(stderr));
    // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Die with the thread that spawned us, even if shihua is SIGKILLed.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent_pid {
                return Err(std::io::Error::other("parent exited before exec"));
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| StoreError::io(format!("starting {}", binary.display()), e))
}

enum Ready {
    Exited(String),
    TimedOut,
    /// Something answers on the port, but not the child.
    PortTaken,
}

async fn wait_ready(child: &mut Child, port: u16, log_path: &Path) -> Result<(), Ready> {
    let started = Instant::now();
    let uri = format!("http://127.0.0.1:{port}");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Err(Ready::Exited(format!("it exited with {status}"))),
            Ok(None) => {}
            Err(e) => return Err(Ready::Exited(format!("cannot watch it: {e}"))),
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(Ready::TimedOut);
        }
        let tcp_ok = matches!(
            tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr)
            )
            .await,
            Ok(Ok(_))
        );
        if tcp_ok {
            match MilvusStore::probe(&uri, Duration::from_secs(2)).await {
                Ok(()) if listener_owned_by(child.id(), port) == Some(false) => {
                    return Err(Ready::PortTaken)
                }
                Ok(()) => {
                    tracing::debug!(
                        ms = started.elapsed().as_millis() as u64,
                        log = %log_path.display(),
                        "Milvus Lite ready"
                    );
                    return Ok(());
                }
                Err(e) => tracing::debug!(error = %e, "Milvus Lite not ready yet"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether process `pid` holds the socket listening on TCP `port` (any local address, IPv4 or
/// IPv6), from `/proc/net/tcp{,6}` and `/proc/<pid>/fd`. `None` when that cannot be read.
fn listener_owned_by(pid: u32, port: u16) -> Option<bool> {
    let want_port = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            const LISTEN: &str = "0A";
            if f.len() > 9 && f[1].ends_with(&want_port) && f[3] == LISTEN {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let owned = fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
    });
    Some(owned)
}

/// SIGTERM, wait up to `grace`, then SIGKILL; always reaps.
fn kill_and_reap(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: kill(2) on our own, not yet reaped child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let started = Instant::now();
    while started.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last lines of the log (at most 4 KiB).
fn log_tail(log_path: &Path) -> String {
    let Ok(mut f) = File::open(log_path) else {
        return "(no log)".into();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_belongs_to_the_process_that_holds_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(listener_owned_by(std::process::id(), port), Some(true));
        let mut other = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(listener_owned_by(other.id(), port), Some(false));
        kill_and_reap(&mut other, Duration::from_millis(100));
        drop(listener);
        // Nobody listens there any more: unknown, never "someone else".
        assert_eq!(listener_owned_by(std::process::id(), port), None);
    }
}
