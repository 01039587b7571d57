//! A tiny HTTP/1.1 server on 127.0.0.1 for download tests: serves files the test made, honours
//! `Range: bytes=N-`, answers 404 for unknown paths, and can cut a response off half way.
//! Plain std, no dependencies, so the end-to-end tests of the binary include it too
//! (`#[path = ...]` in `tests/fetch.rs`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request the server saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    /// The request path, e.g. `/file.bin`.
    pub path: String,
    /// The `Range` header, if any (`bytes=100-`).
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Path → how many more responses to cut off after half of the bytes they promise.
    cut_offs: HashMap<String, usize>,
    /// Paths answered with the whole file (200) even when a `Range` is asked for.
    ignore_range: Vec<String>,
    /// Paths whose ranges are answered with `200 OK` carrying only the slice and its
    /// `Content-Range` (a misbehaving proxy).
    slice_with_ok: Vec<String>,
    seen: Vec<SeenRequest>,
}

/// A running server; it lives until the test process ends.
pub struct TestServer {
    base: String,
    state: Arc<Mutex<State>>,
}

impl TestServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Self { base, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `bytes` at `path`.
    pub fn add(&self, path: &str, bytes: Vec<u8>) {
        self.state.lock().unwrap().files.insert(path.into(), bytes);
    }

    /// The next `times` responses for `path` send the full headers but only half the body, then
    /// close the connection.
    pub fn cut_off(&self, path: &str, times: usize) {
        self.state.lock().unwrap().cut_offs.insert(path.into(), times);
    }

    /// Answers requests for `path` with the whole file (200 OK) even when they ask for a range,
    /// as servers without range support do.
    pub fn ignore_range(&self, path: &str) {
        self.state.lock().unwrap().ignore_range.push(path.into());
    }

    /// Answers range requests for `path` with `200 OK`, only the requested slice and a
    /// `Content-Range` header, as some proxies and CDNs do.
    pub fn slice_with_ok(&self, path: &str) {
        self.state.lock().unwrap().slice_with_ok.push(path.into());
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(request) = read_request(&stream) else { return };
    let (body, cut, honour_range, ok_slice) = {
        let mut state = state.lock().unwrap();
        state.seen.push(request.clone());
        let honour_range = !state.ignore_range.contains(&request.path);
        let ok_slice = state.slice_with_ok.contains(&request.path);
        let body = state.files.get(&request.path).cloned();
        let cut = match state.cut_offs.get_mut(&request.path) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        (body, cut, honour_range, ok_slice)
    };
    let Some(body) = body else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
        return;
    };
    let start = request.range.as_deref().and_then(range_start).filter(|&s| honour_range && s <= body.len());
    let (status, slice, extra) = match start {
        Some(s) if s == body.len() => {
            let header = format!("Content-Range: bytes */{}\r\n", body.len());
            ("416 Range Not Satisfiable", &body[..0], header)
        }
        Some(s) => {
            let header = format!("Content-Range: bytes {s}-{}/{}\r\n", body.len() - 1, body.len());
            (if ok_slice { "200 OK" } else { "206 Partial Content" }, &body[s..], header)
        }
        None => ("200 OK", &body[..], String::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n",
        slice.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let sent = if cut { &slice[..slice.len() / 2] } else { slice };
    let _ = stream.write_all(sent);
    let _ = stream.flush();
}

fn read_request(stream: &TcpStream) -> Option<SeenRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    Some(SeenRequest { path, range })
}

/// `N` from `bytes=N-`.
fn range_start(range: &str) -> Option<usize> {
    range.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok()
}
