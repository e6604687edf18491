//! Reusable view components, one concern per file.

pub mod examples;
pub mod filter_row;
pub mod gallery;
pub mod index_progress;
pub mod lang_switch;
pub mod lightbox;
pub mod model_banner;
pub mod pager;
pub mod poem_box;
pub mod poem_panel;
pub mod query_summary;
pub mod share;
pub mod share_meta;
pub mod states;
pub mod suggest;
pub mod upload;
