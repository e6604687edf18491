//! Text tokenisation with cn_clip's tokenizer (`models/tokenizer.json`, built from cn_clip's
//! BERT vocab): `[CLS] … [SEP]`, truncated at the context length (52), `[PAD]` = 0. The batch
//! is trimmed to its longest real sequence: with the attention mask the `[CLS]` output is the
//! same, and short poems cost about a third of the 52-token pass.

use std::path::Path;

use super::ClipError;

pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    context_length: usize,
}

/// Token ids of a batch, row-major `[batch, seq_len]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    pub ids: Vec<i64>,
    pub batch: usize,
    pub seq_len: usize,
    /// Per text: it was longer than the context and was cut.
    pub truncated: Vec<bool>,
}

impl TextTokenizer {
    pub fn load(path: &Path, context_length: usize) -> Result<Self, ClipError> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| ClipError::Tokenizer {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            inner,
            context_length,
        })
    }

    /// Ids padded to the context length, exactly as cn_clip's `tokenize` makes them.
    pub fn encode_padded(&self, texts: &[&str]) -> Result<TokenBatch, ClipError> {
        let encodings =
            self.inner
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| ClipError::Tokenizer {
                    path: "tokenizer.json".into(),
                    reason: e.to_string(),
                })?;
        let n = self.context_length;
        let mut ids = vec![0i64; texts.len() * n];
        let mut truncated = Vec::with_capacity(texts.len());
        for (row, enc) in encodings.iter().enumerate() {
            for (j, id) in enc.get_ids().iter().take(n).enumerate() {
                ids[row * n + j] = i64::from(*id);
            }
            truncated.push(!enc.get_overflowing().is_empty() || enc.get_ids().len() > n);
        }
        Ok(TokenBatch {
            ids,
            batch: texts.len(),
            seq_len: n,
            truncated,
        })
    }

    /// Ids trimmed to the longest non-padding sequence in the batch.
    pub fn encode(&self, texts: &[&str]) -> Result<TokenBatch, ClipError> {
        let padded = self.encode_padded(texts)?;
        Ok(trim_padding(padded))
    }
}

/// Drop trailing columns that are padding (id 0) in every row.
pub fn trim_padding(b: TokenBatch) -> TokenBatch {
    let longest = (0..b.batch)
        .map(|r| {
            let row = &b.ids[r * b.seq_len..(r + 1) * b.seq_len];
            row.iter().rposition(|&id| id != 0).map_or(0, |p| p + 1)
        })
        .max()
        .unwrap_or(0)
        .max(1);
    if longest == b.seq_len {
        return b;
    }
    let mut ids = Vec::with_capacity(b.batch * longest);
    for r in 0..b.batch {
        ids.extend_from_slice(&b.ids[r * b.seq_len..r * b.seq_len + longest]);
    }
    TokenBatch {
        ids,
        batch: b.batch,
        seq_len: longest,
        truncated: b.truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_the_longest_row() {
        let b = TokenBatch {
            ids: vec![101, 5, 102, 0, 0, 101, 7, 8, 102, 0],
            batch: 2,
            seq_len: 5,
            truncated: vec![false, false],
        };
        let t = trim_padding(b);
        assert_eq!(t.seq_len, 4);
        assert_eq!(t.ids, vec![101, 5, 102, 0, 101, 7, 8, 102]);
    }
}
