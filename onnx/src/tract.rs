//! Forward passes with tract (fast, no gradients): [`TractModel`] runs a whole ONNX graph on
//! rows of input and returns every graph output, splitting the rows across the machine's cores.
//!
//! tract runs one plan on one thread (DESIGN.md: batching does not pay in tract on this
//! stack), so rows are cut into chunks and the chunks run on scoped threads, one plan shared by
//! all; outputs come back in row order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::HostTensor;
use crate::error::{OnnxError, Result};
use crate::model::{inference_model, read_proto};

/// How the batch axis (axis 0 of the input) is planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchAxis {
    /// A symbolic batch: any number of rows per run.
    Symbolic,
    /// A fixed batch of `n` rows per run; a short last chunk is padded with zeros and the
    /// padding's outputs dropped. For graphs tract can only optimise with known sizes (tract
    /// 0.23 cannot optimise burn-onnx's `Resize` with a symbolic batch).
    Fixed(usize),
}

/// An ONNX model planned with tract for one data input of known per-row shape.
pub struct TractModel {
    plan: Arc<TypedRunnableModel>,
    path: PathBuf,
    batch: BatchAxis,
    /// The input's dimensions after the batch axis.
    input_dims: Vec<usize>,
    /// The number of graph outputs.
    outputs: usize,
    /// Threads a run uses at most.
    threads: usize,
}

impl std::fmt::Debug for TractModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractModel").field("path", &self.path).field("input_dims", &self.input_dims).finish()
    }
}

impl TractModel {
    /// Loads `path` and plans it with the input's declared dimensions after the batch axis.
    ///
    /// # Errors
    /// [`OnnxError::Io`] or [`OnnxError::NotOnnx`] when the file cannot be read or its input has
    /// unknown dimensions after the batch axis; [`OnnxError::Tract`] when tract cannot optimise
    /// or plan it.
    pub fn load(path: &Path, batch: BatchAxis) -> Result<TractModel> {
        Self::load_with_input(path, None, batch)
    }

    /// As [`TractModel::load`], with the input's dimensions after the batch axis given
    /// (`[channels, height, width]`; for graphs that declare them symbolic).
    ///
    /// # Errors
    /// As [`TractModel::load`].
    pub fn load_with_input(path: &Path, input_dims: Option<&[usize]>, batch: BatchAxis) -> Result<TractModel> {
        let proto = read_proto(path)?;
        let parsed = inference_model(path, &proto)?;
        let dims = input_dims.map_or(parsed.input_dims.clone(), <[usize]>::to_vec);
        let mut model = parsed.model;
        let batch = parsed.batch.map_or(batch, BatchAxis::Fixed);
        let fail = |action: &'static str| move |e: TractError| tract_error(path, action, e);
        let shape: TVec<TDim> = match batch {
            BatchAxis::Symbolic => std::iter::once(model.symbols.sym(crate::model::BATCH_SYMBOL).to_dim())
                .chain(dims.iter().map(|&d| d.to_dim()))
                .collect(),
            BatchAxis::Fixed(n) => std::iter::once(n).chain(dims.iter().copied()).map(|d| d.to_dim()).collect(),
        };
        let (plan, outputs) = crate::error::guard(path, "tract", "plan the graph", || {
            model.set_input_fact(0, f32::fact(shape).into()).map_err(fail("set the input shape"))?;
            let typed = model.into_typed().map_err(fail("type the graph"))?;
            crate::validate::check_typed_for_tract(&typed)?;
            let optimized = typed.into_optimized().map_err(fail("optimise the graph"))?;
            let outputs = optimized.output_outlets().map_err(fail("list the outputs"))?.len();
            Ok((optimized.into_runnable().map_err(fail("plan the graph"))?, outputs))
        })?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(TractModel { plan, path: path.into(), batch, input_dims: dims, outputs, threads })
    }

    /// The file this model was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The input's dimensions after the batch axis, e.g. `[3, 224, 224]`.
    pub fn input_dims(&self) -> &[usize] {
        &self.input_dims
    }

    /// Values per input row: the product of [`TractModel::input_dims`].
    pub fn row_len(&self) -> usize {
        self.input_dims.iter().product()
    }

    /// The number of graph outputs.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The shape of each output for one row, after the batch axis (found by running one row of
    /// zeros).
    ///
    /// # Errors
    /// As [`TractModel::run`].
    pub fn output_dims(&self) -> Result<Vec<Vec<usize>>> {
        let outs = self.run(&vec![0.0; self.row_len()], 1)?;
        Ok(outs.into_iter().map(|t| t.shape.get(1..).unwrap_or_default().to_vec()).collect())
    }

    /// Runs on at most `threads` threads (at least one); the default is the machine's cores.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Runs `n` rows of `input` (row-major `[n, input_dims…]`) and returns every graph output
    /// as `[n, …]` in row order.
    ///
    /// # Errors
    /// [`OnnxError::InputShape`] when `input.len()` is not `n` rows; [`OnnxError::Tract`] when a
    /// run fails.
    pub fn run(&self, input: &[f32], n: usize) -> Result<Vec<HostTensor>> {
        let row = self.row_len();
        if input.len() != n * row {
            return Err(OnnxError::InputShape {
                path: self.path.clone(),
                input: "input".into(),
                expected: format!("{n} rows of {:?} ({} values)", self.input_dims, n * row),
                found: format!("{} values", input.len()),
            });
        }
        if n == 0 {
            return Ok(vec![HostTensor { data: vec![], shape: vec![0] }; self.outputs]);
        }
        let per_chunk = match self.batch {
            BatchAxis::Symbolic => n.div_ceil(self.threads.min(n)),
            BatchAxis::Fixed(b) => b,
        };
        let starts: Vec<usize> = (0..n).step_by(per_chunk).collect();
        let workers = self.threads.min(starts.len());
        let mut chunks: Vec<Option<Result<Vec<HostTensor>>>> = (0..starts.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let starts = &starts;
                    scope.spawn(move || {
                        (w..starts.len())
                            .step_by(workers)
                            .map(|c| {
                                let (s, e) = (starts[c], (starts[c] + per_chunk).min(n));
                                (c, self.run_chunk(&input[s * row..e * row], e - s))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                let done = h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                for (c, r) in done {
                    chunks[c] = Some(r);
                }
            }
        });
        let mut outputs: Vec<HostTensor> = Vec::with_capacity(self.outputs);
        for chunk in chunks {
            let chunk = chunk.expect("every chunk was run")?;
            if outputs.is_empty() {
                outputs = chunk;
                continue;
            }
            for (all, part) in outputs.iter_mut().zip(chunk) {
                all.data.extend(part.data);
                all.shape[0] += part.shape[0];
            }
        }
        Ok(outputs)
    }

    /// One run of `k` rows (padded to the fixed batch when there is one).
    fn run_chunk(&self, rows: &[f32], k: usize) -> Result<Vec<HostTensor>> {
        let fail = |action: &'static str| move |e: TractError| tract_error(&self.path, action, e);
        let planned = match self.batch {
            BatchAxis::Symbolic => k,
            BatchAxis::Fixed(b) => b,
        };
        let mut shape = vec![planned];
        shape.extend_from_slice(&self.input_dims);
        let tensor = if planned == k {
            Tensor::from_shape(&shape, rows)
        } else {
            let mut padded = rows.to_vec();
            padded.resize(planned * self.row_len(), 0.0);
            Tensor::from_shape(&shape, &padded)
        }
        .map_err(fail("make the input tensor"))?;
        let results = crate::error::guard(&self.path, "tract", "run the graph", || {
            self.plan.run(tvec![tensor.into_tvalue()]).map_err(fail("run the graph"))
        })?;
        results
            .iter()
            .map(|value| {
                let value = value.cast_to::<f32>().map_err(fail("read an output as float32"))?;
                let mut out_shape = value.shape().to_vec();
                let view = value.to_plain_array_view::<f32>().map_err(fail("read an output"))?;
                let per_row = out_shape.iter().skip(1).product::<usize>();
                let data: Vec<f32> = view.iter().take(k * per_row).copied().collect();
                if out_shape.is_empty() {
                    out_shape.push(1);
                }
                out_shape[0] = k;
                Ok(HostTensor { data, shape: out_shape })
            })
            .collect()
    }
}

fn tract_error(path: &Path, action: &str, e: TractError) -> OnnxError {
    OnnxError::Tract { path: path.into(), action: action.into(), source: e.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlens_fetch::{Split, load_split};

    fn shared() -> PathBuf {
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../shared")
    }

    #[test]
    fn chunked_runs_match_one_run_and_pytorch_logits() {
        let path = shared().join("fixtures/torch-small-cnn.onnx");
        let data = load_split(&shared().join("data/fashion-mnist-small"), Split::Test).unwrap();
        let images = data.images.select(&(0..7).collect::<Vec<_>>());
        let whole = TractModel::load(&path, BatchAxis::Symbolic).unwrap().with_threads(1);
        let one = whole.run(&images.data, 7).unwrap();
        assert_eq!(one[0].shape, [7, 10]);
        for model in [
            TractModel::load(&path, BatchAxis::Symbolic).unwrap().with_threads(3),
            TractModel::load(&path, BatchAxis::Fixed(2)).unwrap(),
        ] {
            let chunked = model.run(&images.data, 7).unwrap();
            assert_eq!(chunked[0].shape, [7, 10]);
            let worst = one[0].data.iter().zip(&chunked[0].data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-4, "{model:?}: chunked runs differ by {worst}");
        }
        // PyTorch's logits for X_test[0..5] (torch-small-cnn.reference.json).
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(shared().join("fixtures/torch-small-cnn.reference.json")).unwrap(),
        )
        .unwrap();
        for i in 0..5 {
            let target = reference["target"][i].as_u64().unwrap() as usize;
            let expected = reference["target_logit"][i].as_f64().unwrap();
            let found = one[0].data[i * 10 + target] as f64;
            assert!((found - expected).abs() < 1e-3, "image {i}: logit {found}, PyTorch {expected}");
        }
    }

    #[test]
    fn a_wrong_number_of_values_is_an_error_naming_both() {
        let model = TractModel::load(&shared().join("fixtures/torch-small-cnn.onnx"), BatchAxis::Symbolic).unwrap();
        let err = model.run(&[0.0; 100], 1).unwrap_err().to_string();
        assert!(err.contains("1024 values") && err.contains("100 values"), "{err}");
    }
}
