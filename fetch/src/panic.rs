//! The boundary between netlens and the libraries it calls (tract, burn, plotters, linfa):
//! a panic inside them becomes an error naming what was being done, never a crash of the
//! program (exit status 101) or a lost result.
//!
//! [`catch`] runs a closure and returns its panic as a message; [`install_hook`] replaces the
//! default panic hook (which prints `thread 'main' panicked at …` even for a panic that is
//! caught and reported as an error) with one that records the message and location for
//! [`catch`] and prints only when `RUST_BACKTRACE` is set.

use std::sync::Mutex;

/// The last panic's message and location, as the hook of [`install_hook`] recorded it.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Runs `f`; a panic inside it (on this thread, or re-raised on it from a joined thread)
/// becomes `Err` with the panic's message and, when [`install_hook`] is in place, where it
/// happened (`… at tract-core-0.23.9/src/ops/array/pad.rs:64:34`).
///
/// # Errors
/// The panic's message.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    if let Ok(mut last) = LAST_PANIC.lock() {
        *last = None;
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let recorded = LAST_PANIC.lock().map(|mut p| p.take()).unwrap_or_default();
        recorded.unwrap_or_else(|| message(payload.as_ref()))
    })
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Installs the quiet panic hook for a program that reports every panic through [`catch`]:
/// each panic's message and location are recorded for [`catch`], and printed as the default
/// hook prints them only when `RUST_BACKTRACE` is set and not `0` (for debugging).
pub fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = message(info.payload());
        let at = info.location().map(|l| format!(" at {}:{}:{}", short_path(l.file()), l.line(), l.column()));
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{text}{}", at.unwrap_or_default()));
        }
        if std::env::var("RUST_BACKTRACE").is_ok_and(|v| v != "0") {
            default(info);
        }
    }));
}

/// A source path from the crate folder on (`tract-core-0.23.9/src/ops/array/pad.rs`), not
/// the full cargo registry path.
fn short_path(file: &str) -> &str {
    match file.rfind("/src/") {
        Some(src) => {
            let crate_start = file[..src].rfind('/').map_or(0, |i| i + 1);
            &file[crate_start..]
        }
        None => file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_a_value_passes_through() {
        assert_eq!(catch(|| 7), Ok(7));
        let err = catch(|| -> i32 { panic!("slice end {} is past the axis", 3) }).unwrap_err();
        assert!(err.contains("slice end 3 is past the axis"), "{err}");
        let joined = catch(|| {
            std::thread::spawn(|| panic!("in a worker")).join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        assert!(joined.unwrap_err().contains("in a worker"));
    }

    #[test]
    fn paths_are_shortened_to_the_crate() {
        assert_eq!(
            short_path("/root/.cargo/registry/src/index.crates.io-1949/tract-core-0.23.9/src/ops/array/pad.rs"),
            "tract-core-0.23.9/src/ops/array/pad.rs"
        );
        assert_eq!(short_path("src/main.rs"), "src/main.rs");
    }
}
