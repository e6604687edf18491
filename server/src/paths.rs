//! Where things are on this machine: a path made absolute against the working directory, and
//! the project's Python environment (`.venv`, filled by scripts/setup.sh) searched upward
//! from a folder: ONNX Runtime's library and Milvus Lite's binary come from its packages.

use std::path::{Path, PathBuf};

/// `p` itself when absolute, else joined to the current directory.
pub fn absolute(p: &Path) -> std::io::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

/// Every `<dir>/.venv/lib/python3*/site-packages` folder, for `dir` = `start` (made absolute)
/// and each of its ancestors, nearest first (within one `.venv`, in name order).
pub fn venv_site_packages(start: &Path) -> Vec<PathBuf> {
    let Ok(start) = absolute(start) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in start.ancestors() {
        let Ok(entries) = std::fs::read_dir(dir.join(".venv").join("lib")) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path().join("site-packages"))
            .collect();
        pythons.sort();
        found.extend(pythons);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_packages_are_found_upward_nearest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let outer = tmp.path().join(".venv/lib/python3.12/site-packages");
        let inner = tmp.path().join("a/.venv/lib/python3.11/site-packages");
        std::fs::create_dir_all(&outer).unwrap();
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::create_dir_all(tmp.path().join("a/.venv/lib/not-python")).unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        assert_eq!(
            venv_site_packages(&tmp.path().join("a/b")),
            vec![inner, outer]
        );
    }

    #[test]
    fn relative_paths_are_joined_to_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute(Path::new("x/y")).unwrap(), cwd.join("x/y"));
        assert_eq!(absolute(Path::new("/x")).unwrap(), PathBuf::from("/x"));
    }
}
