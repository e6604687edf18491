//! `shihua search`: the same search the site runs (text or picture → ranked photos), printed
//! as ranked file paths with scores, or as JSON.

use std::path::PathBuf;

use anyhow::Context;
use app::search::{clamp_k, SearchService};

use crate::config::Common;
use crate::search::SearchEngine;
use crate::{outln, startup};

// The flags of `shihua search`.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// The poem line (omit with --image).
    text: Option<String>,
    /// Search with a picture instead.
    #[arg(long)]
    image: Option<PathBuf>,
    /// How many results.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(cfg: &Common, args: SearchArgs) -> anyhow::Result<()> {
    let SearchArgs {
        text,
        image,
        k,
        json,
    } = args;
    let (opened, encoder) = startup::open_store_and_encoder(cfg, false).await?;
    opened.store.ensure_collection(false).await?;
    opened.store.load().await?;
    let svc = SearchEngine::new(encoder, opened.store.clone(), usize::MAX);
    let k = clamp_k(Some(k));
    let result = match (text, image) {
        (_, Some(path)) => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            svc.search_image(bytes, k).await
        }
        (Some(text), None) => svc.search_text(&text, k).await,
        (None, None) => anyhow::bail!("give a text to search for, or --image PATH"),
    };
    opened.close().await;
    let res = result.map_err(|e| anyhow::anyhow!(e))?;
    if json {
        outln!("{}", serde_json::to_string(&res.hits)?)?;
    } else {
        for (i, h) in res.hits.iter().enumerate() {
            outln!("{:>3}  {:.4}  {}", i + 1, h.score, h.filepath)?;
        }
    }
    Ok(())
}
