//! One verified, resumable HTTP download: `<dest>.part` is resumed with `Range` / `If-Range`,
//! checked against the manifest's pin (size, SHA-256) and renamed into place; a file that
//! fails the check is deleted, an interrupted one is kept for the next run.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::error::{io_err, FetchError};
use crate::clip::manifest::VariantFile;

/// What a downloaded file must match (from the manifest).
#[derive(Clone, Debug, Default)]
pub struct Pin {
    pub size: Option<u64>,
    /// Lower-case hex.
    pub sha256: Option<String>,
}

impl From<&VariantFile> for Pin {
    fn from(v: &VariantFile) -> Self {
        Self {
            size: v.size,
            sha256: v.sha256.as_ref().map(|s| s.to_ascii_lowercase()),
        }
    }
}

/// A completed, verified download.
#[derive(Clone, Debug)]
pub struct Downloaded {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Bytes that were already in the `.part` file and were not downloaded again.
    pub resumed_from: u64,
}

/// `<dest>.part`: where `dest` is downloaded before it is verified and renamed.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

fn etag_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part.etag");
    PathBuf::from(s)
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn agent_for(url: &str) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(format!("shihua/{}", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)));
    if is_loopback(url) {
        // A local mirror (or the tests' server) never goes through HTTPS_PROXY.
        config = config.proxy(None);
    }
    config.build().into()
}

fn http_hint(status: u16) -> String {
    match status {
        404 => "The file is not there: check repo, revision and file for this model in \
                models/manifest.toml, and the base URL (SHIHUA_MODELS_BASE_URL)"
            .into(),
        401 | 403 => "Access was refused: the repository may be gated or private. Download \
                      the file yourself and place it where the message of a re-run says, or \
                      use a mirror (SHIHUA_MODELS_BASE_URL)"
            .into(),
        429 | 500..=599 => "The server is busy or failing: try again later (the download \
                          resumes where it stopped)"
            .into(),
        _ => "Unexpected answer: try again later, or use a mirror (SHIHUA_MODELS_BASE_URL)".into(),
    }
}

/// `Content-Range: bytes <start>-<end>/<total>` (or `bytes */<total>`) → (start, total).
fn parse_content_range(v: &str) -> (Option<u64>, Option<u64>) {
    let v = v.trim();
    let Some(rest) = v.strip_prefix("bytes") else {
        return (None, None);
    };
    let rest = rest.trim();
    let (range, total) = rest.split_once('/').unwrap_or((rest, "*"));
    let start = range.split('-').next().and_then(|s| s.trim().parse().ok());
    (start, total.trim().parse().ok())
}

pub(crate) fn hash_file(path: &Path, hasher: &mut Sha256) -> Result<u64, FetchError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io_err(path))?;
        if k == 0 {
            return Ok(n);
        }
        hasher.update(&buf[..k]);
        n += k as u64;
    }
}

pub(crate) fn remove_quietly(path: &Path) {
    let _ = fs::remove_file(path);
}

enum Step {
    /// The `.part` holds the whole file; the hasher, if any, has seen all of it; the first
    /// `resumed_from` bytes were there before this call.
    Complete {
        hasher: Option<Sha256>,
        resumed_from: u64,
    },
    /// The `.part` cannot be continued: delete it and start over.
    Restart,
}

fn progress_bar(progress: bool, total: Option<u64>, name: &str) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    let template = if total.is_some() {
        "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
    } else {
        "{msg} [{elapsed_precise}] {spinner} {bytes} {bytes_per_sec}"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid progress template"));
    bar.set_message(name.to_string());
    bar
}

fn download_once(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    pin: &Pin,
    progress: bool,
) -> Result<Step, FetchError> {
    let part = part_path(dest);
    let etag_file = etag_path(dest);
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if let Some(size) = pin.size {
        if have > size {
            return Ok(Step::Restart);
        }
        if have == size && have > 0 {
            return Ok(Step::Complete {
                hasher: None,
                resumed_from: have,
            });
        }
    }

    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
        if let Ok(tag) = fs::read_to_string(&etag_file) {
            let tag = tag.trim();
            if !tag.is_empty() {
                req = req.header("If-Range", tag);
            }
        }
    }
    let mut resp = req.call().map_err(|e| FetchError::Network {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_range = header("content-range");
    let etag = header("etag");
    let (start, total) = match status {
        206 if have > 0 => {
            let (start, total) = content_range
                .as_deref()
                .map(parse_content_range)
                .unwrap_or((None, None));
            if start != Some(have) {
                return Ok(Step::Restart);
            }
            (have, total)
        }
        200 | 206 => (0, resp.body().content_length()),
        416 if have > 0 => {
            // Nothing left to send: the part may already be whole.
            let (_, total) = content_range
                .as_deref()
                .map(parse_content_range)
                .unwrap_or((None, None));
            return Ok(if total == Some(have) {
                Step::Complete {
                    hasher: None,
                    resumed_from: have,
                }
            } else {
                Step::Restart
            });
        }
        _ => {
            return Err(FetchError::Http {
                url: url.to_string(),
                status,
                hint: http_hint(status),
            })
        }
    };
    let expected = pin.size.or(total);
    if let (Some(p), Some(t)) = (pin.size, total) {
        if p != t {
            remove_quietly(&part);
            return Err(FetchError::SizeMismatch {
                url: url.to_string(),
                got: t,
                expected: p,
                why: "the size the server announces differs from the pinned size".into(),
            });
        }
    }

    let mut hasher = Sha256::new();
    let mut file = if start == 0 {
        // A fresh download: remember its validator for a later resume.
        match etag.filter(|t| !t.starts_with("W/")) {
            Some(t) => fs::write(&etag_file, t).map_err(io_err(&etag_file))?,
            None => remove_quietly(&etag_file),
        }
        File::create(&part).map_err(io_err(&part))?
    } else {
        hash_file(&part, &mut hasher)?;
        OpenOptions::new()
            .append(true)
            .open(&part)
            .map_err(io_err(&part))?
    };

    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bar = progress_bar(progress, expected, &name);
    bar.set_position(start);
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = start;
    let read_error = loop {
        match reader.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                file.write_all(&buf[..n]).map_err(io_err(&part))?;
                hasher.update(&buf[..n]);
                got += n as u64;
                bar.inc(n as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    bar.finish_and_clear();
    file.flush().map_err(io_err(&part))?;
    file.sync_all().map_err(io_err(&part))?;
    drop(file);

    let expected_text = expected.map_or_else(|| "an unknown number of".into(), |e| e.to_string());
    if let Some(reason) = read_error {
        return Err(FetchError::Interrupted {
            url: url.to_string(),
            got,
            expected: expected_text,
            reason,
            part,
        });
    }
    match expected {
        Some(e) if got < e => Err(FetchError::Interrupted {
            url: url.to_string(),
            got,
            expected: expected_text,
            reason: "the connection closed early".into(),
            part,
        }),
        Some(e) if got > e => {
            remove_quietly(&part);
            remove_quietly(&etag_file);
            Err(FetchError::SizeMismatch {
                url: url.to_string(),
                got,
                expected: e,
                why: "the server sent more than it announced".into(),
            })
        }
        _ => Ok(Step::Complete {
            hasher: Some(hasher),
            resumed_from: start,
        }),
    }
}

/// Download `url` to `dest`: resume `<dest>.part` if there is one, check `pin`, then rename
/// into place. On a checksum or size failure the partial file is deleted and `dest` is not
/// touched; on an interruption it is kept for the next call to resume.
pub fn download(
    url: &str,
    dest: &Path,
    pin: &Pin,
    progress: bool,
) -> Result<Downloaded, FetchError> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let part = part_path(dest);
    let agent = agent_for(url);
    let mut restarted = false;
    let (hasher, resumed_from) = loop {
        match download_once(&agent, url, dest, pin, progress)? {
            Step::Complete {
                hasher,
                resumed_from,
            } => break (hasher, resumed_from),
            Step::Restart if !restarted => {
                tracing::info!("{} cannot be resumed; downloading it again", part.display());
                remove_quietly(&part);
                remove_quietly(&etag_path(dest));
                restarted = true;
            }
            Step::Restart => {
                return Err(FetchError::Http {
                    url: url.to_string(),
                    status: 416,
                    hint: "The server does not serve the file consistently; try again later".into(),
                })
            }
        }
    };
    let hasher = match hasher {
        Some(h) => h,
        None => {
            let mut h = Sha256::new();
            hash_file(&part, &mut h)?;
            h
        }
    };
    let size = fs::metadata(&part).map_err(io_err(&part))?.len();
    let sha256 = hex::encode(hasher.finalize());
    if let Some(expected) = pin.size {
        if size != expected {
            remove_quietly(&part);
            remove_quietly(&etag_path(dest));
            return Err(FetchError::SizeMismatch {
                url: url.to_string(),
                got: size,
                expected,
                why: "pinned in models/manifest.toml".into(),
            });
        }
    }
    if let Some(expected) = &pin.sha256 {
        if &sha256 != expected {
            remove_quietly(&part);
            remove_quietly(&etag_path(dest));
            return Err(FetchError::ChecksumMismatch {
                url: url.to_string(),
                expected: expected.clone(),
                got: sha256,
            });
        }
    }
    fs::rename(&part, dest).map_err(io_err(dest))?;
    remove_quietly(&etag_path(dest));
    sync_dir(dest);
    Ok(Downloaded {
        path: dest.to_path_buf(),
        size,
        sha256,
        resumed_from,
    })
}

/// Make a rename in `path`'s folder durable (best effort).
pub(crate) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// `dest` if an earlier run left it (verified again), else [`download`] it.
pub(crate) fn download_or_reuse(
    url: &str,
    dest: &Path,
    pin: &Pin,
    progress: bool,
) -> Result<Downloaded, FetchError> {
    if dest.is_file() {
        // Kept by an earlier run (--keep-download, a failed conversion): verify it again.
        let mut h = Sha256::new();
        let size = hash_file(dest, &mut h)?;
        let sha256 = hex::encode(h.finalize());
        let ok =
            pin.size.is_none_or(|s| s == size) && pin.sha256.as_ref().is_none_or(|p| *p == sha256);
        if ok {
            tracing::info!("using the earlier download {}", dest.display());
            return Ok(Downloaded {
                path: dest.to_path_buf(),
                size,
                sha256,
                resumed_from: 0,
            });
        }
        remove_quietly(dest);
    }
    tracing::info!("downloading {url}");
    download(url, dest, pin, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_is_parsed() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            (Some(100), Some(200))
        );
        assert_eq!(parse_content_range("bytes */200"), (None, Some(200)));
        assert_eq!(parse_content_range("bytes 5-9/*"), (Some(5), None));
        assert_eq!(parse_content_range("items 1-2/3"), (None, None));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("http://127.0.0.1:8080/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:9/x"));
        assert!(!is_loopback("https://huggingface.co/Xenova/x"));
    }
}
