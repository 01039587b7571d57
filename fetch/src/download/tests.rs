//! Download tests against a local server on 127.0.0.1 (nothing reaches the internet).

use super::test_server::TestServer;
use super::*;

/// Bytes of the served test file: several read chunks, so a cut-off lands mid-body.
const FILE_BYTES: usize = 300_000;

/// Deterministic, non-repeating test content (a linear congruential sequence).
fn content() -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..FILE_BYTES)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn quick(retries: u32) -> DownloadOptions {
    DownloadOptions { timeout: Duration::from_secs(10), retries, retry_delay: Duration::ZERO }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn full_download_is_verified_then_cached() {
    let server = TestServer::start();
    let bytes = content();
    server.add("/data.bin", bytes.clone());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("sub/data.bin");
    let checksum = Checksum::Sha256(sha256_hex(&bytes));
    let mut last = None;
    let got = download(&server.url("/data.bin"), &dest, &checksum, &quick(0), &mut |p| last = Some(p)).unwrap();
    assert_eq!(got, Downloaded::Fetched);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert_eq!(entries(&dir.path().join("sub")), vec!["data.bin"]);
    let total = Some(FILE_BYTES as u64);
    assert_eq!(last, Some(DownloadProgress { downloaded: FILE_BYTES as u64, total }));

    let again = download(&server.url("/data.bin"), &dest, &checksum, &quick(0), &mut |_| {}).unwrap();
    assert_eq!(again, Downloaded::Cached);
    assert_eq!(server.seen().len(), 1, "a cached file is not fetched again");
}

#[test]
fn download_cut_off_half_way_resumes_with_a_range_request() {
    let server = TestServer::start();
    let bytes = content();
    server.add("/model.pth", bytes.clone());
    server.cut_off("/model.pth", 1);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("model.pth");
    let checksum = Checksum::Sha256(sha256_hex(&bytes));
    download(&server.url("/model.pth"), &dest, &checksum, &quick(1), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range, Some(format!("bytes={}-", FILE_BYTES / 2)));
    assert_eq!(entries(dir.path()), vec!["model.pth"]);
}

#[test]
fn interrupted_download_keeps_its_part_and_a_later_call_resumes() {
    let server = TestServer::start();
    let bytes = content();
    server.add("/big.tgz", bytes.clone());
    server.cut_off("/big.tgz", 1);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("big.tgz");
    let checksum = Checksum::Sha256(sha256_hex(&bytes));
    let err = download(&server.url("/big.tgz"), &dest, &checksum, &quick(0), &mut |_| {}).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, FetchError::Incomplete { .. }), "{text}");
    assert!(text.contains(&format!("after {} of {FILE_BYTES} bytes", FILE_BYTES / 2)), "{text}");
    assert!(!dest.exists());
    assert_eq!(std::fs::metadata(part_path(&dest)).unwrap().len(), (FILE_BYTES / 2) as u64);

    let mut first = None;
    download(&server.url("/big.tgz"), &dest, &checksum, &quick(0), &mut |p| {
        first.get_or_insert(p);
    })
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert_eq!(first.map(|p| p.downloaded), Some((FILE_BYTES / 2) as u64), "progress starts at the resumed bytes");
    assert_eq!(server.seen().last().unwrap().range, Some(format!("bytes={}-", FILE_BYTES / 2)));
    assert_eq!(entries(dir.path()), vec!["big.tgz"]);
}

#[test]
fn server_without_range_support_makes_the_resume_start_over() {
    let server = TestServer::start();
    let bytes = content();
    server.add("/plain.bin", bytes.clone());
    server.cut_off("/plain.bin", 1);
    server.ignore_range("/plain.bin");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("plain.bin");
    let checksum = Checksum::Sha256(sha256_hex(&bytes));
    download(&server.url("/plain.bin"), &dest, &checksum, &quick(1), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes, "the 200 answer replaced the partial bytes");
    assert_eq!(server.seen()[1].range, Some(format!("bytes={}-", FILE_BYTES / 2)));
}

#[test]
fn a_range_answered_with_200_and_only_the_slice_is_appended_by_its_content_range() {
    let server = TestServer::start();
    let bytes = content();
    server.add("/slice.bin", bytes.clone());
    server.cut_off("/slice.bin", 1);
    server.slice_with_ok("/slice.bin");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("slice.bin");
    let checksum = Checksum::Sha256(sha256_hex(&bytes));
    download(&server.url("/slice.bin"), &dest, &checksum, &quick(1), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes, "the slice went after the good partial, not over it");
    assert_eq!(server.seen()[1].range, Some(format!("bytes={}-", FILE_BYTES / 2)));
}

#[test]
fn checksum_mismatch_is_an_error_and_leaves_nothing_behind() {
    let server = TestServer::start();
    server.add("/t10k-images-idx3-ubyte.gz", content());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("t10k-images-idx3-ubyte.gz");
    let wrong = sha256_hex(b"something else");
    let checksum = Checksum::Sha256(wrong.clone());
    let err = download(&server.url("/t10k-images-idx3-ubyte.gz"), &dest, &checksum, &quick(0), &mut |_| {})
        .unwrap_err()
        .to_string();
    let found = sha256_hex(&content());
    assert!(err.contains("checksum mismatch for `t10k-images-idx3-ubyte.gz`"), "{err}");
    assert!(err.contains(&format!("expected sha256 {wrong}, found {found}")), "{err}");
    assert!(entries(dir.path()).is_empty(), "left behind: {:?}", entries(dir.path()));
}

#[test]
fn http_404_is_a_clear_error_and_is_not_retried() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("missing.bin");
    let url = server.url("/missing.bin");
    let checksum = Checksum::Sha256(sha256_hex(b""));
    let err = download(&url, &dest, &checksum, &quick(3), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains(&url) && err.contains("HTTP 404 Not Found"), "{err}");
    assert_eq!(server.seen().len(), 1, "404 is final");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn unreachable_server_is_an_error_naming_the_url() {
    // Bind and drop a listener: the port is then (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/x.bin");
    let dir = tempfile::tempdir().unwrap();
    let checksum = Checksum::Sha256(sha256_hex(b""));
    let err = download(&url, &dir.path().join("x.bin"), &checksum, &quick(1), &mut |_| {}).unwrap_err();
    assert!(matches!(err, FetchError::Http { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn corrupted_cached_file_is_fetched_again() {
    let server = TestServer::start();
    let bytes = content();
    server.add("/f.bin", bytes.clone());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f.bin");
    std::fs::write(&dest, b"truncated").unwrap();
    let checksum = Checksum::Sha256(sha256_hex(&bytes));
    let got = download(&server.url("/f.bin"), &dest, &checksum, &quick(0), &mut |_| {}).unwrap();
    assert_eq!(got, Downloaded::Fetched);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
}

#[test]
fn torchvision_file_names_carry_a_sha256_prefix() {
    let checksum = Checksum::from_torchvision_file_name("resnet34-b627a593.pth").unwrap();
    assert_eq!(checksum, Checksum::Sha256Prefix("b627a593".into()));
    assert!(checksum.matches("b627a593ffffffffffffffffffffffffffffffffffffffffffffffffffffffff"));
    assert!(!checksum.matches("b627a594ffffffffffffffffffffffffffffffffffffffffffffffffffffffff"));
    assert_eq!(Checksum::from_torchvision_file_name("lfw.tgz"), None);
    assert_eq!(Checksum::from_torchvision_file_name("t10k-images-idx3-ubyte.gz"), None);
}

#[test]
fn prefix_checksum_verifies_a_download() {
    let server = TestServer::start();
    let bytes = content();
    let digest = sha256_hex(&bytes);
    let name = format!("tiny-{}.pth", &digest[..8]);
    server.add(&format!("/{name}"), bytes.clone());
    let dir = tempfile::tempdir().unwrap();
    let checksum = Checksum::from_torchvision_file_name(&name).unwrap();
    download(&server.url(&format!("/{name}")), &dir.path().join(&name), &checksum, &quick(0), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), bytes);
}
