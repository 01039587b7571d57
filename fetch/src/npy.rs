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

/// Whether a `.npy` header that npyz refused declares an object (pickled) dtype: `'descr': '|O'`.
fn is_object_array(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).replace(' ', "");
    bytes.starts_with(b"\x93NUMPY") && (head.contains("'descr':'|O'") || head.contains("'descr':'O'"))
}

/// Deepest bracket nesting a header may have. A plain array's header dict nests two deep
/// (`{'shape': (2, 3)}`), a structured dtype four or five; npyz's parser (py_literal, a
/// backtracking PEG parser) takes time exponential in the nesting of unclosed brackets, so a
/// 4-KiB header of `[[[[…` would hang it.
const MAX_HEADER_NESTING: usize = 8;

/// The declared length of a `.npy` header's dict and where it starts (format 1.0: a 2-byte
/// length at offset 8; 2.0 and 3.0: 4 bytes); `None` if the file does not start with the magic
/// string and version.
fn header_span(bytes: &[u8]) -> Option<(usize, usize)> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return None;
    }
    Some(match bytes.get(6)? {
        1 => (u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?]) as usize, 10),
        _ => (u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize, 12),
    })
}

/// The nesting depth of `(`, `[` and `{` in a `.npy` header's dict (see [`header_span`]).
fn header_nesting(bytes: &[u8]) -> Option<usize> {
    let (len, start) = header_span(bytes)?;
    let dict = &bytes[start.min(bytes.len())..start.saturating_add(len).min(bytes.len())];
    let (mut depth, mut max) = (0usize, 0usize);
    for &b in dict {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Some(max)
}

/// Reads a whole `.npy` file's header; `want` words the errors.
fn read_header(path: &Path, want: &str) -> Result<(NpyHeader, Vec<u8>, usize)> {
    let bytes = std::fs::read(path).map_err(|e| FetchError::io(path, e))?;
    // npyz allocates the header's declared length before reading it: a 4-byte length field
    // of a format 2.0 file can ask for 4 GiB. A header longer than the file is cut short anyway.
    if let Some((len, start)) = header_span(&bytes)
        && start.saturating_add(len) > bytes.len()
    {
        return Err(FetchError::Truncated {
            path: path.into(),
            expected: start.saturating_add(len) as u64,
            found: bytes.len() as u64,
        });
    }
    if let Some(depth) = header_nesting(&bytes).filter(|&d| d > MAX_HEADER_NESTING) {
        return Err(FetchError::format(
            path,
            format!("a .npy file holding {want}"),
            format!("a header whose brackets nest {depth} deep (at most {MAX_HEADER_NESTING} are read)"),
        ));
    }
    let mut rest: &[u8] = &bytes;
    let header = match NpyHeader::from_reader(&mut rest) {
        Ok(h) => h,
        Err(_) if is_object_array(&bytes) => {
            return Err(FetchError::format(
                path,
                format!("a .npy file holding {want}"),
                "an object (pickled) array, which is not supported: save a numeric array (e.g. np.asarray(x, dtype=np.uint8))",
            ));
        }
        Err(e) => {
            return Err(FetchError::format(
                path,
                format!("a .npy file holding {want}"),
                format!("no valid .npy header ({e})"),
            ));
        }
    };
    if header.order() == Order::Fortran {
        return Err(FetchError::format(path, "a C-order array", "a Fortran-order array"));
    }
    let offset = bytes.len() - rest.len();
    Ok((header, bytes, offset))
}

/// Reads a whole `.npy` file and checks that its dtype is `want` (e.g. `"uint8"`).
fn read_checked(path: &Path, want: &str, want_shape: &str) -> Result<(NpyHeader, Vec<u8>, usize)> {
    let (header, bytes, offset) = read_header(path, &format!("{want} {want_shape}"))?;
    let rest = &bytes[offset..];
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let found_dtype = dtype_name(&header.dtype());
    if found_dtype != want {
        return Err(FetchError::format(
            path,
            format!("{want} {want_shape}"),
            format!("{found_dtype} {}", shape_text(&shape)),
        ));
    }
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

/// Reads an array of any integer or boolean dtype (`uint8` … `int64`, either byte order) as
/// `i64`. `want_shape` only words the error (e.g. `"(N,)"`).
///
/// # Errors
/// [`FetchError::Io`] if unreadable, [`FetchError::Format`] if not a `.npy` or not of an integer
/// dtype (floats, objects), [`FetchError::Truncated`] if shorter than its header says.
pub fn read_integers(path: &Path, want_shape: &str) -> Result<NpyArray<i64>> {
    let want = format!("integers {want_shape}");
    let (header, bytes, offset) = read_header(path, &want)?;
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let DType::Plain(ts) = header.dtype() else {
        return Err(FetchError::format(path, want, format!("{} {}", dtype_name(&header.dtype()), shape_text(&shape))));
    };
    let size = ts.size_field() as usize;
    let signed = match ts.type_char() {
        TypeChar::Int => true,
        TypeChar::Uint | TypeChar::Bool => false,
        _ => {
            return Err(FetchError::format(
                path,
                want,
                format!("{} {}", dtype_name(&header.dtype()), shape_text(&shape)),
            ));
        }
    };
    let n: usize = shape.iter().product();
    let rest = &bytes[offset..];
    if !matches!(size, 1 | 2 | 4 | 8) || rest.len() < n * size {
        return Err(FetchError::Truncated { path: path.into(), expected: (n * size) as u64, found: rest.len() as u64 });
    }
    let big = ts.endianness() == npyz::Endianness::Big;
    let data = rest[..n * size]
        .chunks_exact(size)
        .map(|c| {
            let mut b = [0u8; 8];
            if big {
                b[8 - size..].copy_from_slice(c);
                b.reverse();
            } else {
                b[..size].copy_from_slice(c);
            }
            let v = u64::from_le_bytes(b);
            // Sign-extend from `size` bytes.
            if signed && size < 8 { ((v << (64 - 8 * size)) as i64) >> (64 - 8 * size) } else { v as i64 }
        })
        .collect();
    Ok(NpyArray { data, shape })
}

/// Reads an array of `uint8`, `float32` or `float64` values as `f32`, with the dtype's name.
///
/// # Errors
/// As [`read_integers`], for another dtype.
pub fn read_pixels(path: &Path, want_shape: &str) -> Result<(NpyArray<f32>, String)> {
    let (header, _, _) = read_header(path, &format!("uint8 or float {want_shape}"))?;
    let dtype = dtype_name(&header.dtype());
    let arr = match dtype.as_str() {
        "uint8" => {
            let a = read_u8(path, want_shape)?;
            NpyArray { data: a.data.iter().map(|&v| v as f32).collect(), shape: a.shape }
        }
        "float32" => read_f32(path, want_shape)?,
        "float64" => {
            let (header, bytes, _) = read_checked(path, "float64", want_shape)?;
            let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
            let file = NpyFile::new(&bytes[..]).map_err(|e| FetchError::io(path, e))?;
            let data = file.into_vec::<f64>().map_err(|e| FetchError::io(path, e))?;
            NpyArray { data: data.into_iter().map(|v| v as f32).collect(), shape }
        }
        other => {
            let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
            return Err(FetchError::format(
                path,
                format!("uint8 or float {want_shape}"),
                format!("{other} {}", shape_text(&shape)),
            ));
        }
    };
    Ok((arr, dtype))
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

pub(crate) fn write_array<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
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

    /// A `.npy` file made by hand: the header dict padded as NumPy does, then `body`.
    fn npy_bytes(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((dict.len() as u16).to_le_bytes());
        out.extend(dict.as_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn a_header_of_deeply_nested_brackets_is_refused_at_once() {
        // Found by the `npy` fuzz target: 100 unclosed `[` in the dict (102 deep with the dict's
        // `{` and the shape's `(`) made npyz's
        // backtracking header parser run for minutes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested.npy");
        let descr = format!("|u1',{}'", "[".repeat(100));
        std::fs::write(&path, npy_bytes(&descr, "(2, 2, 3)", &[0; 12])).unwrap();
        let err = read_u8(&path, "(N, H, W)").unwrap_err().to_string();
        assert!(err.contains("nested.npy") && err.contains("nest 102 deep"), "{err}");
        // Real headers are far from the limit: a plain array's nests 2 deep, a structured
        // dtype's (as NumPy writes `[('a', '<f4', (2,))]`) 4 deep.
        assert_eq!(header_nesting(&npy_bytes("<f4", "(2, 3)", &[])), Some(2));
        let dict = b"{'descr': [('a', '<f4', (2,))], 'fortran_order': False, 'shape': (1,), }\n";
        let mut structured = b"\x93NUMPY\x01\x00".to_vec();
        structured.extend((dict.len() as u16).to_le_bytes());
        structured.extend(dict);
        assert_eq!(header_nesting(&structured), Some(4));
    }

    #[test]
    fn a_header_longer_than_the_file_is_refused_before_it_is_allocated() {
        // Found by the `npy` fuzz target: format 2.0 with a header length of ~1 GiB in 20 bytes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.npy");
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend(0x4000_0000u32.to_le_bytes());
        bytes.extend(b"{'descr'");
        std::fs::write(&path, &bytes).unwrap();
        let err = read_u8(&path, "(N, H, W)").unwrap_err().to_string();
        assert!(err.contains("long.npy") && err.contains(&(12 + 0x4000_0000u64).to_string()), "{err}");
    }

    #[test]
    fn labels_of_any_integer_dtype_read_as_i64() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, Vec<u8>); 5] = [
            ("<i8", [3i64, -1, 9].iter().flat_map(|v| v.to_le_bytes()).collect()),
            ("|i1", vec![3, 0xFF, 9]),
            ("<u2", [3u16, 65535, 9].iter().flat_map(|v| v.to_le_bytes()).collect()),
            (">i4", [3i32, -1, 9].iter().flat_map(|v| v.to_be_bytes()).collect()),
            ("|b1", vec![1, 0, 1]),
        ];
        for (descr, body) in cases {
            let path = dir.path().join("y.npy");
            std::fs::write(&path, npy_bytes(descr, "(3,)", &body)).unwrap();
            let arr = read_integers(&path, "(N,)").unwrap();
            let want: Vec<i64> = match descr {
                "|b1" => vec![1, 0, 1],
                "<u2" => vec![3, 65535, 9],
                _ => vec![3, -1, 9],
            };
            assert_eq!(arr.data, want, "{descr}");
        }
        let path = dir.path().join("f.npy");
        std::fs::write(&path, npy_bytes("<f4", "(1,)", &1.5f32.to_le_bytes())).unwrap();
        let err = read_integers(&path, "(N,)").unwrap_err().to_string();
        assert!(err.contains("float32") && err.contains("f.npy"), "{err}");
    }

    #[test]
    fn an_object_array_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("objects.npy");
        // A pickled payload follows an object header; its content does not matter here.
        std::fs::write(&path, npy_bytes("|O", "(2,)", b"\x80\x04\x95")).unwrap();
        for err in [read_integers(&path, "(N,)").unwrap_err(), read_u8(&path, "(N,)").unwrap_err()] {
            let msg = err.to_string();
            assert!(msg.contains("object (pickled) array") && msg.contains("objects.npy"), "{msg}");
        }
    }

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
