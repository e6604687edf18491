//! The full-size graphs: shihua's Rust pipeline (preprocessing, tokenizer, padding trimming,
//! ORT) against the reference pipeline (cn_clip's transform and tokenizer + onnxruntime-python,
//! models/scripts/make_random_refs.py) on the architecture-faithful random-weight ViT-B-16
//! export. The export is ~750 MB and not committed, so `make test` does not run this test
//! (it is `#[ignore]`d, and cargo lists it as ignored); `make test-full` does, and there it
//! fails with a message when the export or its refs.json is absent (generate them with
//! models/export, then models/scripts/make_random_refs.py).

mod common;

use common::{cosine, floats, repo};

use server::clip::preprocess::{preprocess_bytes, DEFAULT_MAX_PIXELS};
use server::clip::{self, ClipEncoder, EncoderOptions, Manifest};

#[test]
#[ignore = "needs the 750 MB models/ViT-B-16-random export (not committed): run by `make test-full`"]
fn random_vit_b16_matches_the_reference_pipeline() {
    let models = repo().join("models");
    let refs_path = models.join("ViT-B-16-random/refs.json");
    let manifest = Manifest::load(&models.join("manifest.toml")).unwrap();
    let spec = manifest.find("ViT-B-16-random").unwrap().clone();
    let files = manifest.files(&spec, &models).unwrap_or_else(|e| {
        panic!(
            "models/ViT-B-16-random is absent ({e}): export it with models/export \
             (see models/export/README.md)"
        )
    });
    assert!(
        refs_path.is_file(),
        "{} is absent: run models/scripts/make_random_refs.py (see models/export/README.md)",
        refs_path.display()
    );
    clip::runtime::init(None).unwrap();
    let opts = EncoderOptions {
        intra_threads: 0,
        device: clip::Device::Cpu,
        warm_up: false,
    };
    let enc = ClipEncoder::load(&manifest, &spec, &files, &opts).unwrap();
    let refs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(refs_path).unwrap()).unwrap();

    let texts: Vec<&str> = refs["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    let got = enc.embed_texts(&texts).unwrap();
    for (i, t) in refs["texts"].as_array().unwrap().iter().enumerate() {
        let c = cosine(&got.vectors[i], &floats(&t["embedding"]));
        println!("text {:?}: cosine {c:.6}", texts[i]);
        assert!(c >= 0.9999, "{}: cosine {c}", texts[i]);
    }
    for img in refs["images"].as_array().unwrap() {
        let file = img["file"].as_str().unwrap();
        let bytes = std::fs::read(repo().join(file)).unwrap();
        let (t, _) = preprocess_bytes(&bytes, enc.preprocess_spec(), DEFAULT_MAX_PIXELS).unwrap();
        let v = enc.embed_pixels(t, 1).unwrap();
        let c = cosine(&v[0], &floats(&img["embedding"]));
        println!("image {file}: cosine {c:.6}");
        assert!(c >= 0.9999, "{file}: cosine {c}");
    }
}
