//! The PyTorch checkpoint readers (zip, legacy tar and legacy pickle containers). Only reads:
//! nothing is converted or exported.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlens_fuzz::Run;
use netlens_onnx::checkpoint::check_weights_only;
use netlens_onnx::resnet::ResNetCheckpoint;

fuzz_target!(init: netlens_fuzz::init("pth"), |data: &[u8]| {
    let run = Run::new("pth", data);
    let path = run.file("input.pth", data);
    let _ = run.call("check_weights_only", || check_weights_only(&path));
    let _ = run.call("ResNetCheckpoint::read", || ResNetCheckpoint::read(&path));
});
