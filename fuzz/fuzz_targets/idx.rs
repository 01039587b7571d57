//! The IDX reader at ranks 1 and 3, and `load_idx_pair` (images resized to 32×32 + labels).
//!
//! `load_idx_pair` takes two files. The images file is the input itself; the labels file is
//! the input with its rank byte set to 1 (so a rank-3 images header `N, H, W` becomes a labels
//! header of `N` labels followed by the bytes after it), which lets the fuzzer reach the resize
//! and the pairing checks with one input. A gzip input is used as both files as it is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlens_fetch::idx::read_idx_u8;
use netlens_fetch::load_idx_pair;
use netlens_fuzz::Run;

fuzz_target!(init: netlens_fuzz::init("idx"), |data: &[u8]| {
    let run = Run::new("idx", data);
    let images = run.file("images.idx", data);
    let _ = run.call("read_idx_u8 rank 1", || read_idx_u8(&images, 1));
    let _ = run.call("read_idx_u8 rank 3", || read_idx_u8(&images, 3));
    let labels = if data.len() >= 4 && !data.starts_with(&[0x1f, 0x8b]) {
        let mut relabelled = data.to_vec();
        relabelled[3] = 1;
        run.file("labels.idx", &relabelled)
    } else {
        images.clone()
    };
    let _ = run.call("load_idx_pair", || load_idx_pair(&images, &labels));
});
