//! The bundled poem corpus (`corpus/poems.jsonl`, see `corpus/SOURCE.md`), compiled into the
//! binary: its poems, their lines (split by [`super::split`]), lookups by poem id and title,
//! and the suggestions the poem box shows while typing (prefix matches first, then fuzzy
//! ones: the typed characters in order, with gaps).

use std::sync::OnceLock;

use serde::Deserialize;

use super::split::split_lines;

/// The corpus file, as built by `corpus/build.py`.
const POEMS_JSONL: &str = include_str!("../../../corpus/poems.jsonl");

/// One poem of the corpus.
#[derive(Clone, Debug, Deserialize)]
pub struct Poem {
    /// e.g. `tang300-0001`.
    pub id: String,
    /// e.g. `唐诗三百首`.
    pub collection: String,
    pub title: String,
    pub author: String,
    pub dynasty: String,
    /// The text as printed, punctuation kept.
    pub paragraphs: Vec<String>,
}

impl Poem {
    /// The whole text, one paragraph a line.
    pub fn text(&self) -> String {
        self.paragraphs.join("\n")
    }
}

/// One line of a corpus poem: what `poem_lines` stores besides the vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusLine {
    pub text: String,
    pub poem_id: String,
    /// Position in the poem, from 1.
    pub line: u32,
    pub title: String,
    pub author: String,
    pub dynasty: String,
}

/// The whole corpus and its lines.
pub struct Corpus {
    pub poems: Vec<Poem>,
    pub lines: Vec<CorpusLine>,
}

impl Corpus {
    /// Parses a JSON-lines corpus.
    pub fn parse(jsonl: &str) -> Result<Corpus, serde_json::Error> {
        let mut poems = Vec::new();
        for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
            poems.push(serde_json::from_str::<Poem>(line)?);
        }
        let lines = poems
            .iter()
            .flat_map(|p| {
                split_lines(&p.text())
                    .into_iter()
                    .enumerate()
                    .map(|(i, text)| CorpusLine {
                        text,
                        poem_id: p.id.clone(),
                        line: i as u32 + 1,
                        title: p.title.clone(),
                        author: p.author.clone(),
                        dynasty: p.dynasty.clone(),
                    })
            })
            .collect();
        Ok(Corpus { poems, lines })
    }

    /// The corpus compiled into shihua.
    pub fn bundled() -> &'static Corpus {
        static CORPUS: OnceLock<Corpus> = OnceLock::new();
        CORPUS.get_or_init(|| Corpus::parse(POEMS_JSONL).expect("corpus/poems.jsonl parses"))
    }

    pub fn poem(&self, id: &str) -> Option<&Poem> {
        self.poems.iter().find(|p| p.id == id)
    }

    /// Poems whose title contains `title` (an exact title first).
    pub fn find_title(&self, title: &str, limit: usize) -> Vec<&Poem> {
        let title = title.trim();
        if title.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<&Poem> = self
            .poems
            .iter()
            .filter(|p| p.title.contains(title))
            .collect();
        found.sort_by_key(|p| (p.title != title, p.title.chars().count()));
        found.truncate(limit);
        found
    }

    /// Corpus lines for what is typed: lines starting with it first, then lines containing
    /// it, then lines holding its characters in order with gaps; shorter lines first within
    /// each group, each text once.
    pub fn suggest(&self, typed: &str, limit: usize) -> Vec<&CorpusLine> {
        let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        if typed.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(u8, usize, &CorpusLine)> = Vec::new();
        for l in &self.lines {
            let rank = if l.text.starts_with(&typed) {
                0
            } else if l.text.contains(&typed) {
                1
            } else if in_order(&typed, &l.text) {
                2
            } else {
                continue;
            };
            scored.push((rank, l.text.chars().count(), l));
        }
        scored.sort_by_key(|&(rank, len, l)| (rank, len, &l.poem_id, l.line));
        let mut seen = std::collections::HashSet::new();
        scored
            .into_iter()
            .map(|(_, _, l)| l)
            .filter(|l| seen.insert(l.text.as_str()))
            .take(limit)
            .collect()
    }

    /// `n` lines for example chips, a different set for every `page` (deterministic).
    pub fn examples(&self, page: u64, n: usize) -> Vec<&CorpusLine> {
        // Lines of 4 to 7 characters read well as chips.
        let good: Vec<&CorpusLine> = self
            .lines
            .iter()
            .filter(|l| (4..=7).contains(&l.text.chars().count()))
            .collect();
        if good.is_empty() {
            return Vec::new();
        }
        // A fixed odd stride over the lines walks all of them before repeating.
        let stride = 7919usize;
        let start = (page as usize).wrapping_mul(n.max(1) * stride) % good.len();
        (0..n.min(good.len()))
            .map(|i| good[(start + i * stride) % good.len()])
            .collect()
    }
}

/// The characters of `needle` appear in `hay` in order (gaps allowed).
fn in_order(needle: &str, hay: &str) -> bool {
    let mut hay = hay.chars();
    needle.chars().all(|c| hay.any(|h| h == c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_corpus_has_its_documented_size() {
        let c = Corpus::bundled();
        assert_eq!(c.poems.len(), 991);
        assert_eq!(c.lines.len(), 10_926);
        let first = &c.lines[0];
        assert_eq!(
            (first.text.as_str(), first.poem_id.as_str(), first.line),
            ("西陆蝉声唱", "tang300-0001", 1)
        );
        assert!(c.lines.iter().all(|l| !l.text.is_empty() && l.line >= 1));
    }

    #[test]
    fn suggestions_prefix_then_contains_then_fuzzy() {
        let c = Corpus::bundled();
        let s = c.suggest("床前", 5);
        assert!(s.iter().all(|l| l.text.starts_with("床前")), "{s:?}");
        let moon = s.iter().find(|l| l.text == "床前明月光").unwrap();
        assert_eq!(
            (moon.title.as_str(), moon.author.as_str()),
            ("静夜思", "李白")
        );
        let fuzzy = c.suggest("枯鸦", 10);
        assert!(fuzzy.iter().any(|l| l.text == "枯藤老树昏鸦"), "{fuzzy:?}");
        assert!(c.suggest("", 5).is_empty());
        assert!(c.suggest("qqqq", 5).is_empty());
    }

    #[test]
    fn titles_and_examples() {
        let c = Corpus::bundled();
        assert_eq!(c.find_title("静夜思", 3)[0].author, "李白");
        let a = c.examples(0, 8);
        let b = c.examples(1, 8);
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
        assert_eq!(a, c.examples(0, 8));
    }
}
