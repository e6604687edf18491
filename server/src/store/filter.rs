//! The one place a search filter becomes a Milvus boolean expression. It takes typed values
//! only (absolute folder prefixes, seconds since the epoch, an orientation) and writes every
//! string through [`string_literal`], so no value can change the expression's shape.
//!
//! How each filter is written, and why (checked on Milvus Lite 2.5.1; Milvus 2.3's parser
//! unquotes string literals the same way, with Go's `strconv.Unquote`):
//! - folder: a prefix range on the path field, `filepath >= "P/" and filepath < "P0"` (`0`
//!   follows `/` in byte order, so exactly the paths that start with `P/` are in the range).
//!   Not `like "P/%"`: there `%` and `_` in a folder name would be wildcards, and Milvus' ways of
//!   escaping them differ between versions (Lite 2.5.1 refuses `\%` and crashes on `\_`).
//!   Several indexed roots give one range per root, joined with `or`.
//! - dates: `taken_at >= A and taken_at < B` on the dynamic field (integers). Rows indexed
//!   before `taken_at` existed have none and never match a date filter.
//! - orientation: `orient == "landscape"` on a dynamic field written at index time: Milvus
//!   cannot compare two JSON fields (`width > height` fails on Lite 2.5.1).
//!
//! String literals are double-quoted with `\` and `"` escaped; a value with a control character
//! (a newline cannot be written inside a literal at all) is refused, never passed on.

use crate::store::row::{ORIENT, TAKEN_AT};

/// A filter, typed and ready to be written as an expression. `None` fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowFilter {
    /// Absolute folder prefixes, each ending in `/`: a row matches if its path starts with
    /// any of them. `Some(vec![])` matches nothing (the caller should not search at all).
    pub prefixes: Option<Vec<String>>,
    /// Taken at or after (seconds since the epoch).
    pub taken_from: Option<i64>,
    /// Taken before (seconds since the epoch).
    pub taken_before: Option<i64>,
    /// `landscape`, `portrait` or `square`.
    pub orient: Option<app::filters::Orient>,
}

/// A Milvus filter expression, made only by [`RowFilter::expr`] (so every one the store runs
/// was built here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterExpr(String);

impl FilterExpr {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A value the expression language cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot filter by {0:?}: it has a control character")]
pub struct Unwritable(pub String);

impl RowFilter {
    pub fn is_empty(&self) -> bool {
        self == &RowFilter::default()
    }

    /// The Milvus boolean expression for this filter on a collection whose path field is
    /// `path_field` (`None` when nothing is filtered). Each part is parenthesised and the
    /// parts are joined with `and`.
    pub fn expr(&self, path_field: &str) -> Result<Option<FilterExpr>, Unwritable> {
        let mut parts = Vec::new();
        if let Some(prefixes) = &self.prefixes {
            let ranges = prefixes
                .iter()
                .map(|p| prefix_range(path_field, p))
                .collect::<Result<Vec<_>, _>>()?;
            parts.push(match ranges.len() {
                // Never true: auto ids are positive. (The engine does not search then.)
                0 => format!("{} < 0", crate::store::row::ID_FIELD),
                _ => ranges.join(" or "),
            });
        }
        if let Some(t) = self.taken_from {
            parts.push(format!("{TAKEN_AT} >= {t}"));
        }
        if let Some(t) = self.taken_before {
            parts.push(format!("{TAKEN_AT} < {t}"));
        }
        if let Some(o) = self.orient {
            parts.push(format!("{ORIENT} == {}", string_literal(o.as_str())?));
        }
        Ok(match parts.len() {
            0 => None,
            _ => Some(FilterExpr(
                parts
                    .iter()
                    .map(|p| format!("({p})"))
                    .collect::<Vec<_>>()
                    .join(" and "),
            )),
        })
    }
}

/// The rows whose `field` starts with the folder `prefix` (a `/` is added when it has none):
/// `prefix/` ≤ path < `prefix0`.
fn prefix_range(field: &str, prefix: &str) -> Result<String, Unwritable> {
    let head = prefix.strip_suffix('/').unwrap_or(prefix);
    Ok(format!(
        "{field} >= {} and {field} < {}",
        string_literal(&format!("{head}/"))?,
        string_literal(&format!("{head}0"))?
    ))
}

/// `s` as a double-quoted Milvus string literal: `\` → `\\`, `"` → `\"`, everything else as
/// it is (any Unicode); a control character is refused.
pub fn string_literal(s: &str) -> Result<String, Unwritable> {
    if s.chars().any(char::is_control) {
        return Err(Unwritable(s.chars().take(40).collect()));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::filters::Orient;

    /// Reads back a string literal written by `string_literal` the way Milvus' lexer does: the
    /// literal ends at the first unescaped `"`. Returns (the value, what follows the literal).
    fn read_literal(s: &str) -> (String, &str) {
        let mut chars = s.char_indices();
        assert_eq!(chars.next(), Some((0, '"')));
        let mut value = String::new();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next().expect("an escape is complete").1),
                '"' => return (value, &s[i + 1..]),
                c => value.push(c),
            }
        }
        panic!("unterminated literal in {s:?}");
    }

    #[test]
    fn hostile_strings_stay_one_literal() {
        let long = "长".repeat(5000);
        for hostile in [
            r#"a" or id > 0 or "b"#,
            r#"\"#,
            r#"\\" or 1 == 1 or \\""#,
            r#"x") or (id >= 0"#,
            "[1, 2] and $meta[\"taken_at\"] > 0",
            "' or '1'='1",
            "100%_done",
            "杭州/西湖 🌸",
            long.as_str(),
        ] {
            let lit = string_literal(hostile).unwrap();
            let (value, rest) = read_literal(&lit);
            assert_eq!(value, hostile);
            assert_eq!(rest, "", "{hostile:?} ends its literal early: {lit}");
        }
        for bad in ["a\nb", "a\rb", "a\u{0}b", "tab\there"] {
            assert!(string_literal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_filter_is_one_parenthesised_clause() {
        assert_eq!(RowFilter::default().expr("filepath").unwrap(), None);
        let f = RowFilter {
            prefixes: Some(vec!["/p/2019/".into(), "/q/2019/".into()]),
            taken_from: Some(100),
            taken_before: Some(200),
            orient: Some(Orient::Portrait),
        };
        assert_eq!(
            f.expr("filepath").unwrap().unwrap().as_str(),
            r#"(filepath >= "/p/2019/" and filepath < "/p/20190" or filepath >= "/q/2019/" and filepath < "/q/20190") and (taken_at >= 100) and (taken_at < 200) and (orient == "portrait")"#
        );
        let quoted = RowFilter {
            prefixes: Some(vec![r#"/p/a" or id > 0 or "/"#.into()]),
            ..RowFilter::default()
        };
        let e = quoted.expr("filepath").unwrap().unwrap();
        assert_eq!(
            e.as_str(),
            r#"(filepath >= "/p/a\" or id > 0 or \"/" and filepath < "/p/a\" or id > 0 or \"0")"#
        );
        let nothing = RowFilter {
            prefixes: Some(vec![]),
            ..RowFilter::default()
        };
        assert_eq!(
            nothing.expr("filepath").unwrap().unwrap().as_str(),
            "(id < 0)"
        );
        let newline = RowFilter {
            prefixes: Some(vec!["/p/a\nb/".into()]),
            ..RowFilter::default()
        };
        assert!(newline.expr("filepath").is_err());
    }

    #[test]
    fn a_prefix_range_holds_exactly_the_paths_under_the_folder() {
        // Byte order, as Milvus compares VARCHAR.
        let inside = |path: &str, prefix: &str| {
            let upper = format!("{}0", prefix.strip_suffix('/').unwrap());
            path >= prefix && path < upper.as_str()
        };
        let p = "/r/a/";
        for (path, want) in [
            ("/r/a/x.jpg", true),
            ("/r/a/b/c.jpg", true),
            ("/r/a", false),
            ("/r/a0/x.jpg", false),
            ("/r/a%b/x.jpg", false),
            ("/r/a_b/x.jpg", false),
            ("/r/a.b/x.jpg", false),
            ("/r/ab/x.jpg", false),
            ("/r/a/杭州.jpg", true),
        ] {
            assert_eq!(inside(path, p), want, "{path}");
        }
    }
}
