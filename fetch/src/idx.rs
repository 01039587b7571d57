//! IDX files (the MNIST / Fashion-MNIST format, <http://yann.lecun.com/exdb/mnist/>), plain or
//! gzip-compressed.
//!
//! Layout: a big-endian magic `0x0000 TT DD` (TT = 0x08 for unsigned bytes, DD = number of
//! dimensions), DD big-endian `u32` sizes, then the data in row-major order.

use std::io::Read;
use std::path::Path;

use crate::error::{FetchError, Result};

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// Row-major bytes.
    pub data: Vec<u8>,
    /// The sizes from the header.
    pub shape: Vec<usize>,
}

/// Reads the file, decompressing it when it starts with the gzip magic `1f 8b`.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| FetchError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| FetchError::format(path, "a complete gzip stream", format!("a broken one ({e})")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an unsigned-byte IDX file with `rank` dimensions (3 for images, 1 for labels).
///
/// # Errors
/// [`FetchError::Format`] for a wrong magic number or rank, [`FetchError::Truncated`] when the
/// data is shorter than the header says, [`FetchError::Io`] when unreadable.
pub fn read_idx_u8(path: &Path, rank: usize) -> Result<IdxArray> {
    let bytes = read_maybe_gz(path)?;
    let want = format!("an IDX file of unsigned bytes with {rank} dimensions (magic 0x0000080{rank})");
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        let found = format!("magic {:02x?}", &bytes[..bytes.len().min(4)]);
        return Err(FetchError::format(path, want, found));
    }
    if bytes[2] != 0x08 || bytes[3] as usize != rank {
        let found = format!("type 0x{:02x} with {} dimensions", bytes[2], bytes[3]);
        return Err(FetchError::format(path, want, found));
    }
    let header_len = 4 + 4 * rank;
    if bytes.len() < header_len {
        return Err(FetchError::Truncated {
            path: path.into(),
            expected: header_len as u64,
            found: bytes.len() as u64,
        });
    }
    let shape: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize)
        .collect();
    let n: usize = shape.iter().product();
    let data = &bytes[header_len..];
    if data.len() < n {
        return Err(FetchError::Truncated { path: path.into(), expected: n as u64, found: data.len() as u64 });
    }
    Ok(IdxArray { data: data[..n].to_vec(), shape })
}

/// Encodes unsigned bytes as IDX (used by tests and by anyone writing small IDX files).
pub fn encode_idx_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, shape.len() as u8];
    for &d in shape {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
