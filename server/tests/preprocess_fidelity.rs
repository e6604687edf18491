//! shihua's image preprocessing matches cn_clip's on real photos: for every photo listed in a
//! reference set's index.json (below), the CHW tensor of `preprocess::preprocess_bytes` is compared
//! element by element with cn_clip's `image_transform` output (after normalisation). The
//! reference is stored as cn_clip's 224×224 RGB uint8 image before ToTensor/Normalize, which are
//! exact arithmetic that this test applies itself.
//!
//! PNG and WebP photos must be within the index's `tolerance` (0.02; they decode identically and
//! the resize reproduces Pillow's bit for bit, so they match exactly), and at least
//! `min_within_tolerance` (20) photos must be within it. JPEGs are held to `jpeg_tolerance`
//! (3 levels of 255, 0.046): shihua's decoder (zune-jpeg, via the `image` crate) rounds chroma
//! upsampling and a few IDCT samples differently from Pillow's libjpeg-turbo, and the resize
//! does not always average that below 0.02 (see the index's `jpeg_note`).
//!
//! Three sets of references, each an `index.json` with the photos' sha256:
//! - `models/testdata/preprocess_demo/` (models/scripts/make_demo_preprocess_refs.py): 25 of the
//!   committed demo photos; checked by `make test` on every clone.
//! - `models/testdata/orientation/` (models/scripts/make_orientation_refs.py): committed JPEGs
//!   with EXIF Orientation 1–8 of one asymmetric picture, against Pillow's
//!   `ImageOps.exif_transpose` + cn_clip's transform; checked by `make test`.
//! - `models/testdata/preprocess/`: 34 photos of `../shared/datasets/photos` (6K JPEGs, alpha and
//!   greyscale PNGs…), which are not in the repository: `make test-full` runs that test
//!   (`--ignored`), and it fails with a message when the folder is absent.
//!
//! One documented deviation is shared by the references: EXIF orientation is applied first
//! (cn_clip ignores it). Photos left out on purpose, if any, are in the index's `excluded`
//! list with the reason.

use std::path::{Path, PathBuf};

use serde_json::Value;
use server::clip::preprocess::{preprocess_bytes, PreprocessSpec, DEFAULT_MAX_PIXELS};
use sha2::{Digest, Sha256};

// cn_clip's constants, digit for digit.
#[allow(clippy::excessive_precision)]
const MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
#[allow(clippy::excessive_precision)]
const STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];
const MIN_PHOTOS: usize = 20;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// cn_clip's ToTensor + Normalize applied to its stored uint8 result, laid out CHW.
fn reference_tensor(png: &Path, size: u32) -> Vec<f32> {
    let img = image::open(png)
        .unwrap_or_else(|e| panic!("{}: {e}", png.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), (size, size), "{}", png.display());
    let plane = (size * size) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - MEAN[c]) / STD[c];
        }
    }
    out
}

/// A folder of references with its index.json.
struct RefSet {
    dir: PathBuf,
    index: Value,
}

impl RefSet {
    fn load(name: &str) -> RefSet {
        let dir = repo_root().join("models/testdata").join(name);
        let path = dir.join("index.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        RefSet {
            dir,
            index: serde_json::from_str(&text).expect("valid json"),
        }
    }
}

#[test]
fn indexes_are_consistent() {
    for (name, min_photos) in [
        ("preprocess", MIN_PHOTOS),
        ("preprocess_demo", MIN_PHOTOS),
        ("orientation", 8),
    ] {
        let set = RefSet::load(name);
        let idx = &set.index;
        assert_eq!(idx["size"].as_u64(), Some(224), "{name}");
        assert_eq!(floats(&idx["mean"]), MEAN.to_vec(), "{name}");
        assert_eq!(floats(&idx["std"]), STD.to_vec(), "{name}");
        let entries = idx["entries"].as_array().unwrap();
        assert!(
            entries.len() >= min_photos,
            "{name}: only {} photos in index.json",
            entries.len()
        );
        for e in entries {
            let r = e["reference"].as_str().unwrap();
            assert!(set.dir.join(r).is_file(), "{name}: reference {r} missing");
        }
    }
}

/// Every photo of `set` through `preprocess_bytes`, compared with its reference; at least
/// `min_within` photos must be within the strict tolerance.
fn check_set(set: &RefSet, min_within: usize) {
    let idx = &set.index;
    let photos = repo_root().join(idx["photos_dir"].as_str().unwrap());
    assert!(
        photos.is_dir(),
        "the photo folder {} is absent (it lives outside the repository, in the shared \
         datasets): this check needs it",
        photos.display()
    );
    let size = u32::try_from(idx["size"].as_u64().unwrap()).unwrap();
    let tolerance = idx["tolerance"].as_f64().unwrap() as f32;
    assert!(tolerance <= 0.02, "tolerance loosened to {tolerance}");
    let jpeg_tolerance = idx["jpeg_tolerance"].as_f64().unwrap() as f32;
    assert!(
        jpeg_tolerance <= 0.046,
        "JPEG tolerance loosened to {jpeg_tolerance}"
    );
    let spec = PreprocessSpec {
        size,
        mean: MEAN,
        std: STD,
        jpeg_draft: false,
    };
    let entries = idx["entries"].as_array().unwrap();

    let mut failures = Vec::new();
    let mut within = Vec::new();
    let mut worst = 0f32;
    println!(
        "{:<62} {:>4} {:>4} {:>11} {:>8} {:>9}",
        "photo", "fmt", "mode", "size", "max", "mean"
    );
    for e in entries {
        let source = e["source"].as_str().unwrap();
        let path = photos.join(source);
        let bytes = std::fs::read(&path).unwrap_or_else(|err| {
            panic!(
                "{} is listed in index.json but cannot be read: {err}",
                path.display()
            )
        });
        let digest = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            digest,
            e["sha256"].as_str().unwrap(),
            "{source} differs from the photo the reference was made from"
        );
        let (ours, decoded) = preprocess_bytes(&bytes, &spec, DEFAULT_MAX_PIXELS)
            .unwrap_or_else(|err| panic!("{source}: {err}"));
        // The upright size (after EXIF orientation), as Pillow's exif_transpose gives it.
        assert_eq!(
            (u64::from(decoded.width), u64::from(decoded.height)),
            (e["width"].as_u64().unwrap(), e["height"].as_u64().unwrap()),
            "{source}: decoded (upright) size"
        );
        let reference =
            reference_tensor(&set.dir.join(e["reference"].as_str().unwrap()), spec.size);
        assert_eq!(ours.len(), reference.len(), "{source}: tensor length");
        let (mut max, mut sum) = (0f32, 0f64);
        for (a, b) in ours.iter().zip(&reference) {
            let d = (a - b).abs();
            max = max.max(d);
            sum += f64::from(d);
        }
        let mean = sum / ours.len() as f64;
        worst = worst.max(max);
        println!(
            "{:<62} {:>4} {:>4} {:>11} {:>8.5} {:>9.6}",
            source,
            e["format"].as_str().unwrap(),
            e["mode"].as_str().unwrap(),
            format!("{}x{}", e["width"], e["height"]),
            max,
            mean
        );
        let format = e["format"].as_str().unwrap();
        let allowed = e["tolerance"].as_f64().unwrap() as f32;
        let expected = if format == "JPEG" {
            jpeg_tolerance
        } else {
            tolerance
        };
        assert_eq!(allowed, expected, "{source}: tolerance in index.json");
        if max > allowed {
            failures.push(format!("{source}: max |diff| {max:.5} > {allowed}"));
        }
        if max <= tolerance {
            within.push(format);
        }
    }
    let count = |f: &str| within.iter().filter(|x| **x == f).count();
    println!(
        "{} photos, worst max |diff| {worst:.5}; {} within {tolerance} (JPEG {}, PNG {}, WEBP {})",
        entries.len(),
        within.len(),
        count("JPEG"),
        count("PNG"),
        count("WEBP")
    );
    assert!(
        failures.is_empty(),
        "preprocessing differs from cn_clip's:\n{}",
        failures.join("\n")
    );
    assert!(
        within.len() >= min_within,
        "only {} photos within {tolerance}, {min_within} required",
        within.len()
    );
}

/// The committed demo photos (`make test`): PNG and WebP bit-exact, JPEG within 3 levels.
#[test]
fn preprocessing_matches_cn_clip_on_demo_photos() {
    let set = RefSet::load("preprocess_demo");
    let entries = set.index["entries"].as_array().unwrap().len();
    assert!(entries >= MIN_PHOTOS, "{entries} photos");
    let min_within = usize::try_from(set.index["min_within_tolerance"].as_u64().unwrap()).unwrap();
    assert!(
        min_within >= 20,
        "min_within_tolerance lowered to {min_within}"
    );
    check_set(&set, min_within);
}

/// EXIF Orientation 1–8: shihua's upright picture and tensor equal Pillow's
/// `ImageOps.exif_transpose` followed by cn_clip's transform (a wrong rotation or flip moves
/// whole colour quadrants, far beyond the JPEG tolerance).
#[test]
fn exif_orientation_matches_pillow_exif_transpose() {
    let set = RefSet::load("orientation");
    let entries = set.index["entries"].as_array().unwrap();
    let mut orientations: Vec<u64> = entries
        .iter()
        .map(|e| e["exif_orientation"].as_u64().unwrap())
        .collect();
    orientations.sort();
    assert_eq!(orientations, (1..=8).collect::<Vec<u64>>());
    // Half of them are stored sideways: the upright size is not the stored one.
    let sideways = entries
        .iter()
        .filter(|e| e["stored_width"] != e["width"])
        .count();
    assert_eq!(sideways, 4);
    check_set(&set, 0);
}

/// The larger set of real photos (6K JPEGs, alpha, greyscale) from ../shared/datasets/photos,
/// which are not in the repository: `make test-full`.
#[test]
#[ignore = "needs ../shared/datasets/photos (not in the repository): run by `make test-full`"]
fn preprocessing_matches_cn_clip_on_the_shared_dataset() {
    let set = RefSet::load("preprocess");
    let entries = set.index["entries"].as_array().unwrap().len();
    assert!(entries >= MIN_PHOTOS, "{entries} photos");
    let min_within = usize::try_from(set.index["min_within_tolerance"].as_u64().unwrap()).unwrap();
    assert!(
        min_within >= 20,
        "min_within_tolerance lowered to {min_within}"
    );
    check_set(&set, min_within);
}
