//! `shihua collection stats|index|drop`: look at the photo collection, finish its index
//! (after `index --shard` workers), or drop it.

use crate::config::Common;
use crate::store::IndexInfo;
use crate::{outln, startup};

#[derive(clap::Subcommand)]
pub enum CollectionCmd {
    /// Rows, model, index type and parameters, load state, where the data lives, and whether
    /// the collection has outgrown its index.
    Stats,
    /// Reduce every path to one row, build the index if there is none, and load the
    /// collection (after `index --shard` workers when none of them could build it).
    Index {
        /// Drop the index first and build it anew (nlist from today's row count unless
        /// --nlist is given), e.g. when `collection stats` says it has been outgrown.
        #[arg(long)]
        rebuild: bool,
    },
    /// Drop the collection (all rows). Photos on disk are not touched.
    Drop {
        /// Really drop it.
        #[arg(long)]
        yes: bool,
    },
}

/// Open the store for the chosen model, run `action`, and close the store whatever happened.
pub async fn run(cfg: &Common, action: CollectionCmd) -> anyhow::Result<()> {
    let (_, spec) = startup::model_spec(cfg)?;
    let opened = startup::open_store(cfg, &spec).await?;
    let result = collection(cfg, &opened, action).await;
    opened.close().await;
    result
}

/// `IVF_FLAT COSINE nlist=512 (Finished)`: the index line of `stats` and `index`, with
/// `extra` after the state (e.g. how long the build took).
fn index_line(ix: &IndexInfo, extra: &str) -> String {
    let params: Vec<String> = ix.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "index:      {} {} {} ({}{extra})",
        ix.index_type,
        ix.metric_type,
        params.join(" "),
        ix.state
    )
}

async fn collection(
    cfg: &Common,
    opened: &startup::OpenStore,
    action: CollectionCmd,
) -> anyhow::Result<()> {
    let store = &opened.store;
    let name = &store.config().collection;
    match action {
        CollectionCmd::Stats => {
            if !store.has_collection().await? {
                outln!("collection {name} does not exist yet; run `shihua index <folder>`")?;
                return Ok(());
            }
            let info = store.describe().await?;
            let place = match &opened.embedded {
                Some(e) => format!("{} (embedded Milvus Lite)", e.db_path().display()),
                None => cfg.milvus_uri.clone(),
            };
            outln!("collection: {}", info.name)?;
            outln!("rows:       {}", info.rows)?;
            outln!(
                "model:      {}",
                info.model.as_deref().unwrap_or("(not set by shihua)")
            )?;
            outln!("dim:        {}", info.dim)?;
            match &info.index {
                Some(ix) => outln!("{}", index_line(ix, ""))?,
                None => outln!("index:      none yet")?,
            }
            outln!("load state: {}", info.load_state)?;
            outln!("data:       {place}")?;
            if let Some(advice) = info
                .index
                .as_ref()
                .and_then(|ix| crate::store::sizing::advice(ix, info.rows))
            {
                outln!("advice:     {advice}")?;
            }
            Ok(())
        }
        CollectionCmd::Index { rebuild } => {
            anyhow::ensure!(
                store.has_collection().await?,
                "collection {name} does not exist yet; run `shihua index <folder>`"
            );
            let removed = crate::ingest::shard::dedup(store, |_| true).await?;
            store.flush().await?;
            if rebuild {
                store.drop_index().await?;
            }
            let started = std::time::Instant::now();
            store.build_index_and_load().await?;
            let info = store.describe().await?;
            outln!("duplicate rows removed: {removed}")?;
            outln!("rows:       {}", info.rows)?;
            if let Some(ix) = &info.index {
                let took = format!(", {:.1} s", started.elapsed().as_secs_f64());
                outln!("{}", index_line(ix, &took))?;
            }
            outln!("load state: {}", info.load_state)?;
            Ok(())
        }
        CollectionCmd::Drop { yes } => {
            anyhow::ensure!(
                yes,
                "this deletes every row of {name}; run again with --yes to do it"
            );
            store.drop_collection().await?;
            outln!("dropped {name}")?;
            Ok(())
        }
    }
}
