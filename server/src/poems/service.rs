//! The search service's poem methods (the `SearchService` port's `poem_lines` and
//! `storyboard`, implemented on [`SearchEngine`]): lines for a picture, a photo or a text from the
//! `poem_lines` collection, and a whole-poem storyboard over the photo collection.

use std::collections::HashMap;
use std::time::Instant;

use app::poems::{CorpusPoem, PoemLine, PoemQuery, StoryLine, Storyboard};
use app::search::{Hit, SearchError, MAX_K};

use super::split::split_poem;
use super::storyboard::{apply_alts, assign, Candidate};
use crate::search::{clean_query, store_error, SearchEngine};

/// Candidate photos per line beyond the number of lines (so "another photo" has room).
const EXTRA_CANDIDATES: usize = 8;

impl SearchEngine {
    /// 以图寻诗: the `k` corpus lines closest to an uploaded picture, a collection photo or a
    /// text (the first of `img`, `like`, `q` that is given).
    pub async fn find_lines(&self, q: PoemQuery, k: usize) -> Result<Vec<PoemLine>, SearchError> {
        let poems = self.poems().ok_or_else(not_indexed)?;
        let v: Vec<f32> = if let Some(id) = nonempty(&q.img) {
            self.query_images()
                .vector(id)
                .map(|v| v.as_ref().clone())
                .ok_or_else(|| {
                    SearchError::NotFound(
                        "这张查询图片已过期，请重新上传 · this query picture has expired: upload it again"
                            .into(),
                    )
                })?
        } else if let Some(like) = nonempty(&q.like) {
            let id: i64 = like
                .parse()
                .map_err(|_| SearchError::NotFound(format!("no photo with id {like:?}")))?;
            self.photo_vector(id).await?
        } else {
            self.embed_text(&clean_query(&q.q)?).await?.0
        };
        let hits = match poems.search(&v, k).await {
            Ok(hits) => hits,
            Err(e) => {
                return Err(match poems.count().await {
                    Ok(0) => not_indexed(),
                    _ => store_error(e),
                })
            }
        };
        Ok(hits)
    }

    /// 以诗配图: the poem split into lines (at most 40), every line's top photos, and the
    /// optimal repeat-free assignment, with "another photo" choices `alts` applied.
    pub async fn make_storyboard(
        &self,
        poem: &str,
        alts: &[(usize, u32)],
    ) -> Result<Storyboard, SearchError> {
        let start = Instant::now();
        let (lines, truncated) = split_poem(poem);
        if lines.is_empty() {
            return Err(SearchError::BadRequest(
                "请粘贴一首诗 · paste a whole poem: lines end at ，。！？； or a line break".into(),
            ));
        }
        let (vectors, _) = self.embed_texts(lines.clone()).await?;
        let most_alts = alts.iter().map(|(_, n)| *n as usize).max().unwrap_or(0);
        let k = (lines.len() + EXTRA_CANDIDATES + most_alts).min(MAX_K);
        let mut hits: HashMap<String, Hit> = HashMap::new();
        let mut candidates: Vec<Vec<Candidate>> = Vec::with_capacity(lines.len());
        for v in &vectors {
            let found = self.search_vector(v, k).await?;
            candidates.push(
                found
                    .iter()
                    .filter_map(|h| Some((h.id.parse::<i64>().ok()?, h.score)))
                    .collect(),
            );
            for h in found {
                hits.entry(h.id.clone()).or_insert(h);
            }
        }
        let chosen = apply_alts(&candidates, &assign(&candidates), alts);
        let lines = lines
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let photo = chosen[i].map(|c| {
                    let (id, score) = candidates[i][c];
                    Hit {
                        score,
                        ..hits[&id.to_string()].clone()
                    }
                });
                let alt = alts
                    .iter()
                    .filter(|(l, _)| *l == i)
                    .map(|(_, n)| *n)
                    .next_back()
                    .unwrap_or(0);
                StoryLine { text, photo, alt }
            })
            .collect();
        Ok(Storyboard {
            lines,
            truncated,
            took_ms: start.elapsed().as_millis() as u64,
        })
    }
}

/// Corpus poems whose title contains `title`, exact title first.
pub fn corpus_poems(title: &str, limit: usize) -> Vec<CorpusPoem> {
    super::Corpus::bundled()
        .find_title(title, limit)
        .into_iter()
        .map(|p| CorpusPoem {
            id: p.id.clone(),
            title: p.title.clone(),
            author: p.author.clone(),
            dynasty: p.dynasty.clone(),
            text: p.text(),
        })
        .collect()
}

/// Corpus lines for what is typed in the poem box.
pub fn suggestions(typed: &str, limit: usize) -> Vec<PoemLine> {
    super::Corpus::bundled()
        .suggest(typed, limit)
        .into_iter()
        .map(corpus_line)
        .collect()
}

/// Corpus id of 马致远《天净沙·秋思》, the reference article's poem: the first batch of
/// example chips.
const FIRST_EXAMPLES: &str = "yuanqu-0090";

/// Example chips: batch `page` of `n` corpus lines (batch 0: 天净沙·秋思).
pub fn examples(page: u64, n: usize) -> Vec<PoemLine> {
    let corpus = super::Corpus::bundled();
    let lines: Vec<&super::CorpusLine> = match page {
        0 => corpus
            .lines
            .iter()
            .filter(|l| l.poem_id == FIRST_EXAMPLES)
            .take(n)
            .collect(),
        p => corpus.examples(p - 1, n),
    };
    lines.into_iter().map(corpus_line).collect()
}

fn corpus_line(l: &super::CorpusLine) -> PoemLine {
    PoemLine {
        text: l.text.clone(),
        title: l.title.clone(),
        author: l.author.clone(),
        dynasty: l.dynasty.clone(),
        poem_id: l.poem_id.clone(),
        line: l.line,
        score: 0.0,
    }
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.trim().is_empty())
}

fn not_indexed() -> SearchError {
    SearchError::Unavailable(
        "诗句库尚未建立 · the poem lines are not indexed yet: run `shihua poems index`".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_examples_are_the_articles_poem() {
        let first: Vec<String> = examples(0, 5).into_iter().map(|l| l.text).collect();
        assert_eq!(
            first,
            [
                "枯藤老树昏鸦",
                "小桥流水人家",
                "古道西风瘦马",
                "夕阳西下",
                "断肠人在天涯"
            ]
        );
        assert_eq!(examples(0, 5)[0].author, "马致远");
        assert_ne!(examples(1, 5), examples(2, 5));
        assert_eq!(examples(3, 5).len(), 5);
    }
}
