//! Our Rust pipeline computes what the reference computes: tokenizer ids identical to cn_clip's
//! on the committed corpus (models/testdata/tokenizer_cases.json, made by
//! models/scripts/make_tokenizer_cases.py), and fixture-model embeddings equal to
//! onnxruntime-python's (models/testdata/fixture_embeddings.json).

mod common;

use std::path::PathBuf;

use common::{cosine, floats};

use serde_json::Value;
use server::clip::tokenize::TextTokenizer;
use server::clip::ClipEncoder;

fn models_dir() -> PathBuf {
    common::repo().join("models")
}

fn json(path: &str) -> Value {
    let text = std::fs::read_to_string(models_dir().join(path)).expect("test data present");
    serde_json::from_str(&text).expect("valid json")
}

fn fixture_encoder() -> ClipEncoder {
    common::load_encoder("fixture", server::clip::Variant::Fp32, 1, true)
}

#[test]
fn tokenizer_matches_cn_clip_on_the_whole_corpus() {
    let cases = json("testdata/tokenizer_cases.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 200, "corpus has {} strings", cases.len());
    let tok = TextTokenizer::load(&models_dir().join("tokenizer.json"), 52).unwrap();
    let mut mismatches = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<i64> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        let got = tok.encode_padded(&[text]).unwrap();
        if got.ids != want {
            mismatches.push(text.to_string());
        }
        // A row that fills the whole context was cut (or fits exactly); shorter rows never are.
        if want[51] == 0 {
            assert!(!got.truncated[0], "{text:?} reported as truncated");
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ: {:?}",
        mismatches.len(),
        cases.len(),
        mismatches
    );
}

/// The strings where our tokenizer (the `tokenizers` crate) and cn_clip's are known to differ
/// (models/testdata/tokenizer_known_differences.json, kept out of the corpus above) give
/// exactly the recorded ids, which are not cn_clip's. If one of them starts to agree with
/// cn_clip (a fix, or a tokenizers upgrade), or to differ in a new way, this fails: move it
/// into the corpus or record the new ids.
#[test]
fn the_known_tokenizer_differences_stay_exactly_as_recorded() {
    let cases = json("testdata/tokenizer_known_differences.json");
    let cases = cases.as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        ["ΟΔΟΣ", "\u{e000}private", "月\u{f0000}光"],
        "the three recorded differences"
    );
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    };
    let tok = TextTokenizer::load(&models_dir().join("tokenizer.json"), 52).unwrap();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let ours = ids(&case["tokenizers_ids"]);
        let cn_clip = ids(&case["cn_clip_ids"]);
        assert_ne!(ours, cn_clip, "{text:?}: recorded as a difference");
        assert!(
            case["why"].as_str().is_some_and(|w| w.len() > 20),
            "{text:?}"
        );
        let got = tok.encode_padded(&[text]).unwrap();
        assert_eq!(got.ids, ours, "{text:?}: {}", case["why"]);
        // The same text inside a batch gives the same ids (padding is per batch).
        let batch = tok.encode_padded(&[text, "夕阳西下"]).unwrap();
        assert_eq!(batch.ids[..52], ours[..], "{text:?} in a batch");
    }
}

#[test]
fn over_long_text_is_cut_at_52_tokens_and_reported() {
    let tok = TextTokenizer::load(&models_dir().join("tokenizer.json"), 52).unwrap();
    let long = "床前明月光疑是地上霜举头望明月低头思故乡".repeat(5);
    let b = tok.encode(&[long.as_str(), "夕阳西下"]).unwrap();
    assert_eq!(b.seq_len, 52);
    assert_eq!(b.truncated, vec![true, false]);
    assert_eq!(b.ids[51], 102, "last kept token is [SEP]");
}

#[test]
fn text_embeddings_match_onnxruntime_python() {
    let refs = json("testdata/fixture_embeddings.json");
    let enc = fixture_encoder();
    let cases = refs["text"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    // Batched and one by one (padding trimmed differently) must both match.
    let batched = enc.embed_texts(&texts).unwrap();
    for (i, case) in cases.iter().enumerate() {
        let want = floats(&case["embedding"]);
        let single = enc.embed_texts(&[texts[i]]).unwrap();
        let c1 = cosine(&batched.vectors[i], &want);
        let c2 = cosine(&single.vectors[0], &want);
        assert!(
            c1 >= 0.9999 && c2 >= 0.9999,
            "{}: cosine {c1} / {c2}",
            texts[i]
        );
    }
}

#[test]
fn image_embedding_matches_onnxruntime_python() {
    let refs = json("testdata/fixture_embeddings.json");
    let enc = fixture_encoder();
    let mut pixels = vec![0f32; 3 * 224 * 224];
    for c in 0..3 {
        for y in 0..224 {
            for x in 0..224 {
                let k = (c * 7 + y * 3 + x) % 17;
                pixels[c * 224 * 224 + y * 224 + x] = (k as f32) / 17.0 - 0.5;
            }
        }
    }
    let got = enc.embed_pixels(pixels, 1).unwrap();
    let want = floats(&refs["image"]["embedding"]);
    let c = cosine(&got[0], &want);
    assert!(c >= 0.9999, "cosine {c}");
    let norm: f32 = got[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!(
        (norm - 1.0).abs() < 1e-4,
        "embedding is L2-normalised, norm {norm}"
    );
}
