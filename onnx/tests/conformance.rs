//! Every op of the differentiable executor against the ONNX reference: the cases of
//! `conformance/cases.json` (made by `conformance/generate.py` with `onnx.reference` and checked
//! against numpy; see its README) give each small model's inputs, outputs and input gradients.
//!
//! Forward values must equal the reference within 1e-5 relative (`|a − b| ≤ 1e-5 · max(1, |b|)`),
//! gradients within 1e-3 relative; integer outputs exactly. Set `CONFORMANCE_FILTER=TEXT` to run
//! only the cases whose name contains TEXT.

use std::path::{Path, PathBuf};

use netlens_onnx::{DifferentiableGraph, HostValue};
use serde_json::Value;

const FORWARD_TOLERANCE: f64 = 1e-5;
const GRADIENT_TOLERANCE: f64 = 1e-3;

fn dir() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("tests/conformance")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
}

fn host(t: &Value) -> HostValue {
    let shape: Vec<usize> = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data = floats(&t["data"]);
    if t["dtype"].as_str() == Some("float32") {
        HostValue::Float { data: data.iter().map(|&x| x as f32).collect(), shape }
    } else {
        HostValue::Int { data: data.iter().map(|&x| x as i64).collect(), shape }
    }
}

/// The largest excess of `|a − b|` over `tol · max(1, |b|)`, as a message, if any.
fn compare(what: &str, got: &[f64], want: &[f64], tol: f64) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{what}: {} values, expected {}", got.len(), want.len()));
    }
    let worst = got
        .iter()
        .zip(want)
        .enumerate()
        .map(|(i, (&a, &b))| (i, (a - b).abs() / b.abs().max(1.0), a, b))
        .filter(|t| t.1.is_nan() || t.1 > tol)
        .max_by(|x, y| x.1.total_cmp(&y.1));
    worst.map(|(i, err, a, b)| format!("{what}[{i}] = {a}, expected {b} (relative error {err:.2e})"))
}

fn run_case(case: &Value) -> Result<(), String> {
    let model = dir().join(case["model"].as_str().unwrap());
    let graph = DifferentiableGraph::load(&model).map_err(|e| format!("load: {e}"))?;
    let inputs: Vec<(String, HostValue)> =
        case["inputs"].as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap().to_string(), host(t))).collect();
    let feeds: Vec<(&str, HostValue)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let wanted = case["outputs"].as_array().unwrap();
    let wrt: Vec<&str> = case["differentiable"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let (outputs, gradients) = if wrt.is_empty() {
        (graph.run(&feeds).map_err(|e| format!("run: {e}"))?, vec![])
    } else {
        let cotangents: Vec<Vec<f32>> = case["cotangent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| floats(&c["data"]).iter().map(|&x| x as f32).collect())
            .collect();
        graph.vjp(&feeds, &cotangents, &wrt).map_err(|e| format!("vjp: {e}"))?
    };
    for (got, want) in outputs.iter().zip(wanted) {
        let name = want["name"].as_str().unwrap();
        let want_shape: Vec<usize> =
            want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        if got.shape() != want_shape.as_slice() {
            return Err(format!("output `{name}` has shape {:?}, expected {want_shape:?}", got.shape()));
        }
        let int_expected = want["dtype"].as_str() != Some("float32");
        if int_expected != matches!(got, HostValue::Int { .. }) {
            return Err(format!(
                "output `{name}` is {}, expected {}",
                if int_expected { "float" } else { "integer" },
                want["dtype"]
            ));
        }
        let got: Vec<f64> = got.clone().into_floats().iter().map(|&x| x as f64).collect();
        let tol = if int_expected { 0.0 } else { FORWARD_TOLERANCE };
        if let Some(e) = compare(&format!("output `{name}`"), &got, &floats(&want["data"]), tol) {
            return Err(e);
        }
    }
    for (got, want) in gradients.iter().zip(case["gradients"].as_array().unwrap()) {
        let got: Vec<f64> = got.iter().map(|&x| x as f64).collect();
        if let Some(e) = compare(
            &format!("gradient of `{}`", want["name"].as_str().unwrap()),
            &got,
            &floats(&want["data"]),
            GRADIENT_TOLERANCE,
        ) {
            return Err(e);
        }
    }
    Ok(())
}

#[test]
fn every_op_matches_the_onnx_reference_at_every_opset() {
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(dir().join("cases.json")).unwrap()).unwrap();
    let filter = std::env::var("CONFORMANCE_FILTER").unwrap_or_default();
    let mut failures = vec![];
    let mut ran = 0;
    for case in cases.iter().filter(|c| c["name"].as_str().unwrap().contains(&filter)) {
        ran += 1;
        let name = case["name"].as_str().unwrap();
        let result = std::panic::catch_unwind(|| run_case(case)).unwrap_or_else(|p| {
            Err(format!(
                "panicked: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            ))
        });
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
        }
    }
    println!("{} of {ran} conformance cases pass", ran - failures.len());
    assert!(failures.is_empty(), "{} of {ran} cases fail:\n{}", failures.len(), failures.join("\n"));
}
