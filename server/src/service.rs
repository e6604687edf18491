//! The search service: "query → results" over the CLIP encoder and the Milvus store. The
//! server functions (through Leptos context), the media routes and the CLI all use it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use app::search::{Hit, SearchError, SearchResults, SearchService, ServerStatus};

use crate::clip::preprocess::{self, DEFAULT_MAX_PIXELS};
use crate::clip::{ClipEncoder, ClipError};
use crate::store::{MilvusStore, StoreError, StoredHit};

/// Longest query text accepted (characters); the model reads at most 52 tokens anyway.
pub const MAX_QUERY_CHARS: usize = 2000;

pub struct Shihua {
    encoder: Arc<ClipEncoder>,
    store: Arc<MilvusStore>,
    max_upload_bytes: usize,
    max_pixels: u64,
}

impl Shihua {
    pub fn new(
        encoder: Arc<ClipEncoder>,
        store: Arc<MilvusStore>,
        max_upload_bytes: usize,
    ) -> Self {
        Self {
            encoder,
            store,
            max_upload_bytes,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }

    pub fn store(&self) -> &Arc<MilvusStore> {
        &self.store
    }

    pub fn encoder(&self) -> &Arc<ClipEncoder> {
        &self.encoder
    }

    /// Normalised embedding of a text, and whether it was cut at the context length.
    pub async fn embed_text(&self, text: &str) -> Result<(Vec<f32>, bool), SearchError> {
        let text = clean_query(text)?;
        let enc = self.encoder.clone();
        let out = tokio::task::spawn_blocking(move || enc.embed_texts(&[text.as_str()]))
            .await
            .map_err(|e| SearchError::Internal(e.to_string()))?
            .map_err(clip_error)?;
        let truncated = out.truncated.first().copied().unwrap_or(false);
        let v = out
            .vectors
            .into_iter()
            .next()
            .ok_or_else(|| SearchError::Internal("no embedding".into()))?;
        Ok((v, truncated))
    }

    /// Normalised embedding of an uploaded picture.
    pub async fn embed_image(&self, bytes: Vec<u8>) -> Result<Vec<f32>, SearchError> {
        let enc = self.encoder.clone();
        let max_pixels = self.max_pixels;
        tokio::task::spawn_blocking(move || {
            let (tensor, _) =
                preprocess::preprocess_bytes(&bytes, enc.preprocess_spec(), max_pixels)?;
            enc.embed_pixels(tensor, 1)
        })
        .await
        .map_err(|e| SearchError::Internal(e.to_string()))?
        .map_err(clip_error)?
        .into_iter()
        .next()
        .ok_or_else(|| SearchError::Internal("no embedding".into()))
    }

    /// Top-k photos for a query vector.
    pub async fn search_vector(&self, v: &[f32], k: usize) -> Result<Vec<Hit>, SearchError> {
        let hits = self.store.search(v, k).await.map_err(store_error)?;
        Ok(hits.into_iter().map(to_hit).collect())
    }

    /// Photos most like the photo `id` (itself first).
    pub async fn similar(&self, id: i64, k: usize) -> Result<Vec<Hit>, SearchError> {
        let v = self
            .store
            .get_vector(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| SearchError::NotFound(format!("no photo with id {id}")))?;
        self.search_vector(&v, k).await
    }

    /// The file behind a photo id, if the id exists.
    pub async fn photo_path(&self, id: i64) -> Result<Option<PathBuf>, SearchError> {
        let row = self.store.get(id).await.map_err(store_error)?;
        Ok(row.map(|r| PathBuf::from(r.filepath)))
    }
}

#[async_trait::async_trait]
impl SearchService for Shihua {
    async fn status(&self) -> Result<ServerStatus, SearchError> {
        let rows = self.store.count().await.map_err(store_error)?;
        let spec = self.encoder.spec();
        Ok(ServerStatus {
            model_id: spec.id.clone(),
            fixture: spec.fixture,
            rows,
        })
    }

    async fn search_text(&self, query: &str, k: usize) -> Result<SearchResults, SearchError> {
        let start = Instant::now();
        let (v, truncated) = self.embed_text(query).await?;
        let hits = self.search_vector(&v, k).await?;
        Ok(SearchResults {
            hits,
            took_ms: start.elapsed().as_millis() as u64,
            truncated,
        })
    }

    async fn search_image(&self, bytes: Vec<u8>, k: usize) -> Result<SearchResults, SearchError> {
        let start = Instant::now();
        if bytes.len() > self.max_upload_bytes {
            return Err(SearchError::TooLarge(format!(
                "图片太大 · the picture is larger than {} MB",
                self.max_upload_bytes / (1024 * 1024)
            )));
        }
        let v = self.embed_image(bytes).await?;
        let hits = self.search_vector(&v, k).await?;
        Ok(SearchResults {
            hits,
            took_ms: start.elapsed().as_millis() as u64,
            truncated: false,
        })
    }

    fn max_upload_bytes(&self) -> usize {
        self.max_upload_bytes
    }
}

/// Trim and check a query text. Control characters become spaces.
pub fn clean_query(text: &str) -> Result<String, SearchError> {
    let cleaned: String = text
        .chars()
        .take(MAX_QUERY_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() {
        return Err(SearchError::BadRequest(
            "请输入诗句 · type a line of poetry to search".into(),
        ));
    }
    Ok(cleaned)
}

fn to_hit(h: StoredHit) -> Hit {
    let name = std::path::Path::new(&h.filepath)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| h.filepath.clone());
    Hit {
        id: h.id.to_string(),
        filepath: h.filepath,
        name,
        score: h.score,
    }
}

pub fn clip_error(e: ClipError) -> SearchError {
    match e {
        ClipError::Decode(m) => {
            SearchError::BadRequest(format!("无法识别这张图片 · not a picture we can read: {m}"))
        }
        ClipError::TooManyPixels(m) => SearchError::TooLarge(format!("图片像素太多 · {m}")),
        other => SearchError::Internal(other.to_string()),
    }
}

pub fn store_error(e: StoreError) -> SearchError {
    SearchError::Unavailable(format!(
        "向量库暂时不可用 · the photo index is unavailable: {e}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_and_control_chars_removed() {
        assert_eq!(clean_query("  夕阳\u{0}西下\n").unwrap(), "夕阳 西下");
        assert!(matches!(
            clean_query(" \t\n"),
            Err(SearchError::BadRequest(_))
        ));
        assert_eq!(
            clean_query(&"山".repeat(10_000)).unwrap().chars().count(),
            MAX_QUERY_CHARS
        );
    }
}
