//! A local stand-in for the Hugging Face hub (and its mirrors) for the tests: a tiny HTTP/1.1
//! file server in the hub's layout. `/<repo>/resolve/<revision>/<file>` answers with a redirect
//! to `/cdn/<repo>/<file>` (as the hub redirects to its CDN), which serves the bytes with strong
//! ETags and `Range` / `If-Range` support. Knobs simulate a server without ranges, a connection
//! that drops mid-file, and a new upstream version; every request is logged.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
}

#[derive(Default)]
pub struct State {
    /// `/cdn/<repo>/<file>` -> bytes.
    pub files: HashMap<String, Vec<u8>>,
    /// Send only this many body bytes of the next file response, then close.
    pub truncate_next: Option<usize>,
    /// Answer every request with the whole file (200), like a server without ranges.
    pub ignore_range: bool,
    /// Mixed into the ETag: a new value simulates a new upstream version of the file.
    pub etag_salt: String,
    pub log: Vec<Seen>,
}

pub struct Hub {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl Hub {
    /// Serve `files`: (repo, file in the repo, bytes).
    pub fn start(files: Vec<(&str, &str, Vec<u8>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut state = State::default();
        for (repo, file, bytes) in files {
            state.files.insert(format!("/cdn/{repo}/{file}"), bytes);
        }
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &state);
                });
            }
        });
        Hub { url, state }
    }

    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().unwrap().log.clone()
    }

    /// The requests for file bytes (after the redirect).
    pub fn file_requests(&self) -> Vec<Seen> {
        self.log()
            .into_iter()
            .filter(|s| s.path.starts_with("/cdn/"))
            .collect()
    }
}

pub fn handle(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    let (body, truncate, ignore_range, salt) = {
        let mut st = state.lock().unwrap();
        st.log.push(Seen {
            path: path.clone(),
            range: range.clone(),
        });
        let body = st.files.get(&path).cloned();
        let truncate = if body.is_some() {
            st.truncate_next.take()
        } else {
            None
        };
        (body, truncate, st.ignore_range, st.etag_salt.clone())
    };
    // ModelScope's layout (modelscope 1.40 get_file_download_url):
    // /api/v1/models/<model_id>/repo?Revision=<rev>&FilePath=<file>.
    if let Some(rest) = path.strip_prefix("/api/v1/models/") {
        if let Some((repo, query)) = rest.split_once("/repo?") {
            let file = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("FilePath="))
                .map(percent_decode)
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: /cdn/{repo}/{file}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            );
            return conn.write_all(head.as_bytes());
        }
    }
    // The hub answers /<repo>/resolve/<rev>/<file> with a redirect to its CDN.
    if let Some(rest) = path.strip_prefix('/') {
        if let Some((repo, rev_file)) = rest.split_once("/resolve/") {
            let file = rev_file.split_once('/').map_or(rev_file, |(_, f)| f);
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: /cdn/{repo}/{file}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            );
            return conn.write_all(head.as_bytes());
        }
    }
    let Some(body) = body else {
        let msg = "Entry not found";
        let head = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
            msg.len()
        );
        return conn.write_all(head.as_bytes());
    };
    let etag = format!("\"{}{salt}\"", hex::encode(Sha256::digest(&body)));
    // If-Range: resume only the same version of the file, else send all of it.
    let same_version = headers.get("if-range").is_none_or(|t| *t == etag);
    let total = body.len();
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|_| !ignore_range && same_version);
    let (status, slice, extra) = match start {
        Some(s) if s >= total => {
            let head = format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return conn.write_all(head.as_bytes());
        }
        Some(s) => (
            "206 Partial Content",
            &body[s..],
            format!("Content-Range: bytes {s}-{}/{total}\r\n", total - 1),
        ),
        None => ("200 OK", &body[..], String::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\
         ETag: {etag}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n",
        slice.len()
    );
    conn.write_all(head.as_bytes())?;
    match truncate {
        Some(n) => {
            // Announce the whole length, send part of it, hang up.
            conn.write_all(&slice[..n.min(slice.len())])?;
            conn.flush()?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        None => conn.write_all(slice),
    }
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s.as_bytes()[i];
        let escaped = (c == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, escaped) {
            (_, Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (c, None) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
