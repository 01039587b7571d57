//! Shared by the fuzz targets.
//!
//! Every API under test takes a file path, so each target writes the fuzz input to a file in a
//! per-process scratch directory on tmpfs ([`Run::new`]) and passes that path.
//!
//! Panics: netlens-onnx runs tract and burn behind a panic boundary
//! (`netlens_fetch::panic::catch`), which turns a panic inside them into an `Err`. libfuzzer-sys'
//! own panic hook aborts on *every* panic, caught or not, so [`init`] replaces it: a panic that
//! escapes the API under test (the API's contract broken: neither `Ok` nor `Err`) aborts the
//! process, which libFuzzer records as a crash; a panic that the API caught and returned as
//! `Err` is logged once per source location in `/tmp/fuzz-findings/<target>/contained/`, with
//! the input that caused it, and fuzzing goes on.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Where the scratch directories live (tmpfs, so the write per input costs no disk I/O).
pub const SCRATCH_ROOT: &str = "/dev/shm/netlens-fuzz";

/// Where contained panics are logged (one directory per target).
pub const FINDINGS_ROOT: &str = "/tmp/fuzz-findings";

/// Panics since the last [`Run::call`] started: `message at file:line:column`.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether an API under test is running (its panics are judged by [`Run::call`]); a panic
/// outside one (a failed check in the target itself) is printed by the hook.
static IN_CALL: AtomicBool = AtomicBool::new(false);

/// Installs the panic hook described in the crate docs and makes the scratch directory. Pass
/// as `fuzz_target!(init: netlens_fuzz::init("npy"), |data: &[u8]| …)`.
pub fn init(target: &'static str) {
    scratch_dir(target);
    // libfuzzer-sys's hook aborts on every panic. Drop it first, so that the CLI's quiet hook
    // (which calls the hook it replaces when RUST_BACKTRACE is set, as cargo fuzz sets it)
    // chains to the standard hook instead: the harness judges panics itself, in `Run::call`.
    drop(std::panic::take_hook());
    netlens_fetch::panic::install_hook();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = netlens_fetch::panic::message(info.payload());
        let at = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
        if let Ok(mut panics) = PANICS.lock() {
            panics.push(format!("{text} at {at}"));
        }
        if IN_CALL.load(Ordering::SeqCst) {
            quiet(info);
        } else {
            eprintln!("==== panicked in the fuzz target: {text} at {at}");
        }
    }));
}

/// This process's scratch directory, `/dev/shm/netlens-fuzz/<target>-<pid>`, made on first use.
///
/// libFuzzer ends a process with `exit` (statics are not dropped) and `-fork` starts a new
/// process per job, so nothing can remove the directory on the way out; instead the first call
/// removes the directories of processes that no longer run.
pub fn scratch_dir(target: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(SCRATCH_ROOT);
        std::fs::create_dir_all(root).expect("create /dev/shm/netlens-fuzz");
        if let Ok(entries) = std::fs::read_dir(root) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
                if let Some(pid) = pid
                    && !Path::new(&format!("/proc/{pid}")).exists()
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = root.join(format!("{target}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir
    })
}

/// Writes `data` to `name` in this process's scratch directory and returns its path.
pub fn write_input(target: &str, name: &str, data: &[u8]) -> PathBuf {
    let path = scratch_dir(target).join(name);
    std::fs::write(&path, data).expect("write the fuzz input to /dev/shm");
    path
}

/// One fuzz input being run through a target's calls.
pub struct Run<'a> {
    target: &'static str,
    data: &'a [u8],
}

impl<'a> Run<'a> {
    pub fn new(target: &'static str, data: &'a [u8]) -> Self {
        Run { target, data }
    }

    /// Writes `bytes` (the input, or a file derived from it) to `name` in the scratch directory.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        write_input(self.target, name, bytes)
    }

    /// Calls `f` (one API under test). A panic escaping it aborts the process (a finding); a
    /// panic it caught is logged (see the crate docs). Returns what `f` returned.
    pub fn call<T, E: std::fmt::Display>(&self, name: &str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        if let Ok(mut panics) = PANICS.lock() {
            panics.clear();
        }
        IN_CALL.store(true, Ordering::SeqCst);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        IN_CALL.store(false, Ordering::SeqCst);
        let panics = PANICS.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        let result = match result {
            Ok(result) => result,
            Err(payload) => {
                let text = panics.last().cloned().unwrap_or_else(|| netlens_fetch::panic::message(payload.as_ref()));
                eprintln!("==== {}: a panic escaped `{name}`: {text}", self.target);
                std::process::abort();
            }
        };
        for panic in &panics {
            self.log_contained(name, panic, &result);
        }
        report(name, &result);
        result
    }

    /// Logs a panic that `name` caught and returned as `Err` (or, worse, as `Ok`): once per
    /// source location, with the input, in `/tmp/fuzz-findings/<target>/contained/`.
    fn log_contained<T, E: std::fmt::Display>(&self, name: &str, panic: &str, result: &Result<T, E>) {
        static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
        let location = panic.rsplit(" at ").next().unwrap_or(panic).to_string();
        let key: String =
            location.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
        let key = key.chars().rev().take(120).collect::<String>().chars().rev().collect::<String>();
        if let Ok(mut seen) = SEEN.lock()
            && !seen.get_or_insert_with(HashSet::new).insert(key.clone())
        {
            return;
        }
        let dir = Path::new(FINDINGS_ROOT).join(self.target).join("contained");
        let input = dir.join(format!("{key}.input"));
        if input.exists() {
            return; // another process logged it
        }
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(&input, self.data);
        let outcome = match result {
            Ok(_) => "Ok (!)".to_string(),
            Err(e) => format!("Err({e})"),
        };
        let line = format!("{name}: {panic}\n  returned {outcome}\n  input {}\n", input.display());
        eprintln!("==== {}: contained panic (logged): {line}", self.target);
        if let Ok(mut log) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("log.txt")) {
            let _ = log.write_all(line.as_bytes());
        }
    }
}

/// With `NETLENS_FUZZ_DEBUG` set, prints what a call returned (to check that the seeds reach
/// past the first refusals: run the target binary on `corpus/<target>` with `-runs=0`).
pub fn report<T, E: std::fmt::Display>(call: &str, result: &Result<T, E>) {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    if *DEBUG.get_or_init(|| std::env::var_os("NETLENS_FUZZ_DEBUG").is_some()) {
        match result {
            Ok(_) => eprintln!("{call}: Ok"),
            Err(e) => eprintln!("{call}: Err({e})"),
        }
    }
}
