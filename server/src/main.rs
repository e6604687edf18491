//! The `shihua` command: parse flags, set up logging, and hand over to the library (the
//! command bodies are in `server::cli`).

use clap::{Parser, Subcommand};
use server::cli::{self, collection::CollectionCmd, models::ModelsCmd};
use server::config::{Common, ServeArgs};
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
    Index(cli::index::IndexArgs),
    /// Search from the command line: ranked file paths with scores.
    Search(cli::search::SearchArgs),
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
    Embed(cli::embed::EmbedArgs),
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
        if cli::is_broken_pipe(&e) {
            // The reader went away (`| head`): nothing to report, like other command-line tools.
            std::process::exit(0);
        }
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
    let cfg: Common = cli.common;
    match cli.command {
        Command::Serve(args) => serve::run(&cfg, &args).await,
        Command::Index(args) => cli::index::run(&cfg, args).await,
        Command::Search(args) => cli::search::run(&cfg, args).await,
        Command::Collection { action } => cli::collection::run(&cfg, action).await,
        Command::Models { action } => cli::models::run(&cfg, action).await,
        Command::Poems { action } => server::poems::cli::run(&cfg, action).await,
        Command::Embed(args) => cli::embed::run(&cfg, args),
    }
}
