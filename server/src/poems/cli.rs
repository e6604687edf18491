//! `shihua poems index` (embed every corpus line into `poem_lines`; resumable, with a
//! progress bar) and `shihua poems search "<text>"` (the closest corpus lines).

use app::poems::{clamp_poem_k, PoemQuery};
use clap::Subcommand;

use super::{Corpus, PoemLines};
use crate::config::Common;
use crate::search::SearchEngine;
use crate::startup;

#[derive(Subcommand)]
pub enum PoemsCmd {
    /// Embed every line of the bundled corpus (10,926 lines) with the text tower into the
    /// `poem_lines` collection. Resumable: lines already stored for this model are skipped.
    Index {
        /// Only the first N poems (for a quick try).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// The corpus lines closest to a text.
    Search {
        text: String,
        #[arg(short, default_value_t = 5)]
        k: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cfg: &Common, action: PoemsCmd) -> anyhow::Result<()> {
    let encoder = startup::open_encoder(cfg, false)?;
    let opened = startup::open_store(cfg, encoder.spec()).await?;
    let result = async {
        let poems =
            PoemLines::connect(opened.store.config(), &startup::poem_collection(cfg)).await?;
        match action {
            PoemsCmd::Index { limit } => {
                let corpus = Corpus::bundled();
                let lines: Vec<_> = match limit {
                    Some(n) => {
                        let ids: std::collections::HashSet<&str> =
                            corpus.poems.iter().take(n).map(|p| p.id.as_str()).collect();
                        corpus
                            .lines
                            .iter()
                            .filter(|l| ids.contains(l.poem_id.as_str()))
                            .cloned()
                            .collect()
                    }
                    None => corpus.lines.clone(),
                };
                let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
                let summary = poems.index(&encoder, &lines, progress).await?;
                crate::outln!("{summary}")?;
                Ok(())
            }
            PoemsCmd::Search { text, k, json } => {
                poems.store().load().await?;
                let svc = SearchEngine::new(encoder.clone(), opened.store.clone(), usize::MAX)
                    .with_poems(std::sync::Arc::new(poems));
                let query = PoemQuery {
                    q: text,
                    ..Default::default()
                };
                let lines = svc
                    .find_lines(query, clamp_poem_k(Some(k)))
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
                if json {
                    crate::outln!("{}", serde_json::to_string(&lines)?)?;
                } else {
                    for (i, l) in lines.iter().enumerate() {
                        crate::outln!(
                            "{:>3}  {:.4}  {}  ——{}〔{}〕《{}》",
                            i + 1,
                            l.score,
                            l.text,
                            l.author,
                            l.dynasty,
                            l.title
                        )?;
                    }
                }
                Ok(())
            }
        }
    }
    .await;
    opened.close().await;
    result
}
