//! The model manifest (`models/manifest.toml`): which Chinese-CLIP models exist, their
//! embedding dim, input size, text length and preprocessing constants, and where their
//! files live under the model directory. Everything else reads these facts from here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ClipError;

#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub preprocess: PreprocessConsts,
    pub tokenizer: TokenizerSpec,
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
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
        Ok(m)
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
        let dir = model_dir.join(&model.id);
        let files = ModelFiles {
            image: dir.join("image.onnx"),
            text: dir.join("text.onnx"),
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
        Err(ClipError::ModelFilesMissing(format!(
            "The {id} model files are not there: {list}. shihua needs the Chinese-CLIP {id} \
             weights as two ONNX graphs (image.onnx: pixel_values [N,3,{s},{s}] -> [N,{d}]; \
             text.onnx: input_ids [N,L] -> [N,{d}]) in {dir}. No model hub is reachable from \
             here, so bring them yourself: export them from the official checkpoint with \
             models/export (cn_clip + torch), or copy an existing export into {dir}, or point \
             --model-dir / SHIHUA_MODEL_DIR at a folder that has {id}/image.onnx and \
             {id}/text.onnx plus tokenizer.json. To try the whole app without real weights, run \
             `make run MODEL=fixture` (random weights: the results are not meaningful).",
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
    }
}
