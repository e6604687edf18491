//! The search engine: "query → results" over the CLIP encoder and the Milvus store — text,
//! picture and combined queries (`夕阳 - 城市`) become one vector, the store returns the
//! closest photos, one page at a time (`app::search::page_window`), among the photos the
//! query's filters allow (`in=`, `from=`, `to=`, `orient=`: one Milvus expression inside the
//! same search, built by `store::filter`), with identical files and near-identical photos
//! folded (`crate::fold`) unless `all=1`. It implements `app`'s
//! `SearchService` port: the server functions (through Leptos context), the JSON API, the
//! media routes and the CLI all use it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use app::query::parse_terms;
use app::search::{
    page_window, too_large, Filters, Hit, Query, SearchError, SearchResults, SearchService,
    ServerStatus, FOLD_THRESHOLD, MAX_WINDOW,
};

use crate::clip::preprocess::{self, DEFAULT_MAX_PIXELS};
use crate::clip::{ClipEncoder, ClipError};
use crate::folders::FolderList;
use crate::picture_queue::{PictureQueue, DEFAULT_WAITING};
use crate::poems::PoemLines;
use crate::progress::ProgressHub;
use crate::query_images::QueryImages;
use crate::store::{FilterExpr, MilvusStore, StoredHit};
use crate::visible_path::PathDisplay;

mod errors;
mod narrow;
pub use self::errors::{clip_error, store_error};
pub use self::narrow::Narrowed;

/// Longest query text accepted (characters); the model reads at most 52 tokens anyway.
pub const MAX_QUERY_CHARS: usize = 2000;

pub struct SearchEngine {
    encoder: Arc<ClipEncoder>,
    store: Arc<MilvusStore>,
    max_upload_bytes: usize,
    max_pixels: u64,
    queries: QueryImages,
    /// Bounds how many uploaded pictures are decoded at once: under a burst of uploads the
    /// rest wait holding only their compressed bytes, so memory stays flat (the model runs
    /// one picture at a time anyway).
    decode_slots: tokio::sync::Semaphore,
    /// Text encodes waiting for the text tower wait here (async), not on its mutex in a
    /// blocking thread: a burst of queries does not pile up threads and their allocations.
    text_slots: tokio::sync::Semaphore,
    /// Uploaded pictures waiting for a decode slot, bounded: past it, `Busy` (HTTP 429).
    pictures: PictureQueue,
    /// How result paths are shown (absolute here; `serve` shows them relative).
    paths: PathDisplay,
    /// The `poem_lines` collection (以图寻诗, `crate::poems`), when opened.
    poems: Option<Arc<PoemLines>>,
    /// The folders the site offers for `in=`.
    folders: FolderList,
    /// Cosine from which a result folds under a better-ranked one (`crate::fold`).
    fold_threshold: f32,
    /// Indexing progress (the watcher's, a `shihua index` run's), when served.
    progress: Option<Arc<ProgressHub>>,
}

/// Concurrent picture decodes: one per core, at least two.
pub fn decode_parallelism() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// Width of the preview kept for an uploaded query picture.
const QUERY_PREVIEW_W: u32 = 480;

impl SearchEngine {
    pub fn new(
        encoder: Arc<ClipEncoder>,
        store: Arc<MilvusStore>,
        max_upload_bytes: usize,
    ) -> Self {
        let queries = QueryImages::in_memory(&encoder.spec().id);
        Self {
            encoder,
            store,
            max_upload_bytes,
            max_pixels: DEFAULT_MAX_PIXELS,
            queries,
            decode_slots: tokio::sync::Semaphore::new(decode_parallelism()),
            text_slots: tokio::sync::Semaphore::new(2),
            pictures: PictureQueue::new(decode_parallelism(), DEFAULT_WAITING),
            paths: PathDisplay::absolute(),
            poems: None,
            folders: FolderList::default(),
            fold_threshold: FOLD_THRESHOLD,
            progress: None,
        }
    }

    /// At most `waiting` uploaded pictures wait for a slot; more are refused with `Busy`.
    pub fn with_picture_queue(mut self, waiting: usize) -> Self {
        self.pictures = PictureQueue::new(decode_parallelism(), waiting);
        self
    }

    /// How result paths are shown to whoever asks (`serve`: relative to the indexed folder).
    pub fn with_paths(mut self, paths: PathDisplay) -> Self {
        self.paths = paths;
        self
    }

    /// Folds a result under a better-ranked one from this cosine on (default
    /// `FOLD_THRESHOLD`; `--fold-threshold`).
    pub fn with_fold_threshold(mut self, threshold: f32) -> Self {
        self.fold_threshold = threshold;
        self
    }

    /// Adds the `poem_lines` collection (photo → poem lines).
    /// Indexing progress to show (`ServerStatus::indexing`, `/api/v1/progress`).
    pub fn with_progress(mut self, hub: Arc<ProgressHub>) -> Self {
        self.progress = Some(hub);
        self
    }

    /// The indexing progress hub, when there is one.
    pub fn progress(&self) -> Option<&Arc<ProgressHub>> {
        self.progress.as_ref()
    }

    pub fn with_poems(mut self, poems: Arc<PoemLines>) -> Self {
        self.poems = Some(poems);
        self
    }

    pub fn poems(&self) -> Option<&Arc<PoemLines>> {
        self.poems.as_ref()
    }

    /// Keeps uploaded query pictures in `dir` too, so shared `/?img=` links outlive a restart.
    pub fn with_query_dir(mut self, dir: PathBuf) -> std::io::Result<Self> {
        self.queries = QueryImages::on_disk(&self.encoder.spec().id, dir)?;
        Ok(self)
    }

    pub fn query_images(&self) -> &QueryImages {
        &self.queries
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
        let (vectors, truncated) = self.embed_texts(vec![text]).await?;
        Ok((first(vectors)?, truncated))
    }

    /// Normalised embeddings of several texts in one batch, and whether any was cut.
    pub(crate) async fn embed_texts(
        &self,
        texts: Vec<String>,
    ) -> Result<(Vec<Vec<f32>>, bool), SearchError> {
        let enc = self.encoder.clone();
        let out = run_blocking(&self.text_slots, move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            enc.embed_texts(&refs)
        })
        .await?;
        Ok((out.vectors, out.truncated.iter().any(|&t| t)))
    }

    /// Normalised embedding of an uploaded picture.
    pub async fn embed_image(&self, bytes: Vec<u8>) -> Result<Vec<f32>, SearchError> {
        Ok(self.embed_image_with_preview(bytes, None).await?.0)
    }

    /// The embedding of a picture and, when `preview_w` is given, a JPEG preview of it made
    /// from the same decode.
    async fn embed_image_with_preview(
        &self,
        bytes: Vec<u8>,
        preview_w: Option<u32>,
    ) -> Result<(Vec<f32>, Vec<u8>), SearchError> {
        let enc = self.encoder.clone();
        let max_pixels = self.max_pixels;
        let (vectors, preview) = run_blocking(&self.decode_slots, move || {
            let (tensor, decoded) =
                preprocess::preprocess_bytes(&bytes, enc.preprocess_spec(), max_pixels)?;
            let preview = match preview_w {
                Some(w) => crate::image::thumbnail::jpeg_thumbnail(decoded.image, w)
                    .map_err(|e| ClipError::Decode(e.to_string()))?,
                None => Vec::new(),
            };
            Ok((enc.embed_pixels(tensor, 1)?, preview))
        })
        .await?;
        Ok((first(vectors)?, preview))
    }

    /// Top-k photos for a query vector.
    pub async fn search_vector(&self, v: &[f32], k: usize) -> Result<Vec<Hit>, SearchError> {
        self.search_vector_at(v, 0, k, None).await
    }

    /// The `k` photos after the `offset` closest to a query vector (one page), among those
    /// that match `filter`.
    pub async fn search_vector_at(
        &self,
        v: &[f32],
        offset: usize,
        k: usize,
        filter: Option<&FilterExpr>,
    ) -> Result<Vec<Hit>, SearchError> {
        let hits = self.stored_page(v, offset, k, filter).await?;
        Ok(hits.into_iter().map(|h| self.to_hit(h)).collect())
    }

    /// The stored hits `offset .. offset + k` of the ranking for a query vector, among those
    /// that match `filter`.
    pub(crate) async fn stored_page(
        &self,
        v: &[f32],
        offset: usize,
        k: usize,
        filter: Option<&FilterExpr>,
    ) -> Result<Vec<StoredHit>, SearchError> {
        match self.store.search_page_where(v, offset, k, filter).await {
            Ok(hits) => Ok(hits),
            // A collection with no photos yet cannot be indexed or loaded: that is "nothing
            // found" (the page says how to add photos), not an outage.
            Err(e) => match self.store.count().await {
                Ok(0) => Ok(Vec::new()),
                _ => Err(store_error(e)),
            },
        }
    }

    /// A stored hit as a result, its path as visitors may see it.
    pub(crate) fn to_hit(&self, h: StoredHit) -> Hit {
        to_hit(h, &self.paths)
    }

    /// Photos most like the photo `id` (itself first, when the filters allow it), page `page`
    /// of `k`, among the photos `filters` allow, and whether a next page has photos; folded
    /// unless `all`.
    pub async fn similar(
        &self,
        id: i64,
        k: usize,
        page: u32,
        filters: &Filters,
        all: bool,
    ) -> Result<(Vec<Hit>, bool), SearchError> {
        page_window(k, page)?;
        let narrowed = self.narrow(filters)?;
        let v = self.photo_vector(id).await?;
        self.page_of(&v, k, page, &narrowed, all).await
    }

    /// The folders the site offers for `in=` (as visitors see them; none where paths are
    /// shown absolute).
    pub async fn folder_list(&self) -> Result<Vec<String>, SearchError> {
        self.folders.get(&self.store, &self.paths).await
    }

    /// Page `page` of `k` results for a query vector among the rows `narrowed` allows, and
    /// whether a next page has results: folded (`crate::fold`), or with `all` one hit per
    /// result, one hit past the page asked for (when the window allows it) and dropped.
    async fn page_of(
        &self,
        v: &[f32],
        k: usize,
        page: u32,
        narrowed: &Narrowed,
        all: bool,
    ) -> Result<(Vec<Hit>, bool), SearchError> {
        let filter = match narrowed {
            Narrowed::All => None,
            Narrowed::Where(expr) => Some(expr),
            Narrowed::Nothing => return Ok((Vec::new(), false)),
        };
        if !all {
            return self
                .folded_page(v, k, page, self.fold_threshold, filter)
                .await;
        }
        let (offset, limit) = page_window(k, page)?;
        let probe = (limit + 1).min(MAX_WINDOW - offset);
        let mut hits = self.search_vector_at(v, offset, probe, filter).await?;
        let more = hits.len() > limit;
        hits.truncate(limit);
        Ok((hits, more))
    }

    /// The stored embedding of photo `id`.
    pub(crate) async fn photo_vector(&self, id: i64) -> Result<Vec<f32>, SearchError> {
        self.store
            .get_vector(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| SearchError::NotFound(format!("no photo with id {id}")))
    }

    /// The file behind a photo id, if the id exists.
    pub async fn photo_path(&self, id: i64) -> Result<Option<PathBuf>, SearchError> {
        let row = self.store.get(id).await.map_err(store_error)?;
        Ok(row.map(|r| PathBuf::from(r.filepath)))
    }
}

#[async_trait::async_trait]
impl SearchService for SearchEngine {
    async fn status(&self) -> Result<ServerStatus, SearchError> {
        let rows = self.store.count().await.map_err(store_error)?;
        let spec = self.encoder.spec();
        Ok(ServerStatus {
            model_id: spec.id.clone(),
            fixture: spec.fixture,
            rows,
            indexing: self.progress.as_ref().and_then(|h| h.active()),
        })
    }

    async fn search_page(
        &self,
        query: Query,
        k: usize,
        page: u32,
    ) -> Result<SearchResults, SearchError> {
        let start = Instant::now();
        // A page past the window, or a bad filter, is refused before any model runs.
        page_window(k, page)?;
        let narrowed = self.narrow(&query.filters)?;
        let mut parts: Vec<(Arc<Vec<f32>>, f32)> = Vec::new();
        let mut found = SearchResults::empty(page);
        if !query.q.trim().is_empty() {
            let text = clean_query(&query.q)?;
            let terms = parse_terms(&text).map_err(|e| SearchError::BadRequest(e.to_string()))?;
            let texts = terms.iter().map(|t| t.text.clone()).collect();
            let (vectors, truncated) = self.embed_texts(texts).await?;
            found.truncated = truncated;
            parts.extend(
                vectors
                    .into_iter()
                    .zip(&terms)
                    .map(|(v, t)| (Arc::new(v), t.weight)),
            );
            found.terms = terms;
        }
        let w = query.w.unwrap_or(1.0);
        if let Some(id) = query.img.as_deref() {
            let v = self.queries.vector(id).ok_or_else(|| {
                SearchError::NotFound(
                    "这张查询图片已过期，请重新上传 · this query picture has expired (they are kept a week): upload it again".into(),
                )
            })?;
            parts.push((v, w));
            found.query_image = Some(app::url::query_picture(id));
            found.query_id = Some(id.to_string());
        }
        if let Some(like) = query.like.as_deref() {
            let id: i64 = like
                .parse()
                .map_err(|_| SearchError::NotFound(format!("no photo with id {like:?}")))?;
            parts.push((Arc::new(self.photo_vector(id).await?), w));
            found
                .query_image
                .get_or_insert(app::url::thumb(id, QUERY_PREVIEW_W));
        }
        if parts.is_empty() {
            // Same message as an empty text.
            clean_query("")?;
        }
        let v = combine(&parts)?;
        (found.hits, found.more) = self.page_of(&v, k, page, &narrowed, query.all).await?;
        found.took_ms = start.elapsed().as_millis() as u64;
        Ok(found)
    }

    async fn remember_image(&self, bytes: Vec<u8>) -> Result<String, SearchError> {
        if bytes.len() > self.max_upload_bytes {
            return Err(too_large(self.max_upload_bytes));
        }
        let id = QueryImages::id_for(&bytes);
        if self.queries.vector(&id).is_none() {
            let _slot = self.pictures.enter().await?;
            let (v, preview) = self
                .embed_image_with_preview(bytes, Some(QUERY_PREVIEW_W))
                .await?;
            self.queries.put(&id, v, preview);
        }
        Ok(id)
    }

    fn max_upload_bytes(&self) -> usize {
        self.max_upload_bytes
    }

    async fn folders(&self) -> Result<Vec<String>, SearchError> {
        self.folder_list().await
    }

    async fn poem_lines(
        &self,
        query: app::poems::PoemQuery,
        k: usize,
    ) -> Result<Vec<app::poems::PoemLine>, SearchError> {
        self.find_lines(query, k).await
    }

    async fn storyboard(
        &self,
        poem: String,
        alts: Vec<(usize, u32)>,
    ) -> Result<app::poems::Storyboard, SearchError> {
        self.make_storyboard(&poem, &alts).await
    }

    async fn corpus_poems(
        &self,
        title: String,
        limit: usize,
    ) -> Result<Vec<app::poems::CorpusPoem>, SearchError> {
        Ok(crate::poems::service::corpus_poems(&title, limit))
    }

    async fn poem_suggestions(
        &self,
        typed: String,
        limit: usize,
    ) -> Result<Vec<app::poems::PoemLine>, SearchError> {
        Ok(crate::poems::service::suggestions(&typed, limit))
    }

    async fn poem_examples(
        &self,
        page: u64,
        n: usize,
    ) -> Result<Vec<app::poems::PoemLine>, SearchError> {
        Ok(crate::poems::service::examples(page, n))
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

/// Runs `work` on a blocking thread once one of `slots` is free: waiting requests wait here,
/// asynchronously, not in blocking threads.
async fn run_blocking<T: Send + 'static>(
    slots: &tokio::sync::Semaphore,
    work: impl FnOnce() -> Result<T, ClipError> + Send + 'static,
) -> Result<T, SearchError> {
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| SearchError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SearchError::Internal(e.to_string()))?
        .map_err(clip_error)
}

/// The one embedding of a one-item batch.
fn first(vectors: Vec<Vec<f32>>) -> Result<Vec<f32>, SearchError> {
    vectors
        .into_iter()
        .next()
        .ok_or_else(|| SearchError::Internal("no embedding".into()))
}

/// The normalised weighted sum of the query parts. At least one part must add (weight > 0),
/// and the parts must not cancel out.
pub fn combine(parts: &[(Arc<Vec<f32>>, f32)]) -> Result<Vec<f32>, SearchError> {
    if !parts.iter().any(|(_, w)| *w > 0.0) {
        return Err(SearchError::BadRequest(
            "查询至少要有一项是加上的 · a query needs at least one term to add, not only terms to subtract".into(),
        ));
    }
    let dim = parts[0].0.len();
    let mut sum = vec![0f32; dim];
    for (v, w) in parts {
        for (s, x) in sum.iter_mut().zip(v.iter()) {
            *s += w * x;
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm < 1e-6 {
        return Err(SearchError::BadRequest(
            "这些词互相抵消了 · the terms cancel each other out".into(),
        ));
    }
    Ok(sum.into_iter().map(|x| x / norm).collect())
}

fn to_hit(h: StoredHit, paths: &PathDisplay) -> Hit {
    let name = std::path::Path::new(&h.filepath)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| h.filepath.clone());
    let bytes = std::fs::metadata(&h.filepath).ok().map(|m| m.len());
    Hit {
        bytes,
        ..Hit::new(h.id.to_string(), paths.show(&h.filepath), name, h.score)
    }
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

    #[test]
    fn parts_combine_into_a_unit_vector() {
        let a = Arc::new(vec![1.0, 0.0]);
        let b = Arc::new(vec![0.0, 1.0]);
        let v = combine(&[(a.clone(), 1.0), (b.clone(), -1.0)]).unwrap();
        let h = 1.0 / 2f32.sqrt();
        assert!((v[0] - h).abs() < 1e-6 && (v[1] + h).abs() < 1e-6, "{v:?}");
        assert_eq!(combine(&[(a.clone(), 2.0)]).unwrap(), vec![1.0, 0.0]);
        assert!(combine(&[(a.clone(), 1.0), (a.clone(), -1.0)]).is_err());
        assert!(combine(&[(b, -1.0)]).is_err());
    }

    /// Weights scale each part before the sum is normalised, checked against vectors worked
    /// out by hand (not by `combine`).
    #[test]
    fn weights_are_applied_before_normalising() {
        let close = |got: &[f32], want: &[f32]| {
            got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6)
        };
        let a = Arc::new(vec![0.6, 0.8, 0.0]);
        let b = Arc::new(vec![0.0, 0.6, 0.8]);
        // 2a + b = (1.2, 2.2, 0.8), |2a + b| = √6.92 = 2.630589…
        let two_a_b = [0.456_171_55, 0.836_314_5, 0.304_114_37];
        let got = combine(&[(a.clone(), 2.0), (b.clone(), 1.0)]).unwrap();
        assert!(close(&got, &two_a_b), "{got:?}");
        // a + b = (0.6, 1.4, 0.8), |a + b| = √2.96: a different direction.
        let a_b = [0.348_742_9, 0.813_733_5, 0.464_990_55];
        let equal = combine(&[(a.clone(), 1.0), (b.clone(), 1.0)]).unwrap();
        assert!(close(&equal, &a_b), "{equal:?}");
        assert!(!close(&got, &equal));
        // a − 0.5·b = (0.6, 0.5, −0.4), |·| = √0.77.
        let got = combine(&[(a, 1.0), (b, -0.5)]).unwrap();
        assert!(
            close(&got, &[0.683_763_46, 0.569_802_9, -0.455_842_3]),
            "{got:?}"
        );
    }
}
