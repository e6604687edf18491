//! The HTTP side: router assembly (`routes.rs`), photo and thumbnail serving by id
//! (`media.rs`), the JSON API (`api.rs`, poems in `poems_api.rs`), the one multipart reader
//! (`upload.rs`), the script-free upload form (`upload_form.rs`), share cards (`card.rs`),
//! the health check (`health.rs`), the indexing progress stream (`progress.rs`) and the site's protections (`security.rs`, `fairness.rs`,
//! `busy.rs`).

pub mod api;
pub mod assets;
pub mod base_path;
pub mod busy;
pub mod card;
pub mod fairness;
pub mod health;
pub mod media;
pub mod poems_api;
pub mod progress;
pub mod routes;
pub mod security;
pub mod upload;
pub mod upload_form;

pub use routes::{router, router_with, AppState, WebOptions};
