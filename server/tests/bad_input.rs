//! Hostile and broken input through HTTP: every bad request gets a clear 4xx, nothing reaches
//! Milvus as an expression, nothing is served outside the index, names are escaped, and the
//! server keeps answering. Real Milvus Lite, fixture model, the real router.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{
    copy_demo, demo_photos, index_options, repo, start_and_index, test_router, LiteIndex,
};
use http_body_util::BodyExt;
use server::search::SearchEngine;
use tower::ServiceExt;

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let code = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

fn upload(bytes: &[u8], filename: &str) -> Request<Body> {
    let mut body = Vec::new();
    body.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"");
    body.extend_from_slice(filename.as_bytes());
    body.extend_from_slice(b"\"\r\nContent-Type: image/jpeg\r\n\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n--B--\r\n");
    Request::builder()
        .method("POST")
        .uri("/api/v1/search/image")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
        .body(Body::from(body))
        .unwrap()
}

/// A two-frame animated GIF: a dark frame, then a light one with other shapes.
fn animated_gif() -> Vec<u8> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame, Rgba, RgbaImage};
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut out);
        enc.set_repeat(Repeat::Infinite).unwrap();
        for (i, shade) in [30u8, 220].into_iter().enumerate() {
            let img = RgbaImage::from_fn(96, 64, |x, y| {
                let stripe = if i == 0 { x / 12 % 2 } else { y / 8 % 2 };
                Rgba([shade, (stripe * 200) as u8, (x + y) as u8, 255])
            });
            enc.encode_frame(Frame::from_parts(
                img,
                0,
                0,
                Delay::from_numer_denom_ms(200, 1),
            ))
            .unwrap();
        }
    }
    assert_eq!(&out[..6], b"GIF89a");
    out
}

/// Each frame of a GIF, decoded here and sent on as a PNG.
fn gif_frames_as_png(gif: &[u8]) -> Vec<Vec<u8>> {
    use image::codecs::gif::GifDecoder;
    use image::AnimationDecoder;
    let frames = GifDecoder::new(std::io::Cursor::new(gif))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 2);
    frames
        .into_iter()
        .map(|f| {
            let mut png = Vec::new();
            image::DynamicImage::ImageRgba8(f.into_buffer())
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            png
        })
        .collect()
}

/// A PNG whose header declares `w` × `h` pixels, followed by a tiny (wrong) image body.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_demo(&photos, 3);
    // A file name with HTML and quotes in it.
    let nasty = "<img src=x onerror=alert(1)> \"q\".jpg";
    let jpg = demo_photos()
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "jpg"))
        .unwrap();
    std::fs::copy(&jpg, photos.join(nasty)).unwrap();

    let LiteIndex {
        milvus,
        store,
        encoder,
        summary,
    } = start_and_index(tmp.path(), index_options(&photos)).await;
    assert_eq!(summary.indexed, 4);
    let app = test_router(
        Arc::new(SearchEngine::new(encoder, store.clone(), 20 << 20)),
        tmp.path(),
    );

    // Uploads that are not pictures, or broken ones: 400 with a message.
    let good = std::fs::read(&jpg).unwrap();
    let png = std::fs::read(
        demo_photos()
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "png"))
            .unwrap(),
    )
    .unwrap();
    let webp = std::fs::read(
        demo_photos()
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "webp"))
            .unwrap(),
    )
    .unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text", b"just words".to_vec()),
        (
            "zip",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00some zipped bytes".to_vec(),
        ),
        (
            "html named .jpg",
            b"<!doctype html><html><body>hi</body></html>".to_vec(),
        ),
        ("truncated jpeg", good[..good.len() / 3].to_vec()),
        ("truncated png", png[..png.len() / 3].to_vec()),
        ("truncated webp", webp[..webp.len() / 3].to_vec()),
        (
            "corrupt jpeg",
            [&good[..64], &vec![0x55u8; 4096][..]].concat(),
        ),
    ];
    for (what, bytes) in cases {
        let (code, body) = send(&app, upload(&bytes, "q.jpg")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{what}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["error"].as_str().is_some_and(|e| e.len() > 10),
            "{what}: {body}"
        );
    }

    // A decompression bomb is refused from its header (that the server's memory does not
    // grow is measured on a real `shihua serve` process in serve_process.rs).
    let (code, body) = send(&app, upload(&png_declaring(50_000, 50_000), "bomb.png")).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("50000"), "{body}");

    // An animated GIF is searched by its first frame, like any other picture: the same
    // results, scores included, as its first frame sent as a PNG (and not its second frame's).
    let gif = animated_gif();
    let frames = gif_frames_as_png(&gif);
    let (code, by_gif) = send(&app, upload(&gif, "anim.gif")).await;
    assert_eq!(code, StatusCode::OK, "animated GIF: {by_gif}");
    let (_, by_first) = send(&app, upload(&frames[0], "first.png")).await;
    let (_, by_second) = send(&app, upload(&frames[1], "second.png")).await;
    let scores = |body: &str| -> Vec<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["results"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|r| {
                (
                    r["id"].to_string(),
                    format!("{:.5}", r["score"].as_f64().unwrap()),
                )
            })
            .collect()
    };
    assert!(!scores(&by_gif).is_empty());
    assert_eq!(
        scores(&by_gif),
        scores(&by_first),
        "the GIF searches as its first frame"
    );
    assert_ne!(
        scores(&by_gif),
        scores(&by_second),
        "not as its second frame"
    );

    // Odd queries are handled; none is an expression to Milvus.
    for q in ["", "%20%20%20", "%00%01"] {
        let (code, body) = send(&app, get(&format!("/api/v1/search?q={q}"))).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{q:?}: {body}");
    }
    let long = "山".repeat(10_000);
    let (code, body) = send(&app, get(&format!("/api/v1/search?q={long}&k=2"))).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body.contains("\"truncated\":true"), "{body}");
    for q in [
        "filepath%20like%20%22%25%22",
        "id%20%3E%3D%200%20or%201%3D%3D1",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "%E5%A4%95%0A%E9%98%B3%09",
    ] {
        // all=1: every hit on its own (this folder holds a GIF and its first frame, which
        // would fold into one result).
        let (code, body) = send(&app, get(&format!("/api/v1/search?q={q}&k=3&all=1"))).await;
        assert_eq!(code, StatusCode::OK, "{q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["results"].as_array().unwrap().len(),
            3,
            "{q}: a query is text, never a filter"
        );
    }

    // HTML in the query and in file names is escaped on the page.
    let (code, html) = send(
        &app,
        get("/?q=%3C%2Ftextarea%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&k=10"),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "query echoed raw"
    );
    assert!(
        html.contains("&lt;/textarea&gt;&lt;script&gt;"),
        "query shown escaped"
    );
    assert!(
        !html.contains("<img src=x onerror"),
        "file name rendered as HTML"
    );
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "file name shown escaped"
    );

    // Only photos of the index, by id: everything else is 404.
    for bad in [
        "/image/..%2F..%2Fetc%2Fpasswd",
        "/image/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/image/%2Fetc%2Fpasswd",
        "/thumb/..%5C..%5Cwindows",
        "/image/-1",
        "/image/9223372036854775807",
        "/image/99999999999999999999999",
        "/thumb/0?w=240",
        "/image/%00",
    ] {
        let (code, body) = send(&app, get(bad)).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{bad}: {body}");
        assert!(!body.contains("root:"), "{bad} leaked a file");
    }

    // Still serving.
    assert_eq!(send(&app, get("/healthz")).await.0, StatusCode::OK);
    let (code, _) = send(&app, upload(&good, "ok.jpg")).await;
    assert_eq!(code, StatusCode::OK);
    milvus.stop().await.unwrap();
}

#[test]
fn corrupt_model_files_stop_the_server_with_one_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir_all(models.join("fixture")).unwrap();
    std::fs::copy(
        repo().join("models/manifest.toml"),
        models.join("manifest.toml"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("models/tokenizer.json"),
        models.join("tokenizer.json"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("models/fixture/text.onnx"),
        models.join("fixture/text.onnx"),
    )
    .unwrap();
    std::fs::write(
        models.join("fixture/image.onnx"),
        b"this is not an onnx model",
    )
    .unwrap();
    let out = common::shihua_cmd(
        tmp.path().join("db/m.db").to_str().unwrap(),
        &["serve", "--addr", "127.0.0.1:0"],
    )
    .env("SHIHUA_MODEL_DIR", &models)
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("image.onnx") && err.contains("unusable"),
        "{err}"
    );

    // Missing files: the paragraph on how to supply them.
    std::fs::remove_file(models.join("fixture/image.onnx")).unwrap();
    let db = tmp.path().join("db2/m.db");
    let out = common::shihua_cmd(db.to_str().unwrap(), &["serve", "--addr", "127.0.0.1:0"])
        .env("SHIHUA_MODEL_DIR", &models)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not there") && err.contains("image.onnx"),
        "{err}"
    );
    assert!(
        !db.exists(),
        "a model that is not there fails before a database is made"
    );
}
