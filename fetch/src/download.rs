//! Downloading files into a cache: resume, checksum, retries.
//!
//! [`download`] fetches a URL into a file with these guarantees:
//! - the bytes land in `<file>.part` first; the final name appears only after the SHA-256
//!   matched, so a file under its final name is always complete and verified;
//! - an interrupted download (dropped connection, timeout, Ctrl-C) resumes from the bytes
//!   already in `<file>.part` with an HTTP `Range` request, in the same call (up to
//!   [`DownloadOptions::retries`] times) or in a later one; a server that ignores `Range` makes
//!   it start over;
//! - a checksum mismatch removes the bad file and is an error naming both digests;
//! - HTTP error statuses are errors naming the URL and status; 408, 429 and 5xx are retried,
//!   other statuses (404, 403, …) are not.
//!
//! The library never prints: progress goes to a callback (the CLI draws an indicatif bar).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};

use crate::error::{FetchError, Result};

/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "NETLENS_CACHE";

/// Size of the buffer a body is copied through, in bytes.
const CHUNK_BYTES: usize = 1 << 16;

/// The directory downloads are kept in: `$NETLENS_CACHE` if set and not empty, else the
/// platform cache directory + `netlens` (`~/.cache/netlens` on Linux,
/// `~/Library/Caches/netlens` on macOS, `%LOCALAPPDATA%\netlens` on Windows).
///
/// # Errors
/// [`FetchError::NoCacheDir`] when neither exists.
pub fn cache_dir() -> Result<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|d| d.join("netlens")).ok_or(FetchError::NoCacheDir),
    }
}

/// What a downloaded file must hash to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// The full SHA-256, 64 lowercase hex digits.
    Sha256(String),
    /// The first hex digits of the SHA-256, as torchvision puts them in its weight file names
    /// (`resnet34-b627a593.pth`) and checks them in `torch.hub.download_url_to_file`.
    Sha256Prefix(String),
}

impl Checksum {
    /// The torchvision-style prefix in a file name `<name>-<hex>.<ext>` (at least 8 hex digits).
    pub fn from_torchvision_file_name(file_name: &str) -> Option<Self> {
        let stem = file_name.split('.').next()?;
        let prefix = stem.rsplit('-').next()?;
        let is_hex = prefix.len() >= 8 && prefix.chars().all(|c| c.is_ascii_hexdigit());
        (is_hex && stem.contains('-')).then(|| Self::Sha256Prefix(prefix.to_ascii_lowercase()))
    }

    /// Whether the full lowercase hex digest `sha256` satisfies this checksum.
    pub fn matches(&self, sha256: &str) -> bool {
        match self {
            Self::Sha256(want) => want.eq_ignore_ascii_case(sha256),
            Self::Sha256Prefix(prefix) => sha256.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()),
        }
    }

    /// The expected digest as written in errors (`b627a593…` for a prefix).
    pub fn expected_text(&self) -> String {
        match self {
            Self::Sha256(want) => want.clone(),
            Self::Sha256Prefix(prefix) => format!("{prefix}…"),
        }
    }
}

/// How [`download`] talks to servers.
#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// Limit for connecting and for each read of the body (an idle timeout, not a limit on the
    /// whole transfer). Default: 60 s.
    pub timeout: Duration,
    /// Further attempts after a failed one (connection errors, timeouts, a body cut short,
    /// HTTP 408/429/5xx); each resumes where the last stopped. Default: 3.
    pub retries: u32,
    /// Pause before the first retry, doubled before each further one. Default: 1 s.
    pub retry_delay: Duration,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(60), retries: 3, retry_delay: Duration::from_secs(1) }
    }
}

/// How far a download is: bytes on disk so far and, when the server says, the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownloadProgress {
    /// Bytes of the file downloaded so far (resumed bytes included).
    pub downloaded: u64,
    /// The file's full size in bytes, when the server sent a length.
    pub total: Option<u64>,
}

/// What [`download`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Downloaded {
    /// A verified file was already at the destination; nothing was fetched.
    Cached,
    /// The file was fetched (or its partial download finished) and verified.
    Fetched,
}

/// Downloads `url` to `dest` and checks it against `checksum`; see the module docs.
///
/// A file already at `dest` that matches is kept ([`Downloaded::Cached`]); one that does not is
/// fetched again. `progress` is called after every chunk.
///
/// # Errors
/// [`FetchError::HttpStatus`] for an error status, [`FetchError::Http`] for connection errors
/// and timeouts and [`FetchError::Incomplete`] for a body cut short (both after all retries;
/// `<dest>.part` is kept for a later resume), [`FetchError::ChecksumMismatch`] (the file is
/// removed), [`FetchError::Io`] naming the local file.
pub fn download(
    url: &str,
    dest: &Path,
    checksum: &Checksum,
    options: &DownloadOptions,
    progress: &mut dyn FnMut(DownloadProgress),
) -> Result<Downloaded> {
    if dest.is_file() {
        if checksum.matches(&sha256_file(dest)?) {
            return Ok(Downloaded::Cached);
        }
        std::fs::remove_file(dest).map_err(|e| FetchError::io(dest, e))?;
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| FetchError::io(dir, e))?;
    }
    let part = part_path(dest);
    let client = client(options, url)?;
    fetch_with_retries(&client, url, &part, options, progress)?;
    verify(&part, dest, checksum)?;
    std::fs::rename(&part, dest).map_err(|e| FetchError::io(dest, e))?;
    Ok(Downloaded::Fetched)
}

/// `<dest>.part`, where bytes go until they are verified.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// The lowercase hex SHA-256 of a file.
///
/// # Errors
/// [`FetchError::Io`] naming the file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| FetchError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = file.read(&mut buf).map_err(|e| FetchError::io(path, e))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// Checks the finished `part`; removes it on a mismatch.
fn verify(part: &Path, dest: &Path, checksum: &Checksum) -> Result<()> {
    let found = sha256_file(part)?;
    if checksum.matches(&found) {
        return Ok(());
    }
    std::fs::remove_file(part).map_err(|e| FetchError::io(part, e))?;
    let file = dest.file_name().unwrap_or_default().to_string_lossy().into_owned();
    Err(FetchError::ChecksumMismatch { file, expected: checksum.expected_text(), found })
}

fn client(options: &DownloadOptions, url: &str) -> Result<Client> {
    Client::builder()
        .connect_timeout(options.timeout)
        .timeout(options.timeout)
        .user_agent(concat!("netlens/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| FetchError::Http { url: url.into(), source })
}

/// A failed attempt, and whether another attempt may succeed.
struct AttemptError {
    error: FetchError,
    retryable: bool,
}

fn fetch_with_retries(
    client: &Client,
    url: &str,
    part: &Path,
    options: &DownloadOptions,
    progress: &mut dyn FnMut(DownloadProgress),
) -> Result<()> {
    let mut delay = options.retry_delay;
    for attempt in 0..=options.retries {
        match fetch_once(client, url, part, progress) {
            Ok(()) => return Ok(()),
            Err(e) if e.retryable && attempt < options.retries => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(e.error),
        }
    }
    unreachable!("the last attempt returns")
}

/// One request: resumes from the bytes in `part` and appends the body to it.
fn fetch_once(
    client: &Client,
    url: &str,
    part: &Path,
    progress: &mut dyn FnMut(DownloadProgress),
) -> std::result::Result<(), AttemptError> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = client.get(url);
    if have > 0 {
        request = request.header(RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().map_err(|source| transport(url, source))?;
    // The body's place in the file comes from `Content-Range` whatever the status (some proxies
    // answer a range with 200 and only the slice); a 200 without it is the whole file.
    let first = content_range_start(&response);
    let (start, total) = match (response.status(), first) {
        (StatusCode::OK | StatusCode::PARTIAL_CONTENT, Some(first)) if first <= have => {
            // Bytes already on disk are skipped, so the good partial is never overwritten.
            skip(&mut response, have - first).map_err(|e| transport_io(part, e))?;
            (have, response.content_length().map(|n| first + n))
        }
        (StatusCode::OK | StatusCode::PARTIAL_CONTENT, Some(_)) => {
            // A range beyond the bytes on disk: ask again, keeping what is there.
            let error = FetchError::BadRange { url: url.into(), asked: have };
            return Err(AttemptError { error, retryable: true });
        }
        (StatusCode::OK, None) => (0, response.content_length()),
        (StatusCode::PARTIAL_CONTENT, None) => {
            let error = FetchError::BadRange { url: url.into(), asked: have };
            return Err(AttemptError { error, retryable: true });
        }
        // The part already holds every byte; the checksum decides whether it is right.
        (StatusCode::RANGE_NOT_SATISFIABLE, _) if have > 0 => return Ok(()),
        (status, _) => return Err(http_status(url, status)),
    };
    let mut file = open_part(part, start).map_err(|error| AttemptError { error, retryable: false })?;
    copy_body(response, &mut file, part, url, DownloadProgress { downloaded: start, total }, progress)
}

/// The first byte of `Content-Range: bytes <first>-<last>/<size>`, when the response has one.
fn content_range_start(response: &Response) -> Option<u64> {
    let range = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    range.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// Reads and drops `n` bytes of the body.
fn skip(response: &mut Response, n: u64) -> std::io::Result<()> {
    let copied = std::io::copy(&mut response.take(n), &mut std::io::sink())?;
    if copied < n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the body ended inside the bytes already on disk",
        ));
    }
    Ok(())
}

/// A body that broke off while bytes were being skipped: retried, the partial kept.
fn transport_io(part: &Path, e: std::io::Error) -> AttemptError {
    AttemptError { error: FetchError::io(part, e), retryable: true }
}

fn open_part(part: &Path, start: u64) -> Result<File> {
    let mut options = OpenOptions::new();
    if start > 0 {
        options.append(true)
    } else {
        options.write(true).create(true).truncate(true)
    };
    options.open(part).map_err(|e| FetchError::io(part, e))
}

fn copy_body(
    mut response: Response,
    file: &mut File,
    part: &Path,
    url: &str,
    mut state: DownloadProgress,
    progress: &mut dyn FnMut(DownloadProgress),
) -> std::result::Result<(), AttemptError> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    progress(state);
    // A broken body keeps what arrived; the next attempt resumes from there.
    let broken = loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(e),
        };
        file.write_all(&buf[..n]).map_err(|e| AttemptError { error: FetchError::io(part, e), retryable: false })?;
        state.downloaded += n as u64;
        progress(state);
    };
    file.sync_all().map_err(|e| AttemptError { error: FetchError::io(part, e), retryable: false })?;
    let incomplete = state.total.filter(|&total| state.downloaded < total);
    match (incomplete, broken) {
        (Some(total), _) => Err(AttemptError {
            error: FetchError::Incomplete { url: url.into(), expected: total, found: state.downloaded },
            retryable: true,
        }),
        (None, Some(e)) => Err(AttemptError { error: FetchError::io(part, e), retryable: true }),
        (None, None) => Ok(()),
    }
}

fn transport(url: &str, source: reqwest::Error) -> AttemptError {
    AttemptError { error: FetchError::Http { url: url.into(), source }, retryable: true }
}

fn http_status(url: &str, status: StatusCode) -> AttemptError {
    let retryable =
        status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS;
    AttemptError { error: FetchError::HttpStatus { url: url.into(), status }, retryable }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod test_server;
