//! The CLIP encoder: two ONNX Runtime sessions (image tower, text tower) behind mutexes,
//! batched inference, L2-normalised outputs, a warm-up pass at load so the first query is not
//! slow, the execution-provider choice (`cpu`, `cuda`, or `auto`), and an optional LRU cache of
//! recent text embeddings (`with_text_cache`).

use std::sync::Mutex;

use ort::ep::ExecutionProvider;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::Tensor;

use super::manifest::{Manifest, ModelFiles, ModelSpec};
use super::preprocess::PreprocessSpec;
use super::text_cache::{CachedText, TextCache};
use super::tokenize::TextTokenizer;
use super::{l2_normalize, ClipError};

/// Where inference runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// CUDA when the loaded ONNX Runtime has it, else CPU.
    #[default]
    Auto,
    Cpu,
    /// CUDA or fail.
    Cuda,
}

#[derive(Clone, Debug)]
pub struct EncoderOptions {
    /// Threads ONNX Runtime uses inside one inference (0: its default, all cores).
    pub intra_threads: usize,
    pub device: Device,
    /// Run one dummy image and text through the model at load.
    pub warm_up: bool,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            intra_threads: 0,
            device: Device::Auto,
            warm_up: true,
        }
    }
}

/// Text embeddings plus, per text, whether it was cut at the context length.
pub struct TextEmbeddings {
    pub vectors: Vec<Vec<f32>>,
    pub truncated: Vec<bool>,
}

pub struct ClipEncoder {
    spec: ModelSpec,
    preprocess: PreprocessSpec,
    image: Mutex<Session>,
    text: Mutex<Session>,
    tokenizer: TextTokenizer,
    text_cache: TextCache,
    gpu: bool,
    /// What the loaded graphs are (`fp32`, `int8`, `fp16` …), recorded in every row.
    variant: String,
    /// Why this variant, and which int8 weights run (`variant_choice`), for status pages.
    variant_why: String,
    kernel: String,
}

fn ort_err(e: impl std::fmt::Display) -> ClipError {
    ClipError::Ort(e.to_string())
}

fn open_session(path: &std::path::Path, opts: &EncoderOptions) -> Result<Session, ClipError> {
    let bad = |e: ort::Error<ort::session::builder::SessionBuilder>| ClipError::BadModel {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut builder = Session::builder(super::runtime::environment()?)
        .map_err(ort_err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(bad)?;
    if opts.intra_threads > 0 {
        builder = builder
            .with_intra_threads(opts.intra_threads)
            .map_err(bad)?;
    }
    builder = match opts.device {
        Device::Cpu => builder,
        Device::Auto => builder
            .with_execution_providers([ort::ep::CUDA::default().build()])
            .map_err(bad)?,
        Device::Cuda => builder
            .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
            .map_err(bad)?,
    };
    builder
        .commit_from_file(path)
        .map_err(|e| ClipError::BadModel {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

impl ClipEncoder {
    /// Load both towers and the tokenizer. ONNX Runtime must be initialised first
    /// (`clip::runtime::init`).
    pub fn load(
        manifest: &Manifest,
        spec: &ModelSpec,
        files: &ModelFiles,
        opts: &EncoderOptions,
    ) -> Result<Self, ClipError> {
        let image = open_session(&files.image, opts)?;
        let text = open_session(&files.text, opts)?;
        let tokenizer = TextTokenizer::load(&files.tokenizer, manifest.tokenizer.context_length)?;
        let gpu = match opts.device {
            Device::Cpu => false,
            Device::Cuda => true, // registered with error_on_failure: it is CUDA or an error
            Device::Auto => ort::ep::CUDA::is_available().unwrap_or(false),
        };
        let enc = Self {
            spec: spec.clone(),
            preprocess: PreprocessSpec {
                size: spec.image_size,
                mean: manifest.preprocess.mean,
                std: manifest.preprocess.std,
                jpeg_draft: false,
            },
            image: Mutex::new(image),
            text: Mutex::new(text),
            tokenizer,
            text_cache: TextCache::new(0),
            gpu,
            variant: "fp32".into(),
            variant_why: "chosen by the caller".into(),
            kernel: "the graphs as given".into(),
        };
        if opts.warm_up {
            enc.warm_up()?;
        }
        Ok(enc)
    }

    /// Keep the embeddings of the last `capacity` distinct texts (0: no cache, the default).
    pub fn with_text_cache(mut self, capacity: usize) -> Self {
        self.text_cache = TextCache::new(capacity);
        self
    }

    /// Decode large JPEGs at a reduced DCT scale (see `preprocess::PreprocessSpec::jpeg_draft`).
    pub fn with_jpeg_draft(mut self, on: bool) -> Self {
        self.preprocess.jpeg_draft = on;
        self
    }

    /// Names what the loaded graphs are (default `fp32`): see `models::status::installed_variant`.
    pub fn with_variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = variant.into();
        self
    }

    /// What the loaded graphs are: `fp32`, `int8`, or what a download stamped (e.g. `fp16`).
    pub fn variant(&self) -> &str {
        &self.variant
    }

    /// Records why this variant was chosen and which weights/kernel run (see
    /// `variant_choice`): shown by `/healthz` and `/api/v1/stats`.
    pub fn with_choice(mut self, why: impl Into<String>, kernel: impl Into<String>) -> Self {
        self.variant_why = why.into();
        self.kernel = kernel.into();
        self
    }

    /// Why this variant runs (e.g. `auto: int8, the CPU has avx512_vnni (cpuid)`).
    pub fn variant_why(&self) -> &str {
        &self.variant_why
    }

    /// Which weights run (e.g. `fp32`, `int8 (s8) weights: …`).
    pub fn kernel(&self) -> &str {
        &self.kernel
    }

    /// Whether the model runs on the GPU (CUDA execution provider). With `--device auto` this
    /// is whether the loaded ONNX Runtime has CUDA; if the session still fell back to the CPU,
    /// only the batch size chosen from this is off, never the results.
    pub fn on_gpu(&self) -> bool {
        self.gpu
    }

    pub fn text_cache(&self) -> &TextCache {
        &self.text_cache
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub fn preprocess_spec(&self) -> &PreprocessSpec {
        &self.preprocess
    }

    pub fn dim(&self) -> usize {
        self.spec.embed_dim
    }

    /// One pass through each tower; also checks the output width against the manifest.
    pub fn warm_up(&self) -> Result<(), ClipError> {
        let s = self.preprocess.size as usize;
        self.embed_pixels(vec![0.0; 3 * s * s], 1)?;
        self.embed_texts(&["夕阳西下"])?;
        Ok(())
    }

    /// Embed `n` preprocessed images laid out as `[n, 3, size, size]`.
    pub fn embed_pixels(&self, pixels: Vec<f32>, n: usize) -> Result<Vec<Vec<f32>>, ClipError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let s = self.preprocess.size as usize;
        let input = Tensor::from_array(([n, 3, s, s], pixels)).map_err(ort_err)?;
        let mut session = self.image.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(ort::inputs![input]).map_err(ort_err)?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(ort_err)?;
        self.split_rows(data, n)
    }

    /// Embed texts (batched, padding trimmed). With a text cache, cached texts are not run
    /// again and only the others go through the model (in one batch).
    pub fn embed_texts(&self, texts: &[&str]) -> Result<TextEmbeddings, ClipError> {
        if !self.text_cache.enabled() {
            return self.run_texts(texts);
        }
        let cached: Vec<Option<CachedText>> =
            texts.iter().map(|t| self.text_cache.get(t)).collect();
        let missing: Vec<&str> = texts
            .iter()
            .zip(&cached)
            .filter(|(_, c)| c.is_none())
            .map(|(t, _)| *t)
            .collect();
        let mut fresh = self.run_texts(&missing)?;
        for (i, t) in missing.iter().enumerate() {
            self.text_cache.put(
                t,
                CachedText {
                    vector: fresh.vectors[i].as_slice().into(),
                    truncated: fresh.truncated[i],
                },
            );
        }
        let mut fresh_vectors = std::mem::take(&mut fresh.vectors).into_iter();
        let mut fresh_truncated = fresh.truncated.into_iter();
        let mut out = TextEmbeddings {
            vectors: Vec::with_capacity(texts.len()),
            truncated: Vec::with_capacity(texts.len()),
        };
        for c in cached {
            let (v, t) = match c {
                Some(c) => (c.vector.to_vec(), c.truncated),
                None => (
                    fresh_vectors.next().expect("one result per missing text"),
                    fresh_truncated.next().expect("one flag per missing text"),
                ),
            };
            out.vectors.push(v);
            out.truncated.push(t);
        }
        Ok(out)
    }

    fn run_texts(&self, texts: &[&str]) -> Result<TextEmbeddings, ClipError> {
        if texts.is_empty() {
            return Ok(TextEmbeddings {
                vectors: Vec::new(),
                truncated: Vec::new(),
            });
        }
        let batch = self.tokenizer.encode(texts)?;
        let input =
            Tensor::from_array(([batch.batch, batch.seq_len], batch.ids)).map_err(ort_err)?;
        let mut session = self.text.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(ort::inputs![input]).map_err(ort_err)?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(ort_err)?;
        Ok(TextEmbeddings {
            vectors: self.split_rows(data, texts.len())?,
            truncated: batch.truncated,
        })
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    fn split_rows(&self, data: &[f32], n: usize) -> Result<Vec<Vec<f32>>, ClipError> {
        let dim = self.spec.embed_dim;
        if data.len() != n * dim {
            return Err(ClipError::DimMismatch {
                expected: dim,
                got: data.len() / n.max(1),
            });
        }
        Ok(data
            .chunks_exact(dim)
            .map(|row| {
                let mut v = row.to_vec();
                l2_normalize(&mut v);
                v
            })
            .collect())
    }
}
