//! The HTTP side: router assembly (`routes.rs`), photo and thumbnail serving by id
//! (`media.rs`) and the health check (`health.rs`).

pub mod health;
pub mod media;
pub mod routes;

pub use routes::{router, AppState};
