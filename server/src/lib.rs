//! shihua server library: everything native (CLIP encoding, Milvus store, ingest, HTTP).
//! `main.rs` is a thin clap front-end over these modules.

pub mod cli;
pub mod clip;
pub mod config;
pub mod fold;
pub mod folders;
pub mod http;
pub mod image;
pub mod ingest;
pub mod models;
pub mod paths;
pub mod picture_queue;
pub mod poems;
pub mod progress;
pub mod query_images;
pub mod search;
pub mod serve;
pub mod startup;
pub mod store;
pub mod visible_path;
pub mod watch;
