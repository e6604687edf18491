//! Shim: the search engine moved to `crate::search` and is called `SearchEngine` now. These
//! old names keep code that still says `service::Shihua` compiling until it is updated.

pub use crate::search::*;

/// The old name of [`SearchEngine`].
pub type Shihua = SearchEngine;
