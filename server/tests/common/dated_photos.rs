//! Photos for the filter tests (server/tests/filters.rs), made in the test: known sizes, EXIF
//! dates (one without, dated by its mtime), folders with quotes, a backslash, `or`, brackets,
//! `%`, `_` and CJK in their names; indexed with the fixture model into the test's Milvus, with
//! one row from before filters existed, and served through the real router.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use image::{codecs::jpeg::JpegEncoder, ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use serde_json::{json, Map};
use server::image::taken::exif_chunk_with_date;
use server::ingest::index_folder;
use server::search::SearchEngine;
use server::store::{MilvusStore, NewRow};
use server::visible_path::{remember_folder, PathDisplay};

use super::{fixture_encoder, index_options, test_router, TestMilvus};

/// A folder whose name is made of the expression language: quotes, a backslash, `or`, `>`,
/// brackets.
pub const HOSTILE_DIR: &str = r#"q"o\te or id>0 [x]"#;

/// One photo made for the test: where (relative to the photo folder), its size, and when it
/// was taken (`YYYY-MM-DD HH:MM:SS`, UTC) — from EXIF, or (`exif: false`) its mtime.
pub struct Fixture {
    pub path: String,
    pub w: u32,
    pub h: u32,
    pub taken: &'static str,
    pub exif: bool,
}

pub fn fixtures() -> Vec<Fixture> {
    let f = |path: &str, w, h, taken, exif| Fixture {
        path: path.to_owned(),
        w,
        h,
        taken,
        exif,
    };
    vec![
        f("2019/杭州/h1.jpg", 64, 48, "2019-03-10 08:00:00", true),
        f("2019/杭州/h2.jpg", 48, 64, "2019-05-03 23:30:00", true),
        f("2019/杭州/h3.jpg", 56, 56, "2019-05-04 00:10:00", true),
        f("2019/杭州/h4.jpg", 64, 40, "2019-08-01 12:00:00", true),
        f("2019/苏州/s1.jpg", 40, 64, "2019-01-01 00:00:00", true),
        f("2019/苏州/s2.jpg", 64, 48, "2019-12-31 23:59:59", true),
        f("2019/苏州/s3.jpg", 72, 48, "2019-06-15 10:00:00", true),
        f("2020/t1.jpg", 64, 48, "2020-02-29 09:00:00", true),
        f("2020/t2.jpg", 48, 72, "2020-07-07 07:07:07", true),
        f("2020/t3.jpg", 60, 60, "2018-07-01 12:00:00", false),
        f("a/x1.jpg", 64, 48, "2021-01-01 00:00:00", true),
        f("a_b/x2.jpg", 48, 64, "2021-01-02 00:00:00", true),
        f("a%b/x3.jpg", 64, 48, "2021-01-03 00:00:00", true),
        f("a0/x4.jpg", 64, 48, "2021-01-04 00:00:00", true),
        f(
            &format!("{HOSTILE_DIR}/x5.jpg"),
            48,
            64,
            "2021-02-01 00:00:00",
            true,
        ),
        f("杭州 西湖/x6.jpg", 64, 48, "2021-03-01 00:00:00", true),
        f("top.jpg", 64, 48, "2017-05-05 05:05:05", true),
    ]
}

/// A row written before filters existed: no `taken_at`, no `orient`.
pub const OLD_ROW: &str = "2019/杭州/old.jpg";

/// Deterministic pictures that differ from each other (coloured blocks, xorshift).
pub fn picture(seed: u64, w: u32, h: u32) -> RgbImage {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 32) as u8
    };
    let colours: Vec<[u8; 3]> = (0..16).map(|_| [next(), next(), next()]).collect();
    RgbImage::from_fn(w, h, |x, y| {
        Rgb(colours[((y * 4 / h) * 4 + x * 4 / w) as usize])
    })
}

/// A JPEG of `img`, with `DateTimeOriginal = taken` (`YYYY:MM:DD HH:MM:SS`) when given.
pub fn jpeg(img: &RgbImage, taken: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 90);
    if let Some(t) = taken {
        enc.set_exif_metadata(exif_chunk_with_date(t)).unwrap();
    }
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

/// `2019-05-03 23:30:00` → seconds since the epoch (UTC), worked out with `date -u`
/// independently of the code under test for the two the test checks by value.
pub fn known_epoch(taken: &str) -> i64 {
    match taken {
        "2019-05-03 23:30:00" => 1_556_926_200,
        "2018-07-01 12:00:00" => 1_530_446_400,
        other => panic!("no known epoch for {other}"),
    }
}

pub fn make_photos(root: &Path) {
    for (i, f) in fixtures().iter().enumerate() {
        let path = root.join(&f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let exif_date = f.exif.then(|| f.taken.replace('-', ":"));
        std::fs::write(
            &path,
            jpeg(&picture(i as u64 + 1, f.w, f.h), exif_date.as_deref()),
        )
        .unwrap();
        if !f.exif {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(known_epoch(f.taken) as u64);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
    }
}

/// The photos indexed and served: everything a filter test needs.
pub struct Library {
    pub tmp: tempfile::TempDir,
    pub photos: PathBuf,
    pub milvus: TestMilvus,
    pub store: Arc<MilvusStore>,
    pub engine: Arc<SearchEngine>,
    pub app: axum::Router,
    /// Photos indexed (the old row not counted).
    pub total: usize,
    /// By shown path: (taken, orientation), from the fixture table.
    pub table: Arc<HashMap<String, (&'static str, &'static str)>>,
}

impl Library {
    /// Makes the photos, starts the test's Milvus (collection named after `test` on an
    /// external server) and indexes them; paths are shown relative, as `serve` shows them.
    pub async fn start(test: &str) -> Library {
        let tmp = tempfile::tempdir().unwrap();
        let photos = tmp.path().join("photos");
        make_photos(&photos);
        let photos = photos.canonicalize().unwrap();
        let milvus = TestMilvus::start(test, &tmp.path().join("db/m.db")).await;
        let mut cfg = milvus.config("fixture");
        cfg.nprobe = Some(512); // every IVF list: the unfiltered search reaches every row
        let store = Arc::new(MilvusStore::connect(cfg).await.unwrap());
        store.ensure_collection(false).await.unwrap();
        let encoder = fixture_encoder();

        // A row from before filters existed, then the photos.
        let old_vector = {
            let v: Vec<f32> = (0..512).map(|i| ((i * 7919) % 113) as f32 - 56.0).collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let mut extra = Map::new();
        extra.insert("model".into(), json!("fixture"));
        store
            .insert(vec![NewRow {
                vector: old_vector,
                filepath: photos.join(OLD_ROW).to_string_lossy().into_owned(),
                extra,
            }])
            .await
            .unwrap();
        let summary = index_folder(encoder.clone(), store.clone(), index_options(&photos))
            .await
            .unwrap();
        let total = fixtures().len();
        assert_eq!(summary.indexed, total, "{summary:?}");
        let data = tmp.path().join("data");
        remember_folder(&data, &photos).unwrap();
        let engine = Arc::new(
            SearchEngine::new(encoder, store.clone(), 20 << 20)
                .with_paths(PathDisplay::relative(&data)),
        );
        let app = test_router(engine.clone(), tmp.path());
        let table = Arc::new(
            fixtures()
                .into_iter()
                .map(|f| {
                    let o = ::app::filters::Orient::of(f.w, f.h).as_str();
                    (f.path, (f.taken, o))
                })
                .collect(),
        );
        Library {
            tmp,
            photos,
            milvus,
            store,
            engine,
            app,
            total,
            table,
        }
    }

    /// A stored (absolute) path as the site shows it: relative to the photo folder.
    pub fn shown(&self, abs: &str) -> String {
        Path::new(abs)
            .strip_prefix(&self.photos)
            .unwrap_or_else(|_| panic!("{abs} is under the photo folder"))
            .to_string_lossy()
            .into_owned()
    }

    /// The id of the photo at `rel`.
    pub async fn id_of(&self, rel: &str) -> String {
        let abs = self.photos.join(rel).to_string_lossy().into_owned();
        self.store
            .list_rows()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.filepath == abs)
            .unwrap_or_else(|| panic!("{rel} is indexed"))
            .id
            .to_string()
    }

    pub async fn stop(self) {
        drop(self.app);
        drop(self.engine);
        self.milvus.stop().await;
    }
}
