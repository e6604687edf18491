//! `shihua search`: the same search the site runs (text or picture → ranked photos, narrowed
//! by the same filters: `--in`, `--from`, `--to`, `--orient`), printed as ranked file paths
//! with scores, or as JSON. Identical files and near-identical photos are folded as on the
//! site (indented under their result); `--all` unfolds.

use std::path::PathBuf;

use anyhow::Context;
use app::search::{clamp_k, Filters, Hit, Query, SearchService};

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
    /// Every hit on its own line: no folding of copies and near-identical photos.
    #[arg(long)]
    all: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Only photos in this folder (and below it); a relative folder is taken from the
    /// current directory.
    #[arg(long = "in", value_name = "FOLDER")]
    folder: Option<PathBuf>,
    /// Only photos taken on or after this date: YYYY, YYYY-MM or YYYY-MM-DD (EXIF date, else
    /// the file's mtime; read as UTC).
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Only photos taken on or before this date (the whole year, month or day).
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Only landscape, portrait or square photos.
    #[arg(long, value_name = "ORIENT")]
    orient: Option<String>,
}

/// The folder as an absolute path (the CLI shows and stores paths absolute).
fn absolute_folder(folder: PathBuf) -> String {
    let abs = std::fs::canonicalize(&folder).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(&folder))
            .unwrap_or(folder)
    });
    abs.to_string_lossy().into_owned()
}

pub async fn run(cfg: &Common, args: SearchArgs) -> anyhow::Result<()> {
    let SearchArgs {
        text,
        image,
        k,
        all,
        json,
        folder,
        from,
        to,
        orient,
    } = args;
    let filters = Filters {
        folder: folder.map(absolute_folder),
        from,
        to,
        orient,
    };
    // Bad filter values are refused before anything starts.
    filters.check().map_err(|e| anyhow::anyhow!(e))?;
    let (opened, encoder) = startup::open_store_and_encoder(cfg, false).await?;
    opened.store.ensure_collection(false).await?;
    opened.store.load().await?;
    let svc = SearchEngine::new(encoder, opened.store.clone(), usize::MAX)
        .with_fold_threshold(cfg.fold_threshold);
    let k = clamp_k(Some(k));
    let result = match (text, image) {
        (_, Some(path)) => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            match svc.remember_image(bytes).await {
                Ok(id) => {
                    let query = Query {
                        img: Some(id),
                        all,
                        filters,
                        ..Default::default()
                    };
                    svc.search(query, k).await
                }
                Err(e) => Err(e),
            }
        }
        (Some(text), None) => {
            let query = Query {
                all,
                filters,
                ..Query::text(text)
            };
            svc.search(query, k).await
        }
        (None, None) => anyhow::bail!("give a text to search for, or --image PATH"),
    };
    opened.close().await;
    let res = result.map_err(|e| anyhow::anyhow!(e))?;
    if json {
        outln!("{}", serde_json::to_string(&res.hits)?)?;
    } else {
        for (i, h) in res.hits.iter().enumerate() {
            outln!("{:>3}  {:.4}  {}", i + 1, h.score, h.filepath)?;
            print_folded(h, "     ")?;
        }
    }
    Ok(())
}

/// The copies of `h` (`=`) and the near-identical photos folded under it (`~`, with their
/// own copies), indented under it.
fn print_folded(h: &Hit, indent: &str) -> anyhow::Result<()> {
    for d in &h.duplicates {
        outln!("{indent}        = {}", d.filepath)?;
    }
    for s in &h.similar {
        outln!("{indent}~ {:.4}  {}", s.score, s.filepath)?;
        print_folded(s, &format!("{indent}  "))?;
    }
    Ok(())
}
