//! Poems: `shihua poems index|search` (`cli`), the bundled classical corpus (`corpus`), the one line splitter (`split`), the
//! `poem_lines` collection of embedded corpus lines (`store`), the storyboard's optimal
//! photo assignment (`storyboard`), share cards (`card`), and the search service's poem methods (`service`):
//! 以图寻诗 (photo → poem lines) and 以诗配图 (a whole poem → one photo per line).
//! docs/poetry.md describes them for users.

pub mod card;
pub mod cli;
pub mod corpus;
pub mod service;
pub mod split;
pub mod store;
pub mod storyboard;

pub use self::corpus::{Corpus, CorpusLine, Poem};
pub use self::store::{PoemIndexSummary, PoemLines};
