//! The embedded Milvus Lite: the server binary found in the project's `.venv` (`find`), the
//! database file it serves with its lock and private `HOME` (`db`), the port it listens on
//! (`port`), the child process (`process`) and the watchdog that restarts it while
//! `shihua serve` runs (`watchdog`).

mod db;
mod find;
mod port;
pub mod process;
pub mod watchdog;

pub use self::find::find_lite_lib_dir;
pub use self::process::{EmbeddedMilvus, LOG_FILE};
pub use self::watchdog::spawn_watchdog;
