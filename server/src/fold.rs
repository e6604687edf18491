//! Duplicates in the results: one page of hits is folded so that identical files (same
//! SHA-256) are one result listing the other copies (`Hit::duplicates`, "also in …"), and a
//! near-identical photo (cosine ≥ the threshold, `app::search::FOLD_THRESHOLD`, to a
//! better-ranked result that is kept) is folded under that result (`Hit::similar`, "+N").
//! Greedy in rank order: each hit, best first, is a copy of a result (or of a photo folded
//! under one) when its SHA-256 matches, else folded under the best-ranked kept result it is
//! near, else a result of its own.
//!
//! Pages stay windows of one ranking (Milvus `offset`, as without folding), so no photo is on
//! two pages and none is lost; folding happens within a page. One thing crosses a page
//! boundary: the hits that start the next window and are copies or near-identical photos of
//! the last hit of this one (a burst, or copies, that a boundary would cut in two) belong to
//! this page — at most `LOOKAHEAD` of them and never a whole page (`page_range`; the page
//! after computes the same run from the same ranks and starts after it). Near-identical
//! photos further apart in the ranking can still appear on two pages, each once.
//! `all=1` (`Query::all`) turns folding off: plain windows, every hit its own result.

use std::collections::HashMap;
use std::ops::Range;

use app::search::{Duplicate, Hit, SearchError, MAX_WINDOW};

use crate::search::SearchEngine;
use crate::store::Fingerprint;

/// Most hits a page takes over from the start of the next window (a burst or copies cut by
/// the boundary); never more than `k - 1`, so no page is emptied.
pub const LOOKAHEAD: usize = 10;

/// A hit and what folding compares.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub hit: Hit,
    /// SHA-256 of the file (hex), when the row has one.
    pub sha256: Option<String>,
    /// The stored embedding, when known.
    pub vector: Option<Vec<f32>>,
}

/// Cosine similarity of two vectors (0 when either is zero or they differ in length).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

/// Whether `c` is the same file as `to` or a near-identical photo of it.
fn attached(c: &Candidate, to: &Candidate, threshold: f32) -> bool {
    let same_file = matches!((&c.sha256, &to.sha256), (Some(a), Some(b)) if a == b);
    same_file || matches!((&c.vector, &to.vector), (Some(a), Some(b)) if cosine(a, b) >= threshold)
}

/// Folds `hits` (best first); `threshold: None` (`all=1`) leaves every hit a result of its
/// own. Results keep their rank order; so do the copies and folded photos under each.
pub fn fold(hits: Vec<Candidate>, threshold: Option<f32>) -> Vec<Hit> {
    let Some(threshold) = threshold else {
        return hits.into_iter().map(|c| c.hit).collect();
    };
    let mut kept: Vec<(Hit, Option<Vec<f32>>)> = Vec::new();
    // SHA-256 → (result, which of its folded photos, if one).
    let mut files: HashMap<String, (usize, Option<usize>)> = HashMap::new();
    for c in hits {
        if let Some(&(r, s)) = c.sha256.as_ref().and_then(|h| files.get(h)) {
            let copy = Duplicate {
                id: c.hit.id,
                filepath: c.hit.filepath,
            };
            let owner = &mut kept[r].0;
            match s {
                Some(s) => owner.similar[s].duplicates.push(copy),
                None => owner.duplicates.push(copy),
            }
            continue;
        }
        let near = c.vector.as_ref().and_then(|v| {
            kept.iter()
                .position(|(_, kv)| kv.as_ref().is_some_and(|kv| cosine(v, kv) >= threshold))
        });
        let place = match near {
            Some(r) => {
                kept[r].0.similar.push(c.hit);
                (r, Some(kept[r].0.similar.len() - 1))
            }
            None => {
                kept.push((c.hit, c.vector));
                (kept.len() - 1, None)
            }
        };
        if let Some(h) = c.sha256 {
            files.insert(h, place);
        }
    }
    kept.into_iter().map(|(h, _)| h).collect()
}

/// How many hits at the start of `next` are copies or near-identical photos of `last`
/// (stops at the first that is not).
pub fn attached_run(last: &Candidate, next: &[Candidate], threshold: f32) -> usize {
    next.iter()
        .take_while(|c| attached(c, last, threshold))
        .count()
}

/// Which of `fetched` a folded page shows, and whether a next page has results.
/// `fetched` are the hits from rank `offset - lead` on (`lead` = 1 on pages after the first:
/// the previous window's last hit comes first), through rank `offset + limit + cap` when the
/// ranking has them; `cap` = `LOOKAHEAD.min(k - 1)` for pages of `k`. The page is its window
/// `offset .. offset + limit`, less the run the previous page took over, plus the run it
/// takes over from the next window.
pub fn page_range(
    fetched: &[Candidate],
    lead: usize,
    limit: usize,
    cap: usize,
    threshold: f32,
) -> (Range<usize>, bool) {
    let run = |at: usize| {
        let Some(last) = at.checked_sub(1).and_then(|i| fetched.get(i)) else {
            return 0;
        };
        let next = fetched.get(at..).unwrap_or(&[]);
        attached_run(last, &next[..next.len().min(cap)], threshold)
    };
    let start = lead + if lead > 0 { run(lead) } else { 0 };
    let nominal_end = lead + limit;
    let end = if fetched.len() <= nominal_end {
        fetched.len()
    } else {
        nominal_end + run(nominal_end)
    };
    let start = start.min(end);
    (start..end, fetched.len() > end)
}

impl SearchEngine {
    /// Page `page` of `k` results for a query vector, folded with `threshold`, and whether a
    /// next page has results: the window of the ranking with one hit before it (pages after
    /// the first) and `LOOKAHEAD` + 1 after it, their SHA-256s and vectors (one query by id),
    /// then `page_range` and `fold`.
    pub(crate) async fn folded_page(
        &self,
        v: &[f32],
        k: usize,
        page: u32,
        threshold: f32,
        filter: Option<&crate::store::FilterExpr>,
    ) -> Result<(Vec<Hit>, bool), SearchError> {
        let (offset, limit) = app::search::page_window(k, page)?;
        let cap = LOOKAHEAD.min(k.max(1) - 1);
        let lead = usize::from(offset > 0);
        let from = offset - lead;
        let stop = (offset + limit + cap + 1).min(MAX_WINDOW);
        let stored = self.stored_page(v, from, stop - from, filter).await?;
        let ids: Vec<i64> = stored.iter().map(|h| h.id).collect();
        let mut prints = self
            .store()
            .fingerprints(&ids)
            .await
            .map_err(crate::search::store_error)?;
        let fetched: Vec<Candidate> = stored
            .into_iter()
            .map(|h| {
                let Fingerprint { sha256, vector } = prints.remove(&h.id).unwrap_or_default();
                Candidate {
                    hit: self.to_hit(h),
                    sha256,
                    vector,
                }
            })
            .collect();
        let (range, more) = page_range(&fetched, lead, limit, cap, threshold);
        let page_hits = fetched.into_iter().skip(range.start).take(range.len());
        Ok((fold(page_hits.collect(), Some(threshold)), more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A candidate `id` with a file hash and a 2-d direction at `deg` degrees.
    fn c(id: u32, sha: &str, deg: f32) -> Candidate {
        let r = deg.to_radians();
        Candidate {
            hit: Hit::new(
                id.to_string(),
                format!("d{id}/{id}.jpg"),
                format!("{id}.jpg"),
                1.0,
            ),
            sha256: Some(sha.to_owned()),
            vector: Some(vec![r.cos(), r.sin()]),
        }
    }

    fn ids(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.id.as_str()).collect()
    }

    // cos 8° = 0.9903 (near-identical at 0.98), cos 12° = 0.9781 (not).
    const NEAR: f32 = 8.0;
    const APART: f32 = 12.0;
    const T: f32 = app::search::FOLD_THRESHOLD;

    #[test]
    fn identical_files_are_one_result_with_their_copies() {
        let out = fold(
            vec![c(1, "a", 0.0), c(2, "b", 90.0), c(3, "a", 0.0)],
            Some(T),
        );
        assert_eq!(ids(&out), ["1", "2"]);
        assert_eq!(out[0].duplicates.len(), 1);
        assert_eq!(out[0].duplicates[0].id, "3");
        assert_eq!(out[0].duplicates[0].filepath, "d3/3.jpg");
        assert!(out[0].similar.is_empty() && out[1].duplicates.is_empty());
    }

    #[test]
    fn near_identical_photos_fold_under_the_better_ranked_one() {
        let out = fold(
            vec![
                c(1, "a", 0.0),
                c(2, "b", NEAR),
                c(3, "c", 90.0),
                c(4, "d", -NEAR),
            ],
            Some(T),
        );
        assert_eq!(ids(&out), ["1", "3"]);
        assert_eq!(ids(&out[0].similar), ["2", "4"]);
        assert_eq!(out[0].folded(), 2);
        assert!(out[1].similar.is_empty());
    }

    #[test]
    fn below_the_threshold_stays_a_result() {
        let out = fold(vec![c(1, "a", 0.0), c(2, "b", APART)], Some(T));
        assert_eq!(ids(&out), ["1", "2"]);
        assert!(out
            .iter()
            .all(|h| h.similar.is_empty() && h.duplicates.is_empty()));
        // Exactly at the threshold folds.
        let at = Candidate {
            vector: Some(vec![T, (1.0 - T * T).sqrt()]),
            ..c(2, "b", 0.0)
        };
        assert_eq!(fold(vec![c(1, "a", 0.0), at], Some(T)).len(), 1);
    }

    #[test]
    fn only_kept_results_attract_and_rank_order_is_kept() {
        // 2 folds under 1; 3 is near 2 but not 1: it is a result of its own, after 1.
        let out = fold(
            vec![
                c(1, "a", 0.0),
                c(2, "b", NEAR),
                c(3, "c", 2.0 * NEAR),
                c(4, "d", 180.0),
            ],
            Some(T),
        );
        assert_eq!(ids(&out), ["1", "3", "4"]);
        assert_eq!(ids(&out[0].similar), ["2"]);
    }

    #[test]
    fn a_copy_of_a_folded_photo_is_listed_under_that_photo() {
        let out = fold(
            vec![c(1, "a", 0.0), c(2, "b", NEAR), c(3, "b", NEAR)],
            Some(T),
        );
        assert_eq!(ids(&out), ["1"]);
        assert_eq!(ids(&out[0].similar), ["2"]);
        assert_eq!(out[0].similar[0].duplicates[0].id, "3");
        assert!(out[0].duplicates.is_empty());
    }

    #[test]
    fn without_a_hash_or_vector_a_hit_stays_a_result() {
        let bare = |id| Candidate {
            sha256: None,
            vector: None,
            ..c(id, "", 0.0)
        };
        let out = fold(vec![c(1, "a", 0.0), bare(2), bare(3)], Some(T));
        assert_eq!(ids(&out), ["1", "2", "3"]);
    }

    #[test]
    fn all_unfolds() {
        let hits = vec![c(1, "a", 0.0), c(2, "a", 0.0), c(3, "b", NEAR)];
        let out = fold(hits, None);
        assert_eq!(ids(&out), ["1", "2", "3"]);
        assert!(out
            .iter()
            .all(|h| h.similar.is_empty() && h.duplicates.is_empty()));
    }

    /// Ranks 0..n where the given ranks repeat the direction (and file) of the rank before.
    fn ranking(n: u32, burst: &[u32]) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        for i in 0..n {
            if burst.contains(&i) {
                let prev = out.last().unwrap().clone();
                out.push(Candidate {
                    hit: Hit::new(i.to_string(), format!("{i}.jpg"), format!("{i}.jpg"), 1.0),
                    ..prev
                });
            } else {
                out.push(c(i, &format!("s{i}"), i as f32 * 20.0));
            }
        }
        out
    }

    #[test]
    fn a_page_takes_over_the_burst_its_boundary_cuts() {
        // Pages of 4; ranks 4 and 5 are copies of rank 3 (the last of page 1).
        let all = ranking(12, &[4, 5]);
        let cap = LOOKAHEAD.min(3);
        // Page 1: ranks 0..=3, plus 4 and 5; fetched 0 .. 4 + cap + 1.
        let (r1, more1) = page_range(&all[..8], 0, 4, cap, T);
        assert_eq!((r1.clone(), more1), (0..6, true));
        // Page 2 (fetched from rank 3): starts after the run, at rank 6, ends at rank 7.
        let (r2, more2) = page_range(&all[3..12], 1, 4, cap, T);
        let ranks2: Vec<usize> = r2.clone().map(|i| i + 3).collect();
        assert_eq!((ranks2, more2), (vec![6, 7], true));
        // Folded, page 1 is four results, the last with two copies.
        let page1 = fold(all[r1].to_vec(), Some(T));
        assert_eq!(ids(&page1), ["0", "1", "2", "3"]);
        assert_eq!(page1[3].duplicates.len(), 2);
    }

    #[test]
    fn a_run_never_empties_a_page_and_the_end_is_exact() {
        // Everything after rank 0 is a copy of it: page 1 (k = 4) takes 3 more at most.
        let all = ranking(10, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let cap = LOOKAHEAD.min(3);
        let (r1, more1) = page_range(&all[..8], 0, 4, cap, T);
        assert_eq!((r1, more1), (0..7, true));
        let (r2, _) = page_range(&all[3..10], 1, 4, cap, T);
        assert_eq!(r2.start + 3, 7, "page 2 starts where page 1 stopped");
        // k = 1: nothing is taken over (cap = LOOKAHEAD.min(k - 1) = 0).
        let (r, more) = page_range(&all[..2], 0, 1, 0, T);
        assert_eq!((r, more), (0..1, true));
        // The last results: no next page.
        let (r, more) = page_range(&all[..3], 0, 4, cap, T);
        assert_eq!((r, more), (0..3, false));
        // A run that reaches the end of the results: page 1 takes it all, no next page.
        let short = ranking(6, &[4, 5]);
        assert_eq!(page_range(&short, 0, 4, cap, T), (0..6, false));
    }
}
