//! What a search is, shared by client and server: the query/result types, the typed error,
//! and (ssr only) the ports the `server` crate implements and provides through Leptos
//! context: `SearchService` ("query → results") and `UploadReader` (its one multipart reader).
//! The `#[server]` functions that call them are in `api`; URLs (and `Query::from_params`) in
//! `url`.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

pub use crate::query::Term;

/// Results per page when the URL does not say.
pub const DEFAULT_K: usize = 24;
/// The most results one query may ask for.
pub const MAX_K: usize = 200;
/// Name of the multipart field that carries an uploaded query picture.
pub const IMAGE_FIELD: &str = "image";

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
}

/// Everything a search can combine; the page's URL carries the same fields
/// (`/?q=…&img=…&like=…&w=…&k=…`).
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
        /// Any combination of text terms, an uploaded picture and a collection photo.
        async fn search(&self, query: Query, k: usize) -> Result<SearchResults, SearchError>;
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
            let id = self.remember_image(bytes).await?;
            self.search(
                Query {
                    img: Some(id),
                    ..Default::default()
                },
                k,
            )
            .await
        }
        /// Largest accepted upload, in bytes.
        fn max_upload_bytes(&self) -> usize;
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
