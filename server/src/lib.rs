//! shihua server library: everything native (CLIP encoding, Milvus store, ingest, HTTP).
//! `main.rs` is a thin clap front-end over these modules.

pub mod clip;
pub mod config;
pub mod http;
pub mod ingest;
pub mod picture_queue;
pub mod poems;
pub mod query_images;
pub mod search;
pub mod serve;
pub mod service;
pub mod startup;
pub mod store;
pub mod thumbnail;
pub mod visible_path;

/// The old path of `ingest::shard`, kept for the code that still names it.
pub use self::ingest::shard as ingest_shard;
