//! The `shihua` command: parse flags, set up logging, and hand over to the library.

use std::path::PathBuf;

use anyhow::Context;
use app::search::{clamp_k, SearchService};
use clap::{Parser, Subcommand};
use server::clip::fetch::{self, FetchOptions};
use server::config::{Common, ServeArgs};
use server::ingest::{self, IndexOptions};
use server::service::Shihua;
use server::{serve, startup};

#[derive(Parser)]
#[command(
    name = "shihua",
    version,
    about = "诗画: search photos with a line of classical Chinese poetry, or with another photo"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the website (default http://127.0.0.1:3000).
    Serve(ServeArgs),
    /// Index every photo under a folder into Milvus.
    Index {
        /// Photo folder (searched recursively).
        dir: PathBuf,
        /// Rows per Milvus insert (the reference uses 300).
        #[arg(long, default_value_t = 300)]
        batch_size: usize,
        /// Images per model call (default: 16 on the CPU, 32 on a GPU).
        #[arg(long)]
        encode_batch: Option<usize>,
        /// File extensions to index (comma-separated, case-insensitive).
        #[arg(long, value_delimiter = ',', default_value = "jpg,jpeg,png,webp")]
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
        shard: Option<server::ingest_shard::Shard>,
        /// Threads decoding photos beside the model (0: one per core).
        #[arg(long, env = "SHIHUA_DECODE_THREADS", default_value_t = 0)]
        decode_threads: usize,
    },
    /// Search from the command line: ranked file paths with scores.
    Search {
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
    },
    /// Inspect or drop the collection.
    Collection {
        #[command(subcommand)]
        action: CollectionCmd,
    },
    /// Download real model weights, or list the models and whether their files are here.
    Models {
        #[command(subcommand)]
        action: ModelsCmd,
    },
    /// The classical poem corpus: embed its lines into `poem_lines`, or search them.
    Poems {
        #[command(subcommand)]
        action: server::poems::cli::PoemsCmd,
    },
    /// Print the normalised embedding of a text or a picture as a JSON array.
    Embed {
        #[arg(long, conflicts_with = "image", required_unless_present = "image")]
        text: Option<String>,
        #[arg(long)]
        image: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModelsCmd {
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
enum Source {
    Hub,
    Modelscope,
}

#[derive(Subcommand)]
enum CollectionCmd {
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

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,ort=warn,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    if let Err(e) = rt.block_on(run(cli)) {
        if let Some(unavailable) = e.downcast_ref::<startup::ModelUnavailable>() {
            // One paragraph that already says what to do; its own status for scripts/run.sh.
            eprintln!("\n{unavailable}\n");
            std::process::exit(startup::EXIT_MODEL_UNAVAILABLE);
        }
        // The whole chain of causes, without a backtrace: these messages are for people.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

/// glibc gives threads that allocate concurrently their own malloc arenas (up to 8 per core)
/// and seldom hands their freed memory back: with ONNX Runtime, rayon and tokio's blocking
/// threads that made the server's RSS climb by ~500 MB under a 50-client load. Two arenas keep
/// it flat; allocation is not the bottleneck next to the model.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = cli.common;
    match cli.command {
        Command::Serve(args) => serve::run(&cfg, &args).await,
        Command::Index {
            dir,
            batch_size,
            encode_batch,
            ext,
            recreate,
            hidden,
            prune,
            shard,
            decode_threads,
        } => {
            // --variant auto follows the rows already there, unless they are about to go.
            let (opened, encoder) = if recreate {
                let encoder = startup::open_encoder(&cfg, false)?;
                (startup::open_store(&cfg, encoder.spec()).await?, encoder)
            } else {
                startup::open_store_and_encoder(&cfg, false).await?
            };
            // The site shows paths relative to this folder (server/src/visible_path.rs).
            if let Err(e) = server::visible_path::remember_folder(&cfg.data_dir, &dir) {
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
            let result = ingest::index_folder(encoder, opened.store.clone(), opts).await;
            opened.close().await;
            let summary = result?;
            println!("{summary}");
            Ok(())
        }
        Command::Search {
            text,
            image,
            k,
            json,
        } => {
            let (opened, encoder) = startup::open_store_and_encoder(&cfg, false).await?;
            opened.store.ensure_collection(false).await?;
            opened.store.load().await?;
            let svc = Shihua::new(encoder, opened.store.clone(), usize::MAX);
            let k = clamp_k(Some(k));
            let result = match (text, image) {
                (_, Some(path)) => {
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    svc.search_image(bytes, k).await
                }
                (Some(text), None) => svc.search_text(&text, k).await,
                (None, None) => anyhow::bail!("give a text to search for, or --image PATH"),
            };
            opened.close().await;
            let res = result.map_err(|e| anyhow::anyhow!(e))?;
            if json {
                println!("{}", serde_json::to_string(&res.hits)?);
            } else {
                for (i, h) in res.hits.iter().enumerate() {
                    println!("{:>3}  {:.4}  {}", i + 1, h.score, h.filepath);
                }
            }
            Ok(())
        }
        Command::Collection { action } => {
            let (_, spec) = startup::model_spec(&cfg)?;
            let opened = startup::open_store(&cfg, &spec).await?;
            let result = collection(&cfg, &opened, action).await;
            opened.close().await;
            result
        }
        Command::Models { action } => models(&cfg, action).await,
        Command::Poems { action } => server::poems::cli::run(&cfg, action).await,
        Command::Embed { text, image } => {
            let encoder = startup::open_encoder(&cfg, false)?;
            let v = match (text, image) {
                (Some(t), _) => encoder.embed_texts(&[t.as_str()])?.vectors.remove(0),
                (None, Some(p)) => {
                    let bytes =
                        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
                    let (t, _) = server::clip::preprocess::preprocess_bytes(
                        &bytes,
                        encoder.preprocess_spec(),
                        server::clip::preprocess::DEFAULT_MAX_PIXELS,
                    )?;
                    encoder.embed_pixels(t, 1)?.remove(0)
                }
                (None, None) => unreachable!("clap requires one"),
            };
            println!("{}", serde_json::to_string(&v)?);
            Ok(())
        }
    }
}

async fn models(cfg: &Common, action: ModelsCmd) -> anyhow::Result<()> {
    let (manifest, spec) = startup::model_spec(cfg)?;
    match action {
        ModelsCmd::List => {
            print!("{}", fetch::format_statuses(&manifest, &cfg.model_dir));
            print!("{}", startup::describe_choice(cfg)?);
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
                let report = fetch::fetch_model(&manifest, &spec, &opts)?;
                let int8 = also_int8.then(|| {
                    let opts = FetchOptions {
                        variant: Some("int8".into()),
                        ..opts
                    };
                    fetch::fetch_model(&manifest, &spec, &opts)
                });
                Ok::<_, fetch::FetchError>((report, int8))
            })
            .await??;
            println!("{}", report.0);
            match report.1 {
                Some(Ok(int8)) => println!("{int8}"),
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
                println!("collection {name} does not exist yet; run `shihua index <folder>`");
                return Ok(());
            }
            let info = store.describe().await?;
            let place = match &opened.embedded {
                Some(e) => format!("{} (embedded Milvus Lite)", e.db_path().display()),
                None => cfg.milvus_uri.clone(),
            };
            println!("collection: {}", info.name);
            println!("rows:       {}", info.rows);
            println!(
                "model:      {}",
                info.model.as_deref().unwrap_or("(not set by shihua)")
            );
            println!("dim:        {}", info.dim);
            match &info.index {
                Some(ix) => {
                    let params: Vec<String> =
                        ix.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    println!(
                        "index:      {} {} {} ({})",
                        ix.index_type,
                        ix.metric_type,
                        params.join(" "),
                        ix.state
                    );
                }
                None => println!("index:      none yet"),
            }
            println!("load state: {}", info.load_state);
            println!("data:       {place}");
            if let Some(advice) = info
                .index
                .as_ref()
                .and_then(|ix| server::store::sizing::advice(ix, info.rows))
            {
                println!("advice:     {advice}");
            }
            Ok(())
        }
        CollectionCmd::Index { rebuild } => {
            anyhow::ensure!(
                store.has_collection().await?,
                "collection {name} does not exist yet; run `shihua index <folder>`"
            );
            let removed = server::ingest_shard::dedup(store, |_| true).await?;
            store.flush().await?;
            if rebuild {
                store.drop_index().await?;
            }
            let started = std::time::Instant::now();
            store.build_index_and_load().await?;
            let info = store.describe().await?;
            println!("duplicate rows removed: {removed}");
            println!("rows:       {}", info.rows);
            if let Some(ix) = &info.index {
                let params: Vec<String> =
                    ix.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "index:      {} {} {} ({}, {:.1} s)",
                    ix.index_type,
                    ix.metric_type,
                    params.join(" "),
                    ix.state,
                    started.elapsed().as_secs_f64()
                );
            }
            println!("load state: {}", info.load_state);
            Ok(())
        }
        CollectionCmd::Drop { yes } => {
            anyhow::ensure!(
                yes,
                "this deletes every row of {name}; run again with --yes to do it"
            );
            store.drop_collection().await?;
            println!("dropped {name}");
            Ok(())
        }
    }
}
