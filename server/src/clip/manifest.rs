//! The model manifest (`models/manifest.toml`): which Chinese-CLIP models exist, their
//! embedding dim, input size, text length and preprocessing constants, and where their
//! files live under the model directory, and where `shihua models fetch` downloads them from.
//! Everything else reads these facts from here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ClipError;

#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub preprocess: PreprocessConsts,
    pub tokenizer: TokenizerSpec,
    /// Where model files are downloaded from (`[download]`; optional).
    #[serde(default)]
    pub download: DownloadSpec,
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
}

/// The environment variable that overrides `[download] base_url`.
pub const BASE_URL_ENV: &str = "SHIHUA_MODELS_BASE_URL";
/// The Hugging Face hub client's own variable for a mirror with the hub's layout (e.g.
/// `https://hf-mirror.com`); used when `SHIHUA_MODELS_BASE_URL` is not set.
pub const HF_ENDPOINT_ENV: &str = "HF_ENDPOINT";
/// Hugging Face, whose `<repo>/resolve/<revision>/<file>` layout the sources use.
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co";

#[derive(Clone, Debug, Deserialize)]
pub struct DownloadSpec {
    #[serde(default = "default_base_url")]
    pub base_url: String,
}

impl Default for DownloadSpec {
    fn default() -> Self {
        Self {
            base_url: default_base_url(),
        }
    }
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

fn default_revision() -> String {
    "main".to_string()
}

fn yes() -> bool {
    true
}

/// Where a model's weights are published (`[model.source]`).
#[derive(Clone, Debug, Deserialize)]
pub struct SourceSpec {
    /// Hub repository, e.g. `Xenova/chinese-clip-vit-base-patch16`.
    pub repo: String,
    /// Branch, tag or commit (`main` unless pinned).
    #[serde(default = "default_revision")]
    pub revision: String,
    /// False when the repository has no ONNX export (PyTorch weights only): the model must be
    /// exported with models/export instead of fetched.
    #[serde(default = "yes")]
    pub onnx: bool,
    /// The variant fetched when none is asked for (else `fp32`, else the first).
    #[serde(default)]
    pub default_variant: Option<String>,
    /// Variant name (`fp32`, `fp16`, `int8`) -> the combined (both towers) ONNX file.
    #[serde(default)]
    pub variants: BTreeMap<String, VariantFile>,
    /// The official cn_clip checkpoint (`.pt`) in `repo`, for models with no ONNX export:
    /// `shihua models fetch` downloads it and converts it with models/export.
    #[serde(default)]
    pub checkpoint: Option<VariantFile>,
    /// The same repository on ModelScope (`AI-ModelScope/<name>`, as cn_clip uses it).
    #[serde(default)]
    pub modelscope: Option<String>,
}

/// One downloadable file, with optional pins checked after download.
#[derive(Clone, Debug, Deserialize)]
pub struct VariantFile {
    /// Path inside the repository, e.g. `onnx/model.onnx`.
    pub file: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// Lower-case hex SHA-256.
    #[serde(default)]
    pub sha256: Option<String>,
}

impl SourceSpec {
    /// The variant fetched by default.
    pub fn default_variant_name(&self) -> Option<&str> {
        self.default_variant
            .as_deref()
            .or_else(|| self.variants.get_key_value("fp32").map(|(k, _)| k.as_str()))
            .or_else(|| self.variants.keys().next().map(String::as_str))
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct PreprocessConsts {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Clone, Debug, Deserialize)]
pub struct TokenizerSpec {
    pub file: String,
    pub context_length: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ModelSpec {
    pub id: String,
    #[serde(default)]
    pub default: bool,
    /// Random-weight stand-in: the site must say results are meaningless.
    #[serde(default)]
    pub fixture: bool,
    pub embed_dim: usize,
    pub image_size: u32,
    #[serde(default)]
    pub text_tower: String,
    /// Where to download it (`[model.source]`); none for models only an export can make.
    #[serde(default)]
    pub source: Option<SourceSpec>,
}

/// Which weights of a model to load: the float32 graphs (`image.onnx`, `text.onnx`) or the
/// int8 dynamically quantised ones (`image.int8.onnx`, `text.int8.onnx`, as written by
/// `models/export/export.py --int8`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    #[default]
    Fp32,
    Int8,
}

impl Variant {
    /// File name of a tower (`image` or `text`) in this variant.
    pub fn file_name(self, tower: &str) -> String {
        match self {
            Variant::Fp32 => format!("{tower}.onnx"),
            Variant::Int8 => format!("{tower}.int8.onnx"),
        }
    }

    /// Where `shihua models fetch --variant <name>` installs a download: the int8 (quantised)
    /// download beside the float graphs, as `--variant int8` loads it; any other download
    /// (fp32, fp16, …) as the model's main graphs.
    pub fn of_download(name: &str) -> Variant {
        match name {
            "int8" => Variant::Int8,
            _ => Variant::Fp32,
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Variant::Fp32 => "fp32",
            Variant::Int8 => "int8",
        })
    }
}

/// Resolved file locations of one model.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    pub image: PathBuf,
    pub text: PathBuf,
    pub tokenizer: PathBuf,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ClipError> {
        let err = |reason: String| ClipError::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let m: Manifest = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        if m.models.is_empty() {
            return Err(err("no [[model]] entries".into()));
        }
        for model in &m.models {
            let Some(src) = &model.source else { continue };
            let id = &model.id;
            if src.onnx && src.variants.is_empty() {
                return Err(err(format!(
                    "model {id}: [model.source] has onnx = true but no variants"
                )));
            }
            if let Some(d) = &src.default_variant {
                if !src.variants.contains_key(d) {
                    return Err(err(format!(
                        "model {id}: default_variant {d:?} is not among its variants"
                    )));
                }
            }
            let pins = src.variants.iter().map(|(k, v)| (k.as_str(), v));
            for (name, v) in pins.chain(src.checkpoint.as_ref().map(|c| ("checkpoint", c))) {
                if let Some(h) = &v.sha256 {
                    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(err(format!(
                            "model {id}, variant {name}: sha256 {h:?} is not 64 hex digits"
                        )));
                    }
                }
            }
        }
        Ok(m)
    }

    /// The download base URL: `SHIHUA_MODELS_BASE_URL` if set (and not empty), else
    /// `HF_ENDPOINT` (a hub mirror), else `[download] base_url`, without a trailing slash.
    pub fn base_url(&self) -> String {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let url = env(BASE_URL_ENV)
            .or_else(|| env(HF_ENDPOINT_ENV))
            .unwrap_or_else(|| self.download.base_url.clone());
        url.trim().trim_end_matches('/').to_string()
    }

    /// The model marked `default = true` (ViT-B-16).
    pub fn default_model(&self) -> &ModelSpec {
        self.models
            .iter()
            .find(|m| m.default)
            .unwrap_or(&self.models[0])
    }

    pub fn find(&self, id: &str) -> Result<&ModelSpec, ClipError> {
        self.models
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| {
                let known: Vec<&str> = self.models.iter().map(|m| m.id.as_str()).collect();
                ClipError::UnknownModel(id.to_string(), known.join(", "))
            })
    }

    /// Where `model`'s files are under `model_dir`, checked to exist. The error explains, in
    /// one paragraph, how to supply them.
    pub fn files(&self, model: &ModelSpec, model_dir: &Path) -> Result<ModelFiles, ClipError> {
        self.files_variant(model, model_dir, Variant::Fp32)
    }

    /// [`Manifest::files`] for a given variant (`int8`: `image.int8.onnx`, `text.int8.onnx`).
    pub fn files_variant(
        &self,
        model: &ModelSpec,
        model_dir: &Path,
        variant: Variant,
    ) -> Result<ModelFiles, ClipError> {
        let dir = model_dir.join(&model.id);
        let files = ModelFiles {
            image: dir.join(variant.file_name("image")),
            text: dir.join(variant.file_name("text")),
            tokenizer: model_dir.join(&self.tokenizer.file),
        };
        let missing: Vec<String> = [&files.image, &files.text, &files.tokenizer]
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if missing.is_empty() {
            return Ok(files);
        }
        if variant == Variant::Int8 {
            let fetch = match &model.source {
                Some(src) if src.onnx && src.variants.contains_key("int8") => format!(
                    "Download it with `shihua models fetch --model {id} --variant int8` (from \
                     {repo}), or make it",
                    id = model.id,
                    repo = src.repo
                ),
                _ => "Make it".to_string(),
            };
            return Err(ClipError::ModelFilesMissing(format!(
                "The int8 variant of {id} is not there: {list}. {fetch} with \
                 `models/export/export.py --model {id} ... --out {dir} --int8` (dynamic \
                 quantisation of the float32 export), or run with --variant fp32.",
                id = model.id,
                list = missing.join(", "),
                dir = dir.display(),
            )));
        }
        let fetch = match &model.source {
            Some(src) if src.onnx => format!(
                "Download them with `shihua models fetch --model {id}` (from {repo} on Hugging \
                 Face; it splits the combined graph into the two files; `make run` does this \
                 itself), or ",
                id = model.id,
                repo = src.repo
            ),
            Some(src) if src.checkpoint.is_some() => format!(
                "Download and convert the official checkpoint with `shihua models fetch --model \
                 {id}` (from {repo}; converted without torch, see docs/models.md; `make run \
                 MODEL={id}` does this itself), or ",
                id = model.id,
                repo = src.repo
            ),
            _ => String::new(),
        };
        Err(ClipError::ModelFilesMissing(format!(
            "The {id} model files are not there: {list}. shihua needs the Chinese-CLIP {id} \
             weights as two ONNX graphs (image.onnx: pixel_values [N,3,{s},{s}] -> [N,{d}]; \
             text.onnx: input_ids [N,L] -> [N,{d}]) in {dir}. {fetch}export them from the \
             official checkpoint with models/export/export.py (cn_clip + torch), or copy an \
             existing export into {dir}, or point --model-dir / SHIHUA_MODEL_DIR at a folder \
             that has {id}/image.onnx and {id}/text.onnx plus tokenizer.json. To try the whole \
             app without real weights, run `make run MODEL=fixture` (random weights: the \
             results are not meaningful).",
            id = model.id,
            list = missing.join(", "),
            s = model.image_size,
            d = model.embed_dim,
            dir = dir.display(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml");
        Manifest::load(&path).expect("manifest loads")
    }

    #[test]
    fn lists_the_five_reference_models_and_the_fixture() {
        let m = manifest();
        let ids: Vec<&str> = m.models.iter().map(|m| m.id.as_str()).collect();
        for id in [
            "ViT-B-16",
            "ViT-L-14",
            "ViT-L-14-336",
            "ViT-H-14",
            "RN50",
            "fixture",
        ] {
            assert!(ids.contains(&id), "{id} missing from manifest");
        }
        assert_eq!(m.default_model().id, "ViT-B-16");
        assert_eq!(m.default_model().embed_dim, 512);
        assert_eq!(m.find("vit-l-14-336").unwrap().image_size, 336);
        assert_eq!(m.tokenizer.context_length, 52);
    }

    #[test]
    fn sources_name_the_hub_repos() {
        let m = manifest();
        assert_eq!(m.download.base_url, DEFAULT_BASE_URL);
        let b16 = m.find("ViT-B-16").unwrap().source.as_ref().expect("source");
        assert_eq!(b16.repo, "Xenova/chinese-clip-vit-base-patch16");
        assert_eq!(b16.revision, "f26904860903e70e050b8f48255e5f48401816e9");
        assert_eq!(b16.variants["fp32"].size, Some(753_665_706));
        assert_eq!(
            b16.variants["fp32"].sha256.as_deref(),
            Some("d4e282affd5f09e196856cc63fbd0e77c576f598fdf6f6bb78ee61f1ef7cd770")
        );
        assert_eq!(b16.variants["int8"].size, Some(190_842_404));
        assert!(b16.onnx);
        assert_eq!(b16.default_variant_name(), Some("fp32"));
        for (variant, file) in [
            ("fp32", "onnx/model.onnx"),
            ("fp16", "onnx/model_fp16.onnx"),
            ("int8", "onnx/model_quantized.onnx"),
        ] {
            assert_eq!(b16.variants[variant].file, file);
        }
        for (id, repo) in [
            ("ViT-L-14", "OFA-Sys/chinese-clip-vit-large-patch14"),
            (
                "ViT-L-14-336",
                "OFA-Sys/chinese-clip-vit-large-patch14-336px",
            ),
        ] {
            let src = m.find(id).unwrap().source.as_ref().expect("source");
            assert_eq!(src.repo, repo);
            assert!(!src.onnx, "{id} has no ONNX export to download");
        }
        // cn_clip 1.6.0 clip/utils.py _MODELS: every non-B model has an official checkpoint.
        for (id, file) in [
            ("ViT-L-14", "clip_cn_vit-l-14.pt"),
            ("ViT-L-14-336", "clip_cn_vit-l-14-336.pt"),
            ("ViT-H-14", "clip_cn_vit-h-14.pt"),
            ("RN50", "clip_cn_rn50.pt"),
        ] {
            let src = m.find(id).unwrap().source.as_ref().expect("source");
            assert_eq!(src.checkpoint.as_ref().expect("checkpoint").file, file);
            let ms = src.modelscope.as_deref().expect("modelscope");
            assert_eq!(
                ms.strip_prefix("AI-ModelScope/"),
                src.repo.strip_prefix("OFA-Sys/")
            );
        }
        assert!(m.find("fixture").unwrap().source.is_none());
    }

    #[test]
    fn bad_pins_are_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.toml");
        let base = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.toml"),
        )
        .unwrap();
        let extra = "\n[[model]]\nid = \"x\"\nembed_dim = 4\nimage_size = 8\n\
                     [model.source]\nrepo = \"a/b\"\n\
                     [model.source.variants]\nfp32 = { file = \"m.onnx\", sha256 = \"abc\" }\n";
        std::fs::write(&path, format!("{base}{extra}")).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("64 hex digits"), "{err}");
    }

    #[test]
    fn the_int8_variant_names_its_own_files() {
        let m = manifest();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let fixture = m.find("fixture").unwrap();
        let fp32 = m.files_variant(fixture, &dir, Variant::Fp32).unwrap();
        assert!(fp32.image.ends_with("fixture/image.onnx"));
        let empty = tempfile::tempdir().unwrap();
        let err = m
            .files_variant(fixture, empty.path(), Variant::Int8)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("image.int8.onnx") && err.contains("--int8"),
            "{err}"
        );
        assert_eq!(Variant::Int8.file_name("text"), "text.int8.onnx");
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let err = manifest().find("ViT-X").unwrap_err().to_string();
        assert!(err.contains("ViT-B-16") && err.contains("ViT-X"), "{err}");
    }

    #[test]
    fn missing_files_explain_how_to_supply_them() {
        let m = manifest();
        let dir = tempfile::tempdir().unwrap();
        let err = m
            .files(m.default_model(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("make run MODEL=fixture"), "{err}");
        assert!(err.contains("image.onnx"), "{err}");
        assert!(
            err.contains("shihua models fetch --model ViT-B-16"),
            "{err}"
        );
        let l14 = m.find("ViT-L-14").unwrap();
        let err = m.files(l14, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("shihua models fetch --model ViT-L-14") && err.contains("checkpoint"),
            "{err}"
        );
    }
}
