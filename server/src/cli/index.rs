//! `shihua index DIR`: open the store and the encoder, remember the folder, and index it
//! ([`crate::ingest`]); prints the summary. Its progress goes to the progress file a server
//! on the same data folder shows (`crate::progress::file`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Common;
use crate::ingest::{self, IndexOptions};
use crate::{outln, startup};

// The flags of `shihua index` (its help text is the `Index` command's doc in main.rs).
#[derive(clap::Args)]
pub struct IndexArgs {
    /// Photo folder (searched recursively).
    dir: PathBuf,
    /// Rows per Milvus insert (the reference uses 300).
    #[arg(long, default_value_t = 300)]
    batch_size: usize,
    /// Images per model call (default: 16 on the CPU, 32 on a GPU).
    #[arg(long)]
    encode_batch: Option<usize>,
    /// File extensions to index (comma-separated, case-insensitive).
    #[arg(long, value_delimiter = ',', default_value = "jpg,jpeg,png,webp,gif")]
    ext: Vec<String>,
    /// Drop and recreate the collection first.
    #[arg(long)]
    recreate: bool,
    /// Also index hidden folders and files.
    #[arg(long)]
    hidden: bool,
    /// Delete rows under DIR whose photo file no longer exists (with --shard: only rows
    /// of that shard).
    #[arg(long)]
    prune: bool,
    /// Index only shard I of N (0 <= I < N) of DIR, so N workers on one or more machines
    /// index one tree into one Milvus server at once; the last to finish builds the index
    /// (docs/scale.md).
    #[arg(long, value_name = "I/N")]
    shard: Option<crate::ingest::shard::Shard>,
    /// Threads decoding photos beside the model (0: one per core).
    #[arg(long, env = "SHIHUA_DECODE_THREADS", default_value_t = 0)]
    decode_threads: usize,
}

pub async fn run(cfg: &Common, args: IndexArgs) -> anyhow::Result<()> {
    let IndexArgs {
        dir,
        batch_size,
        encode_batch,
        ext,
        recreate,
        hidden,
        prune,
        shard,
        decode_threads,
    } = args;
    // --variant auto follows the rows already there, unless they are about to go.
    let (opened, encoder) = if recreate {
        let encoder = startup::open_encoder(cfg, false)?;
        (startup::open_store(cfg, encoder.spec()).await?, encoder)
    } else {
        startup::open_store_and_encoder(cfg, false).await?
    };
    // The site shows paths relative to this folder (server/src/visible_path.rs).
    if let Err(e) = crate::visible_path::remember_folder(&cfg.data_dir, &dir) {
        tracing::warn!("could not note {} as an indexed folder: {e}", dir.display());
    }
    let mut opts = IndexOptions::new(dir);
    opts.batch_size = batch_size.max(1);
    opts.encode_batch = encode_batch
        .unwrap_or_else(|| ingest::default_encode_batch(encoder.on_gpu()))
        .max(1);
    opts.exts = ext;
    opts.recreate = recreate;
    opts.include_hidden = hidden;
    opts.prune = prune;
    opts.shard = shard;
    opts.decode_threads = decode_threads;
    opts.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A server on the same data folder shows this run's progress (crate::progress::file).
    let file = crate::progress::file::path(&cfg.data_dir, &cfg.collection);
    let meter = {
        let file = file.clone();
        Arc::new(ingest::Meter::new("index", move |p| {
            crate::progress::file::write(&file, p)
        }))
    };
    meter.begin();
    opts.report = Some(ingest::Reporter(meter.clone()));
    let result = ingest::index_folder(encoder, opened.store.clone(), opts).await;
    if let Err(e) = &result {
        meter.set_error(Some(format!("{e:#}")));
    }
    meter.finish();
    opened.close().await;
    let summary = result?;
    outln!("{summary}")?;
    Ok(())
}
