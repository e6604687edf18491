//! `shihua embed`: the normalised embedding of a text or a picture, printed as a JSON array.

use std::path::PathBuf;

use anyhow::Context;

use crate::clip::preprocess;
use crate::config::Common;
use crate::{outln, startup};

// The flags of `shihua embed`.
#[derive(clap::Args)]
pub struct EmbedArgs {
    #[arg(long, conflicts_with = "image", required_unless_present = "image")]
    text: Option<String>,
    #[arg(long)]
    image: Option<PathBuf>,
}

pub fn run(cfg: &Common, args: EmbedArgs) -> anyhow::Result<()> {
    let encoder = startup::open_encoder(cfg, false)?;
    let v = match (args.text, args.image) {
        (Some(t), _) => encoder.embed_texts(&[t.as_str()])?.vectors.remove(0),
        (None, Some(p)) => {
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            let (t, _) = preprocess::preprocess_bytes(
                &bytes,
                encoder.preprocess_spec(),
                preprocess::DEFAULT_MAX_PIXELS,
            )?;
            encoder.embed_pixels(t, 1)?.remove(0)
        }
        (None, None) => unreachable!("clap requires one"),
    };
    outln!("{}", serde_json::to_string(&v)?)?;
    Ok(())
}
