//! The globals a PyTorch checkpoint's pickle names, checked against what
//! `torch.load(..., weights_only=True)` allows before anything else reads the file.
//!
//! A pickle names Python callables and classes (*globals*) with the `GLOBAL`, `INST` and
//! `STACK_GLOBAL` opcodes; unpickling calls them. burn-store's reader never executes one, but
//! a file that names, say, `posix.system` or a training script's own classes is not a weights
//! file, and PyTorch itself refuses it under `weights_only=True` (the default since PyTorch
//! 2.6). [`check_weights_only`] walks every opcode of the file's pickles (the pickle format is
//! specified by CPython's `Lib/pickletools.py`) and refuses the first global outside
//! [`WEIGHTS_ONLY_GLOBALS`] by name.
//!
//! Containers (PyTorch's `torch/serialization.py`): the ZIP archive of PyTorch ≥ 1.6 holds one
//! pickle, `<root>/data.pkl`; the legacy stream of PyTorch 0.1.10–1.5 is a run of pickles
//! (magic number, protocol, system info, the object, the storage keys) followed by raw storage
//! bytes; the TAR archive of PyTorch < 0.1.10 holds the object's pickle as the member `pickle`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use crate::error::{OnnxError, Result};

/// Every global `torch.load(..., weights_only=True)` accepts, as PyTorch 2.15 lists them in
/// `torch/_weights_only_unpickler.py::_get_allowed_globals` (tensor rebuild functions, storage
/// and tensor classes, dtypes, `OrderedDict` and plain containers). Protocol-2 names of Python 2
/// (`__builtin__.set`) are mapped to their Python 3 names first, as PyTorch does.
pub const WEIGHTS_ONLY_GLOBALS: &[&str] = &[
    "_codecs.encode",
    "builtins.bytearray",
    "builtins.complex",
    "builtins.set",
    "collections.Counter",
    "collections.OrderedDict",
    "torch.BFloat16Storage",
    "torch.BFloat16Tensor",
    "torch.BoolStorage",
    "torch.BoolTensor",
    "torch.ByteStorage",
    "torch.ByteTensor",
    "torch.CharStorage",
    "torch.CharTensor",
    "torch.ComplexDoubleStorage",
    "torch.ComplexFloatStorage",
    "torch.DoubleStorage",
    "torch.DoubleTensor",
    "torch.FloatStorage",
    "torch.FloatTensor",
    "torch.HalfStorage",
    "torch.HalfTensor",
    "torch.IntStorage",
    "torch.IntTensor",
    "torch.LongStorage",
    "torch.LongTensor",
    "torch.QInt32Storage",
    "torch.QInt8Storage",
    "torch.QUInt2x4Storage",
    "torch.QUInt4x2Storage",
    "torch.QUInt8Storage",
    "torch.ShortStorage",
    "torch.ShortTensor",
    "torch.Size",
    "torch.Tensor",
    "torch._tensor._rebuild_from_type_v2",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_wrapper_subclass",
    "torch.bcomplex32",
    "torch.bfloat16",
    "torch.bits16",
    "torch.bits1x8",
    "torch.bits2x4",
    "torch.bits4x2",
    "torch.bits8",
    "torch.bool",
    "torch.complex128",
    "torch.complex32",
    "torch.complex64",
    "torch.cuda.BFloat16Storage",
    "torch.cuda.BFloat16Tensor",
    "torch.cuda.BoolStorage",
    "torch.cuda.BoolTensor",
    "torch.cuda.ByteStorage",
    "torch.cuda.ByteTensor",
    "torch.cuda.CharStorage",
    "torch.cuda.CharTensor",
    "torch.cuda.ComplexDoubleStorage",
    "torch.cuda.ComplexFloatStorage",
    "torch.cuda.DoubleStorage",
    "torch.cuda.DoubleTensor",
    "torch.cuda.FloatStorage",
    "torch.cuda.FloatTensor",
    "torch.cuda.HalfStorage",
    "torch.cuda.HalfTensor",
    "torch.cuda.IntStorage",
    "torch.cuda.IntTensor",
    "torch.cuda.LongStorage",
    "torch.cuda.LongTensor",
    "torch.cuda.ShortStorage",
    "torch.cuda.ShortTensor",
    "torch.cuda.sparse.BFloat16Tensor",
    "torch.cuda.sparse.ByteTensor",
    "torch.cuda.sparse.CharTensor",
    "torch.cuda.sparse.DoubleTensor",
    "torch.cuda.sparse.FloatTensor",
    "torch.cuda.sparse.HalfTensor",
    "torch.cuda.sparse.IntTensor",
    "torch.cuda.sparse.LongTensor",
    "torch.cuda.sparse.ShortTensor",
    "torch.device",
    "torch.float16",
    "torch.float32",
    "torch.float4_e2m1fn_x2",
    "torch.float64",
    "torch.float8_e4m3fn",
    "torch.float8_e4m3fnuz",
    "torch.float8_e5m2",
    "torch.float8_e5m2fnuz",
    "torch.float8_e8m0fnu",
    "torch.int1",
    "torch.int16",
    "torch.int2",
    "torch.int3",
    "torch.int32",
    "torch.int4",
    "torch.int5",
    "torch.int6",
    "torch.int64",
    "torch.int7",
    "torch.int8",
    "torch.nn.parameter.Parameter",
    "torch.per_channel_affine",
    "torch.per_channel_affine_float_qparams",
    "torch.per_channel_symmetric",
    "torch.per_tensor_affine",
    "torch.per_tensor_symmetric",
    "torch.qint32",
    "torch.qint8",
    "torch.quint2x4",
    "torch.quint4x2",
    "torch.quint8",
    "torch.serialization._get_layout",
    "torch.sparse.BFloat16Tensor",
    "torch.sparse.ByteTensor",
    "torch.sparse.CharTensor",
    "torch.sparse.DoubleTensor",
    "torch.sparse.FloatTensor",
    "torch.sparse.HalfTensor",
    "torch.sparse.IntTensor",
    "torch.sparse.LongTensor",
    "torch.sparse.ShortTensor",
    "torch.storage.TypedStorage",
    "torch.storage.UntypedStorage",
    "torch.uint1",
    "torch.uint16",
    "torch.uint2",
    "torch.uint3",
    "torch.uint32",
    "torch.uint4",
    "torch.uint5",
    "torch.uint6",
    "torch.uint64",
    "torch.uint7",
    "torch.uint8",
];

/// The most pickle bytes read from a ZIP or TAR member (burn-store's reader has the same
/// bound); a `data.pkl` claiming more is refused before it is inflated.
const MAX_PICKLE_BYTES: u64 = 1 << 30;

/// Pickles in the legacy stream before the raw storage bytes: magic number, protocol version,
/// system info, the saved object, the storage keys.
const LEGACY_PICKLES: usize = 5;

/// Refuses a checkpoint whose pickle names any global outside [`WEIGHTS_ONLY_GLOBALS`].
///
/// # Errors
/// [`OnnxError::UnsafeGlobal`] naming the first such global; [`OnnxError::Checkpoint`] for a
/// file that is not a PyTorch container or a pickle that breaks off or holds an opcode the
/// pickle format does not define (or the extension registry, which `weights_only` refuses too).
pub fn check_weights_only(path: &Path) -> Result<()> {
    let bad = |why: String| OnnxError::Checkpoint { path: path.into(), source: why.into() };
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { path: path.into(), source })?;
    let (pickles, count) = if bytes.starts_with(b"PK") {
        (zip_member(&bytes, "data.pkl").map_err(bad)?, 1)
    } else if bytes.get(257..262) == Some(b"ustar") {
        (tar_member(&bytes, "pickle").map_err(bad)?, 1)
    } else {
        (bytes, LEGACY_PICKLES)
    };
    let mut at = 0;
    for _ in 0..count {
        if at == pickles.len() {
            break; // a plain pickle: one object and nothing after it
        }
        let scan = scan_pickle(&pickles, at).map_err(bad)?;
        if let Some(global) = scan.globals.into_iter().find(|g| !WEIGHTS_ONLY_GLOBALS.contains(&g.as_str())) {
            return Err(OnnxError::UnsafeGlobal { path: path.into(), global });
        }
        at = scan.end;
    }
    Ok(())
}

/// Where in a checkpoint the state dict sought sits: the prefix that, stripped from the
/// tensor names, leaves the names `anchors` lists (for a torchvision ResNet, `conv1.weight` and
/// `fc.weight`).
///
/// Tensor names are dot-joined paths (burn-store flattens nested dictionaries), so a training
/// script's `{"epoch": 3, "state_dict": model.state_dict(), "optimizer": ...}` gives
/// `state_dict.conv1.weight`, a `DataParallel` model adds `module.` and a `torch.compile`d one
/// `_orig_mod.`; the prefix is all of that (`state_dict.module.`), or empty for a plain state
/// dict.
///
/// # Errors
/// [`OnnxError::NoStateDict`] naming what the file holds instead;
/// [`OnnxError::AmbiguousStateDict`] naming the prefixes when more than one fits (a model
/// saved beside its EMA copy, say).
pub fn find_state_dict<'a>(path: &Path, names: impl IntoIterator<Item = &'a str>, anchors: &[&str]) -> Result<String> {
    let names: BTreeSet<&str> = names.into_iter().collect();
    let Some((first, rest)) = anchors.split_first() else {
        return Ok(String::new());
    };
    let prefixes: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_suffix(first))
        .filter(|p| p.is_empty() || p.ends_with('.'))
        .filter(|p| rest.iter().all(|a| names.contains(format!("{p}{a}").as_str())))
        .map(str::to_string)
        .collect();
    let wanted = anchors.join("`, `");
    match prefixes.len() {
        1 => Ok(prefixes.into_iter().next().unwrap_or_default()),
        0 => Err(OnnxError::NoStateDict { path: path.into(), wanted, found: describe_names(&names) }),
        _ => Err(OnnxError::AmbiguousStateDict { path: path.into(), wanted, prefixes }),
    }
}

/// "3 tensors under `model` (2), `optimizer` (1), e.g. `model.body.weight`".
fn describe_names(names: &BTreeSet<&str>) -> String {
    if names.is_empty() {
        return "no tensors".into();
    }
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    for name in names {
        *groups.entry(name.split('.').next().unwrap_or(name)).or_default() += 1;
    }
    let shown: Vec<String> = groups.iter().take(8).map(|(g, n)| format!("`{g}` ({n})")).collect();
    let more = if groups.len() > 8 { format!(" and {} more", groups.len() - 8) } else { String::new() };
    let examples: Vec<String> = names.iter().take(3).map(|n| format!("`{n}`")).collect();
    format!("{} tensors under {}{more}, e.g. {}", names.len(), shown.join(", "), examples.join(", "))
}

/// The bytes of the shortest-named member of a ZIP archive whose name ends in `/{name}` (or is
/// `name`), as `torch.load` picks the archive's root.
fn zip_member(bytes: &[u8], name: &str) -> std::result::Result<Vec<u8>, String> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a ZIP archive: {e}"))?;
    let suffix = format!("/{name}");
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("ZIP member name: {e}"))?;
    let member = names
        .into_iter()
        .filter(|n| n == name || n.ends_with(&suffix))
        .min_by_key(String::len)
        .ok_or_else(|| format!("ZIP archive without a `{name}` member (expected a PyTorch ≥ 1.6 checkpoint)"))?;
    let file = archive.by_name(&member).map_err(|e| format!("ZIP member `{member}`: {e}"))?;
    if file.size() > MAX_PICKLE_BYTES {
        return Err(format!("ZIP member `{member}` claims {} bytes, more than {MAX_PICKLE_BYTES}", file.size()));
    }
    let mut out = Vec::new();
    file.take(MAX_PICKLE_BYTES).read_to_end(&mut out).map_err(|e| format!("ZIP member `{member}`: {e}"))?;
    Ok(out)
}

/// The bytes of the TAR member `name`.
fn tar_member(bytes: &[u8], name: &str) -> std::result::Result<Vec<u8>, String> {
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().map_err(|e| format!("not a TAR archive: {e}"))? {
        let entry = entry.map_err(|e| format!("TAR archive: {e}"))?;
        let path = entry.path().map_err(|e| format!("TAR member name: {e}"))?;
        if path.as_os_str() == name {
            let mut out = Vec::new();
            entry.take(MAX_PICKLE_BYTES).read_to_end(&mut out).map_err(|e| format!("TAR member `{name}`: {e}"))?;
            return Ok(out);
        }
    }
    Err(format!("TAR archive without a `{name}` member"))
}

/// What one pickle names, and where it ends (just past its `STOP`).
#[derive(Debug)]
struct Scan {
    globals: Vec<String>,
    end: usize,
}

/// How an opcode's argument is laid out in the stream (CPython `Lib/pickletools.py`).
enum Arg {
    None,
    /// A fixed number of bytes.
    Fixed(usize),
    /// A little-endian length of this many bytes, then that many bytes.
    Counted(usize),
    /// This many newline-terminated lines.
    Lines(usize),
}

/// What an opcode does to the part of the stack this scan follows: the strings that a
/// `STACK_GLOBAL` consumes.
enum Effect {
    /// Pushes a string (its argument, decoded as UTF-8 or Latin-1).
    PushString,
    /// Pushes something else.
    PushOther,
    /// Pushes a memo entry (its argument is the index).
    MemoGet,
    /// Stores the top of the stack in the memo (index in the argument, or the next free one).
    MemoPut,
    /// Names a global from its two argument lines (`GLOBAL`, `INST`).
    GlobalLines,
    /// Names a global from the two strings on top of the stack.
    StackGlobal,
    /// Ends the pickle.
    Stop,
    /// Refused: the extension registry names globals by number.
    Extension,
    /// Any other stack change; the followed strings are forgotten.
    Other,
    /// No stack change (`PROTO`, and `FRAME`, which may fall between a global's two names).
    Nothing,
}

fn opcode(op: u8) -> Option<(Arg, Effect)> {
    use Arg::*;
    use Effect::*;
    Some(match op {
        b'(' | b'1' | b'0' | b'2' | b'R' | b'b' | b'd' | b's' | b'u' | b'a' | b'e' | b'l' | b't' | 0x85 | 0x86
        | 0x87 | b'o' | 0x81 | 0x92 | 0x90 | 0x91 | b'Q' => (None, Other),
        b'N' | 0x88 | 0x89 | b'}' | b']' | b')' | 0x8f | 0x97 | 0x98 => (None, PushOther),
        b'.' => (None, Stop),
        0x80 => (Fixed(1), Nothing),
        0x95 => (Fixed(8), Nothing),
        b'K' => (Fixed(1), PushOther),
        b'M' => (Fixed(2), PushOther),
        b'J' => (Fixed(4), PushOther),
        b'G' => (Fixed(8), PushOther),
        b'I' | b'L' | b'F' | b'S' | b'P' => (Lines(1), PushOther),
        b'V' => (Lines(1), PushString),
        b'g' => (Lines(1), MemoGet),
        b'h' => (Fixed(1), MemoGet),
        b'j' => (Fixed(4), MemoGet),
        b'p' => (Lines(1), MemoPut),
        b'q' => (Fixed(1), MemoPut),
        b'r' => (Fixed(4), MemoPut),
        0x94 => (None, MemoPut),
        b'c' | b'i' => (Lines(2), GlobalLines),
        0x93 => (None, StackGlobal),
        0x8c | b'U' => (Counted(1), PushString),
        b'X' | b'T' => (Counted(4), PushString),
        0x8d => (Counted(8), PushString),
        b'C' | 0x8a => (Counted(1), PushOther),
        b'B' | 0x8b => (Counted(4), PushOther),
        0x8e | 0x96 => (Counted(8), PushOther),
        0x82 => (Fixed(1), Extension),
        0x83 => (Fixed(2), Extension),
        0x84 => (Fixed(4), Extension),
        _ => return Option::None,
    })
}

/// Reads one pickle starting at `start` and lists the globals it names, in order.
///
/// Only the two topmost stack entries are followed, and only as far as strings go: the
/// writers of every protocol push a `STACK_GLOBAL`'s module and name as strings (or fetch them
/// from the memo) right before it. A `STACK_GLOBAL` whose operands are not known strings is
/// refused, so nothing can hide a global from this scan.
fn scan_pickle(bytes: &[u8], start: usize) -> std::result::Result<Scan, String> {
    let mut at = start;
    let mut globals = Vec::new();
    // The two topmost stack entries, where known to be strings (index 1 is the top).
    let mut top: [Option<String>; 2] = [None, None];
    let mut memo: HashMap<u64, String> = HashMap::new();
    let mut next_memo = 0u64;
    let push = |top: &mut [Option<String>; 2], value: Option<String>| {
        top[0] = top[1].take();
        top[1] = value;
    };
    loop {
        let offset = at;
        let op = *bytes.get(at).ok_or_else(|| format!("pickle breaks off at byte {at} (no STOP)"))?;
        at += 1;
        let (arg, effect) = opcode(op).ok_or_else(|| format!("byte {offset}: 0x{op:02x} is not a pickle opcode"))?;
        let argument = read_arg(bytes, &mut at, arg).map_err(|e| format!("byte {offset}: opcode 0x{op:02x}: {e}"))?;
        match effect {
            Effect::PushString => push(&mut top, Some(decode_string(op, argument))),
            Effect::PushOther => push(&mut top, None),
            Effect::MemoGet => {
                let index = memo_index(op, argument)?;
                push(&mut top, memo.get(&index).cloned());
            }
            Effect::MemoPut => {
                let index = if op == 0x94 { next_memo } else { memo_index(op, argument)? };
                next_memo = next_memo.max(index + 1);
                match &top[1] {
                    Some(s) => memo.insert(index, s.clone()),
                    None => memo.remove(&index),
                };
            }
            Effect::GlobalLines => {
                let mut lines = argument.split(|b| *b == b'\n');
                let module = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
                let name = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
                globals.push(qualified(&module, &name));
                top = [None, None];
            }
            Effect::StackGlobal => {
                let (Some(module), Some(name)) = (top[0].take(), top[1].take()) else {
                    return Err(format!("byte {offset}: STACK_GLOBAL whose module and name are not plain strings"));
                };
                globals.push(qualified(&module, &name));
            }
            Effect::Stop => return Ok(Scan { globals, end: at }),
            Effect::Extension => {
                return Err(format!("byte {offset}: the extension registry (EXT opcodes) is not supported"));
            }
            Effect::Other => top = [None, None],
            Effect::Nothing => {}
        }
    }
}

/// Reads an opcode's argument and moves `at` past it.
fn read_arg<'a>(bytes: &'a [u8], at: &mut usize, arg: Arg) -> std::result::Result<&'a [u8], String> {
    let take = |at: &mut usize, n: usize| -> std::result::Result<&'a [u8], String> {
        let end = at.checked_add(n).filter(|&e| e <= bytes.len()).ok_or("argument runs past the end of the pickle")?;
        let slice = &bytes[*at..end];
        *at = end;
        Ok(slice)
    };
    match arg {
        Arg::None => Ok(&[]),
        Arg::Fixed(n) => take(at, n),
        Arg::Counted(width) => {
            let mut len = [0u8; 8];
            len[..width].copy_from_slice(take(at, width)?);
            let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| "length does not fit in memory")?;
            take(at, len)
        }
        Arg::Lines(count) => {
            let start = *at;
            for _ in 0..count {
                let rest = &bytes[*at..];
                let newline = rest.iter().position(|b| *b == b'\n').ok_or("line without a newline")?;
                *at += newline + 1;
            }
            Ok(&bytes[start..*at])
        }
    }
}

/// A memo index from a `GET`/`PUT` argument (decimal line or little-endian integer).
fn memo_index(op: u8, argument: &[u8]) -> std::result::Result<u64, String> {
    if matches!(op, b'g' | b'p') {
        let text = String::from_utf8_lossy(argument);
        return text.trim().parse().map_err(|_| format!("memo index `{}` is not a number", text.trim()));
    }
    let mut value = [0u8; 8];
    value[..argument.len()].copy_from_slice(argument);
    Ok(u64::from_le_bytes(value))
}

/// A pushed string: UTF-8 for the unicode opcodes, Latin-1 for the byte-string ones (as
/// Python 3 reads protocol-2 strings with `encoding='latin1'`); the text opcode `V` keeps its
/// raw-unicode-escape form, which is plain for the ASCII names globals have.
fn decode_string(op: u8, argument: &[u8]) -> String {
    match op {
        b'U' | b'T' => argument.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(argument.strip_suffix(b"\n").unwrap_or(argument)).into_owned(),
    }
}

/// `module.name`, with Python 2's module names mapped to Python 3's (`_compat_pickle`).
fn qualified(module: &str, name: &str) -> String {
    let module = match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        other => other,
    };
    format!("{module}.{name}")
}

/// A writer of PyTorch ZIP checkpoints, as `torch.save` lays them out (protocol-2 pickle in
/// `archive/data.pkl`, one storage per tensor under `archive/data/`), so tests can build the
/// files people have: nested state dicts, wrapper prefixes, other float types, stray objects.
#[cfg(test)]
pub(crate) mod torch_save {
    use std::io::Write;

    /// A Python value in a checkpoint.
    pub enum Py {
        Int(i64),
        Float(f64),
        Str(String),
        List(Vec<Py>),
        Dict(Vec<(Py, Py)>),
        OrderedDict(Vec<(Py, Py)>),
        /// A tensor: PyTorch storage class (`FloatStorage`, `HalfStorage`, ...), shape, and
        /// little-endian element bytes.
        Tensor {
            storage: &'static str,
            shape: Vec<usize>,
            bytes: Vec<u8>,
        },
        /// `module.name()` with its `__dict__` set to the given items (`argparse.Namespace`).
        Object {
            module: &'static str,
            name: &'static str,
            state: Vec<(Py, Py)>,
        },
    }

    pub fn str(s: &str) -> Py {
        Py::Str(s.into())
    }

    /// Writes `value` as `torch.save(value, path)` would.
    pub fn save(value: &Py, path: &std::path::Path) {
        let mut pickle = vec![0x80, 2];
        let mut storages = Vec::new();
        write(value, &mut pickle, &mut storages);
        pickle.push(b'.');
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let mut entry = |name: &str, bytes: &[u8]| {
            zip.start_file(format!("archive/{name}"), stored).unwrap();
            zip.write_all(bytes).unwrap();
        };
        entry("data.pkl", &pickle);
        entry("byteorder", b"little");
        for (i, bytes) in storages.iter().enumerate() {
            entry(&format!("data/{i}"), bytes);
        }
        entry("version", b"3\n");
        zip.finish().unwrap();
    }

    fn global(out: &mut Vec<u8>, module: &str, name: &str) {
        out.push(b'c');
        out.extend(format!("{module}\n{name}\n").bytes());
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        out.push(b'X');
        out.extend((s.len() as u32).to_le_bytes());
        out.extend(s.bytes());
    }

    fn int(out: &mut Vec<u8>, i: i64) {
        out.push(b'J');
        out.extend((i as i32).to_le_bytes());
    }

    fn items(items: &[(Py, Py)], out: &mut Vec<u8>, storages: &mut Vec<Vec<u8>>) {
        out.push(b'(');
        for (k, v) in items {
            write(k, out, storages);
            write(v, out, storages);
        }
        out.push(b'u');
    }

    fn write(value: &Py, out: &mut Vec<u8>, storages: &mut Vec<Vec<u8>>) {
        match value {
            Py::Int(i) => int(out, *i),
            Py::Float(f) => {
                out.push(b'G');
                out.extend(f.to_be_bytes());
            }
            Py::Str(s) => string(out, s),
            Py::List(values) => {
                out.extend(b"](");
                values.iter().for_each(|v| write(v, out, storages));
                out.push(b'e');
            }
            Py::Dict(entries) => {
                out.push(b'}');
                items(entries, out, storages);
            }
            Py::OrderedDict(entries) => {
                global(out, "collections", "OrderedDict");
                out.extend(b")R");
                items(entries, out, storages);
            }
            Py::Object { module, name, state } => {
                global(out, module, name);
                out.extend(b")R}");
                items(state, out, storages);
                out.push(b'b');
            }
            Py::Tensor { storage, shape, bytes } => {
                let numel: usize = shape.iter().product();
                global(out, "torch._utils", "_rebuild_tensor_v2");
                out.extend(b"((");
                string(out, "storage");
                global(out, "torch", storage);
                string(out, &storages.len().to_string());
                string(out, "cpu");
                int(out, numel as i64);
                out.extend(b"tQ");
                int(out, 0);
                out.push(b'(');
                shape.iter().for_each(|&d| int(out, d as i64));
                out.extend(b"t(");
                let mut stride = 1;
                let mut strides: Vec<usize> = shape
                    .iter()
                    .rev()
                    .map(|&d| {
                        let s = stride;
                        stride *= d;
                        s
                    })
                    .collect();
                strides.reverse();
                strides.iter().for_each(|&s| int(out, s as i64));
                out.extend(b"t\x89");
                global(out, "collections", "OrderedDict");
                out.extend(b")RtR");
                storages.push(bytes.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps(collections.OrderedDict(), protocol=4)`: FRAME, a memoized
    /// `STACK_GLOBAL`, `REDUCE`.
    const ORDERED_DICT_P4: &[u8] =
        b"\x80\x04\x95\x22\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94.";

    #[test]
    fn a_protocol_4_stack_global_is_read_from_the_strings_before_it() {
        let scan = scan_pickle(ORDERED_DICT_P4, 0).unwrap();
        assert_eq!(scan.globals, ["collections.OrderedDict"]);
        assert_eq!(scan.end, ORDERED_DICT_P4.len());
    }

    #[test]
    fn a_memoized_name_fetched_again_still_names_the_global() {
        // "os" and "system" memoized at 0 and 1, then fetched back by BINGET for STACK_GLOBAL.
        let pickle = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94N0h\x00h\x01\x93.";
        assert_eq!(scan_pickle(pickle, 0).unwrap().globals, ["os.system"]);
    }

    #[test]
    fn protocol_0_and_2_globals_map_python_2_module_names() {
        // Protocol 2 as Python 3 writes a set: c__builtin__\nset\n
        let pickle = b"\x80\x02c__builtin__\nset\nq\x00]q\x01\x85q\x02Rq\x03.";
        assert_eq!(scan_pickle(pickle, 0).unwrap().globals, ["builtins.set"]);
        let inst = b"(iposix\nsystem\n.";
        assert_eq!(scan_pickle(inst, 0).unwrap().globals, ["posix.system"]);
    }

    #[test]
    fn a_stack_global_from_computed_values_is_refused() {
        // Module and name are not strings pushed by the stream: nothing can be checked.
        let pickle = b"\x80\x04K\x01K\x02\x93.";
        let err = scan_pickle(pickle, 0).unwrap_err();
        assert!(err.contains("STACK_GLOBAL"), "{err}");
    }

    #[test]
    fn broken_pickles_are_errors_not_panics() {
        for bytes in
            [&b""[..], b"\x80", b"\x80\x04\x8c\xff", b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff", b"\xf0", b"c"]
        {
            assert!(scan_pickle(bytes, 0).is_err(), "{bytes:?}");
        }
        let ext = scan_pickle(b"\x80\x02\x82\x01.", 0).unwrap_err();
        assert!(ext.contains("extension registry"), "{ext}");
    }

    #[test]
    fn the_state_dict_is_found_under_nesting_and_wrapper_prefixes() {
        let path = Path::new("ckpt.pth");
        let anchors = ["conv1.weight", "fc.weight"];
        let plain = ["conv1.weight", "layer1.0.conv1.weight", "fc.weight", "fc.bias"];
        assert_eq!(find_state_dict(path, plain, &anchors).unwrap(), "");
        let nested = [
            "state_dict.module.conv1.weight",
            "state_dict.module.layer1.0.conv1.weight",
            "state_dict.module.fc.weight",
            "optimizer.state.0.momentum_buffer",
        ];
        assert_eq!(find_state_dict(path, nested, &anchors).unwrap(), "state_dict.module.");
        let two = ["model.conv1.weight", "model.fc.weight", "ema.conv1.weight", "ema.fc.weight"];
        let err = find_state_dict(path, two, &anchors).unwrap_err().to_string();
        assert!(err.contains("`ema.`") && err.contains("`model.`"), "{err}");
        let none = ["encoder.weight", "decoder.weight", "optimizer.state.0.exp_avg"];
        let err = find_state_dict(path, none, &anchors).unwrap_err().to_string();
        assert!(err.contains("no state dict with `conv1.weight`, `fc.weight`"), "{err}");
        assert!(err.contains("`decoder` (1), `encoder` (1), `optimizer` (1)"), "{err}");
    }

    #[test]
    fn the_allowlist_is_sorted_and_has_no_duplicates() {
        assert!(WEIGHTS_ONLY_GLOBALS.windows(2).all(|w| w[0] < w[1]));
    }
}
