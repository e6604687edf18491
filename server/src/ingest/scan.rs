//! Scanning the photo folder: every file under the root with an indexed extension, sorted,
//! following links and skipping hidden entries unless asked; entries that cannot be read
//! (symlink loops, permission errors, dangling links, and FIFOs, sockets or devices named like
//! a photo) are reported, never waited on. With a scope (the watcher's changed paths) only
//! those files and folders are scanned, by the same rules.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{IndexOptions, Skipped};

/// Photo files under `opts.root`, sorted, and the entries that could not be read (symlink
/// loops, permission errors, dangling links, and FIFOs, sockets or devices with a photo's
/// extension), which are reported and skipped.
pub fn walk(opts: &IndexOptions) -> anyhow::Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let root = opts
        .root
        .canonicalize()
        .with_context(|| format!("photo folder {} cannot be opened", opts.root.display()))?;
    anyhow::ensure!(root.is_dir(), "{} is not a folder", root.display());
    let exts: Vec<String> = opts
        .exts
        .iter()
        .map(|e| e.trim_start_matches('.').to_ascii_lowercase())
        .collect();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    if opts.scope.is_empty() {
        walk_from(&root, &root, opts, &exts, &mut files, &mut problems);
    } else {
        for start in &opts.scope {
            let below = start.strip_prefix(&root).ok();
            let hidden = below.is_some_and(|b| {
                b.components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
            });
            // Outside the root, hidden, or gone (its rows are pruned): nothing to scan.
            if below.is_none() || (hidden && !opts.include_hidden) || !start.exists() {
                continue;
            }
            walk_from(start, &root, opts, &exts, &mut files, &mut problems);
        }
    }
    files.sort();
    files.dedup();
    Ok((files, problems))
}

/// Photo files under `start` (a folder or a file) into `files`, unreadable entries into
/// `problems`.
fn walk_from(
    start: &Path,
    root: &Path,
    opts: &IndexOptions,
    exts: &[String],
    files: &mut Vec<PathBuf>,
    problems: &mut Vec<Skipped>,
) {
    let walker = walkdir::WalkDir::new(start)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            opts.include_hidden
                || e.depth() == 0
                || !e.file_name().to_string_lossy().starts_with('.')
        });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) => {
                let ok = e
                    .path()
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| exts.contains(&x.to_ascii_lowercase()));
                if ok && e.file_type().is_file() {
                    files.push(e.into_path());
                } else if ok {
                    let why = format!("not a regular file ({})", kind_of(&e.file_type()));
                    problems.push((e.into_path(), why));
                }
            }
            // Deleted while a watcher's scope was walked: its row is pruned, nothing to report.
            Err(err)
                if !opts.scope.is_empty()
                    && err
                        .io_error()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) => {}
            Err(err) => {
                let p = err
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                problems.push((p, err.to_string()));
            }
        }
    }
}

/// What a non-regular directory entry is, in words.
pub(super) fn kind_of(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}
