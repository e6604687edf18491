//! The `in=` folder filter on the server: a folder as visitors see it (relative to the indexed
//! folder, `2019/杭州`) becomes the absolute path prefixes it names under each indexed root, so
//! visitors never see or send an absolute path; and the folders the site offers: the first two
//! levels of the folders that hold indexed photos, from one listing of the rows' paths, kept
//! for a minute (a 100k-row collection is listed at most once a minute, and only when someone
//! opens the filter).
//!
//! Where paths are shown absolute (the CLI, `serve --show-paths`), `in=` takes an absolute
//! folder instead and the site offers no list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::filters::Folder;
use app::search::SearchError;

use crate::store::MilvusStore;
use crate::visible_path::{relative_to, PathDisplay};

/// How long a folder listing is reused.
const LIST_TTL: Duration = Duration::from_secs(60);
/// Folder levels offered (`2019`, `2019/杭州`).
const LEVELS: usize = 2;
/// Most folders offered.
const MAX_LISTED: usize = 2000;

/// The absolute prefixes (each ending in `/`) of the rows inside `folder`: one per indexed
/// root where paths are shown relative, the folder itself where they are shown absolute.
/// Empty when nothing is indexed yet (nothing can match).
pub fn prefixes(folder: &Folder, paths: &PathDisplay) -> Result<Vec<String>, SearchError> {
    let as_prefix = |p: PathBuf| {
        let mut s = p.to_string_lossy().into_owned();
        if !s.ends_with('/') {
            s.push('/');
        }
        s
    };
    let mut out =
        match (paths.roots(), folder.absolute) {
            (None, true) => vec![as_prefix(PathBuf::from(folder.as_path()))],
            (None, false) => {
                return Err(SearchError::BadRequest(format!(
            "这里显示完整路径，in= 须为绝对路径 · paths are shown absolute here: in= must be an \
                 absolute folder, like /photos/{}",
            folder.as_path()
        )))
            }
            (Some(_), true) => return Err(SearchError::BadRequest(
                "in= 须为网站上显示的相对文件夹，例如 2019/杭州 · in= takes a folder as the site \
                 shows paths, relative to the indexed folder, e.g. 2019/杭州"
                    .into(),
            )),
            (Some(roots), false) => roots
                .iter()
                .map(|root| as_prefix(folder.parts.iter().fold(root.clone(), |p, c| p.join(c))))
                .collect(),
        };
    out.sort();
    out.dedup();
    Ok(out)
}

/// The folders of `paths` (absolute, as stored) as visitors see them, first `LEVELS` levels:
/// `2019/杭州/西湖/a.jpg` gives `2019` and `2019/杭州`. Paths outside every root give none.
pub fn visible_folders<'a>(paths: impl Iterator<Item = &'a str>, roots: &[PathBuf]) -> Vec<String> {
    let mut set = BTreeSet::new();
    for path in paths {
        let path = Path::new(path);
        if !roots.iter().any(|r| path.starts_with(r)) {
            continue;
        }
        let shown = relative_to(path, roots);
        let parts: Vec<&str> = shown.split('/').collect();
        let dirs = &parts[..parts.len().saturating_sub(1)];
        for n in 1..=dirs.len().min(LEVELS) {
            set.insert(dirs[..n].join("/"));
        }
        if set.len() >= MAX_LISTED {
            break;
        }
    }
    set.into_iter().collect()
}

/// The folder list the site offers, listed from the store at most once per `LIST_TTL`.
#[derive(Default)]
pub struct FolderList {
    cached: tokio::sync::Mutex<Option<(Instant, Vec<String>)>>,
}

impl FolderList {
    pub async fn get(
        &self,
        store: &MilvusStore,
        paths: &PathDisplay,
    ) -> Result<Vec<String>, SearchError> {
        let Some(roots) = paths.roots() else {
            return Ok(Vec::new());
        };
        let mut cached = self.cached.lock().await;
        if let Some((at, list)) = cached.as_ref() {
            if at.elapsed() < LIST_TTL {
                return Ok(list.clone());
            }
        }
        let rows = match store.list_paths().await {
            Ok(rows) => rows,
            // No collection yet: no folders.
            Err(_) if matches!(store.count().await, Ok(0)) => Vec::new(),
            Err(e) => return Err(crate::search::store_error(e)),
        };
        let list = visible_folders(rows.iter().map(|(_, p)| p.as_str()), &roots);
        *cached = Some((Instant::now(), list.clone()));
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(v: &str) -> Folder {
        app::filters::Filters {
            folder: Some(v.into()),
            ..Default::default()
        }
        .check()
        .unwrap()
        .folder
        .unwrap()
    }

    #[test]
    fn a_visible_folder_is_a_prefix_under_each_root() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a")).unwrap();
        std::fs::create_dir_all(tmp.path().join("b")).unwrap();
        crate::visible_path::remember_folder(tmp.path(), &tmp.path().join("a")).unwrap();
        crate::visible_path::remember_folder(tmp.path(), &tmp.path().join("b")).unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let shown = PathDisplay::relative(tmp.path());
        let got = prefixes(&folder("2019/杭州"), &shown).unwrap();
        assert_eq!(
            got,
            vec![
                format!("{}/a/2019/杭州/", root.display()),
                format!("{}/b/2019/杭州/", root.display())
            ]
        );
        // Visitors cannot name absolute folders; the CLI must.
        assert!(prefixes(&folder("/etc"), &shown).is_err());
        let abs = PathDisplay::absolute();
        assert_eq!(prefixes(&folder("/srv/p/"), &abs).unwrap(), vec!["/srv/p/"]);
        assert_eq!(prefixes(&folder("/"), &abs).unwrap(), vec!["/"]);
        assert!(prefixes(&folder("2019"), &abs).is_err());
    }

    #[test]
    fn folders_are_listed_two_levels_deep() {
        let roots = [PathBuf::from("/r"), PathBuf::from("/s")];
        let paths = [
            "/r/2019/杭州/西湖/a.jpg",
            "/r/2019/b.jpg",
            "/r/top.jpg",
            "/s/x/y.jpg",
            "/elsewhere/z/z.jpg",
        ];
        assert_eq!(
            visible_folders(paths.into_iter(), &roots),
            vec!["2019", "2019/杭州", "x"]
        );
    }
}
