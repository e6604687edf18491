//! The real `shihua serve` process, as users run it: demo photos indexed into an embedded
//! Milvus Lite (a local `MILVUS_URI` path), then `serve` on a free port, talked to over TCP.
//!
//! - An outage: its Milvus Lite child is SIGKILLed and cannot be restarted for a while (its
//!   binary is away): the health check, the API and the search page answer 503 with a clear
//!   message, and the server keeps answering. Once the binary is back, the watchdog that
//!   `serve` itself starts brings Milvus Lite back and every page works again, no photo lost.
//! - A decompression bomb uploaded to it is refused from its header: the server's own peak
//!   memory (VmHWM of its pid in /proc, not the test's) does not grow.
//! - SIGKILLing `serve` takes its Milvus Lite child with it (the parent-death signal), both
//!   the child started at start-up and one restarted by the watchdog.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::http;
use common::{copy_demo, lite_lib, shihua_cmd};

/// A `shihua serve` child with its folders; SIGTERMed (then SIGKILLed) when dropped.
struct Served {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Served {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path, None)
    }

    /// The Milvus Lite child of this server (a child process whose executable is `milvus`).
    fn lite_pid(&self) -> Option<u32> {
        children(self.pid()).into_iter().find(|c| {
            std::fs::read_link(format!("/proc/{c}/exe"))
                .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "milvus"))
                && alive(*c)
        })
    }

    /// Waits until `path` answers `code` (60 s at most), failing with the server's log.
    fn wait_for(&mut self, path: &str, code: u16) -> String {
        let start = Instant::now();
        loop {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "shihua serve exited:\n{}",
                self.log()
            );
            let (got, body) = self.get(path);
            if got == code {
                return body;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{path} still answers {got} (not {code}) after 60 s: {body}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Child pids of `pid` (all its threads' children).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// The process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// A `kB` field (VmHWM, VmRSS) of /proc/<pid>/status; panics when it cannot be read.
fn proc_kb(pid: u32, field: &str) -> u64 {
    let path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot measure {path}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {path}:\n{status}"))
}

/// A folder of symlinks to Milvus Lite's files, so a test can take the `milvus` binary away
/// (and put it back) without touching the installed one.
fn lite_lib_links(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(lite_lib()).unwrap().flatten() {
        symlink(e.path(), dir.join(e.file_name())).unwrap();
    }
    assert!(
        dir.join("milvus").exists(),
        "no milvus binary in {}",
        dir.display()
    );
    dir.to_path_buf()
}

/// `shihua` on the fixture model with an embedded Milvus Lite on `tmp/milvus.db`.
fn shihua_in(tmp: &Path, lib: &Path, args: &[&str]) -> Command {
    let mut cmd = shihua_cmd(tmp.join("milvus.db").to_str().unwrap(), args);
    cmd.env("SHIHUA_MILVUS_LITE_LIB", lib)
        .env("SHIHUA_DATA_DIR", tmp.join("data"))
        .env("LEPTOS_SITE_ROOT", tmp.join("site"))
        .env("SHIHUA_THREADS", "1")
        .env("RUST_LOG", "warn");
    cmd
}

/// Indexes four demo photos, then starts `shihua serve` and waits until it is healthy.
fn index_and_serve(tmp: &Path, lib: &Path) -> Served {
    let photos = tmp.join("photos");
    copy_demo(&photos, 4);
    let out = shihua_in(tmp, lib, &["index", photos.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = tmp.join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = shihua_in(tmp, lib, &["serve", "--addr", &addr.to_string()])
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap();
    let mut served = Served { child, addr, log };
    let health = served.wait_for("/healthz", 200);
    assert!(health.contains("\"rows\":4"), "{health}");
    served
}

/// SIGKILLs `serve` and waits (15 s at most) for `lite` to die with it.
fn kill_serve_and_expect_lite_gone(mut served: Served, lite: u32) {
    assert!(alive(lite), "Milvus Lite {lite} is not running");
    served.child.kill().unwrap(); // SIGKILL: no destructor, no shutdown in shihua
    served.child.wait().unwrap();
    let killed = Instant::now();
    while alive(lite) {
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "Milvus Lite {lite} outlived its SIGKILLed shihua serve"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SEARCH: &str = "/api/v1/search?q=%E5%A4%95%E9%98%B3&k=4";
const PAGE: &str = "/?q=%E5%A4%95%E9%98%B3";

#[test]
fn outage_answers_503_then_serve_recovers_through_its_own_watchdog() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = lite_lib_links(&tmp.path().join("lite-lib"));
    let mut served = index_and_serve(tmp.path(), &lib);
    let (code, body) = served.get(SEARCH);
    assert_eq!(code, 200, "{body}");
    let first = served
        .lite_pid()
        .expect("serve started a Milvus Lite child");

    // Milvus Lite dies, and cannot be restarted while its binary is away.
    let binary = lib.join("milvus");
    let target = std::fs::read_link(&binary).unwrap();
    std::fs::remove_file(&binary).unwrap();
    // SAFETY: SIGKILL to the Milvus Lite child of the server this test started.
    unsafe { libc::kill(first as libc::pid_t, libc::SIGKILL) };

    let body = served.wait_for("/healthz", 503);
    assert!(body.contains("unavailable"), "{body}");
    // Several watchdog rounds (one a second) fail to restart it; every page says so.
    std::thread::sleep(Duration::from_secs(3));
    let (code, body) = served.get("/healthz");
    assert_eq!(code, 503, "{body}");
    let (code, body) = served.get(SEARCH);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("unavailable"),
        "the message says what is wrong: {body}"
    );
    let (code, page) = served.get(PAGE);
    assert_eq!(code, 503, "{page}");
    assert!(page.contains("data-testid=\"search-error\""), "{page}");
    assert!(
        served.log().contains("could not be restarted"),
        "the watchdog of serve tried: {}",
        served.log()
    );

    // The binary is back: serve's own watchdog restarts Milvus Lite, pages work again.
    symlink(&target, &binary).unwrap();
    let health = served.wait_for("/healthz", 200);
    assert!(health.contains("\"rows\":4"), "no photo was lost: {health}");
    let (code, body) = served.get(SEARCH);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 4, "{body}");
    let (code, page) = served.get(PAGE);
    assert_eq!(code, 200);
    assert!(page.contains("data-testid=\"result-card\""));
    assert!(served.log().contains("restarted it"), "{}", served.log());
    let second = served.lite_pid().expect("a new Milvus Lite child");
    assert_ne!(first, second);

    // The restarted child (spawned by the watchdog) still dies with a SIGKILLed serve.
    kill_serve_and_expect_lite_gone(served, second);
}

/// A PNG of `w` × `h` black 8-bit grey pixels, really compressed (a deflate stream of
/// length-258 back-references: ~13 bits per 258 bytes), so it decodes to `(w + 1) × h` bytes.
fn zero_png(w: u32, h: u32) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn lsb(&mut self, v: u32, len: u32) {
            self.acc |= u64::from(v) << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, c: u32, len: u32) {
            let rev = c.reverse_bits() >> (32 - len);
            self.lsb(rev, len);
        }
    }
    let raw = u64::from(w + 1) * u64::from(h); // a 0 filter byte per row, then zeros
    let mut b = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    b.lsb(1, 1); // BFINAL
    b.lsb(1, 2); // fixed Huffman codes
    b.code(0x30, 8); // literal 0
    let mut left = raw - 1;
    while left >= 258 {
        b.code(0xC5, 8); // length 258 (code 285)
        b.code(0, 5); // distance 1
        left -= 258;
    }
    for _ in 0..left {
        b.code(0x30, 8);
    }
    b.code(0, 7); // end of block
    if b.n > 0 {
        b.out.push(b.acc as u8);
    }
    let adler = ((raw % 65521) << 16 | 1) as u32; // a = 1, b = n (all bytes zero)
    b.out.extend_from_slice(&adler.to_be_bytes());

    fn crc32(bytes: &[u8]) -> u32 {
        let table: Vec<u32> = (0..256u32)
            .map(|mut c| {
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        0xEDB8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
                c
            })
            .collect();
        !bytes.iter().fold(!0u32, |c, &x| {
            table[((c ^ u32::from(x)) & 0xFF) as usize] ^ (c >> 8)
        })
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &b.out);
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn the_bomb_png_is_a_real_picture() {
    // The same construction, small: it decodes to exactly that many black pixels.
    let img = image::load_from_memory(&zero_png(700, 300)).unwrap();
    assert_eq!((img.width(), img.height()), (700, 300));
    assert!(img.to_luma8().pixels().all(|p| p.0[0] == 0));
}

#[test]
fn a_decompression_bomb_does_not_grow_the_servers_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = lite_lib_links(&tmp.path().join("lite-lib"));
    let served = index_and_serve(tmp.path(), &lib);
    let lite = served
        .lite_pid()
        .expect("serve started a Milvus Lite child");
    let pid = served.pid();

    // 12,000 × 12,000 = 144 MP (over the 100 MP limit): 144 MB of pixels once decoded, and
    // 432 MB as RGB, from a file of about 0.9 MB.
    let bomb = zero_png(12_000, 12_000);
    assert!(bomb.len() < 1_000_000, "{} bytes", bomb.len());
    let mut form = b"--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"bomb.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
    form.extend_from_slice(&bomb);
    form.extend_from_slice(b"\r\n--B--\r\n");

    let before_peak = proc_kb(pid, "VmHWM");
    let before_rss = proc_kb(pid, "VmRSS");
    let (code, body) = http(
        served.addr,
        "POST",
        "/api/v1/search/image",
        Some(("multipart/form-data; boundary=B", &form)),
    );
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("12000"), "the message names the size: {body}");
    let grown_peak_mb = proc_kb(pid, "VmHWM").saturating_sub(before_peak) / 1024;
    let grown_rss_mb = proc_kb(pid, "VmRSS").saturating_sub(before_rss) / 1024;
    println!(
        "shihua serve (pid {pid}): peak {before_peak} kB before, grew by {grown_peak_mb} MB; \
         RSS grew by {grown_rss_mb} MB"
    );
    assert!(
        grown_peak_mb < 64,
        "the server's peak memory grew by {grown_peak_mb} MB on a refused bomb"
    );
    // Still serving.
    assert_eq!(served.get("/healthz").0, 200);

    // The Milvus Lite child started with serve dies with a SIGKILLed serve.
    kill_serve_and_expect_lite_gone(served, lite);
}
