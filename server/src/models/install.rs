//! Installing a model's graphs: [`fetch_model`] downloads the ONNX export and splits it into
//! the two towers (or downloads a cn_clip checkpoint and converts it), then records what it
//! installed; [`ensure_model`] does that only when the graphs are missing (`--fetch-missing`).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::download::{download_or_reuse, remove_quietly, sync_dir, Downloaded, Pin};
use super::error::{io_err, FetchError};
use super::onnx::split;
use super::source::{base_url, file_url, modelscope_endpoint, modelscope_url, resolve_source};
use super::status::{read_stamp, stamp_path, write_stamp, Stamp};
use crate::clip::manifest::{Manifest, ModelSpec, SourceSpec, Variant, VariantFile};

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

impl FetchReport {
    /// Nothing was done: `stamp` says the graphs were installed from this source already.
    fn already(
        spec: &ModelSpec,
        variant: String,
        url: String,
        stamp: &Stamp,
        sha256_pinned: bool,
        image: PathBuf,
        text: PathBuf,
    ) -> Self {
        Self {
            model: spec.id.clone(),
            variant,
            url,
            size: stamp.size,
            sha256: stamp.sha256.clone(),
            sha256_pinned,
            resumed_from: 0,
            image,
            text,
            download: None,
            already_installed: true,
        }
    }
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
    // int8 goes beside the float graphs (`--variant int8` loads it), everything else in their
    // place.
    let slot = Variant::of_download(&variant);
    let at = Installed::new(&opts.model_dir, &spec.id, slot);
    let (dir, image, text) = (&at.dir, &at.image, &at.text);
    ignore_weights(dir)?;

    let installed = image.is_file() && text.is_file();
    let stamp = read_stamp(dir, slot);
    if installed && !opts.force {
        match &stamp {
            Some(s)
                if s.repo == source.repo
                    && s.revision == source.revision
                    && s.file == file.file
                    && s.variant == variant
                    && pin.sha256.as_ref().is_none_or(|p| *p == s.sha256) =>
            {
                let pinned = pin.sha256.is_some();
                return Ok(FetchReport::already(
                    spec,
                    variant,
                    url,
                    s,
                    pinned,
                    image.clone(),
                    text.clone(),
                ));
            }
            Some(_) => {} // fetched from another variant or revision: replace it
            None => {
                return Err(FetchError::WouldOverwrite {
                    dir: dir.clone(),
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
    remove_quietly(&at.stamp_file);
    tracing::info!("splitting {} into image and text graphs", dest.display());
    let image_tmp = image.with_extension("onnx.tmp");
    let text_tmp = text.with_extension("onnx.tmp");
    let origin = format!("{}@{} {}", source.repo, source.revision, file.file);
    if let Err(e) = split::split_file(&dest, &image_tmp, &text_tmp, &origin) {
        remove_quietly(&image_tmp);
        remove_quietly(&text_tmp);
        return Err(FetchError::Split {
            path: dest,
            reason: e.0,
        });
    }
    fs::rename(&image_tmp, image).map_err(io_err(image))?;
    fs::rename(&text_tmp, text).map_err(io_err(text))?;
    let origin = Origin {
        repo: source.repo.clone(),
        revision: source.revision.clone(),
        variant,
        file: file.file.clone(),
        url,
    };
    finish(spec, opts, at, origin, &downloaded, &pin, dest)
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
    let at = Installed::new(&opts.model_dir, &spec.id, variant);
    let (dir, image, text) = (&at.dir, &at.image, &at.text);
    ignore_weights(dir)?;
    // The graphs are float32 whatever the checkpoint stores; `file` (a .pt) says they were
    // converted.
    let stamp_variant = variant.to_string();
    if image.is_file() && text.is_file() && !opts.force {
        match read_stamp(dir, variant) {
            Some(s) if s.file == checkpoint.file && s.variant == stamp_variant => {
                let (url, pinned) = (s.url.clone(), pin.sha256.is_some());
                return Ok(FetchReport::already(
                    spec,
                    stamp_variant,
                    url,
                    &s,
                    pinned,
                    image.clone(),
                    text.clone(),
                ));
            }
            Some(_) => {}
            None => {
                return Err(FetchError::WouldOverwrite {
                    dir: dir.clone(),
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
    remove_quietly(&at.stamp_file);
    super::convert::convert(spec, &dest, dir, variant == Variant::Int8).map_err(|reason| {
        FetchError::Convert {
            id: spec.id.clone(),
            checkpoint: dest.clone(),
            dir: dir.clone(),
            reason,
        }
    })?;
    let origin = Origin {
        repo,
        revision,
        variant: stamp_variant,
        file: checkpoint.file.clone(),
        url,
    };
    finish(spec, opts, at, origin, &downloaded, &pin, dest)
}

/// Where an install puts the graphs of one slot, and its record.
struct Installed {
    /// `<model_dir>/<id>`.
    dir: PathBuf,
    stamp_file: PathBuf,
    image: PathBuf,
    text: PathBuf,
}

impl Installed {
    fn new(model_dir: &Path, id: &str, slot: Variant) -> Self {
        let dir = model_dir.join(id);
        Self {
            stamp_file: stamp_path(&dir, slot),
            image: dir.join(slot.file_name("image")),
            text: dir.join(slot.file_name("text")),
            dir,
        }
    }
}

/// Where the installed graphs came from (the rest of their record is the download's).
struct Origin {
    repo: String,
    revision: String,
    variant: String,
    file: String,
    url: String,
}

/// The end of every install, once the graphs are in place: record where they came from
/// (`origin`, and the verified download), make that durable, drop the download unless it is
/// to be kept, and report.
fn finish(
    spec: &ModelSpec,
    opts: &FetchOptions,
    at: Installed,
    origin: Origin,
    downloaded: &Downloaded,
    pin: &Pin,
    dest: PathBuf,
) -> Result<FetchReport, FetchError> {
    let stamp = Stamp {
        repo: origin.repo,
        revision: origin.revision,
        variant: origin.variant,
        file: origin.file,
        url: origin.url,
        size: downloaded.size,
        sha256: downloaded.sha256.clone(),
        sha256_pinned: pin.sha256.is_some(),
    };
    write_stamp(&at.stamp_file, &stamp)?;
    sync_dir(&at.image);
    let kept = if opts.keep_download {
        Some(dest)
    } else {
        remove_quietly(&dest);
        let _ = fs::remove_dir(at.dir.join("download")); // only if empty
        None
    };
    Ok(FetchReport {
        model: spec.id.clone(),
        variant: stamp.variant,
        url: stamp.url,
        size: stamp.size,
        sha256: stamp.sha256,
        sha256_pinned: stamp.sha256_pinned,
        resumed_from: downloaded.resumed_from,
        image: at.image,
        text: at.text,
        download: kept,
        already_installed: false,
    })
}
