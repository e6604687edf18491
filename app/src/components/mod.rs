//! Reusable view components, one concern per file.

pub mod gallery;
pub mod model_banner;
pub mod poem_box;
pub mod upload;
