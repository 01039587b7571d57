//! ONNX loading: the layer table (tract), the differentiable executor's graph, and the
//! classifier wrapper (which also dry-runs a blank image through the graph).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlens_fuzz::Run;
use netlens_onnx::{DifferentiableGraph, DifferentiableModel, inspect};

fuzz_target!(init: netlens_fuzz::init("onnx"), |data: &[u8]| {
    let run = Run::new("onnx", data);
    let path = run.file("input.onnx", data);
    let _ = run.call("inspect", || inspect(&path));
    // `DifferentiableModel::load` starts with `DifferentiableGraph::load`, so it only runs
    // (parsing the file again) when the graph loaded.
    if run.call("DifferentiableGraph::load", || DifferentiableGraph::load(&path)).is_ok() {
        let _ = run.call("DifferentiableModel::load", || DifferentiableModel::load(&path));
    }
});
