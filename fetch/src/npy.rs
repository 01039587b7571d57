//! Reading and writing `.npy` arrays (NumPy format 1.0–3.0, <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>).
//!
//! Only what data sets and results need: C-order arrays of `uint8` and `float32`. Every read
//! checks dtype, rank and length against the header and names the file in its error.

use std::path::Path;

use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar, WriterBuilder};

use crate::error::{FetchError, Result};
use crate::write::write_atomically;

/// An array read from a `.npy` file: C-order values and the shape from its header.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray<T> {
    /// Row-major values.
    pub data: Vec<T>,
    /// The header's shape.
    pub shape: Vec<usize>,
}

/// A human name for a `.npy` dtype (`float32`, `uint8`, `int64`, …).
fn dtype_name(dtype: &DType) -> String {
    match dtype {
        DType::Plain(ts) => {
            let kind = match ts.type_char() {
                TypeChar::Uint => "uint",
                TypeChar::Int => "int",
                TypeChar::Float => "float",
                TypeChar::Bool => return "bool".into(),
                _ => return ts.to_string(),
            };
            format!("{kind}{}", ts.size_field() * 8)
        }
        other => other.descr().to_string(),
    }
}

fn shape_text(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    if parts.len() == 1 { format!("({},)", parts[0]) } else { format!("({})", parts.join(", ")) }
}

/// Reads a whole `.npy` file and checks that its dtype is `want` (e.g. `"uint8"`).
fn read_checked(path: &Path, want: &str, want_shape: &str) -> Result<(NpyHeader, Vec<u8>, usize)> {
    let bytes = std::fs::read(path).map_err(|e| FetchError::io(path, e))?;
    let mut rest: &[u8] = &bytes;
    let header = NpyHeader::from_reader(&mut rest).map_err(|e| {
        FetchError::format(
            path,
            format!("a .npy file holding {want} {want_shape}"),
            format!("no valid .npy header ({e})"),
        )
    })?;
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let found_dtype = dtype_name(&header.dtype());
    if found_dtype != want {
        return Err(FetchError::format(
            path,
            format!("{want} {want_shape}"),
            format!("{found_dtype} {}", shape_text(&shape)),
        ));
    }
    if header.order() == Order::Fortran {
        return Err(FetchError::format(path, "a C-order array", "a Fortran-order array"));
    }
    let offset = bytes.len() - rest.len();
    let item = match &header.dtype() {
        DType::Plain(ts) => ts.size_field() as usize,
        _ => unreachable!("dtype_name matched a plain dtype"),
    };
    let expected = shape.iter().product::<usize>() * item;
    if rest.len() < expected {
        return Err(FetchError::Truncated { path: path.into(), expected: expected as u64, found: rest.len() as u64 });
    }
    Ok((header, bytes, offset))
}

/// Reads a `uint8` array. `want_shape` only words the error (e.g. `"(N, 32, 32)"`).
///
/// # Errors
/// [`FetchError::Io`] if unreadable, [`FetchError::Format`] if not a `.npy` or not `uint8`,
/// [`FetchError::Truncated`] if shorter than its header says.
pub fn read_u8(path: &Path, want_shape: &str) -> Result<NpyArray<u8>> {
    let (header, bytes, offset) = read_checked(path, "uint8", want_shape)?;
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let n: usize = shape.iter().product();
    Ok(NpyArray { data: bytes[offset..offset + n].to_vec(), shape })
}

/// Reads a little-endian `float32` array.
///
/// # Errors
/// As [`read_u8`].
pub fn read_f32(path: &Path, want_shape: &str) -> Result<NpyArray<f32>> {
    let (header, bytes, _) = read_checked(path, "float32", want_shape)?;
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let file = NpyFile::new(&bytes[..]).map_err(|e| FetchError::io(path, e))?;
    let data = file.into_vec::<f32>().map_err(|e| FetchError::io(path, e))?;
    Ok(NpyArray { data, shape })
}

fn write_array<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[usize],
    data: &[T],
) -> Result<()> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "npy shape does not match data length");
    let mut buf = Vec::new();
    {
        let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut buf)
            .begin_nd()
            .map_err(|e| FetchError::io(path, e))?;
        writer.extend(data.iter().copied()).map_err(|e| FetchError::io(path, e))?;
        writer.finish().map_err(|e| FetchError::io(path, e))?;
    }
    write_atomically(path, &buf)
}

/// Writes a C-order `uint8` array atomically (temporary file, then rename).
///
/// # Panics
/// If `shape` does not multiply to `data.len()` (a caller's bug).
pub fn write_u8(path: &Path, shape: &[usize], data: &[u8]) -> Result<()> {
    write_array(path, shape, data)
}

/// Writes a C-order `float32` array atomically (temporary file, then rename).
///
/// # Panics
/// If `shape` does not multiply to `data.len()` (a caller's bug).
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    write_array(path, shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_u8_and_f32() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_u8(&p, &[2, 3], &[1, 2, 3, 4, 5, 6]).unwrap();
        let a = read_u8(&p, "(2, 3)").unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        let q = dir.path().join("b.npy");
        write_f32(&q, &[3], &[0.5, -1.0, 2.25]).unwrap();
        assert_eq!(read_f32(&q, "(3,)").unwrap().data, vec![0.5, -1.0, 2.25]);
        let err = read_u8(&q, "(3,)").unwrap_err().to_string();
        assert!(err.contains("expected uint8") && err.contains("found float32 (3,)"), "{err}");
    }
}
