//! What visitors see of a photo's path. The collection stores absolute paths (the reference
//! article's `filepath`, read as-is by pymilvus); the site and the JSON API show the path
//! relative to the indexed folder it came from, or just the file name when that folder is not
//! known. Absolute paths only in the CLI and behind `shihua serve --show-paths`.
//!
//! `shihua index` appends each indexed folder (canonical) to `<data-dir>/indexed-folders.txt`;
//! the server re-reads that file when it changes.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

/// The list of indexed folders, one absolute path per line, under the data folder.
pub const FOLDERS_FILE: &str = "indexed-folders.txt";

/// How paths are shown.
pub struct PathDisplay {
    mode: Mode,
}

enum Mode {
    Absolute,
    Relative {
        file: PathBuf,
        /// (modification time of `file` when read, the folders, longest first)
        cache: RwLock<(Option<SystemTime>, Vec<PathBuf>)>,
    },
}

impl PathDisplay {
    /// Show paths as stored (the CLI, `--show-paths`).
    pub fn absolute() -> Self {
        PathDisplay {
            mode: Mode::Absolute,
        }
    }

    /// Show paths relative to the folders listed in `<data_dir>/indexed-folders.txt`.
    pub fn relative(data_dir: &Path) -> Self {
        PathDisplay {
            mode: Mode::Relative {
                file: data_dir.join(FOLDERS_FILE),
                cache: RwLock::new((None, Vec::new())),
            },
        }
    }

    /// The path a visitor may see for a stored `filepath`.
    pub fn show(&self, filepath: &str) -> String {
        match self.roots() {
            Some(folders) => relative_to(Path::new(filepath), &folders),
            None => filepath.to_string(),
        }
    }

    /// The indexed folders paths are shown relative to (re-read when the list changed), or
    /// `None` when paths are shown absolute.
    pub fn roots(&self) -> Option<Vec<PathBuf>> {
        let Mode::Relative { file, cache } = &self.mode else {
            return None;
        };
        let mtime = std::fs::metadata(file).and_then(|m| m.modified()).ok();
        let stale = cache.read().map(|c| c.0 != mtime).unwrap_or(true);
        if stale {
            let folders = read_folders(file);
            if let Ok(mut c) = cache.write() {
                *c = (mtime, folders);
            }
        }
        Some(cache.read().map(|c| c.1.clone()).unwrap_or_default())
    }
}

/// `path` relative to the longest of `folders` it lies under, else its file name.
pub fn relative_to(path: &Path, folders: &[PathBuf]) -> String {
    let inside = folders
        .iter()
        .filter_map(|f| path.strip_prefix(f).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .min_by_key(|rel| rel.components().count());
    match inside {
        Some(rel) => rel.to_string_lossy().into_owned(),
        None => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

fn read_folders(file: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Adds `folder` (canonical) to `<data_dir>/indexed-folders.txt` unless it is there already.
pub fn remember_folder(data_dir: &Path, folder: &Path) -> std::io::Result<()> {
    let folder = folder.canonicalize()?;
    let file = data_dir.join(FOLDERS_FILE);
    if read_folders(&file).contains(&folder) {
        return Ok(());
    }
    std::fs::create_dir_all(data_dir)?;
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&folder.to_string_lossy());
    text.push('\n');
    std::fs::write(&file, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_to_the_innermost_folder_else_the_name() {
        let folders = [
            PathBuf::from("/srv/photos"),
            PathBuf::from("/srv/photos/2024"),
        ];
        assert_eq!(
            relative_to(Path::new("/srv/photos/2024/a/b.jpg"), &folders),
            "a/b.jpg"
        );
        assert_eq!(
            relative_to(Path::new("/srv/photos/x.jpg"), &folders),
            "x.jpg"
        );
        assert_eq!(relative_to(Path::new("/home/me/y.jpg"), &folders), "y.jpg");
        // A sibling folder whose name starts the same is not "inside".
        assert_eq!(
            relative_to(Path::new("/srv/photos-old/z.jpg"), &folders),
            "z.jpg"
        );
    }

    #[test]
    fn folders_are_remembered_once_and_reread() {
        let tmp = tempfile::tempdir().unwrap();
        let photos = tmp.path().join("photos");
        std::fs::create_dir_all(photos.join("sub")).unwrap();
        let shown = PathDisplay::relative(tmp.path());
        let abs = photos.canonicalize().unwrap().join("sub/p.jpg");
        assert_eq!(shown.show(abs.to_str().unwrap()), "p.jpg");
        remember_folder(tmp.path(), &photos).unwrap();
        remember_folder(tmp.path(), &photos).unwrap();
        let listed = std::fs::read_to_string(tmp.path().join(FOLDERS_FILE)).unwrap();
        assert_eq!(listed.lines().count(), 1, "{listed}");
        assert_eq!(shown.show(abs.to_str().unwrap()), "sub/p.jpg");
        assert_eq!(
            PathDisplay::absolute().show(abs.to_str().unwrap()),
            abs.to_str().unwrap()
        );
    }
}
