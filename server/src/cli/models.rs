//! `shihua models fetch|list`: install a model's graphs ([`crate::models`]), or list every
//! model of the manifest with whether its files are here and where they come from.

use crate::config::Common;
use crate::models::{self, FetchOptions};
use crate::{out, outln, startup};

#[derive(clap::Subcommand)]
pub enum ModelsCmd {
    /// Download the model picked by --model (default ViT-B-16) over HTTPS, verify it and split
    /// it into <model-dir>/<id>/image.onnx and text.onnx. Resumes an interrupted download.
    /// ViT-L-14, ViT-L-14-336, ViT-H-14 and RN50 come as cn_clip checkpoints: downloaded the
    /// same way, then converted into the two graphs without torch (models/convert).
    Fetch {
        /// Which weights: fp32, fp16 or int8 (the manifest lists them; default fp32). int8 is
        /// installed beside the float graphs, as image.int8.onnx / text.int8.onnx, and used
        /// with `--variant int8`; the others replace image.onnx / text.onnx.
        #[arg(long)]
        variant: Option<String>,
        /// Download from this server instead of Hugging Face (same <repo>/resolve/<rev>/<file>
        /// layout). Default: SHIHUA_MODELS_BASE_URL, else HF_ENDPOINT (a hub mirror, e.g.
        /// https://hf-mirror.com), else the manifest's [download] base_url.
        #[arg(long)]
        base_url: Option<String>,
        /// Keep the downloaded combined graph under <model-dir>/<id>/download/.
        #[arg(long)]
        keep_download: bool,
        /// Replace image.onnx/text.onnx that fetch did not write, or fetch again.
        #[arg(long)]
        force: bool,
        /// Where checkpoints (.pt) come from: the Hugging Face hub (or its mirror) or
        /// ModelScope (`AI-ModelScope/<repo>`, endpoint MODELSCOPE_DOMAIN or www.modelscope.cn).
        #[arg(long, env = "SHIHUA_MODELS_SOURCE", value_enum, default_value_t = Source::Hub)]
        source: Source,
    },
    /// Every model in the manifest: whether its files are here, and where they come from.
    List,
}

/// Where `shihua models fetch` downloads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    Hub,
    Modelscope,
}

pub async fn run(cfg: &Common, action: ModelsCmd) -> anyhow::Result<()> {
    let (manifest, spec) = startup::model_spec(cfg)?;
    match action {
        ModelsCmd::List => {
            out!("{}", models::format_statuses(&manifest, &cfg.model_dir))?;
            out!("{}", startup::describe_choice(cfg)?)?;
            Ok(())
        }
        ModelsCmd::Fetch {
            variant,
            base_url,
            keep_download,
            force,
            source,
        } => {
            // Where int8 pays (a CPU with VNNI/AMX), the default fetch brings it too.
            let also_int8 = variant.is_none() && startup::int8_pays_here(cfg, &spec);
            let opts = FetchOptions {
                variant,
                base_url,
                keep_download,
                force,
                modelscope: source == Source::Modelscope,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                ..FetchOptions::new(&cfg.model_dir)
            };
            let report = tokio::task::spawn_blocking(move || {
                let report = models::fetch_model(&manifest, &spec, &opts)?;
                let int8 = also_int8.then(|| {
                    let opts = FetchOptions {
                        variant: Some("int8".into()),
                        ..opts
                    };
                    models::fetch_model(&manifest, &spec, &opts)
                });
                Ok::<_, models::FetchError>((report, int8))
            })
            .await??;
            outln!("{}", report.0)?;
            match report.1 {
                Some(Ok(int8)) => outln!("{int8}")?,
                Some(Err(e)) => eprintln!(
                    "note: the int8 graphs (faster on this CPU, used by --variant auto) were \
                     not fetched: {e}"
                ),
                None => {}
            }
            Ok(())
        }
    }
}
