//! The combined-query language, shared by the page, the server functions and the JSON API
//! (as rclip does): a text is one or more terms joined by `+` and `-`, each optionally weighted
//! with a `2*` prefix, e.g. `夕阳 - 城市` or `2*大海 + 0.5*夕阳`. The query vector is the
//! normalised weighted sum of the terms' embeddings (plus an uploaded picture or a photo from
//! the collection, each with its own weight).

use serde::{Deserialize, Serialize};

/// Most terms one query may combine.
pub const MAX_TERMS: usize = 8;
/// Largest weight one term may carry.
pub const MAX_WEIGHT: f32 = 10.0;

/// One text term and its signed weight (negative: subtract it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub text: String,
    pub weight: f32,
}

/// Why a query text is not a valid combination.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("一次最多组合 {MAX_TERMS} 项 · at most {MAX_TERMS} terms can be combined")]
    TooManyTerms,
    #[error("权重须在 0 与 {MAX_WEIGHT} 之间 · a weight must be between 0 and {MAX_WEIGHT}: {0}")]
    BadWeight(String),
}

/// True for the characters that join terms. ASCII `+`/`-` join only where they are not
/// inside a word (`well-known`, `C-3PO` stay literal); the full-width forms always join.
fn is_operator(prev: Option<char>, c: char, next: Option<char>) -> Option<f32> {
    let sign = match c {
        '+' | '＋' => 1.0,
        '-' | '－' | '−' => -1.0,
        _ => return None,
    };
    if c.is_ascii() {
        let wordy = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if wordy(prev) && wordy(next) {
            return None;
        }
    }
    Some(sign)
}

/// Splits a query text into weighted terms. Plain text (no operator) is one term of weight 1.
/// Empty terms are dropped; an empty text gives no terms.
pub fn parse_terms(text: &str) -> Result<Vec<Term>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut terms = Vec::new();
    let mut sign = 1.0f32;
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        match is_operator(prev, c, next) {
            Some(s) => {
                push_term(&mut terms, &current, sign)?;
                current.clear();
                sign = s;
            }
            None => current.push(c),
        }
    }
    push_term(&mut terms, &current, sign)?;
    if terms.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms);
    }
    Ok(terms)
}

fn push_term(terms: &mut Vec<Term>, raw: &str, sign: f32) -> Result<(), QueryError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(());
    }
    let (weight, text) = split_weight(raw)?;
    if !text.is_empty() {
        terms.push(Term {
            text: text.to_string(),
            weight: sign * weight,
        });
    }
    Ok(())
}

/// `2*夕阳` → (2, "夕阳"); `夕阳` → (1, "夕阳").
fn split_weight(raw: &str) -> Result<(f32, &str), QueryError> {
    let Some(pos) = raw.find(['*', '×']) else {
        return Ok((1.0, raw));
    };
    let number = raw[..pos].trim();
    let looks_numeric =
        !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.');
    if !looks_numeric {
        return Ok((1.0, raw));
    }
    let op_len = raw[pos..].chars().next().map_or(1, char::len_utf8);
    let weight = check_weight(number)?;
    Ok((weight, raw[pos + op_len..].trim()))
}

/// Parses a weight given as text (also the `w` URL parameter of a query picture).
pub fn check_weight(s: &str) -> Result<f32, QueryError> {
    match s.trim().parse::<f32>() {
        Ok(w) if w.is_finite() && w > 0.0 && w <= MAX_WEIGHT => Ok(w),
        _ => Err(QueryError::BadWeight(s.to_string())),
    }
}

/// How a list of terms reads back, e.g. `夕阳 − 城市` or `2×大海 + 夕阳`.
pub fn describe(terms: &[Term]) -> String {
    let mut out = String::new();
    for (i, t) in terms.iter().enumerate() {
        let w = t.weight.abs();
        if i > 0 || t.weight < 0.0 {
            out.push_str(if t.weight < 0.0 { " − " } else { " + " });
        }
        if (w - 1.0).abs() > 1e-6 {
            out.push_str(&format!("{w}×"));
        }
        out.push_str(&t.text);
    }
    out.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str, weight: f32) -> Term {
        Term {
            text: text.into(),
            weight,
        }
    }

    #[test]
    fn plain_text_is_one_term() {
        assert_eq!(
            parse_terms("枯藤老树昏鸦").unwrap(),
            vec![t("枯藤老树昏鸦", 1.0)]
        );
        assert_eq!(parse_terms("  ").unwrap(), vec![]);
    }

    #[test]
    fn plus_and_minus_join_terms() {
        assert_eq!(
            parse_terms("夕阳 - 城市").unwrap(),
            vec![t("夕阳", 1.0), t("城市", -1.0)]
        );
        assert_eq!(
            parse_terms("夕阳-城市+大海").unwrap(),
            vec![t("夕阳", 1.0), t("城市", -1.0), t("大海", 1.0)]
        );
        assert_eq!(
            parse_terms("夕阳－城市＋大海").unwrap(),
            vec![t("夕阳", 1.0), t("城市", -1.0), t("大海", 1.0)]
        );
    }

    #[test]
    fn hyphens_inside_words_stay_literal() {
        assert_eq!(
            parse_terms("a well-known C-3PO").unwrap(),
            vec![t("a well-known C-3PO", 1.0)]
        );
        assert_eq!(
            parse_terms("sunset - city").unwrap(),
            vec![t("sunset", 1.0), t("city", -1.0)]
        );
    }

    #[test]
    fn weights_are_prefixes() {
        assert_eq!(
            parse_terms("2*大海 - 0.5×城市").unwrap(),
            vec![t("大海", 2.0), t("城市", -0.5)]
        );
        // A star that is not after a number is text.
        assert_eq!(parse_terms("星*空").unwrap(), vec![t("星*空", 1.0)]);
        assert!(matches!(
            parse_terms("0*大海"),
            Err(QueryError::BadWeight(_))
        ));
        assert!(matches!(
            parse_terms("99*大海"),
            Err(QueryError::BadWeight(_))
        ));
    }

    #[test]
    fn empty_terms_are_dropped_and_count_is_limited() {
        assert_eq!(parse_terms("- - 夕阳 +").unwrap(), vec![t("夕阳", -1.0)]);
        assert_eq!(
            parse_terms(&["山"; 9].join(" + ")),
            Err(QueryError::TooManyTerms)
        );
    }

    #[test]
    fn describe_reads_back() {
        let terms = parse_terms("2*大海 - 城市 + 夕阳").unwrap();
        assert_eq!(describe(&terms), "2×大海 − 城市 + 夕阳");
        assert_eq!(describe(&parse_terms("- 城市").unwrap()), "− 城市");
    }
}
