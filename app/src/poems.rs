//! Poems, shared by client and server: a corpus line found for a picture or a text
//! (以图寻诗), a whole-poem storyboard (以诗配图), their queries, and the storyboard's
//! "another photo" choices as the URL carries them. The `#[server]` functions that fetch them
//! are in `api`; the server implements them through the `SearchService` port.

use serde::{Deserialize, Serialize};

use crate::search::Hit;

/// Lines shown in the "这张照片像哪句诗" panel when the URL does not say.
pub const DEFAULT_POEM_K: usize = 5;
/// The most lines one poem query may ask for.
pub const MAX_POEM_K: usize = 50;

/// One corpus line found for a query, with the poem it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoemLine {
    /// The line, without punctuation.
    pub text: String,
    pub title: String,
    pub author: String,
    pub dynasty: String,
    /// Corpus id of the poem, e.g. `tang300-0001`.
    pub poem_id: String,
    /// Position of the line in its poem, from 1.
    pub line: u32,
    /// Cosine similarity with the query (0 for suggestions).
    pub score: f32,
}

/// What to find poem lines for: an uploaded picture (`img`), a collection photo (`like`),
/// or a text (`q`); the first one given is used (`w` is not). The same fields as a photo
/// search, so one type serves both.
pub type PoemQuery = crate::search::Query;

/// One row of a storyboard: a line of the poem and the photo chosen for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoryLine {
    pub text: String,
    /// `None` when the collection has fewer photos than the poem has lines.
    pub photo: Option<Hit>,
    /// How many times "another photo" was asked for this line (from the URL).
    pub alt: u32,
}

/// A whole poem illustrated line by line, no photo twice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Storyboard {
    pub lines: Vec<StoryLine>,
    /// The poem had more lines than a storyboard takes; the rest were left out.
    pub truncated: bool,
    pub took_ms: u64,
}

/// A corpus poem, for "pick a poem by title".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusPoem {
    pub id: String,
    pub title: String,
    pub author: String,
    pub dynasty: String,
    /// The whole text, one paragraph a line, punctuation kept.
    pub text: String,
}

/// Clamp a requested line count into `1..=MAX_POEM_K`.
pub fn clamp_poem_k(k: Option<usize>) -> usize {
    k.unwrap_or(DEFAULT_POEM_K).clamp(1, MAX_POEM_K)
}

/// The "another photo" choices as the URL carries them: `alt=<line>.<n>_<line>.<n>`.
pub fn alts_param(alts: &[(usize, u32)]) -> String {
    alts.iter()
        .filter(|(_, n)| *n > 0)
        .map(|(l, n)| format!("{l}.{n}"))
        .collect::<Vec<_>>()
        .join("_")
}

/// Parses `alt=`; anything malformed is ignored.
pub fn parse_alts(s: &str) -> Vec<(usize, u32)> {
    s.split(['_', ',', ' '])
        .filter_map(|p| {
            let (l, n) = p.split_once('.')?;
            Some((l.parse().ok()?, n.parse().ok()?))
        })
        .filter(|&(l, n): &(usize, u32)| l < 40 && n > 0 && n < 1000)
        .collect()
}

/// `alts` with one more "another photo" for `line`.
pub fn bump_alt(alts: &[(usize, u32)], line: usize) -> Vec<(usize, u32)> {
    let mut out: Vec<(usize, u32)> = alts.iter().copied().filter(|(l, _)| *l != line).collect();
    let n = alts
        .iter()
        .filter(|(l, _)| *l == line)
        .map(|(_, n)| *n)
        .next_back()
        .unwrap_or(0);
    out.push((line, n + 1));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_choices_round_trip_through_the_url() {
        let alts = vec![(0, 1), (3, 2)];
        assert_eq!(alts_param(&alts), "0.1_3.2");
        assert_eq!(parse_alts(&alts_param(&alts)), alts);
        assert_eq!(bump_alt(&alts, 3), vec![(0, 1), (3, 3)]);
        assert_eq!(bump_alt(&alts, 5), vec![(0, 1), (3, 2), (5, 1)]);
        assert_eq!(parse_alts("x_1.y_2.0_99.1_5.1"), vec![(5, 1)]);
    }
}
