//! The storyboard's choice of photos: one photo per line, no photo twice, the largest total
//! score — an optimal assignment (Hungarian method, `pathfinding`'s `kuhn_munkres`) over
//! the lines × candidate photos matrix — and "another photo" for a line (its next best photo
//! that no other line uses).
//!
//! Each line brings its own top-K photos (K ≥ number of lines). Pairs outside a line's list
//! are never chosen, and that loses nothing: if line i took a photo outside its list, one of
//! its K ≥ n listed photos (each scoring at least as much) is free, since the other n − 1
//! lines hold at most n − 1 of them. So the optimum over the lists is an optimum over all
//! photos. With fewer photos than lines, the lines left over get none.

use std::collections::HashMap;

use pathfinding::prelude::{kuhn_munkres, Matrix};

/// A candidate photo for a line: its id and cosine score.
pub type Candidate = (i64, f32);

/// Scores become integers for the solver: 1e-6 resolution.
const SCALE: f64 = 1e6;
/// Weight of "no photo" (a padding column): below any real score.
const NONE: i64 = -1_000_000_000_000;
/// Weight of a pair outside a line's list: below "no photo", so never chosen.
const UNLISTED: i64 = 2 * NONE;

fn weight(score: f32) -> i64 {
    (f64::from(score) * SCALE).round() as i64
}

/// The photo (index into that line's `candidates`) for every line, maximising the total
/// score with no photo used twice; `None` where no unused photo was left for the line.
pub fn assign(candidates: &[Vec<Candidate>]) -> Vec<Option<usize>> {
    let n = candidates.len();
    if n == 0 {
        return Vec::new();
    }
    // Columns: every distinct photo, then one "no photo" column per line.
    let mut photos: Vec<i64> = Vec::new();
    let mut col: HashMap<i64, usize> = HashMap::new();
    for line in candidates {
        for &(id, _) in line {
            col.entry(id).or_insert_with(|| {
                photos.push(id);
                photos.len() - 1
            });
        }
    }
    let cols = photos.len() + n;
    let mut m = Matrix::new(n, cols, UNLISTED);
    for (i, line) in candidates.iter().enumerate() {
        for &(id, score) in line {
            let c = col[&id];
            // A photo listed twice for one line: its best score counts.
            let w = weight(score);
            if m[(i, c)] < w {
                m[(i, c)] = w;
            }
        }
        for j in photos.len()..cols {
            m[(i, j)] = NONE;
        }
    }
    let (_, chosen) = kuhn_munkres(&m);
    chosen
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let id = *photos.get(c)?;
            candidates[i].iter().position(|&(p, _)| p == id)
        })
        .collect()
}

/// Applies "another photo" choices to an assignment: for each `(line, n)` in `alts` (in the
/// order given), the line takes the n-th best photo of its list that no other line holds
/// (n = 1: the best such photo other than the assigned one), wrapping around that list.
/// Lines not named keep their photo; a photo is never used twice.
pub fn apply_alts(
    candidates: &[Vec<Candidate>],
    assigned: &[Option<usize>],
    alts: &[(usize, u32)],
) -> Vec<Option<usize>> {
    let mut chosen = assigned.to_vec();
    for &(line, n) in alts {
        if line >= candidates.len() || n == 0 {
            continue;
        }
        let taken: std::collections::HashSet<i64> = chosen
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != line)
            .filter_map(|(i, c)| c.map(|c| candidates[i][c].0))
            .collect();
        let current = assigned[line].map(|c| candidates[line][c].0);
        // The line's own list, best first, without photos held by other lines.
        let mut free: Vec<usize> = (0..candidates[line].len())
            .filter(|&c| !taken.contains(&candidates[line][c].0))
            .collect();
        free.sort_by(|&a, &b| {
            candidates[line][b]
                .1
                .total_cmp(&candidates[line][a].1)
                .then(a.cmp(&b))
        });
        let mut seen = std::collections::HashSet::new();
        free.retain(|&c| seen.insert(candidates[line][c].0));
        // Its current photo first, then the others: the n-th press lands n places further.
        if let Some(pos) = free
            .iter()
            .position(|&c| Some(candidates[line][c].0) == current)
        {
            let cur = free.remove(pos);
            free.insert(0, cur);
        }
        if free.is_empty() {
            continue;
        }
        chosen[line] = Some(free[n as usize % free.len()]);
    }
    chosen
}

/// The total score of a choice.
pub fn total(candidates: &[Vec<Candidate>], chosen: &[Option<usize>]) -> f64 {
    chosen
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| f64::from(candidates[i][c].1)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), enough for test matrices.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The best total over every repeat-free choice, by trying them all.
    fn brute_force(c: &[Vec<Candidate>], i: usize, used: &mut Vec<i64>) -> f64 {
        if i == c.len() {
            return 0.0;
        }
        let mut best = brute_force(c, i + 1, used); // this line without a photo
        for &(id, s) in &c[i] {
            if used.contains(&id) {
                continue;
            }
            used.push(id);
            best = best.max(f64::from(s) + brute_force(c, i + 1, used));
            used.pop();
        }
        best
    }

    fn photo_ids(c: &[Vec<Candidate>], chosen: &[Option<usize>]) -> Vec<i64> {
        chosen
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.map(|x| c[i][x].0))
            .collect()
    }

    fn repeat_free(ids: &[i64]) -> bool {
        let set: std::collections::HashSet<_> = ids.iter().collect();
        set.len() == ids.len()
    }

    #[test]
    fn assignment_is_optimal_and_repeat_free_against_brute_force() {
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        for round in 0..400 {
            let lines = 1 + rng.below(5) as usize;
            let photos = 1 + rng.below(7) as i64;
            // Every line lists some of the photos (K varies; sometimes fewer photos than lines).
            let c: Vec<Vec<Candidate>> = (0..lines)
                .map(|_| {
                    let k = 1 + rng.below(photos as u64) as usize;
                    let mut ids: Vec<i64> = (0..photos).collect();
                    for j in (1..ids.len()).rev() {
                        ids.swap(j, rng.below(j as u64 + 1) as usize);
                    }
                    ids.truncate(k);
                    ids.into_iter()
                        .map(|id| (id * 7 + 3, (rng.below(2001) as f32 / 1000.0) - 1.0))
                        .collect()
                })
                .collect();
            let chosen = assign(&c);
            assert_eq!(chosen.len(), lines);
            let ids = photo_ids(&c, &chosen);
            assert!(repeat_free(&ids), "round {round}: {c:?} → {chosen:?}");
            let best = brute_force(&c, 0, &mut Vec::new());
            // "No photo" only where no photo can be had: the assignment covers as many lines
            // as it can, and among those choices it is the best. When every line can have a
            // photo, that is the brute-force optimum over full assignments.
            let got = total(&c, &chosen);
            let covered = ids.len();
            let max_cover = max_cover(&c);
            assert_eq!(covered, max_cover, "round {round}: {c:?} → {chosen:?}");
            if max_cover == lines {
                let best_full = brute_force_full(&c, 0, &mut Vec::new()).unwrap();
                assert!(
                    (got - best_full).abs() < 1e-4,
                    "round {round}: {got} vs {best_full}"
                );
            }
            assert!(got <= best + 1e-4);
        }
    }

    /// Best total over choices that give every line a photo, if there is one.
    fn brute_force_full(c: &[Vec<Candidate>], i: usize, used: &mut Vec<i64>) -> Option<f64> {
        if i == c.len() {
            return Some(0.0);
        }
        let mut best: Option<f64> = None;
        for &(id, s) in &c[i] {
            if used.contains(&id) {
                continue;
            }
            used.push(id);
            if let Some(rest) = brute_force_full(c, i + 1, used) {
                best = Some(best.map_or(s as f64 + rest, |b: f64| b.max(s as f64 + rest)));
            }
            used.pop();
        }
        best
    }

    /// Most lines that can get distinct photos (brute force).
    fn max_cover(c: &[Vec<Candidate>]) -> usize {
        fn go(c: &[Vec<Candidate>], i: usize, used: &mut Vec<i64>) -> usize {
            if i == c.len() {
                return 0;
            }
            let mut best = go(c, i + 1, used);
            for &(id, _) in &c[i] {
                if !used.contains(&id) {
                    used.push(id);
                    best = best.max(1 + go(c, i + 1, used));
                    used.pop();
                }
            }
            best
        }
        go(c, 0, &mut Vec::new())
    }

    #[test]
    fn a_shared_favourite_goes_where_it_adds_most() {
        // Both lines like photo 1 best; line 0 has a near-equal second choice, line 1 not.
        let c = vec![vec![(1, 0.9), (2, 0.89)], vec![(1, 0.8), (3, 0.1)]];
        let chosen = assign(&c);
        assert_eq!(photo_ids(&c, &chosen), [2, 1]);
        // Greedy (line by line) would have taken 1 for line 0: 0.9 + 0.1 < 0.89 + 0.8.
        assert!(total(&c, &chosen) > 0.9 + 0.1);
    }

    #[test]
    fn another_photo_is_the_next_best_unused() {
        let c = vec![
            vec![(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)],
            vec![(2, 0.95), (1, 0.5), (3, 0.4), (4, 0.3)],
        ];
        let chosen = assign(&c);
        assert_eq!(photo_ids(&c, &chosen), [1, 2]);
        // Line 0, once: the best photo line 1 does not hold, other than its own: 3.
        let once = apply_alts(&c, &chosen, &[(0, 1)]);
        assert_eq!(photo_ids(&c, &once), [3, 2]);
        let twice = apply_alts(&c, &chosen, &[(0, 2)]);
        assert_eq!(photo_ids(&c, &twice), [4, 2]);
        // Past the end it wraps to the original.
        let thrice = apply_alts(&c, &chosen, &[(0, 3)]);
        assert_eq!(photo_ids(&c, &thrice), [1, 2]);
        // Two lines changed: still no repeats.
        for a in 1..6 {
            for b in 1..6 {
                let both = apply_alts(&c, &chosen, &[(0, a), (1, b)]);
                assert!(repeat_free(&photo_ids(&c, &both)), "{a} {b}");
            }
        }
    }

    #[test]
    fn empty_and_photo_poor_boards() {
        assert!(assign(&[]).is_empty());
        let c = vec![vec![(1, 0.5)], vec![(1, 0.6)], vec![]];
        let chosen = assign(&c);
        assert_eq!(photo_ids(&c, &chosen), [1]);
        assert_eq!(chosen[1], Some(0));
    }
}
