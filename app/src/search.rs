//! What a search is, shared by client and server: the query/result types, the typed error,
//! and (ssr only) the ports the `server` crate implements and provides through Leptos
//! context: `SearchService` ("query → results") and `UploadReader` (its one multipart reader).
//! The `#[server]` functions that call them are in `api`; URLs (and `Query::from_params`) in
//! `url`.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

pub use crate::filters::Filters;
pub use crate::query::Term;

/// Results per page when the URL does not say.
pub const DEFAULT_K: usize = 24;
/// The most results one query may ask for.
pub const MAX_K: usize = 200;
/// The most results one search reaches, all pages together: Milvus answers
/// `offset + limit ≤ 16,384` and no further.
pub const MAX_WINDOW: usize = 16_384;
/// Name of the multipart field that carries an uploaded query picture.
pub const IMAGE_FIELD: &str = "image";
/// A result whose cosine to a better-ranked result is at least this is folded under it as a
/// near-identical photo (burst shots, re-encodes, small edits); `Query::all` unfolds.
pub const FOLD_THRESHOLD: f32 = 0.98;

/// One photo found by a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Milvus primary key, as a string: auto ids exceed JavaScript's exact integers.
    pub id: String,
    /// Path of the photo as indexed.
    pub filepath: String,
    /// File name, for display.
    pub name: String,
    /// Cosine similarity between query and photo.
    pub score: f32,
    /// File size in bytes, when the file could be read.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Other copies of the same file (same SHA-256) among the results, best-ranked first:
    /// shown as "also in …", not as results of their own.
    #[serde(default)]
    pub duplicates: Vec<Duplicate>,
    /// Near-identical photos (cosine ≥ `FOLD_THRESHOLD` to this one) among the results,
    /// folded under it, best-ranked first; each may have `duplicates` of its own.
    #[serde(default)]
    pub similar: Vec<Hit>,
}

impl Hit {
    /// A result with nothing folded under it.
    pub fn new(id: String, filepath: String, name: String, score: f32) -> Self {
        Hit {
            id,
            filepath,
            name,
            score,
            bytes: None,
            duplicates: Vec::new(),
            similar: Vec::new(),
        }
    }

    /// The visible paths of its other copies, joined with `sep`.
    pub fn copy_paths(&self, sep: &str) -> String {
        let paths: Vec<&str> = self
            .duplicates
            .iter()
            .map(|d| d.filepath.as_str())
            .collect();
        paths.join(sep)
    }

    /// How many photos are folded under this result: its near-identical photos (copies
    /// not counted).
    pub fn folded(&self) -> usize {
        self.similar.len()
    }
}

/// Another copy of a result's file (same bytes, another path).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    /// The copy's own photo id.
    pub id: String,
    /// Its path as visitors see it (relative to the indexed folder, like `Hit::filepath`).
    pub filepath: String,
}

impl Duplicate {
    /// What "also in …" names for this copy: its folder (`trip/2024/`) when the file has the
    /// same name as the result, else its path; `./` for the indexed folder itself.
    pub fn label(&self, result_name: &str) -> String {
        let path = self.filepath.replace('\\', "/");
        match path.rsplit_once('/') {
            Some((dir, name)) if name == result_name => format!("{dir}/"),
            Some(_) => path,
            None if path == result_name => "./".to_owned(),
            None => path,
        }
    }
}

/// The answer to one query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub took_ms: u64,
    /// The query text was longer than the model's context and was cut.
    pub truncated: bool,
    /// The text terms the query combined (one term for a plain line of poetry).
    #[serde(default)]
    pub terms: Vec<Term>,
    /// Where the query picture can be seen (`/query/<id>` for an upload, a thumbnail for
    /// "more like this").
    #[serde(default)]
    pub query_image: Option<String>,
    /// Id of an uploaded query picture: `/?img=<id>` shares this search.
    #[serde(default)]
    pub query_id: Option<String>,
    /// The page these hits are (from 1): hits `(page - 1) · k + 1 …` of the ranking.
    #[serde(default = "first_page")]
    pub page: u32,
    /// Whether the next page has results (known exactly: one hit past the page is fetched).
    #[serde(default)]
    pub more: bool,
}

impl SearchResults {
    /// Page `page` with no hits yet (the engine fills it in).
    pub fn empty(page: u32) -> Self {
        SearchResults {
            hits: Vec::new(),
            took_ms: 0,
            truncated: false,
            terms: Vec::new(),
            query_image: None,
            query_id: None,
            page,
            more: false,
        }
    }
}

fn first_page() -> u32 {
    1
}

/// Everything a search can combine, and the filters that narrow it; the page's URL carries the
/// same fields (`/?q=…&img=…&like=…&w=…&k=…&in=…&from=…&to=…&orient=…`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Text: a line of poetry, or terms joined by `+`/`-` (see `query::parse_terms`).
    #[serde(default)]
    pub q: String,
    /// Id of an uploaded query picture (`api::upload_query` returns it).
    #[serde(default)]
    pub img: Option<String>,
    /// Id of a photo in the collection ("more like this").
    #[serde(default)]
    pub like: Option<String>,
    /// Weight of the picture or photo against the text terms (default 1).
    #[serde(default)]
    pub w: Option<f32>,
    /// Only photos in a folder, taken in a date range, of an orientation (`crate::filters`):
    /// applied inside the vector search, whatever the query.
    #[serde(default)]
    pub filters: Filters,
    /// Every result on its own (`all=1`): identical files and near-identical photos are not
    /// folded (and the page does not hide results below the relative cut-off).
    #[serde(default)]
    pub all: bool,
}

impl Query {
    pub fn text(q: impl Into<String>) -> Self {
        Query {
            q: q.into(),
            ..Default::default()
        }
    }

    /// Nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.q.trim().is_empty()
            && self.img.as_deref().is_none_or(str::is_empty)
            && self.like.as_deref().is_none_or(str::is_empty)
    }
}

/// What the page needs to know about the running server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// Model id from the manifest, e.g. `ViT-B-16`.
    pub model_id: String,
    /// True when running on the random-weight fixture model: results are not meaningful.
    pub fixture: bool,
    /// Photos in the collection.
    pub rows: u64,
    /// An indexing run in progress (the server's watcher, or a `shihua index` run against the
    /// same collection); `None` when nothing is being indexed.
    #[serde(default)]
    pub indexing: Option<IndexProgress>,
}

/// How far an indexing run has got, as the page's progress bar and `/api/v1/stats` show it
/// (and `GET /api/v1/progress` streams it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexProgress {
    /// Who indexes: `watch` (the server's watch folders) or `index` (a `shihua index` run).
    pub source: String,
    /// False once the run (or the watcher's burst of changes) is over.
    pub active: bool,
    /// Photos done (indexed or failed) and planned so far.
    pub done: u64,
    pub total: u64,
    /// Photos that could not be indexed (reported and skipped).
    pub failed: u64,
    /// Photos per second since the run began.
    pub rate: f32,
    /// Seconds left at that rate (`None` before there is a rate).
    pub eta_s: Option<u64>,
    /// Seconds since the run began.
    pub elapsed_s: u64,
    /// The last problem: a bad file (`name: why`) or Milvus being unavailable.
    pub last_error: Option<String>,
}

/// Why a search did not produce results. The message is meant for the visitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum SearchError {
    /// The query itself is unusable (empty, not an image, too large...).
    #[error("{0}")]
    BadRequest(String),
    /// The upload exceeds the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The photo asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A backend (Milvus, the model) is not available right now; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    /// Too many picture searches at once (the queue is full) or from this client: try again
    /// after `retry_after_s` seconds (HTTP 429 with `Retry-After`).
    #[error("{message}")]
    Busy { message: String, retry_after_s: u64 },
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl FromServerFnError for SearchError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                SearchError::BadRequest(m)
            }
            ServerFnErrorErr::Request(m) => {
                SearchError::Unavailable(format!("无法连接服务器 · cannot reach the server: {m}"))
            }
            other => SearchError::Internal(other.to_string()),
        }
    }
}

impl SearchError {
    /// HTTP status the REST API and the server functions answer with.
    pub fn status_code(&self) -> u16 {
        match self {
            SearchError::BadRequest(_) => 400,
            SearchError::TooLarge(_) => 413,
            SearchError::NotFound(_) => 404,
            SearchError::Unavailable(_) => 503,
            SearchError::Busy { .. } => 429,
            SearchError::Internal(_) => 500,
        }
    }

    /// Seconds to wait before trying again (`Retry-After`), for `Busy`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            SearchError::Busy { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }

    /// The error for a full picture queue or a client over its limit.
    pub fn busy(retry_after_s: u64) -> Self {
        SearchError::Busy {
            message: format!(
                "搜图的人太多，请 {retry_after_s} 秒后再试 · too many picture searches right now: \
                 try again in {retry_after_s} s"
            ),
            retry_after_s,
        }
    }
}

/// Clamp a requested result count into `1..=MAX_K`.
pub fn clamp_k(k: Option<usize>) -> usize {
    k.unwrap_or(DEFAULT_K).clamp(1, MAX_K)
}

/// The last page a search of `k` results per page reaches inside `MAX_WINDOW` (it may be
/// shorter than `k`).
pub fn last_page(k: usize) -> u32 {
    let k = k.max(1);
    MAX_WINDOW.div_ceil(k).min(u32::MAX as usize) as u32
}

/// Where page `page` (from 1) of `k` results starts in the ranking, and how many results it
/// holds: `k`, or fewer on the last page of the window. Page 0 or a page past the window is
/// `BadRequest`, with a message that says which pages there are.
pub fn page_window(k: usize, page: u32) -> Result<(usize, usize), SearchError> {
    let k = k.max(1);
    if page == 0 {
        return Err(SearchError::BadRequest(
            "页码从 1 开始 · page numbers start at 1".into(),
        ));
    }
    let offset = (page as usize - 1).saturating_mul(k);
    if offset >= MAX_WINDOW {
        return Err(past_window(k, page));
    }
    Ok((offset, k.min(MAX_WINDOW - offset)))
}

/// The error for a page past the results a search can reach.
pub fn past_window(k: usize, page: u32) -> SearchError {
    let last = last_page(k);
    SearchError::BadRequest(format!(
        "结果最多 {MAX_WINDOW} 张：每页 {k} 张时最后一页是第 {last} 页，没有第 {page} 页 · \
         results stop at {MAX_WINDOW}: with k = {k} the last page is {last}, there is no page {page}"
    ))
}

/// A page number as text (the URL, the JSON API): absent or empty → page 1; a whole number
/// from 1 → that page; anything else → `BadRequest`. Whether the page is inside the window
/// is `page_window`'s question.
pub fn parse_page(page: Option<&str>) -> Result<u32, SearchError> {
    match page.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(1),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n.min(u64::from(u32::MAX)) as u32),
            _ => Err(SearchError::BadRequest(format!(
                "page 须为从 1 起的整数 · page must be a whole number from 1, not {s:?}"
            ))),
        },
    }
}

#[cfg(feature = "ssr")]
pub use service::{SearchService, SharedSearch, SharedUploadReader, UploadReader};

#[cfg(feature = "ssr")]
mod service {
    use super::*;

    /// "Query → results": implemented by the server over the CLIP encoder and Milvus.
    /// The server functions, the REST API and the CLI all go through it.
    #[async_trait::async_trait]
    pub trait SearchService: Send + Sync + 'static {
        async fn status(&self) -> Result<ServerStatus, SearchError>;
        /// Any combination of text terms, an uploaded picture and a collection photo: page
        /// `page` (from 1) of `k` results, in the same order on every page (`page_window`).
        async fn search_page(
            &self,
            query: Query,
            k: usize,
            page: u32,
        ) -> Result<SearchResults, SearchError>;
        /// The first page of `search_page`.
        async fn search(&self, query: Query, k: usize) -> Result<SearchResults, SearchError> {
            self.search_page(query, k, 1).await
        }
        /// Encodes an uploaded picture and keeps its vector (and a small preview) so that
        /// `Query::img` can refer to it; returns its id (a content hash).
        async fn remember_image(&self, bytes: Vec<u8>) -> Result<String, SearchError>;
        async fn search_text(&self, query: &str, k: usize) -> Result<SearchResults, SearchError> {
            self.search(Query::text(query), k).await
        }
        /// Upload and search in one step (the JSON API and the CLI).
        async fn search_image(
            &self,
            bytes: Vec<u8>,
            k: usize,
        ) -> Result<SearchResults, SearchError> {
            self.search_image_where(bytes, k, Filters::default()).await
        }
        /// `search_image` among the photos `filters` allow.
        async fn search_image_where(
            &self,
            bytes: Vec<u8>,
            k: usize,
            filters: Filters,
        ) -> Result<SearchResults, SearchError> {
            let id = self.remember_image(bytes).await?;
            self.search(
                Query {
                    img: Some(id),
                    filters,
                    ..Default::default()
                },
                k,
            )
            .await
        }
        /// Largest accepted upload, in bytes.
        fn max_upload_bytes(&self) -> usize;
        /// The folders a search can be narrowed to (`in=`), as visitors see them.
        async fn folders(&self) -> Result<Vec<String>, SearchError>;
        /// 以图寻诗: the `k` corpus lines closest to a picture, a photo or a text
        /// (`crate::poems`).
        async fn poem_lines(
            &self,
            query: crate::poems::PoemQuery,
            k: usize,
        ) -> Result<Vec<crate::poems::PoemLine>, SearchError>;
        /// 以诗配图: one photo per line of a whole poem, no photo twice; `alts` are the
        /// "another photo" choices `(line, times)`.
        async fn storyboard(
            &self,
            poem: String,
            alts: Vec<(usize, u32)>,
        ) -> Result<crate::poems::Storyboard, SearchError>;
        /// Corpus poems whose title contains `title`.
        async fn corpus_poems(
            &self,
            title: String,
            limit: usize,
        ) -> Result<Vec<crate::poems::CorpusPoem>, SearchError>;
        /// Corpus lines for what is typed in the poem box (prefix, then fuzzy), score 0.
        async fn poem_suggestions(
            &self,
            typed: String,
            limit: usize,
        ) -> Result<Vec<crate::poems::PoemLine>, SearchError>;
        /// `n` corpus lines for the example chips, a different batch per `page`.
        async fn poem_examples(
            &self,
            page: u64,
            n: usize,
        ) -> Result<Vec<crate::poems::PoemLine>, SearchError>;
    }

    /// How the service travels through Leptos context.
    pub type SharedSearch = std::sync::Arc<dyn SearchService>;

    /// Reads the picture out of a multipart upload: the server's one multipart reader
    /// (`server/src/http/upload.rs`), provided through context next to the service, so the
    /// upload server function reads, limits and reports uploads exactly as the JSON API and
    /// the plain form do.
    #[async_trait::async_trait]
    pub trait UploadReader: Send + Sync + 'static {
        /// The bytes of field `IMAGE_FIELD` (at most `limit`), `None` when the form has none
        /// or it is empty.
        async fn picture(
            &self,
            form: multer::Multipart<'static>,
            limit: usize,
        ) -> Result<Option<Vec<u8>>, SearchError>;
    }

    /// How the upload reader travels through Leptos context.
    pub type SharedUploadReader = std::sync::Arc<dyn UploadReader>;
}

/// The error for an upload over `limit` bytes.
pub fn too_large(limit: usize) -> SearchError {
    SearchError::TooLarge(format!(
        "图片太大 · the picture is larger than {} MB",
        limit / (1024 * 1024)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn also_in_names_the_folder_of_a_copy() {
        let copy = |p: &str| Duplicate {
            id: "1".into(),
            filepath: p.into(),
        };
        assert_eq!(copy("trip/2024/a.jpg").label("a.jpg"), "trip/2024/");
        assert_eq!(copy("trip/b.jpg").label("a.jpg"), "trip/b.jpg");
        assert_eq!(copy("a.jpg").label("a.jpg"), "./");
        assert_eq!(copy("b.jpg").label("a.jpg"), "b.jpg");
        assert_eq!(copy("x\\a.jpg").label("a.jpg"), "x/");
        let mut hit = Hit::new("0".into(), "a.jpg".into(), "a.jpg".into(), 1.0);
        hit.duplicates = vec![copy("t/a.jpg"), copy("b/a.jpg")];
        assert_eq!(hit.copy_paths(", "), "t/a.jpg, b/a.jpg");
    }

    #[test]
    fn pages_stay_inside_the_window() {
        assert_eq!(page_window(24, 1).unwrap(), (0, 24));
        assert_eq!(page_window(24, 3).unwrap(), (48, 24));
        // 16,384 = 682 · 24 + 16: page 683 is the last one, with 16 results.
        assert_eq!(last_page(24), 683);
        assert_eq!(page_window(24, 683).unwrap(), (16_368, 16));
        assert!(matches!(
            page_window(24, 684),
            Err(SearchError::BadRequest(_))
        ));
        assert_eq!(last_page(200), 82);
        assert_eq!(page_window(200, 82).unwrap(), (16_200, 184));
        assert!(page_window(200, 83).is_err());
        assert!(page_window(24, 0).is_err());
        assert!(page_window(1, u32::MAX).is_err());
        let msg = page_window(24, 9999).unwrap_err().to_string();
        assert!(msg.contains("16384") && msg.contains("683"), "{msg}");
    }

    #[test]
    fn page_numbers_are_parsed_or_refused() {
        assert_eq!(parse_page(None).unwrap(), 1);
        assert_eq!(parse_page(Some(" ")).unwrap(), 1);
        assert_eq!(parse_page(Some("7")).unwrap(), 7);
        assert_eq!(parse_page(Some("99999999999")).unwrap(), u32::MAX);
        for bad in ["0", "-1", "two", "1.5", "1e3"] {
            assert!(
                matches!(parse_page(Some(bad)), Err(SearchError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
