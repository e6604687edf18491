//! Reading one photo whole and stable: through one open file handle with `O_NONBLOCK` (a
//! FIFO or device named `x.jpg` is refused, never waited on), with its identity (device,
//! inode, size, mtime, ctime) compared before and after the read. A photo that changes while
//! it is read is read again, so the bytes and the stat that go into its row belong together;
//! one that keeps changing (still being written) is reported and left for the next run, and
//! one deleted meanwhile is reported and skipped.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use super::scan::kind_of;

/// Test-only: a callback run with a photo's path after it is opened and before it is read,
/// on every read attempt, so tests can change or delete the file at exactly that moment
/// (given to [`index_folder_with_read_hook`](super::index_folder_with_read_hook)).
#[doc(hidden)]
#[derive(Clone)]
pub struct ReadHook(pub Arc<dyn Fn(&Path) + Send + Sync>);

impl std::fmt::Debug for ReadHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadHook")
    }
}

/// How often a photo that changes while it is read is read again before it is left for the
/// next run.
const READ_ATTEMPTS: usize = 3;

/// What identifies one version of a file: if any of these differ, it changed.
#[derive(PartialEq, Eq)]
struct FileVersion {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileVersion {
    fn of(m: &std::fs::Metadata) -> FileVersion {
        FileVersion {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Reads a photo whole, with the metadata that belongs to exactly these bytes. A file that
/// is changed, replaced or deleted while it is read is detected (its version before and after
/// the read differ, or the path no longer leads to the file read) and read again; a FIFO or
/// device is refused without waiting on it.
pub(super) fn read_stable(
    path: &Path,
    hook: Option<&ReadHook>,
) -> Result<(Vec<u8>, std::fs::Metadata), String> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    for _ in 0..READ_ATTEMPTS {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| {
                if gone(&e) {
                    "deleted during indexing".to_owned()
                } else {
                    format!("cannot open: {e}")
                }
            })?;
        let before = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
        if !before.is_file() {
            return Err(format!(
                "not a regular file ({})",
                kind_of(&before.file_type())
            ));
        }
        if let Some(hook) = hook {
            (hook.0)(path);
        }
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(before.len() as usize)
            .map_err(|_| format!("too large to read ({} bytes)", before.len()))?;
        file.read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read: {e}"))?;
        let after = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
        let now = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if gone(&e) => return Err("deleted during indexing".to_owned()),
            Err(e) => return Err(format!("cannot stat: {e}")),
        };
        let version = FileVersion::of(&before);
        if version == FileVersion::of(&after)
            && version == FileVersion::of(&now)
            && bytes.len() as u64 == before.len()
        {
            return Ok((bytes, after));
        }
    }
    Err(format!(
        "kept changing while it was read ({READ_ATTEMPTS} tries; still being written?): \
         skipped, the next run indexes it"
    ))
}
