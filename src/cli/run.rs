//! `netlens run`: the whole project in one command — train the three classifiers and the VAE,
//! study features, explain predictions, and write the report — by calling the other commands'
//! `run` functions. A stage whose outputs are already there is skipped, and an interrupted
//! training continues from its last checkpoint, so running the command again resumes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use netlens_analyze::report::{write_report, ReportMeta};

use super::explain::{BaselineArg, ExplainArgs, MethodArg as ExplainMethod, RuleArg};
use super::features::{FeaturesArgs, MethodArg as FeatureMethod};
use super::fetch::{FetchArgs, Source};
use super::train::{ModelName, TrainArgs};
use super::vae::{InterpolateArgs, LossName, UpsampleName, VaeArgs};

/// Train, analyse, explain and report: the course project in one command.
///
/// Trains LeNet-5, the shallow net and the CNN on Fashion-MNIST and the VAE on LFW faces (into
/// OUT_RUNS/lenet, shallow, cnn, vae), embeds each classifier's features (OUT_RUNS/NAME/features),
/// draws VAE interpolations (OUT_RUNS/vae/interp), explains test images with our CNN
/// (OUT_RUNS/cnn/explain), with --torch-model (OUT_RUNS/explain-STEM) and with ResNet-34 when
/// its weights are there (OUT_RUNS/resnet34-explain, on DATA_ROOT/imagenet-samples), then writes
/// the report. Each stage is skipped when its outputs exist; rerun the command to continue an
/// interrupted run.
///
/// Example: `netlens run --data-root ../shared/data --quick --report reports/quick`
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Folder with fashion-mnist-small (or fashion-mnist), lfw-small (or lfw) and
    /// imagenet-samples [default: fetched data in `data/`, fetched when missing].
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Fewer epochs, samples, steps and permutations (minutes instead of half an hour).
    #[arg(long)]
    pub quick: bool,
    /// Folder of the run folders.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub out_runs: PathBuf,
    /// Report folder.
    #[arg(long, value_name = "DIR", default_value = "reports/main")]
    pub report: PathBuf,
    /// ResNet-34 weights: torchvision `.pth` (converted) or an ONNX file [default: the fetched
    /// `data/resnet34/resnet34.onnx` when present].
    #[arg(long, value_name = "FILE")]
    pub resnet: Option<PathBuf>,
    /// An ONNX classifier exported from PyTorch taking the Fashion-MNIST images (1×32×32).
    #[arg(long, value_name = "FILE")]
    pub torch_model: Option<PathBuf>,
    /// burn device for training: flex, cpu, wgpu or cuda (the latter three need cargo features).
    #[arg(long, default_value = "flex", value_parser = ["flex", "cpu", "wgpu", "cuda"])]
    pub device: String,
}

/// Effort settings of a run.
struct Effort {
    epochs: [(ModelName, &'static str, usize); 3],
    vae_epochs: usize,
    per_class: usize,
    tsne_iterations: usize,
    explain_images: usize,
    ig_steps: usize,
    permutations: usize,
}

impl Effort {
    fn new(quick: bool) -> Effort {
        if quick {
            Effort { epochs: [(ModelName::Lenet, "lenet", 10), (ModelName::Shallow, "shallow", 5), (ModelName::Cnn, "cnn", 5)], vae_epochs: 8, per_class: 15, tsne_iterations: 500, explain_images: 4, ig_steps: 32, permutations: 40 }
        } else {
            Effort { epochs: [(ModelName::Lenet, "lenet", 30), (ModelName::Shallow, "shallow", 15), (ModelName::Cnn, "cnn", 15)], vae_epochs: 50, per_class: 20, tsne_iterations: 1000, explain_images: 8, ig_steps: 64, permutations: 200 }
        }
    }
}

/// Where the data sets are.
struct DataPaths {
    fashion: PathBuf,
    lfw: PathBuf,
    imagenet: Option<PathBuf>,
    fetched_resnet: Option<PathBuf>,
}

/// Stage names and their seconds, kept in `OUT_RUNS/stages.json` so that a resumed run still
/// reports the times of the stages an earlier invocation finished.
struct Stages {
    path: PathBuf,
    done: Vec<(String, Option<f64>)>,
}

impl Stages {
    /// The record in `out_runs/stages.json`, empty when absent or unreadable.
    fn load(out_runs: &Path) -> Stages {
        let path = out_runs.join("stages.json");
        let done = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        Stages { path, done }
    }

    /// The recorded seconds of `name`, if an earlier invocation ran it.
    fn earlier(&self, name: &str) -> Option<f64> {
        self.done.iter().find(|(n, _)| n == name).and_then(|(_, t)| *t)
    }

    fn record(&mut self, name: &str, seconds: Option<f64>) -> anyhow::Result<()> {
        self.done.retain(|(n, _)| n != name);
        self.done.push((name.to_string(), seconds));
        netlens_fetch::write_atomically(&self.path, serde_json::to_string_pretty(&self.done)?.as_bytes())?;
        Ok(())
    }
}

/// Runs `netlens run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let effort = Effort::new(args.quick);
    let data = data_paths(&args)?;
    std::fs::create_dir_all(&args.out_runs).with_context(|| format!("creating {}", args.out_runs.display()))?;
    let mut stages = Stages::load(&args.out_runs);
    let mut runs = vec![];
    for (model, name, epochs) in effort.epochs {
        let dir = args.out_runs.join(name);
        stage(&mut stages, &format!("train {name}"), training_done(&dir, epochs), || train(&args, model, &data.fashion, &dir, epochs))?;
        stage(&mut stages, &format!("features {name}"), dir.join("features/summary.json").exists(), || features(&dir, &data.fashion, &effort))?;
        runs.push(dir);
    }
    let cnn = args.out_runs.join("cnn");
    stage(&mut stages, "explain cnn", cnn.join("explain/explanations.json").exists(), || explain_data(&cnn.join("model.onnx"), &data.fashion, &cnn.join("explain"), &effort))?;
    let vae_dir = args.out_runs.join("vae");
    stage(&mut stages, "train vae", vae_dir.join("samples.png").exists(), || vae(&args, &data.lfw, &vae_dir, effort.vae_epochs))?;
    stage(&mut stages, "interpolate", vae_dir.join("interp/interpolation.json").exists(), || interpolate(&data.lfw, &vae_dir))?;
    runs.push(vae_dir);
    if let Some(model) = &args.torch_model {
        let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "torch".into());
        let dir = args.out_runs.join(format!("explain-{stem}"));
        stage(&mut stages, &format!("explain {stem}"), dir.join("explanations.json").exists(), || explain_data(model, &data.fashion, &dir, &effort))?;
        runs.push(dir);
    }
    if let Some(dir) = resnet_stages(&args, &data, &effort, &mut stages)? {
        runs.push(dir);
    }
    let mut times = stages.done.clone();
    times.push(("this invocation, before the report".into(), Some(started.elapsed().as_secs_f64())));
    let meta = ReportMeta { command: super::report::command_line(), commit: super::report::git_commit(), stages: times };
    let written = write_report(&runs, &args.report, &meta).with_context(|| format!("writing the report into {}", args.report.display()))?;
    println!("netlens run: {:.0} s; wrote {} ({} figures)", started.elapsed().as_secs_f64(), written.markdown.display(), written.figures.len());
    Ok(())
}

/// Runs `work` unless `done`, recording its time (a skipped stage keeps the time an earlier
/// invocation recorded, or none).
fn stage(stages: &mut Stages, name: &str, done: bool, work: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    if done {
        eprintln!("== {name}: outputs already there, skipped");
        return stages.record(name, stages.earlier(name));
    }
    eprintln!("== {name}");
    let t = Instant::now();
    work().with_context(|| format!("stage `{name}`"))?;
    stages.record(name, Some(t.elapsed().as_secs_f64()))
}

fn data_paths(args: &RunArgs) -> anyhow::Result<DataPaths> {
    let Some(root) = &args.data_root else { return fetched_data() };
    let pick = |names: [&str; 2]| names.iter().map(|n| root.join(n)).find(|p| p.is_dir());
    let fashion = pick(["fashion-mnist-small", "fashion-mnist"]).with_context(|| format!("{}: no fashion-mnist-small/ or fashion-mnist/ folder", root.display()))?;
    let lfw = pick(["lfw-small", "lfw"]).with_context(|| format!("{}: no lfw-small/ or lfw/ folder", root.display()))?;
    let imagenet = Some(root.join("imagenet-samples")).filter(|p| p.is_dir());
    let fetched_resnet = Some(root.join("resnet34/resnet34.onnx")).filter(|p| p.exists());
    Ok(DataPaths { fashion, lfw, imagenet, fetched_resnet })
}

/// `data/fashion-mnist` and `data/lfw`, fetched when missing (`netlens fetch`).
fn fetched_data() -> anyhow::Result<DataPaths> {
    let root = PathBuf::from("data");
    for (source, folder) in [(Source::FashionMnist, "fashion-mnist"), (Source::Lfw, "lfw")] {
        if !root.join(folder).join("X_test.npy").exists() && !root.join(folder).join("X_train.npy").exists() {
            super::fetch::run(FetchArgs { what: source, out: root.clone(), cache: None, url: None, from: None, timeout_secs: 60, retries: 3 })?;
        }
    }
    let fetched_resnet = Some(root.join("resnet34/resnet34.onnx")).filter(|p| p.exists());
    Ok(DataPaths { fashion: root.join("fashion-mnist"), lfw: root.join("lfw"), imagenet: None, fetched_resnet })
}

/// Finished: model.onnx written after `epochs` epochs.
fn training_done(dir: &Path, epochs: usize) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("history.json")) else { return false };
    let done = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|h| h.get("epochs").and_then(|e| e.as_array()).map(Vec::len));
    dir.join("model.onnx").exists() && dir.join("accuracy.svg").exists() && done == Some(epochs)
}

fn train(args: &RunArgs, model: ModelName, data: &Path, dir: &Path, epochs: usize) -> anyhow::Result<()> {
    let resume = dir.join("config.json").exists() && dir.join("checkpoint").is_dir();
    let a = TrainArgs { model, data: data.to_path_buf(), epochs: Some(epochs), batch_size: 32, lr: 3e-3, seed: 0, device: args.device.clone(), out: dir.to_path_buf(), resume };
    super::train::run(a)
}

fn features(dir: &Path, data: &Path, effort: &Effort) -> anyhow::Result<()> {
    super::features::run(FeaturesArgs {
        model: dir.join("model.onnx"),
        data: data.to_path_buf(),
        layers: "auto".into(),
        methods: vec![FeatureMethod::Pca, FeatureMethod::Tsne],
        dims: 2,
        per_class: effort.per_class,
        perplexity: 30.0,
        iterations: effort.tsne_iterations,
        seed: 0,
        batch_size: 50,
        save_tsne_input: false,
        out: dir.join("features"),
    })
}

fn explain_args(model: &Path, out: &Path, effort: &Effort) -> ExplainArgs {
    ExplainArgs {
        model: model.to_path_buf(),
        images: vec![],
        data: None,
        index: vec![],
        methods: vec![ExplainMethod::Gradcam, ExplainMethod::Ig, ExplainMethod::Shapley],
        target: "auto".into(),
        layer: "auto".into(),
        out: out.to_path_buf(),
        steps: effort.ig_steps,
        rule: RuleArg::Trapezoid,
        baseline: BaselineArg::Blurred,
        blur_sigma: "auto".into(),
        grid: 4,
        permutations: effort.permutations,
        faithfulness: true,
        curve_steps: 20,
        seed: 42,
    }
}

/// Explains the first test images of `data`.
fn explain_data(model: &Path, data: &Path, out: &Path, effort: &Effort) -> anyhow::Result<()> {
    let mut a = explain_args(model, out, effort);
    a.data = Some(data.to_path_buf());
    a.index = (0..effort.explain_images).collect();
    super::explain::run(a)
}

fn vae(args: &RunArgs, data: &Path, dir: &Path, epochs: usize) -> anyhow::Result<()> {
    let resume = dir.join("config.json").exists() && dir.join("checkpoint").is_dir();
    super::vae::run(VaeArgs {
        data: data.to_path_buf(),
        out: dir.to_path_buf(),
        latent: 64,
        beta: 1.0,
        epochs,
        batch_size: 32,
        lr: 1e-3,
        seed: 0,
        device: args.device.clone(),
        reconstruction: LossName::Mse,
        upsample: UpsampleName::Nearest,
        limit: None,
        resume,
        stop_after: None,
    })
}

/// Interpolation strips between the groups of `groups.json` (female/male, older/younger) or,
/// without it, between faces 0 and 1; records ends and α in `interp/interpolation.json`.
fn interpolate(data: &Path, dir: &Path) -> anyhow::Result<()> {
    let pairs: Vec<(&str, &str)> = if data.join("groups.json").exists() { vec![("female", "male"), ("older", "younger")] } else { vec![("0", "1")] };
    let alphas = vec![0.2, 0.4, 0.6, 0.8];
    let out = dir.join("interp");
    let mut record = serde_json::Map::new();
    for (a, b) in pairs {
        super::vae::run_interpolate(InterpolateArgs {
            encoder: dir.join("encoder.onnx"),
            decoder: dir.join("decoder.onnx"),
            data: data.to_path_buf(),
            a: a.parse().map_err(|e: String| anyhow::anyhow!("group `{a}`: {e}"))?,
            b: b.parse().map_err(|e: String| anyhow::anyhow!("group `{b}`: {e}"))?,
            groups: None,
            alphas: alphas.clone(),
            out: out.clone(),
        })?;
        record.insert(format!("interpolation_{a}_{b}"), serde_json::json!({ "a": a, "b": b, "alphas": alphas }));
    }
    netlens_fetch::write_atomically(&out.join("interpolation.json"), serde_json::to_string_pretty(&record)?.as_bytes())?;
    Ok(())
}

/// ResNet-34: converted from `--resnet` (`.pth`) or used as given (`.onnx`), else the fetched
/// ONNX; explains the ImageNet sample images. Returns the explanation folder, or `None` (with a
/// note) when there are no weights or images.
fn resnet_stages(args: &RunArgs, data: &DataPaths, effort: &Effort, stages: &mut Stages) -> anyhow::Result<Option<PathBuf>> {
    let onnx = match &args.resnet {
        Some(file) if file.extension().is_some_and(|e| e == "onnx") => file.clone(),
        Some(file) => {
            let out = args.out_runs.join("resnet34");
            let onnx = out.join("resnet34.onnx");
            stage(stages, "convert resnet34", onnx.exists(), || super::fetch::run(FetchArgs { what: Source::Resnet34, out: args.out_runs.clone(), cache: None, url: None, from: Some(file.clone()), timeout_secs: 60, retries: 3 }))?;
            onnx
        }
        None => match &data.fetched_resnet {
            Some(p) => p.clone(),
            None => {
                eprintln!("== ResNet-34: no weights (netlens fetch resnet34, or --resnet FILE); its explanations are left out of the report");
                return Ok(None);
            }
        },
    };
    let Some(images) = imagenet_images(data.imagenet.as_deref())? else {
        eprintln!("== ResNet-34: no imagenet-samples folder under --data-root; its explanations are left out");
        return Ok(None);
    };
    let dir = args.out_runs.join("resnet34-explain");
    let mut a = explain_args(&onnx, &dir, effort);
    a.images = images;
    a.steps = effort.ig_steps.min(32);
    stage(stages, "explain resnet34", dir.join("explanations.json").exists(), || super::explain::run(a))?;
    Ok(Some(dir))
}

/// The PNG and JPEG files of `dir`, one per file stem (explanations are named by stem).
fn imagenet_images(dir: Option<&Path>) -> anyhow::Result<Option<Vec<PathBuf>>> {
    let Some(dir) = dir else { return Ok(None) };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png" || e == "jpg" || e == "jpeg"))
        .collect();
    files.sort();
    files.dedup_by(|a, b| a.file_stem() == b.file_stem());
    if files.is_empty() {
        bail!("{}: no PNG or JPEG images", dir.display());
    }
    Ok(Some(files))
}
