//! The non-finite matrix: NaN, ±∞, all-constant, single-sample, extreme (±1e300, ±f64::MAX)
//! and subnormal data through every analysis and figure function. NaN and ±∞ must give an
//! error that says so (and where); every finite input must give a result or a clear error
//! about the setting (one sample is too few for PCA), and nothing may panic or hang (each call
//! runs on a thread with a time limit).

use std::sync::mpsc;
use std::time::Duration;

use ndarray::Array2;
use netlens_analyze::AnalyzeError;
use netlens_analyze::explain::Map;
use netlens_analyze::explain::figure::{DisplayImage, Panel, render};
use netlens_analyze::features::pca::Pca;
use netlens_analyze::features::scores::{knn_accuracy, silhouette};
use netlens_analyze::features::tsne::{TsneParams, tsne};
use netlens_analyze::features::{EmbedParams, EmbeddingMethod, Sample, study_layer};
use netlens_analyze::figures::scatter::{Scatter, write_scatter_svg};
use netlens_analyze::vae::{StripColumn, face_grid, reconstruction_grid, strip};
use netlens_fetch::Images;
use netlens_fetch::runs::{EpochMetrics, History, LayerRole, VaeEpochMetrics};
use netlens_onnx::taps::{Tap, TapOutput};

/// The longest any one call may take; t-SNE on 40 points takes well under a second.
const LIMIT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Case {
    Nan,
    PosInf,
    NegInf,
    Constant,
    Single,
    Extreme,
    Max,
    Subnormal,
}

const CASES: [Case; 8] =
    [Case::Nan, Case::PosInf, Case::NegInf, Case::Constant, Case::Single, Case::Extreme, Case::Max, Case::Subnormal];

impl Case {
    fn non_finite(self) -> bool {
        matches!(self, Case::Nan | Case::PosInf | Case::NegInf)
    }

    /// `n × d` values (one row for [`Case::Single`]); a smooth finite base with one bad value
    /// at row 7, column 1 for the non-finite cases.
    fn matrix(self, n: usize, d: usize) -> Array2<f64> {
        let n = if self == Case::Single { 1 } else { n };
        let base = |i: usize, j: usize| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5 + (i % 3) as f64;
        let mut x = Array2::from_shape_fn((n, d), |(i, j)| match self {
            Case::Constant => 3.0,
            Case::Extreme => base(i, j).signum() * 1e300,
            Case::Max => {
                if (i + j) % 2 == 0 {
                    f64::MAX
                } else {
                    -f64::MAX
                }
            }
            Case::Subnormal => base(i, j) * 1e-310,
            _ => base(i, j),
        });
        let bad = match self {
            Case::Nan => f64::NAN,
            Case::PosInf => f64::INFINITY,
            Case::NegInf => f64::NEG_INFINITY,
            _ => return x,
        };
        x[[7.min(n - 1), 1.min(d - 1)]] = bad;
        x
    }

    fn labels(self, n: usize) -> Vec<u32> {
        let n = if self == Case::Single { 1 } else { n };
        (0..n).map(|i| (i % 4) as u32).collect()
    }

    fn floats(self, n: usize) -> Vec<f32> {
        self.matrix(n, 1).iter().map(|&v| v as f32).collect()
    }
}

/// Runs `f` on its own thread, failing the test on a panic or after [`LIMIT`].
fn guarded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    let what_owned = what.to_string();
    std::thread::Builder::new()
        .name(what_owned)
        .stack_size(64 << 20)
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = send.send(result);
        })
        .unwrap();
    match receive.recv_timeout(LIMIT) {
        Ok(Ok(value)) => value,
        Ok(Err(_)) => panic!("{what}: panicked"),
        Err(_) => panic!("{what}: did not finish within {LIMIT:?}"),
    }
}

/// NaN and ±∞ must be an error that says so; finite data must succeed, or (when `may_refuse`)
/// fail with an error about a setting or float64's range, never with a non-finite error.
fn expect<T>(what: &str, case: Case, result: Result<T, AnalyzeError>, may_refuse: bool) {
    match (case.non_finite(), result) {
        (true, Err(e)) => assert!(e.to_string().contains("not finite"), "{what} {case:?}: {e}"),
        (true, Ok(_)) => panic!("{what} {case:?}: accepted non-finite data"),
        (false, Ok(_)) => {}
        (false, Err(e)) => {
            let allowed = matches!(e, AnalyzeError::InvalidParam(_) | AnalyzeError::Numeric { .. });
            assert!(may_refuse && allowed, "{what} {case:?}: {e}");
        }
    }
}

#[test]
fn embeddings_and_scores() {
    for case in CASES {
        let x = case.matrix(40, 5);
        let labels = case.labels(40);
        let (xc, lc) = (x.clone(), labels.clone());
        expect("knn_accuracy", case, guarded("knn", move || knn_accuracy(xc.view(), &lc, 5)), false);
        let (xc, lc) = (x.clone(), labels.clone());
        expect("silhouette", case, guarded("silhouette", move || silhouette(xc.view(), &lc)), false);
        let xc = x.clone();
        expect("Pca::fit", case, guarded("pca", move || Pca::fit(xc.view(), 2)), true);
        let params = TsneParams { perplexity: 5.0, iterations: 250, ..TsneParams::default() };
        let xc = x.clone();
        let result = guarded("tsne", move || tsne(xc.view(), &params));
        if let Ok(points) = &result {
            assert!(points.iter().all(|v| v.is_finite()), "t-SNE {case:?}");
        }
        expect("tsne", case, result, true);
    }
}

#[test]
fn a_layer_study_refuses_non_finite_features_before_writing_anything() {
    for case in CASES {
        let x = case.matrix(40, 6);
        let labels = case.labels(40);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_path_buf();
        let output = TapOutput {
            tap: Tap { layer: "div".into(), tensor: "div_out".into(), op: "Div".into(), role: LayerRole::Other },
            sample_shape: vec![6],
            data: x.iter().map(|&v| v as f32).collect(),
        };
        let result = guarded("study_layer", move || {
            let indices: Vec<usize> = (100..100 + labels.len()).collect();
            let names: Vec<String> = (0..4).map(|c| format!("class {c}")).collect();
            let sample = Sample { labels: &labels, indices: &indices, class_names: &names, model_name: "toy" };
            let params = EmbedParams {
                methods: vec![EmbeddingMethod::Pca],
                tsne: TsneParams { dims: 2, ..TsneParams::default() },
                save_tsne_input: false,
            };
            study_layer(&output, &sample, &params, &out, |_| {}).map(|_| ())
        });
        // f64 extremes become ±inf in the f32 tap data, so they count as non-finite here.
        let overflows = matches!(case, Case::Extreme | Case::Max);
        if case.non_finite() || overflows {
            let err = result.expect_err("non-finite features must be refused").to_string();
            assert!(err.contains("layer `div` features") && err.contains("not finite"), "{case:?}: {err}");
            assert!(err.contains("(test image 1"), "{case:?}: names the data set index: {err}");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{case:?}: nothing written");
        } else {
            expect("study_layer", case, result, true);
        }
    }
}

#[test]
fn scatter_plots_in_two_and_three_dimensions() {
    for case in CASES {
        for dims in [2, 3] {
            let x = case.matrix(40, dims);
            let labels = case.labels(40);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("scatter.svg");
            let p = path.clone();
            let result = guarded("scatter", move || {
                let names: Vec<String> = (0..4).map(|c| format!("class {c}")).collect();
                let scatter = Scatter {
                    points: x.view(),
                    labels: &labels,
                    class_names: &names,
                    title: "t".into(),
                    axis_names: (0..dims).map(|a| format!("axis {a}")).collect(),
                };
                write_scatter_svg(&p, &scatter)
            });
            let written = path.exists();
            expect("write_scatter_svg", case, result, false);
            assert_eq!(written, !case.non_finite(), "{case:?} {dims}-D: file written only on success");
        }
    }
}

#[test]
fn training_and_vae_curves() {
    for case in CASES {
        let values = case.matrix(12, 1);
        let epochs: Vec<f64> = values.iter().copied().collect();
        let dir = tempfile::tempdir().unwrap();
        let (e, d) = (epochs.clone(), dir.path().to_path_buf());
        let result = guarded("training curves", move || {
            let mut history = History::new("lenet");
            for (i, &v) in e.iter().enumerate() {
                history.epochs.push(EpochMetrics {
                    epoch: i + 1,
                    train_loss: v,
                    train_accuracy: 0.5,
                    test_loss: 1.0,
                    test_accuracy: v,
                    seconds: 1.0,
                });
            }
            netlens_analyze::curves::write_training_curves(&history, &d)
        });
        expect("write_training_curves", case, result, false);
        let (e, d) = (epochs, dir.path().to_path_buf());
        let result = guarded("vae curves", move || {
            let mut history = History::new("vae");
            for (i, &v) in e.iter().enumerate() {
                history.epochs.push(VaeEpochMetrics {
                    epoch: i + 1,
                    train_reconstruction: v,
                    train_kl: 1.0,
                    train_loss: v,
                    heldout_reconstruction: 2.0,
                    heldout_kl: 1.0,
                    heldout_loss: 3.0,
                    heldout_mse: 0.02,
                    seconds: 1.0,
                });
            }
            netlens_analyze::vae::write_vae_curves(&history, &d)
        });
        expect("write_vae_curves", case, result, false);
    }
}

#[test]
fn explanation_figures() {
    for case in CASES {
        let map = case.floats(16 * 16);
        let side = if case == Case::Single { 1 } else { 16 };
        let image = vec![0.5f32; 3 * side * side];
        let result = guarded("render", move || {
            let display = DisplayImage { data: &image, channels: 3, height: side, width: side };
            let map = Map { height: side, width: side, data: map };
            let panels = [
                Panel { title: vec!["IMAGE".into()], map: None, signed: false },
                Panel { title: vec!["MAP".into()], map: Some(map.clone()), signed: true },
                Panel { title: vec!["HEAT".into()], map: Some(map), signed: false },
            ];
            render(&display, &panels)
        });
        // f32 extremes overflow to ±inf: those maps are non-finite too.
        if matches!(case, Case::Extreme | Case::Max) {
            assert!(result.unwrap_err().to_string().contains("not finite"), "{case:?}");
        } else {
            expect("render", case, result, false);
        }
    }
}

#[test]
fn vae_figures() {
    for case in CASES {
        let n = if case == Case::Single { 1 } else { 4 };
        let values = if case == Case::Single { vec![0.25; 3 * 8 * 8] } else { case.floats(n * 3 * 8 * 8) };
        let faces = Images { data: values, shape: [n, 3, 8, 8] };
        let overflow = matches!(case, Case::Extreme | Case::Max);
        let check = |what: &str, result: Result<image::RgbImage, AnalyzeError>| {
            if overflow {
                assert!(result.unwrap_err().to_string().contains("not finite"), "{what} {case:?}");
            } else {
                expect(what, case, result, false);
            }
        };
        let f = faces.clone();
        check("face_grid", guarded("face_grid", move || face_grid("T", &f, 2)));
        let (f, g) = (faces.clone(), faces.clone());
        check("reconstruction_grid", guarded("reconstruction_grid", move || reconstruction_grid("T", &f, &g, 2)));
        let f = faces.clone();
        check(
            "strip",
            guarded("strip", move || {
                strip(
                    "T",
                    &[StripColumn { label: "A".into(), faces: f.clone() }, StripColumn { label: "B".into(), faces: f }],
                )
            }),
        );
    }
    // Malformed shapes are errors, not panics.
    let empty = Images { data: vec![], shape: [1, 0, 8, 8] };
    assert!(guarded("face_grid shape", move || face_grid("T", &empty, 2)).is_err());
    let short = Images { data: vec![0.5; 10], shape: [1, 3, 8, 8] };
    assert!(guarded("strip shape", move || strip("T", &[StripColumn { label: "A".into(), faces: short }])).is_err());
}
