//! The speed levers of issue 6 keep results right: the int8 variant loads and agrees with
//! fp32 (fixture model, models/scripts/make_fixture_int8.py), the text-embedding cache returns
//! exactly what the model returned, and reduced-scale JPEG decoding (`--jpeg-draft`) leaves
//! small pictures untouched, reports the full size and stays close on large ones. Speed itself
//! is measured in bench/, never asserted here.

mod common;

use std::io::Cursor;

use server::clip::preprocess::{preprocess_bytes, PreprocessSpec, DEFAULT_MAX_PIXELS};
use server::clip::{ClipEncoder, Variant};

fn load(variant: Variant) -> ClipEncoder {
    common::load_encoder("fixture", variant, 1, true)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn the_int8_variant_loads_and_agrees_with_fp32() {
    let fp32 = load(Variant::Fp32);
    let int8 = load(Variant::Int8);
    // On the CPU `shihua index` encodes one photo per model call (fastest there).
    assert!(!fp32.on_gpu());
    assert_eq!(
        server::ingest::default_encode_batch(fp32.on_gpu()),
        server::ingest::CPU_ENCODE_BATCH
    );
    let texts = ["夕阳西下", "枯藤老树昏鸦，小桥流水人家"];
    let a = fp32.embed_texts(&texts).unwrap().vectors;
    let b = int8.embed_texts(&texts).unwrap().vectors;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(y.len(), 512);
        let c = dot(x, y);
        assert!(c > 0.999, "text cosine int8 vs fp32 {c}");
    }
    let s = 224 * 224 * 3;
    let pixels: Vec<f32> = (0..s).map(|i| ((i % 97) as f32 / 48.0) - 1.0).collect();
    let x = fp32.embed_pixels(pixels.clone(), 1).unwrap();
    let y = int8.embed_pixels(pixels, 1).unwrap();
    let c = dot(&x[0], &y[0]);
    assert!(c > 0.999, "image cosine int8 vs fp32 {c}");
}

#[test]
fn the_text_cache_returns_what_the_model_returned() {
    let plain = load(Variant::Fp32);
    let cached = load(Variant::Fp32).with_text_cache(2);
    let first = cached.embed_texts(&["夕阳西下", "小桥流水"]).unwrap();
    assert_eq!(cached.text_cache().stats(), (0, 2));
    // one hit, one miss, in the caller's order
    let second = cached.embed_texts(&["古道西风", "小桥流水"]).unwrap();
    assert_eq!(cached.text_cache().stats(), (1, 3));
    assert_eq!(second.vectors[1], first.vectors[1]);
    let want = plain.embed_texts(&["古道西风", "小桥流水"]).unwrap();
    for (got, want) in second.vectors.iter().zip(&want.vectors) {
        let diff = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            diff < 1e-5,
            "cached result differs from the model's by {diff}"
        );
    }
    // capacity 2: 夕阳西下 was the least recently used and is gone
    assert_eq!(cached.text_cache().len(), 2);
    cached.embed_texts(&["夕阳西下"]).unwrap();
    assert_eq!(cached.text_cache().stats(), (1, 4));
    // the truncation flag is cached too
    let long = "山".repeat(80);
    let a = cached.embed_texts(&[long.as_str()]).unwrap();
    let b = cached.embed_texts(&[long.as_str()]).unwrap();
    assert!(a.truncated[0] && b.truncated[0]);
}

#[allow(clippy::excessive_precision)]
fn spec(jpeg_draft: bool) -> PreprocessSpec {
    PreprocessSpec {
        size: 224,
        mean: [0.48145466, 0.4578275, 0.40821073],
        std: [0.26862954, 0.26130258, 0.27577711],
        jpeg_draft,
    }
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            (((x / 40) + (y / 40)) % 2 * 200) as u8,
        ])
    });
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Jpeg).unwrap();
    buf.into_inner()
}

#[test]
fn jpeg_draft_leaves_small_pictures_alone_and_stays_close_on_large_ones() {
    // 600 x 400 is under 2 x 2 x 224 on one side: decoded in full, bit for bit the same.
    let small = jpeg(600, 400);
    let (a, _) = preprocess_bytes(&small, &spec(false), DEFAULT_MAX_PIXELS).unwrap();
    let (b, _) = preprocess_bytes(&small, &spec(true), DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!(a, b);

    // 2400 x 1800: decoded at 1/4 (600 x 450 keeps >= 2 x 224 on each side).
    let big = jpeg(2400, 1800);
    let (full, d_full) = preprocess_bytes(&big, &spec(false), DEFAULT_MAX_PIXELS).unwrap();
    let (draft, d_draft) = preprocess_bytes(&big, &spec(true), DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!((d_full.width, d_full.height), (2400, 1800));
    assert_eq!(
        (d_draft.width, d_draft.height),
        (2400, 1800),
        "the full size is reported"
    );
    assert!(
        d_draft.image.width() < 2400,
        "the draft decode was not reduced"
    );
    assert_eq!(full.len(), draft.len());
    let mean_abs = full
        .iter()
        .zip(&draft)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / full.len() as f32;
    let cos = dot(&full, &draft) / (dot(&full, &full).sqrt() * dot(&draft, &draft).sqrt());
    assert!(mean_abs < 0.05, "mean abs difference {mean_abs}");
    assert!(cos > 0.995, "cosine {cos}");
}
