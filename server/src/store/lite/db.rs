//! The database file a Milvus Lite serves: its name (Milvus Lite's own rules), its lock (the
//! same `.<db>.lock` + `lockf` convention as pymilvus' launcher, so two servers never open one
//! file) and its private `HOME` `<db dir>/.<db>.home`.
//!
//! Why a private `HOME`: Milvus Lite 2.5.1 keeps segcore's scratch and mmap folder at
//! `$HOME/.cache/milvus` and, when it creates or loads a collection, *deletes and recreates*
//! that folder. Two Milvus Lite processes sharing one `HOME` (two shihua instances, or tests in
//! parallel) race there, and the loser fails every later call with "Mmap manager has not been
//! init" (reproduced: 3 of 30 simultaneous create_collection pairs with a shared `HOME`, 0 of 30
//! with one each). Without `HOME` at all (a bare service environment) it would crash on start.
//! The folder is per database, so the db lock also guards it.

use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::store::error::StoreError;

/// `crate::paths::absolute` with the store's error.
pub(crate) fn absolute(p: &Path) -> Result<PathBuf, StoreError> {
    crate::paths::absolute(p).map_err(|e| StoreError::io("reading the current dir", e))
}

/// Milvus Lite's own rules (from its launcher): `^[a-zA-Z0-9.\-_]+$`, at most 36 characters.
pub(super) fn check_db_name(name: &str) -> Result<(), StoreError> {
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

pub(super) fn lock_db(dir: &Path, name: &str, db_path: &Path) -> Result<File, StoreError> {
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

/// The private `HOME` of the Milvus Lite serving `db_path` (see the module doc):
/// `<db dir>/.<db name>.home`.
pub(super) fn lite_home(db_path: &Path) -> PathBuf {
    let name = db_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    db_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.home"))
}
