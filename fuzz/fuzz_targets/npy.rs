//! The `.npy` readers: every reader and loader on one input; each must return `Ok` or `Err`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlens_fetch::npy::{read_f32, read_integers, read_pixels, read_u8};
use netlens_fetch::{load_npy_images, load_npy_pair};
use netlens_fuzz::Run;

fuzz_target!(init: netlens_fuzz::init("npy"), |data: &[u8]| {
    let run = Run::new("npy", data);
    let path = run.file("input.npy", data);
    let _ = run.call("read_u8", || read_u8(&path, "(N, H, W)"));
    let _ = run.call("read_f32", || read_f32(&path, "(N, H, W)"));
    let _ = run.call("read_integers", || read_integers(&path, "(N,)"));
    let _ = run.call("read_pixels", || read_pixels(&path, "(N, H, W)"));
    let _ = run.call("load_npy_images", || load_npy_images(&path));
    // The same file as images and labels: each loader's refusals and, for an input that
    // reads as both (none can: labels are 1-D, images 3-D or 4-D), the pairing checks.
    let _ = run.call("load_npy_pair", || load_npy_pair(&path, &path));
});
