//! The second collection, `poem_lines`: one row per corpus line, embedded with the text
//! tower. It reuses the photo collection's code ([`MilvusStore`]) with its own layout:
//!
//! | field | type | holds |
//! |---|---|---|
//! | `id` | INT64, auto id | primary key |
//! | `vectors` | FLOAT_VECTOR(dim) | the line's normalised text embedding |
//! | `text` | VARCHAR(512) | the line, without punctuation (what was embedded) |
//! | `title`, `author`, `dynasty`, `poem_id` | dynamic (string) | the poem it comes from |
//! | `line` | dynamic (int) | its position in the poem, from 1 |
//! | `model`, `variant` | dynamic (string) | what made the vector, as photo rows record it |
//!
//! The collection description carries the model stamp (`shihua model=<id> dim=<n>`) like the
//! photos'; opening it with another model fails with the same message. Indexing
//! ([`PoemLines::index`]) is resumable: lines already stored for this model and variant are
//! skipped, rows of another variant or of a changed text are replaced, so an interrupted run
//! picks up where it stopped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use app::poems::PoemLine;

use super::corpus::CorpusLine;
use crate::clip::ClipEncoder;
use crate::ingest::progress_bar;
use crate::store::row::{MODEL as MODEL_FIELD, VARIANT as VARIANT_FIELD};
use crate::store::{IndexKind, MilvusStore, NewRow, StoreConfig, StoreError};

/// Name of the collection.
pub const COLLECTION: &str = "poem_lines";
/// The VARCHAR field holding the line.
pub const TEXT_FIELD: &str = "text";
/// Longest line in bytes (the corpus' longest is well under).
const TEXT_MAX_LEN: u32 = 512;
/// Lines per text-tower call.
const ENCODE_BATCH: usize = 64;
/// Rows per insert (also how much an interrupted run loses at most).
const INSERT_BATCH: usize = 256;

/// What one `shihua poems index` run did.
#[derive(Debug, Default)]
pub struct PoemIndexSummary {
    pub lines: usize,
    pub embedded: usize,
    /// Already stored for this model and variant.
    pub skipped: usize,
    /// Rows deleted: another variant, a changed text, or a duplicate left by an interrupt.
    pub replaced: usize,
    pub rows_in_collection: u64,
    pub wall: Duration,
}

impl std::fmt::Display for PoemIndexSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "corpus lines:        {}", self.lines)?;
        writeln!(f, "embedded:            {}", self.embedded)?;
        writeln!(f, "already stored:      {}", self.skipped)?;
        writeln!(f, "old rows replaced:   {}", self.replaced)?;
        writeln!(f, "rows in {COLLECTION}: {}", self.rows_in_collection)?;
        write!(f, "wall time: {:.1} s", self.wall.as_secs_f64())
    }
}

/// The `poem_lines` layout on the same Milvus as the photos (`photos`: the photo collection's
/// configuration; connection, model stamp and index type are shared). `collection` is
/// normally [`COLLECTION`].
pub fn config(photos: &StoreConfig, collection: &str) -> StoreConfig {
    StoreConfig {
        collection: collection.to_owned(),
        vector_field: photos.vector_field.clone(),
        path_field: TEXT_FIELD.to_owned(),
        path_max_len: TEXT_MAX_LEN,
        // 10,926 lines: 128 lists of ~85 lines, a quarter of them searched.
        index: match photos.index {
            IndexKind::IvfFlat { .. } => IndexKind::IvfFlat { nlist: 128 },
            ref hnsw => hnsw.clone(),
        },
        nprobe: Some(32),
        ..photos.clone()
    }
}

/// The collection of poem lines.
pub struct PoemLines {
    store: Arc<MilvusStore>,
}

/// Key of a stored line: poem and position.
type LineKey = (String, u32);

impl PoemLines {
    /// Connects to the `poem_lines` collection beside the photo collection `photos`.
    pub async fn connect(photos: &StoreConfig, collection: &str) -> Result<Self, StoreError> {
        let store = MilvusStore::connect(config(photos, collection)).await?;
        Ok(PoemLines {
            store: Arc::new(store),
        })
    }

    /// For `shihua serve`: connects and loads the collection if it has rows (a missing or
    /// empty one is only a warning: the poem panel says how to fill it).
    pub async fn open_for_serving(
        photos: &StoreConfig,
        cfg: &crate::config::Common,
    ) -> Result<Arc<Self>, StoreError> {
        let poems = Self::connect(photos, &crate::startup::poem_collection(cfg)).await?;
        match poems.count().await {
            Ok(n) if n > 0 => {
                if let Err(e) = poems.store.load().await {
                    tracing::warn!("poem lines not loaded ({e})");
                }
            }
            _ => tracing::warn!("no poem lines indexed yet: run `shihua poems index` for 以图寻诗"),
        }
        Ok(Arc::new(poems))
    }

    pub fn store(&self) -> &Arc<MilvusStore> {
        &self.store
    }

    /// Rows stored (0 when the collection does not exist yet).
    pub async fn count(&self) -> Result<u64, StoreError> {
        if !self.store.has_collection().await? {
            return Ok(0);
        }
        self.store.count().await
    }

    /// Embeds and stores every line of `lines` not stored yet for this model and variant,
    /// then builds the index and loads the collection.
    pub async fn index(
        &self,
        encoder: &Arc<ClipEncoder>,
        lines: &[CorpusLine],
        progress: bool,
    ) -> anyhow::Result<PoemIndexSummary> {
        let started = Instant::now();
        let store = &self.store;
        store.ensure_collection(false).await?;
        let variant = encoder.variant().to_owned();
        let model = encoder.spec().id.clone();

        // What is stored already: keep one current row per line, delete the rest.
        let mut keep: HashMap<LineKey, i64> = HashMap::new();
        let mut stale: Vec<i64> = Vec::new();
        let wanted: HashMap<LineKey, &str> = lines
            .iter()
            .map(|l| ((l.poem_id.clone(), l.line), l.text.as_str()))
            .collect();
        for row in store.list_rows().await? {
            let key = row_key(&row.extra);
            let current = key.as_ref().is_some_and(|k| {
                wanted.get(k) == Some(&row.filepath.as_str())
                    && row.extra.get(VARIANT_FIELD).and_then(Value::as_str) == Some(&variant)
            });
            match key {
                Some(k) if current && !keep.contains_key(&k) => {
                    keep.insert(k, row.id);
                }
                _ => stale.push(row.id),
            }
        }
        let todo: Vec<&CorpusLine> = lines
            .iter()
            .filter(|l| !keep.contains_key(&(l.poem_id.clone(), l.line)))
            .collect();
        let mut summary = PoemIndexSummary {
            lines: lines.len(),
            skipped: lines.len() - todo.len(),
            ..Default::default()
        };

        let bar = progress_bar(
            todo.len(),
            progress,
            "poem lines [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}",
        );
        let mut pending: Vec<NewRow> = Vec::new();
        let mut seen: HashSet<LineKey> = HashSet::new();
        for batch in todo.chunks(ENCODE_BATCH) {
            let texts: Vec<String> = batch.iter().map(|l| l.text.clone()).collect();
            let enc = encoder.clone();
            let vectors = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                enc.embed_texts(&refs)
            })
            .await??
            .vectors;
            for (l, vector) in batch.iter().zip(vectors) {
                if !seen.insert((l.poem_id.clone(), l.line)) {
                    continue;
                }
                pending.push(NewRow {
                    vector,
                    filepath: l.text.clone(),
                    extra: row_fields(l, &model, &variant),
                });
            }
            if pending.len() >= INSERT_BATCH {
                summary.embedded += pending.len();
                store.insert(std::mem::take(&mut pending)).await?;
            }
            bar.inc(batch.len() as u64);
        }
        if !pending.is_empty() {
            summary.embedded += pending.len();
            store.insert(pending).await?;
        }
        bar.finish_and_clear();
        if !stale.is_empty() {
            store.delete_ids(&stale).await?;
            summary.replaced = stale.len();
        }
        store.flush().await?;
        store.build_index_and_load().await?;
        summary.rows_in_collection = store.count().await?;
        summary.wall = started.elapsed();
        Ok(summary)
    }

    /// The `k` lines closest (cosine) to a normalised vector, best first.
    pub async fn search(&self, vector: &[f32], k: usize) -> Result<Vec<PoemLine>, StoreError> {
        let hits = self.store.search_rows(vector, k).await?;
        Ok(hits
            .into_iter()
            .map(|(hit, extra)| {
                let s = |k: &str| {
                    extra
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                PoemLine {
                    text: hit.filepath,
                    title: s("title"),
                    author: s("author"),
                    dynasty: s("dynasty"),
                    poem_id: s("poem_id"),
                    line: extra.get("line").and_then(Value::as_u64).unwrap_or(0) as u32,
                    score: hit.score,
                }
            })
            .collect())
    }
}

/// The dynamic fields of a line's row.
fn row_fields(l: &CorpusLine, model: &str, variant: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("title".into(), json!(l.title));
    m.insert("author".into(), json!(l.author));
    m.insert("dynasty".into(), json!(l.dynasty));
    m.insert("poem_id".into(), json!(l.poem_id));
    m.insert("line".into(), json!(l.line));
    m.insert(MODEL_FIELD.into(), json!(model));
    m.insert(VARIANT_FIELD.into(), json!(variant));
    m
}

fn row_key(extra: &Map<String, Value>) -> Option<LineKey> {
    let poem = extra.get("poem_id")?.as_str()?.to_owned();
    let line = u32::try_from(extra.get("line")?.as_u64()?).ok()?;
    Some((poem, line))
}
