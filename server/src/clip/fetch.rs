//! `shihua models fetch` and `shihua models list`: getting real Chinese-CLIP weights.
//!
//! A model's `[model.source]` in `models/manifest.toml` names a hub repository, a revision and,
//! per variant (`fp32`, `fp16`, `int8`), one ONNX file holding both towers. Fetching it:
//!
//! 1. downloads `<base_url>/<repo>/resolve/<revision>/<file>` over HTTPS (ureq + rustls; the
//!    base URL is Hugging Face unless `SHIHUA_MODELS_BASE_URL` or `--base-url` says otherwise)
//!    into `<model-dir>/<id>/download/<name>.part`, with a progress bar. A `.part` left by an
//!    interrupted run is resumed with an HTTP `Range` request (guarded by `If-Range` with the
//!    first response's strong ETag, so a file that changed upstream restarts from zero);
//! 2. checks the size (the pinned one, else the one the server announced) and, when the
//!    manifest pins it, the SHA-256; a file that fails is deleted and nothing is installed.
//!    The SHA-256 it computed is reported so an unpinned file can be pinned;
//! 3. renames the `.part` into place (atomic, same folder);
//! 4. splits the combined graph ([`super::onnx_split`]) into `image.onnx` (`pixel_values` →
//!    `image_embeds`) and `text.onnx` (`input_ids` → `text_embeds`, attention mask computed
//!    inside), written to temporary names and renamed into place, so a text query never runs
//!    the vision tower. The `int8` download goes beside them instead, as `image.int8.onnx`
//!    and `text.int8.onnx` (what `--variant int8` loads), so both variants can be installed;
//! 5. records what it installed in `<model-dir>/<id>/source.json` (`source.int8.json`; a
//!    re-run with the same source does nothing) and removes the download unless asked to
//!    keep it.
//!
//! Only the ONNX file is downloaded: `models/tokenizer.json` (built from cn_clip's vocab) stays
//! the tokenizer.
//!
//! Models published only as cn_clip PyTorch checkpoints (`onnx = false` with a `checkpoint`)
//! are downloaded the same way (resumable, verified; from the hub or, with `--source
//! modelscope`, from ModelScope) and converted into the two graphs by [`super::convert`]
//! (models/convert/pt_to_onnx.py: numpy + onnx, no torch). Models with no source are refused
//! with a message that points to `models/export`.
//!
//! The base URL is `--base-url`, else `SHIHUA_MODELS_BASE_URL`, else `HF_ENDPOINT` (the hub
//! client's mirror variable), else the manifest's `[download] base_url`. [`ensure_model`] is
//! what `shihua index/serve --fetch-missing` (and so `make run`) calls: fetch only when the
//! chosen model's graphs are missing.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, ModelSpec, SourceSpec, Variant, VariantFile};
use super::onnx_split;

/// What went wrong, phrased so the user knows what to do next.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{id} is the committed random-weight fixture (models/fixture/); there is nothing to \
         fetch. Real weights: `shihua models fetch --model ViT-B-16`"
    )]
    Fixture { id: String },
    #[error(
        "no download source is known for {id} (no [model.source] in models/manifest.toml). \
         Export it from the official cn_clip checkpoint with models/export: \
         `python models/export/export.py --model {id} --checkpoint <cn_clip .pt> --out {dir}` \
         writes {dir}/image.onnx and {dir}/text.onnx (or copy an existing export there)"
    )]
    NoSource { id: String, dir: PathBuf },
    #[error(
        "{id} is published only as PyTorch weights ({repo} has no ONNX export), so there is \
         nothing to download and split. Export it with models/export (cn_clip + torch): \
         `python models/export/export.py --model {id} --checkpoint <cn_clip .pt> --out {dir}` \
         writes {dir}/image.onnx and {dir}/text.onnx; `shihua models list` then shows it \
         installed"
    )]
    ExportRequired {
        id: String,
        repo: String,
        dir: PathBuf,
    },
    #[error("{id} has no variant {variant:?} in models/manifest.toml; available: {known}")]
    UnknownVariant {
        id: String,
        variant: String,
        known: String,
    },
    #[error(
        "{dir} already holds {files} that `shihua models fetch` did not write (an export?). \
         Run again with --force to replace them with {what}"
    )]
    WouldOverwrite {
        dir: PathBuf,
        files: String,
        what: String,
    },
    #[error(
        "could not download {url}: {reason}. Check the network connection (HTTPS_PROXY is \
         honoured) or point SHIHUA_MODELS_BASE_URL at a mirror; run the command again to \
         resume"
    )]
    Network { url: String, reason: String },
    #[error("{url} answered HTTP {status}. {hint}")]
    Http {
        url: String,
        status: u16,
        hint: String,
    },
    #[error(
        "the download of {url} stopped after {got} of {expected} bytes ({reason}). The partial \
         file {part} is kept: run the same command again to resume it"
    )]
    Interrupted {
        url: String,
        got: u64,
        expected: String,
        reason: String,
        part: PathBuf,
    },
    #[error(
        "{url}: {got} bytes, but {expected} were expected ({why}). The download was deleted \
         and nothing was installed. If the file changed upstream on purpose, update `size` in \
         models/manifest.toml; otherwise run the command again"
    )]
    SizeMismatch {
        url: String,
        got: u64,
        expected: u64,
        why: String,
    },
    #[error(
        "{url}: its sha256 is {got}, but models/manifest.toml pins {expected}. The download \
         was deleted and nothing was installed. Run the command again; if it keeps happening \
         the file changed upstream (or a proxy serves another file): check it, then update \
         the pin"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        got: String,
    },
    #[error(
        "{id} has no ModelScope source in models/manifest.toml (`modelscope = \"AI-ModelScope/…\"` \
         under [model.source]); fetch it from the hub or a hub mirror (HF_ENDPOINT) instead"
    )]
    NoModelScope { id: String },
    #[error(
        "converting {checkpoint} into ONNX graphs failed: {reason}. The checkpoint is kept: \
         run the same command again after fixing this (docs/models.md), or export it with \
         torch: models/export/export.py --model {id} --checkpoint {checkpoint} --out {dir}"
    )]
    Convert {
        id: String,
        checkpoint: PathBuf,
        dir: PathBuf,
        reason: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot split {path} into an image graph and a text graph: {reason}. shihua expects \
         the Hugging Face Chinese-CLIP export (one graph; inputs input_ids, attention_mask, \
         pixel_values; outputs text_embeds, image_embeds). Use models/export to make the two \
         graphs instead"
    )]
    Split { path: PathBuf, reason: String },
}

impl FetchError {
    /// What failed, in one clause (for the paragraph `make run` prints before falling back to
    /// the fixture model).
    pub fn what_failed(&self) -> String {
        match self {
            FetchError::Network { url, reason } => format!("{url} could not be reached ({reason})"),
            FetchError::Http { url, status, .. } => format!("{url} answered HTTP {status}"),
            FetchError::Interrupted { url, got, .. } => format!(
                "the download of {url} stopped after {got} bytes (kept: the next run resumes it)"
            ),
            FetchError::SizeMismatch {
                url, got, expected, ..
            } => format!(
                "the download of {url} had {got} bytes instead of the pinned {expected} (deleted; \
                 nothing was installed)"
            ),
            FetchError::ChecksumMismatch { url, .. } => format!(
                "the download of {url} did not match the sha256 pinned in models/manifest.toml \
                 (deleted; nothing was installed)"
            ),
            other => other.to_string(),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

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

fn hash_file(path: &Path, hasher: &mut Sha256) -> Result<u64, FetchError> {
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

fn remove_quietly(path: &Path) {
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
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// How to fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// The model folder (`--model-dir`): files go to `<model_dir>/<id>/`.
    pub model_dir: PathBuf,
    /// `fp32`, `fp16`, `int8`…; `None`: the source's default variant.
    pub variant: Option<String>,
    /// Overrides `SHIHUA_MODELS_BASE_URL` and the manifest's `[download] base_url`.
    pub base_url: Option<String>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Keep the downloaded combined graph under `<model_dir>/<id>/download/`.
    pub keep_download: bool,
    /// Replace image.onnx/text.onnx that fetch did not write, and redo an installed fetch.
    pub force: bool,
    /// Download checkpoints from ModelScope (`AI-ModelScope/<repo>`) instead of the hub (a
    /// model with an ONNX export and a checkpoint then comes from its checkpoint).
    pub modelscope: bool,
}

/// `SHIHUA_MODELS_SOURCE=modelscope`: what `--source modelscope` says, for `--fetch-missing`.
pub const SOURCE_ENV: &str = "SHIHUA_MODELS_SOURCE";

/// True when `SHIHUA_MODELS_SOURCE` asks for ModelScope.
pub fn modelscope_from_env() -> bool {
    std::env::var(SOURCE_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("modelscope"))
}

impl FetchOptions {
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            variant: None,
            base_url: None,
            progress: false,
            keep_download: false,
            force: false,
            modelscope: false,
        }
    }
}

/// What `fetch_model` did.
#[derive(Clone, Debug)]
pub struct FetchReport {
    pub model: String,
    pub variant: String,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    /// The manifest pins the sha256 (and it matched).
    pub sha256_pinned: bool,
    /// Bytes reused from an earlier interrupted download.
    pub resumed_from: u64,
    pub image: PathBuf,
    pub text: PathBuf,
    /// The combined graph, when kept.
    pub download: Option<PathBuf>,
    /// Already installed from the same source: nothing was done.
    pub already_installed: bool,
}

impl fmt::Display for FetchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.already_installed {
            writeln!(
                f,
                "{} ({}) is already installed from {}",
                self.model, self.variant, self.url
            )?;
        } else {
            writeln!(
                f,
                "fetched {} ({}) from {}",
                self.model, self.variant, self.url
            )?;
            if self.resumed_from > 0 {
                writeln!(f, "resumed:    after {} bytes", self.resumed_from)?;
            }
        }
        writeln!(f, "size:       {} bytes", self.size)?;
        if self.sha256_pinned {
            writeln!(f, "sha256:     {} (matches the pin)", self.sha256)?;
        } else {
            writeln!(
                f,
                "sha256:     {} (not pinned: add `sha256 = \"{}\"` and `size = {}` to this \
                 variant in models/manifest.toml to pin it)",
                self.sha256, self.sha256, self.size
            )?;
        }
        writeln!(f, "image:      {}", self.image.display())?;
        write!(f, "text:       {}", self.text.display())?;
        if let Some(d) = &self.download {
            write!(f, "\ndownload:   {} (kept)", d.display())?;
        }
        Ok(())
    }
}

/// `<base>/<repo>/resolve/<revision>/<file>`.
pub fn file_url(base_url: &str, source: &SourceSpec, file: &str) -> String {
    format!(
        "{}/{}/resolve/{}/{}",
        base_url.trim_end_matches('/'),
        source.repo.trim_matches('/'),
        source.revision,
        file.trim_start_matches('/')
    )
}

/// ModelScope's own download endpoint, default `https://www.modelscope.cn` (its client's
/// `MODELSCOPE_DOMAIN` variable overrides it).
pub fn modelscope_endpoint() -> String {
    let domain = std::env::var("MODELSCOPE_DOMAIN")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| "www.modelscope.cn".into());
    let domain = domain.trim().trim_end_matches('/');
    if domain.starts_with("http://") || domain.starts_with("https://") {
        domain.to_string()
    } else {
        format!("https://{domain}")
    }
}

/// ModelScope's file URL (modelscope 1.40 `hub/file_download.py`, `get_file_download_url`):
/// `<endpoint>/api/v1/models/<model_id>/repo?Revision=<rev>&FilePath=<file>`. It answers
/// `Range` requests like the hub.
pub fn modelscope_url(endpoint: &str, model_id: &str, revision: &str, file: &str) -> String {
    fn quote(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    format!(
        "{}/api/v1/models/{}/repo?Revision={}&FilePath={}",
        endpoint.trim_end_matches('/'),
        model_id.trim_matches('/'),
        quote(revision),
        quote(file)
    )
}

/// Where a download came from (`source.json`; `source.int8.json` for the int8 slot).
fn stamp_path(dir: &Path, slot: Variant) -> PathBuf {
    dir.join(match slot {
        Variant::Fp32 => "source.json",
        Variant::Int8 => "source.int8.json",
    })
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Stamp {
    repo: String,
    revision: String,
    variant: String,
    file: String,
    url: String,
    size: u64,
    sha256: String,
    sha256_pinned: bool,
}

/// What the graphs in `slot` of the model folder `dir` are: the variant a download stamped
/// (`shihua models fetch --variant fp16` installs fp16 graphs in the float slot), else the
/// slot's own name (an export, or a copy).
pub fn installed_variant(dir: &Path, slot: Variant) -> String {
    read_stamp(dir, slot).map_or_else(|| slot.to_string(), |s| s.variant)
}

fn read_stamp(dir: &Path, slot: Variant) -> Option<Stamp> {
    let text = fs::read_to_string(stamp_path(dir, slot)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Which source and variant `spec` is fetched from, or why it cannot be.
pub fn resolve_source<'a>(
    spec: &'a ModelSpec,
    model_dir: &Path,
    variant: Option<&str>,
) -> Result<(&'a SourceSpec, String, &'a VariantFile), FetchError> {
    let dir = model_dir.join(&spec.id);
    if spec.fixture {
        return Err(FetchError::Fixture {
            id: spec.id.clone(),
        });
    }
    let Some(source) = &spec.source else {
        return Err(FetchError::NoSource {
            id: spec.id.clone(),
            dir,
        });
    };
    if !source.onnx {
        return Err(FetchError::ExportRequired {
            id: spec.id.clone(),
            repo: source.repo.clone(),
            dir,
        });
    }
    let name = match variant {
        Some(v) => v.to_string(),
        None => source.default_variant_name().unwrap_or("fp32").to_string(),
    };
    let file = source
        .variants
        .get(&name)
        .ok_or_else(|| FetchError::UnknownVariant {
            id: spec.id.clone(),
            variant: name.clone(),
            known: source
                .variants
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok((source, name, file))
}

/// `dest` if an earlier run left it (verified again), else [`download`] it.
fn download_or_reuse(
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

/// The download base URL: `opts.base_url`, else the manifest's (environment included).
fn base_url(manifest: &Manifest, opts: &FetchOptions) -> String {
    opts.base_url
        .as_deref()
        .map(|b| b.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| manifest.base_url())
}

/// Writes `<dir>/.gitignore` so downloaded weights are never committed.
fn ignore_weights(dir: &Path) -> Result<(), FetchError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        fs::write(
            &ignore,
            "# written by `shihua models fetch`: downloaded weights\n*\n",
        )
        .map_err(io_err(&ignore))?;
    }
    Ok(())
}

fn write_stamp(stamp_file: &Path, stamp: &Stamp) -> Result<(), FetchError> {
    let stamp_tmp = stamp_file.with_extension("json.tmp");
    let json = serde_json::to_string_pretty(stamp).expect("stamp serialises");
    fs::write(&stamp_tmp, json + "\n").map_err(io_err(&stamp_tmp))?;
    fs::rename(&stamp_tmp, stamp_file).map_err(io_err(stamp_file))
}

/// Install `spec`'s graphs for `slot` if they are not there (what `--fetch-missing` does):
/// `Ok(None)` when they already are (or `spec` is the committed fixture), else the report of
/// the fetch. Blocking.
pub fn ensure_model(
    manifest: &Manifest,
    spec: &ModelSpec,
    slot: Variant,
    opts: &FetchOptions,
) -> Result<Option<FetchReport>, FetchError> {
    if spec.fixture || manifest.files_variant(spec, &opts.model_dir, slot).is_ok() {
        return Ok(None);
    }
    let mut opts = opts.clone();
    if opts.variant.is_none() {
        opts.variant = match slot {
            Variant::Int8 => Some("int8".into()),
            // The source's default, unless that is the int8 download (another slot).
            Variant::Fp32 => spec
                .source
                .as_ref()
                .and_then(|s| s.default_variant_name())
                .filter(|v| Variant::of_download(v) == Variant::Int8)
                .map(|_| "fp32".to_string()),
        };
    }
    fetch_model(manifest, spec, &opts).map(Some)
}

/// Download, verify and split `spec`'s combined ONNX graph into
/// `<model_dir>/<id>/{image,text}.onnx`. Blocking (run it off an async runtime's threads).
pub fn fetch_model(
    manifest: &Manifest,
    spec: &ModelSpec,
    opts: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    let result = fetch_model_or_checkpoint(manifest, spec, opts);
    if result.is_err() {
        // A failed download leaves no empty folder behind (a `.part` to resume stays).
        let _ = fs::remove_dir(opts.model_dir.join(&spec.id).join("download"));
    }
    result
}

fn fetch_model_or_checkpoint(
    manifest: &Manifest,
    spec: &ModelSpec,
    opts: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    if let Some(source) = spec.source.as_ref().filter(|_| !spec.fixture) {
        // The checkpoint when there is no ONNX export, or when ModelScope (which has the
        // official checkpoints, not the ONNX exports) is asked for.
        if let Some(checkpoint) = source
            .checkpoint
            .as_ref()
            .filter(|_| !source.onnx || opts.modelscope)
        {
            return fetch_checkpoint(manifest, spec, source, checkpoint, opts);
        }
    }
    let (source, variant, file) = resolve_source(spec, &opts.model_dir, opts.variant.as_deref())?;
    if opts.modelscope {
        return Err(FetchError::NoModelScope {
            id: spec.id.clone(),
        });
    }
    let url = file_url(&base_url(manifest, opts), source, &file.file);
    let pin = Pin::from(file);
    let dir = opts.model_dir.join(&spec.id);
    // int8 goes beside the float graphs (`--variant int8` loads it), everything else in their
    // place.
    let slot = Variant::of_download(&variant);
    let image = dir.join(slot.file_name("image"));
    let text = dir.join(slot.file_name("text"));
    let stamp_file = stamp_path(&dir, slot);
    ignore_weights(&dir)?;

    let installed = image.is_file() && text.is_file();
    let stamp = read_stamp(&dir, slot);
    if installed && !opts.force {
        match &stamp {
            Some(s)
                if s.repo == source.repo
                    && s.revision == source.revision
                    && s.file == file.file
                    && s.variant == variant
                    && pin.sha256.as_ref().is_none_or(|p| *p == s.sha256) =>
            {
                return Ok(FetchReport {
                    model: spec.id.clone(),
                    variant,
                    url,
                    size: s.size,
                    sha256: s.sha256.clone(),
                    sha256_pinned: pin.sha256.is_some(),
                    resumed_from: 0,
                    image,
                    text,
                    download: None,
                    already_installed: true,
                });
            }
            Some(_) => {} // fetched from another variant or revision: replace it
            None => {
                return Err(FetchError::WouldOverwrite {
                    dir,
                    files: format!("{} and {}", slot.file_name("image"), slot.file_name("text")),
                    what: format!("{} {} ({variant})", source.repo, file.file),
                })
            }
        }
    }

    let file_name = Path::new(&file.file)
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "model.onnx".into());
    let dest = dir.join("download").join(file_name);
    let downloaded = download_or_reuse(&url, &dest, &pin, opts.progress)?;

    // Install: stamp off first, so a crash halfway is never taken for a finished fetch.
    remove_quietly(&stamp_file);
    tracing::info!("splitting {} into image and text graphs", dest.display());
    let image_tmp = image.with_extension("onnx.tmp");
    let text_tmp = text.with_extension("onnx.tmp");
    let origin = format!("{}@{} {}", source.repo, source.revision, file.file);
    if let Err(e) = onnx_split::split_file(&dest, &image_tmp, &text_tmp, &origin) {
        remove_quietly(&image_tmp);
        remove_quietly(&text_tmp);
        return Err(FetchError::Split {
            path: dest,
            reason: e.0,
        });
    }
    fs::rename(&image_tmp, &image).map_err(io_err(&image))?;
    fs::rename(&text_tmp, &text).map_err(io_err(&text))?;
    let stamp = Stamp {
        repo: source.repo.clone(),
        revision: source.revision.clone(),
        variant: variant.clone(),
        file: file.file.clone(),
        url: url.clone(),
        size: downloaded.size,
        sha256: downloaded.sha256.clone(),
        sha256_pinned: pin.sha256.is_some(),
    };
    write_stamp(&stamp_file, &stamp)?;
    sync_dir(&image);

    let kept = if opts.keep_download {
        Some(dest)
    } else {
        remove_quietly(&dest);
        let _ = fs::remove_dir(dir.join("download")); // only if empty
        None
    };
    Ok(FetchReport {
        model: spec.id.clone(),
        variant,
        url,
        size: downloaded.size,
        sha256: downloaded.sha256,
        sha256_pinned: pin.sha256.is_some(),
        resumed_from: downloaded.resumed_from,
        image,
        text,
        download: kept,
        already_installed: false,
    })
}

/// The checkpoint path: download `spec`'s official cn_clip `.pt` (hub or ModelScope), verify
/// it, and convert it into `<model_dir>/<id>/{image,text}.onnx` ([`super::convert`]). The
/// checkpoint is kept when the conversion fails (a re-run converts it without downloading).
fn fetch_checkpoint(
    manifest: &Manifest,
    spec: &ModelSpec,
    source: &SourceSpec,
    checkpoint: &VariantFile,
    opts: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    let variant = match opts.variant.as_deref() {
        None | Some("fp32") => Variant::Fp32,
        Some("int8") => Variant::Int8,
        Some(other) => {
            return Err(FetchError::UnknownVariant {
                id: spec.id.clone(),
                variant: other.to_string(),
                known: "fp32, int8 (converted from the checkpoint)".into(),
            })
        }
    };
    let (url, repo, revision) = if opts.modelscope {
        let ms = source
            .modelscope
            .as_deref()
            .ok_or_else(|| FetchError::NoModelScope {
                id: spec.id.clone(),
            })?;
        let endpoint = opts
            .base_url
            .as_deref()
            .map(|b| b.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(modelscope_endpoint);
        (
            modelscope_url(&endpoint, ms, "master", &checkpoint.file),
            ms.to_string(),
            "master".to_string(),
        )
    } else {
        (
            file_url(&base_url(manifest, opts), source, &checkpoint.file),
            source.repo.clone(),
            source.revision.clone(),
        )
    };
    let pin = Pin::from(checkpoint);
    let dir = opts.model_dir.join(&spec.id);
    let image = dir.join(variant.file_name("image"));
    let text = dir.join(variant.file_name("text"));
    let stamp_file = stamp_path(&dir, variant);
    ignore_weights(&dir)?;
    // The graphs are float32 whatever the checkpoint stores; `file` (a .pt) says they were
    // converted.
    let stamp_variant = variant.to_string();
    if image.is_file() && text.is_file() && !opts.force {
        match read_stamp(&dir, variant) {
            Some(s) if s.file == checkpoint.file && s.variant == stamp_variant => {
                return Ok(FetchReport {
                    model: spec.id.clone(),
                    variant: stamp_variant,
                    url: s.url,
                    size: s.size,
                    sha256: s.sha256,
                    sha256_pinned: pin.sha256.is_some(),
                    resumed_from: 0,
                    image,
                    text,
                    download: None,
                    already_installed: true,
                });
            }
            Some(_) => {}
            None => {
                return Err(FetchError::WouldOverwrite {
                    dir,
                    files: format!(
                        "{} and {}",
                        variant.file_name("image"),
                        variant.file_name("text")
                    ),
                    what: format!("a conversion of {repo} {}", checkpoint.file),
                })
            }
        }
    }
    eprintln!(
        "{id} is published as a cn_clip PyTorch checkpoint ({repo} {file}; ViT-L/H checkpoints \
         are 1-4 GB): shihua downloads it, then converts it into ONNX graphs without torch \
         (models/convert/pt_to_onnx.py).",
        id = spec.id,
        file = checkpoint.file,
    );
    let dest = dir.join("download").join(
        Path::new(&checkpoint.file)
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "checkpoint.pt".into()),
    );
    let downloaded = download_or_reuse(&url, &dest, &pin, opts.progress)?;
    remove_quietly(&stamp_file);
    super::convert::convert(spec, &dest, &dir, variant == Variant::Int8).map_err(|reason| {
        FetchError::Convert {
            id: spec.id.clone(),
            checkpoint: dest.clone(),
            dir: dir.clone(),
            reason,
        }
    })?;
    let stamp = Stamp {
        repo,
        revision,
        variant: stamp_variant.clone(),
        file: checkpoint.file.clone(),
        url: url.clone(),
        size: downloaded.size,
        sha256: downloaded.sha256.clone(),
        sha256_pinned: pin.sha256.is_some(),
    };
    write_stamp(&stamp_file, &stamp)?;
    sync_dir(&image);
    let kept = if opts.keep_download {
        Some(dest)
    } else {
        remove_quietly(&dest);
        let _ = fs::remove_dir(dir.join("download"));
        None
    };
    Ok(FetchReport {
        model: spec.id.clone(),
        variant: stamp_variant,
        url,
        size: downloaded.size,
        sha256: downloaded.sha256,
        sha256_pinned: pin.sha256.is_some(),
        resumed_from: downloaded.resumed_from,
        image,
        text,
        download: kept,
        already_installed: false,
    })
}

/// One line of `shihua models list`.
#[derive(Clone, Debug)]
pub struct ModelStatus {
    pub id: String,
    pub default: bool,
    pub embed_dim: usize,
    /// image.onnx and text.onnx are both there.
    pub installed: bool,
    /// Where the installed files came from (`source.json`), e.g. `fp32 from Xenova/…`.
    pub installed_from: Option<String>,
    /// The same for the int8 graphs (`image.int8.onnx`, `text.int8.onnx`).
    pub int8_installed: bool,
    pub int8_from: Option<String>,
    /// Where the weights can come from.
    pub source: String,
}

/// Every manifest model, whether its files are in `model_dir`, and where they come from.
pub fn model_statuses(manifest: &Manifest, model_dir: &Path) -> Vec<ModelStatus> {
    manifest
        .models
        .iter()
        .map(|m| {
            let dir = model_dir.join(&m.id);
            let has = |slot: Variant| {
                dir.join(slot.file_name("image")).is_file()
                    && dir.join(slot.file_name("text")).is_file()
            };
            let from = |slot: Variant| {
                read_stamp(&dir, slot)
                    .map(|s| format!("{} {} from {}@{}", s.variant, s.file, s.repo, s.revision))
            };
            let source = match (&m.source, m.fixture) {
                (_, true) => "committed random-weight fixture (models/fixture)".to_string(),
                (Some(s), _) if s.onnx => format!(
                    "{}@{} ONNX ({}): shihua models fetch --model {}",
                    s.repo,
                    s.revision,
                    s.variants.keys().cloned().collect::<Vec<_>>().join("/"),
                    m.id
                ),
                (Some(s), _) => match &s.checkpoint {
                    Some(c) => format!(
                        "{}@{} {} (cn_clip checkpoint, converted with torch): shihua models \
                         fetch --model {}",
                        s.repo, s.revision, c.file, m.id
                    ),
                    None => format!(
                        "{}@{} PyTorch only: export with models/export",
                        s.repo, s.revision
                    ),
                },
                (None, _) => "no download source: export with models/export".to_string(),
            };
            ModelStatus {
                id: m.id.clone(),
                default: m.default,
                embed_dim: m.embed_dim,
                installed: has(Variant::Fp32),
                installed_from: from(Variant::Fp32),
                int8_installed: has(Variant::Int8),
                int8_from: from(Variant::Int8),
                source,
            }
        })
        .collect()
}

/// `shihua models list` as text.
pub fn format_statuses(manifest: &Manifest, model_dir: &Path) -> String {
    let mut out = String::new();
    let tokenizer = model_dir.join(&manifest.tokenizer.file);
    for s in model_statuses(manifest, model_dir) {
        let state = |installed: bool, from: &Option<String>| match (installed, from) {
            (true, Some(from)) => format!("installed: {from}"),
            (true, None) => "installed".to_string(),
            (false, _) => "missing".to_string(),
        };
        let default = if s.default { " [default]" } else { "" };
        out.push_str(&format!(
            "{:<13} {:>4}d  {}{default}\n",
            s.id,
            s.embed_dim,
            state(s.installed, &s.installed_from)
        ));
        if s.int8_installed {
            out.push_str(&format!(
                "              int8: {}\n",
                state(true, &s.int8_from)
            ));
        }
        out.push_str(&format!("              source: {}\n", s.source));
    }
    out.push_str(&format!(
        "tokenizer: {} ({})\nmodel dir: {}\n",
        tokenizer.display(),
        if tokenizer.is_file() {
            "present"
        } else {
            "missing"
        },
        model_dir.display()
    ));
    out
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

    #[test]
    fn urls_follow_the_hub_layout() {
        let m =
            Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml"))
                .unwrap();
        let spec = m.find("ViT-B-16").unwrap();
        let (src, variant, file) = resolve_source(spec, Path::new("models"), None).unwrap();
        assert_eq!(variant, "fp32");
        assert_eq!(
            file_url("https://huggingface.co/", src, &file.file),
            "https://huggingface.co/Xenova/chinese-clip-vit-base-patch16/resolve/\
             f26904860903e70e050b8f48255e5f48401816e9/onnx/model.onnx"
        );
        let (_, _, q) = resolve_source(spec, Path::new("models"), Some("int8")).unwrap();
        assert_eq!(q.file, "onnx/model_quantized.onnx");
        let err = resolve_source(spec, Path::new("models"), Some("fp8"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("fp16, fp32, int8"), "{err}");
        let err = resolve_source(m.find("ViT-L-14").unwrap(), Path::new("models"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("models/export") && err.contains("OFA-Sys"),
            "{err}"
        );
        let err = resolve_source(m.find("RN50").unwrap(), Path::new("models"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("models/export"), "{err}");
    }

    #[test]
    fn modelscope_urls_follow_its_client() {
        // modelscope 1.40.2 hub/file_download.py get_file_download_url (quote_plus of both).
        assert_eq!(
            modelscope_url(
                "https://www.modelscope.cn/",
                "AI-ModelScope/chinese-clip-vit-huge-patch14",
                "master",
                "clip_cn_vit-h-14.pt"
            ),
            "https://www.modelscope.cn/api/v1/models/AI-ModelScope/chinese-clip-vit-huge-patch14/\
             repo?Revision=master&FilePath=clip_cn_vit-h-14.pt"
        );
        assert_eq!(
            modelscope_url("http://m", "a/b", "v 1", "x/y+z.pt"),
            "http://m/api/v1/models/a/b/repo?Revision=v%201&FilePath=x%2Fy%2Bz.pt"
        );
    }

    #[test]
    fn list_shows_sources_and_presence() {
        let m =
            Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml"))
                .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let text = format_statuses(&m, &dir);
        assert!(
            text.contains(
                "Xenova/chinese-clip-vit-base-patch16@f26904860903e70e050b8f48255e5f48401816e9"
            ),
            "{text}"
        );
        assert!(
            text.contains("clip_cn_vit-h-14.pt (cn_clip checkpoint"),
            "{text}"
        );
        let fixture = model_statuses(&m, &dir)
            .into_iter()
            .find(|s| s.id == "fixture")
            .unwrap();
        assert!(fixture.installed);
    }
}
