//! `netlens run`: the whole project in one command — train the three classifiers and the VAE,
//! study features, explain predictions, and write the report — by calling the other commands'
//! `run` functions. A stage is skipped when its outputs are there and up to date — made from
//! the same input files (size and modification time) with the same settings, as recorded in
//! `OUT_RUNS/stages.json` — and an interrupted training continues from its last checkpoint, so
//! running the command again resumes, and retraining a model reruns what depends on it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use netlens_analyze::report::{ReportMeta, write_report};

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
/// the report. Each stage is skipped when its outputs exist and are up to date (same inputs,
/// same settings); rerun the command to continue an interrupted run.
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
    /// Folder of the run folders [default: runs/main, or runs/quick with --quick, so that a
    /// quick run never resumes into a full one].
    #[arg(long, value_name = "DIR")]
    pub out_runs: Option<PathBuf>,
    /// Report folder [default: reports/main, or reports/quick with --quick].
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
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
            Effort {
                epochs: [
                    (ModelName::Lenet, "lenet", 10),
                    (ModelName::Shallow, "shallow", 5),
                    (ModelName::Cnn, "cnn", 5),
                ],
                vae_epochs: 8,
                per_class: 15,
                tsne_iterations: 500,
                explain_images: 4,
                ig_steps: 32,
                permutations: 40,
            }
        } else {
            Effort {
                epochs: [
                    (ModelName::Lenet, "lenet", 30),
                    (ModelName::Shallow, "shallow", 15),
                    (ModelName::Cnn, "cnn", 15),
                ],
                vae_epochs: 50,
                per_class: 20,
                tsne_iterations: 1000,
                explain_images: 8,
                ig_steps: 64,
                permutations: 200,
            }
        }
    }
}

impl Effort {
    /// The settings a feature analysis depends on.
    fn features_settings(&self) -> String {
        format!("features: {} per class, t-SNE {} iterations", self.per_class, self.tsne_iterations)
    }

    /// The settings an explanation depends on (baseline, grid, curves and seed are fixed).
    fn explain_settings(&self) -> String {
        format!(
            "explain: {} images, IG {} steps, {} Shapley orders, blurred baseline",
            self.explain_images, self.ig_steps, self.permutations
        )
    }
}

/// Where the data sets are.
struct DataPaths {
    fashion: PathBuf,
    lfw: PathBuf,
    imagenet: Option<PathBuf>,
    fetched_resnet: Option<PathBuf>,
}

/// A finished stage: its seconds and the key of what it was made from.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct StageRecord {
    name: String,
    seconds: Option<f64>,
    /// [`input_key`] of the stage when it ran; `None` for stages checked otherwise (training).
    #[serde(default)]
    key: Option<String>,
}

/// The finished stages, kept in `OUT_RUNS/stages.json` so that a later invocation knows what is
/// up to date and the report still shows the times of stages an earlier invocation ran.
struct Stages {
    path: PathBuf,
    done: Vec<StageRecord>,
}

impl Stages {
    /// The record in `out_runs/stages.json`, empty when absent or unreadable (then every
    /// stage with a key runs again).
    fn load(out_runs: &Path) -> Stages {
        let path = out_runs.join("stages.json");
        let done = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        Stages { path, done }
    }

    fn earlier(&self, name: &str) -> Option<&StageRecord> {
        self.done.iter().find(|r| r.name == name)
    }

    fn record(&mut self, record: StageRecord) -> anyhow::Result<()> {
        self.done.retain(|r| r.name != record.name);
        self.done.push(record);
        netlens_fetch::write_atomically(&self.path, serde_json::to_string_pretty(&self.done)?.as_bytes())?;
        Ok(())
    }

    /// `(name, seconds)` of every stage, for the report.
    fn times(&self) -> Vec<(String, Option<f64>)> {
        self.done.iter().map(|r| (r.name.clone(), r.seconds)).collect()
    }
}

/// What a stage's result depends on: its settings, and the size and modification time of each
/// input file (make's rule: a rewritten input makes the outputs stale).
fn input_key(settings: &str, inputs: &[&Path]) -> String {
    let mut key = settings.to_string();
    for path in inputs {
        let stamp = std::fs::metadata(path).ok().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{} bytes, modified {modified} ns", m.len())
        });
        key += &format!("; {}: {}", path.display(), stamp.unwrap_or_else(|| "missing".into()));
    }
    key
}

/// Runs `netlens run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let effort = Effort::new(args.quick);
    let data = data_paths(&args)?;
    let out_runs =
        args.out_runs.clone().unwrap_or_else(|| PathBuf::from(if args.quick { "runs/quick" } else { "runs/main" }));
    let report =
        args.report.clone().unwrap_or_else(|| PathBuf::from(if args.quick { "reports/quick" } else { "reports/main" }));
    std::fs::create_dir_all(&out_runs).with_context(|| format!("creating {}", out_runs.display()))?;
    // Refuse a folder planned with other settings before spending minutes on earlier stages.
    for (_, name, epochs) in effort.epochs {
        planned_settings_match(&out_runs.join(name), &classifier_settings(epochs))?;
    }
    planned_settings_match(&out_runs.join("vae"), &vae_settings(effort.vae_epochs))?;
    let mut stages = Stages::load(&out_runs);
    let mut runs = vec![];
    let fashion_test = [data.fashion.join("X_test.npy"), data.fashion.join("Y_test.npy")];
    for (model, name, epochs) in effort.epochs {
        let dir = out_runs.join(name);
        let done = training_done(&dir, epochs)?;
        stage(&mut stages, &format!("train {name}"), None, done, || train(&args, model, &data.fashion, &dir, epochs))?;
        let key =
            input_key(&effort.features_settings(), &[&dir.join("model.onnx"), &fashion_test[0], &fashion_test[1]]);
        stage(&mut stages, &format!("features {name}"), Some(key), dir.join("features/summary.json").exists(), || {
            features(&dir, &data.fashion, &effort)
        })?;
        runs.push(dir);
    }
    let cnn = out_runs.join("cnn");
    let key = input_key(&effort.explain_settings(), &[&cnn.join("model.onnx"), &fashion_test[0]]);
    stage(&mut stages, "explain cnn", Some(key), cnn.join("explain/explanations.json").exists(), || {
        explain_data(&cnn.join("model.onnx"), &data.fashion, &cnn.join("explain"), &effort)
    })?;
    let vae_dir = out_runs.join("vae");
    let done = vae_done(&vae_dir, effort.vae_epochs)?;
    stage(&mut stages, "train vae", None, done, || vae(&args, &data.lfw, &vae_dir, effort.vae_epochs))?;
    let key =
        input_key("", &[&vae_dir.join("encoder.onnx"), &vae_dir.join("decoder.onnx"), &data.lfw.join("X_train.npy")]);
    stage(&mut stages, "interpolate", Some(key), vae_dir.join("interp/interpolation.json").exists(), || {
        interpolate(&data.lfw, &vae_dir)
    })?;
    runs.push(vae_dir);
    if let Some(model) = &args.torch_model {
        let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "torch".into());
        let dir = out_runs.join(format!("explain-{stem}"));
        let key = input_key(&effort.explain_settings(), &[model, &fashion_test[0]]);
        stage(&mut stages, &format!("explain {stem}"), Some(key), dir.join("explanations.json").exists(), || {
            explain_data(model, &data.fashion, &dir, &effort)
        })?;
        runs.push(dir);
    }
    if let Some(dir) = resnet_stages(&args, &out_runs, &data, &effort, &mut stages)? {
        runs.push(dir);
    }
    let mut times = stages.times();
    times.push(("this invocation, before the report".into(), Some(started.elapsed().as_secs_f64())));
    let meta =
        ReportMeta { command: super::report::command_line(), commit: super::report::git_commit(), stages: times };
    let written =
        write_report(&runs, &report, &meta).with_context(|| format!("writing the report into {}", report.display()))?;
    println!(
        "netlens run: {:.0} s; wrote {} ({} figures)",
        started.elapsed().as_secs_f64(),
        written.markdown.display(),
        written.figures.len()
    );
    Ok(())
}

/// Runs `work` unless its outputs `exist` and are up to date: made with the same `key` (see
/// [`input_key`]; `None` when `exist` says it all), as recorded by the run that made them.
/// Records the stage's time (a skipped stage keeps the time an earlier invocation recorded).
fn stage(
    stages: &mut Stages,
    name: &str,
    key: Option<String>,
    exist: bool,
    work: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let earlier = stages.earlier(name).cloned();
    let up_to_date = exist && (key.is_none() || earlier.as_ref().is_some_and(|r| r.key == key));
    if up_to_date {
        eprintln!("== {name}: outputs already there and up to date, skipped");
        return stages.record(StageRecord { name: name.into(), seconds: earlier.and_then(|r| r.seconds), key });
    }
    eprintln!("== {name}{}", if exist { " (its inputs or settings changed since its outputs were made)" } else { "" });
    let t = Instant::now();
    work().with_context(|| format!("stage `{name}`"))?;
    stages.record(StageRecord { name: name.into(), seconds: Some(t.elapsed().as_secs_f64()), key })
}

fn data_paths(args: &RunArgs) -> anyhow::Result<DataPaths> {
    let Some(root) = &args.data_root else { return fetched_data() };
    let pick = |names: [&str; 2]| names.iter().map(|n| root.join(n)).find(|p| p.is_dir());
    let fashion = pick(["fashion-mnist-small", "fashion-mnist"])
        .with_context(|| format!("{}: no fashion-mnist-small/ or fashion-mnist/ folder", root.display()))?;
    let lfw =
        pick(["lfw-small", "lfw"]).with_context(|| format!("{}: no lfw-small/ or lfw/ folder", root.display()))?;
    let imagenet = Some(root.join("imagenet-samples")).filter(|p| p.is_dir());
    let fetched_resnet = Some(root.join("resnet34/resnet34.onnx")).filter(|p| p.exists());
    Ok(DataPaths { fashion, lfw, imagenet, fetched_resnet })
}

/// `data/fashion-mnist` and `data/lfw`, fetched when missing (`netlens fetch`).
fn fetched_data() -> anyhow::Result<DataPaths> {
    let root = PathBuf::from("data");
    for (source, folder) in [(Source::FashionMnist, "fashion-mnist"), (Source::Lfw, "lfw")] {
        if !root.join(folder).join("X_test.npy").exists() && !root.join(folder).join("X_train.npy").exists() {
            super::fetch::run(FetchArgs {
                what: source,
                out: root.clone(),
                cache: None,
                url: None,
                from: None,
                timeout_secs: 60,
                retries: 3,
            })?;
        }
    }
    let fetched_resnet = Some(root.join("resnet34/resnet34.onnx")).filter(|p| p.exists());
    Ok(DataPaths { fashion: root.join("fashion-mnist"), lfw: root.join("lfw"), imagenet: None, fetched_resnet })
}

/// Batch size of the classifiers' training.
const CLASSIFIER_BATCH: usize = 32;
/// Peak learning rate of the classifiers (cosine-decayed; README: how it was chosen).
const CLASSIFIER_LR: f64 = 3e-3;
/// Batch size of the VAE's training.
const VAE_BATCH: usize = 32;
/// Learning rate of the VAE.
const VAE_LR: f64 = 1e-3;
/// Seed of every training run.
const TRAIN_SEED: u64 = 0;

/// The `config.json` values a classifier run of `netlens run` is made with.
fn classifier_settings(epochs: usize) -> Vec<(&'static str, f64)> {
    vec![
        ("epochs", epochs as f64),
        ("batch_size", CLASSIFIER_BATCH as f64),
        ("learning_rate", CLASSIFIER_LR),
        ("seed", TRAIN_SEED as f64),
    ]
}

/// The `config.json` values the VAE run of `netlens run` is made with.
fn vae_settings(epochs: usize) -> Vec<(&'static str, f64)> {
    let beta = netlens_train::vae::DEFAULT_BETA;
    vec![
        ("epochs", epochs as f64),
        ("beta", beta),
        ("batch_size", VAE_BATCH as f64),
        ("learning_rate", VAE_LR),
        ("seed", TRAIN_SEED as f64),
    ]
}

/// Finished: model.onnx written after `epochs` epochs.
///
/// # Errors
/// As [`planned_settings_match`].
fn training_done(dir: &Path, epochs: usize) -> anyhow::Result<bool> {
    planned_settings_match(dir, &classifier_settings(epochs))?;
    Ok(["model.onnx", "accuracy.svg"].iter().all(|f| dir.join(f).exists()) && finished_epochs(dir) == Some(epochs))
}

/// Finished: the VAE's ONNX files and figures written after `epochs` epochs.
///
/// # Errors
/// As [`planned_settings_match`].
fn vae_done(dir: &Path, epochs: usize) -> anyhow::Result<bool> {
    planned_settings_match(dir, &vae_settings(epochs))?;
    Ok(["encoder.onnx", "decoder.onnx", "samples.png"].iter().all(|f| dir.join(f).exists())
        && finished_epochs(dir) == Some(epochs))
}

/// # Errors
/// `dir/config.json` holds a run made (or being made) with other settings: resuming it would
/// change its schedule half-way, and keeping it would report a model this run did not ask for,
/// so the user must pick another `--out-runs` or remove the folder.
fn planned_settings_match(dir: &Path, wanted: &[(&str, f64)]) -> anyhow::Result<()> {
    let Some(config) = read_json(&dir.join("config.json")) else { return Ok(()) };
    let differ: Vec<String> = wanted
        .iter()
        .filter_map(|&(key, want)| {
            let have = config.get(key)?.as_f64()?;
            ((have - want).abs() > 1e-12 * want.abs().max(1.0)).then(|| format!("{key} {have} (this run: {want})"))
        })
        .collect();
    if !differ.is_empty() {
        bail!(
            "{} holds a run made with other settings: {}. Use another --out-runs, or remove {} to train afresh",
            dir.display(),
            differ.join(", "),
            dir.display()
        );
    }
    Ok(())
}

/// Epochs recorded in `dir/history.json`.
fn finished_epochs(dir: &Path) -> Option<usize> {
    read_json(&dir.join("history.json")).and_then(|h| h.get("epochs").and_then(|e| e.as_array()).map(Vec::len))
}

/// A JSON file, or `None` when absent or unreadable.
fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn train(args: &RunArgs, model: ModelName, data: &Path, dir: &Path, epochs: usize) -> anyhow::Result<()> {
    let resume = dir.join("config.json").exists() && dir.join("checkpoint").is_dir();
    let a = TrainArgs {
        model,
        data: data.to_path_buf(),
        epochs: Some(epochs),
        batch_size: CLASSIFIER_BATCH,
        lr: CLASSIFIER_LR,
        seed: TRAIN_SEED,
        device: args.device.clone(),
        out: dir.to_path_buf(),
        resume,
    };
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
        class_names: None,
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
        beta: netlens_train::vae::DEFAULT_BETA,
        epochs,
        batch_size: VAE_BATCH,
        lr: VAE_LR,
        seed: TRAIN_SEED,
        device: args.device.clone(),
        reconstruction: LossName::Mse,
        upsample: UpsampleName::Nearest,
        limit: None,
        resume,
        stop_after: None,
    })
}

/// Interpolation strips between the groups of `groups.json` (female/male, older/younger; their
/// mean latents and their medoids) or, without it, between faces 0 and 1; records ends and α in
/// `interp/interpolation.json`.
fn interpolate(data: &Path, dir: &Path) -> anyhow::Result<()> {
    let pairs: Vec<(&str, &str)> = if data.join("groups.json").exists() {
        // Group means decode to near-average faces; medoids are real members of each group.
        vec![
            ("female", "male"),
            ("older", "younger"),
            ("female:medoid", "male:medoid"),
            ("older:medoid", "younger:medoid"),
        ]
    } else {
        vec![("0", "1")]
    };
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
        let key = format!("interpolation_{a}_{b}").replace(':', "-");
        record.insert(key, serde_json::json!({ "a": a, "b": b, "alphas": alphas }));
    }
    netlens_fetch::write_atomically(
        &out.join("interpolation.json"),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    Ok(())
}

/// ResNet-34: converted from `--resnet` (`.pth`) or used as given (`.onnx`), else the fetched
/// ONNX; explains the ImageNet sample images. Returns the explanation folder, or `None` (with a
/// note) when there are no weights or images.
fn resnet_stages(
    args: &RunArgs,
    out_runs: &Path,
    data: &DataPaths,
    effort: &Effort,
    stages: &mut Stages,
) -> anyhow::Result<Option<PathBuf>> {
    let onnx = match &args.resnet {
        Some(file) if file.extension().is_some_and(|e| e == "onnx") => file.clone(),
        Some(file) => {
            let onnx = out_runs.join("resnet34/resnet34.onnx");
            let key = input_key("", &[file]);
            stage(stages, "convert resnet34", Some(key), onnx.exists(), || {
                super::fetch::run(FetchArgs {
                    what: Source::Resnet34,
                    out: out_runs.to_path_buf(),
                    cache: None,
                    url: None,
                    from: Some(file.clone()),
                    timeout_secs: 60,
                    retries: 3,
                })
            })?;
            onnx
        }
        None => match &data.fetched_resnet {
            Some(p) => p.clone(),
            None => {
                eprintln!(
                    "== ResNet-34: no weights (netlens fetch resnet34, or --resnet FILE); its explanations are left out of the report"
                );
                return Ok(None);
            }
        },
    };
    let Some(images) = imagenet_images(data.imagenet.as_deref())? else {
        eprintln!("== ResNet-34: no imagenet-samples folder under --data-root; its explanations are left out");
        return Ok(None);
    };
    let dir = out_runs.join("resnet34-explain");
    let mut a = explain_args(&onnx, &dir, effort);
    a.steps = effort.ig_steps.min(32);
    let inputs: Vec<&Path> = std::iter::once(onnx.as_path()).chain(images.iter().map(PathBuf::as_path)).collect();
    let key = input_key(&format!("{}; IG steps {}", effort.explain_settings(), a.steps), &inputs);
    a.images = images;
    stage(stages, "explain resnet34", Some(key), dir.join("explanations.json").exists(), || super::explain::run(a))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_reruns_when_an_input_file_or_a_setting_changes() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("model.onnx");
        std::fs::write(&input, b"first").unwrap();
        let mut stages = Stages::load(dir.path());
        let runs = std::cell::Cell::new(0);
        let go = |stages: &mut Stages, key: String| {
            stage(stages, "features x", Some(key), true, || Ok(runs.set(runs.get() + 1))).unwrap()
        };
        go(&mut stages, input_key("a", &[&input]));
        go(&mut stages, input_key("a", &[&input]));
        assert_eq!(runs.get(), 1, "same inputs and settings: skipped");
        // A new process reads the record back from stages.json.
        let mut stages = Stages::load(dir.path());
        go(&mut stages, input_key("a", &[&input]));
        assert_eq!(runs.get(), 1, "the record survives a restart");
        go(&mut stages, input_key("b", &[&input]));
        assert_eq!(runs.get(), 2, "other settings: rerun");
        std::fs::write(&input, b"retrained model").unwrap();
        go(&mut stages, input_key("b", &[&input]));
        assert_eq!(runs.get(), 3, "a rewritten input: rerun");
        assert!(stages.times().iter().all(|(name, seconds)| name == "features x" && seconds.is_some()));
    }

    #[test]
    fn a_stage_whose_outputs_are_missing_runs_and_records_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut stages = Stages::load(dir.path());
        let mut ran = false;
        stage(&mut stages, "train lenet", None, false, || Ok(ran = true)).unwrap();
        assert!(ran);
        let err = stage(&mut stages, "train cnn", None, false, || bail!("disk full")).unwrap_err();
        assert!(format!("{err:#}").contains("stage `train cnn`: disk full"), "{err:#}");
        assert_eq!(Stages::load(dir.path()).times().len(), 1, "a failed stage is not recorded as done");
    }

    #[test]
    fn a_folder_planned_with_other_settings_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"architecture": "lenet", "epochs": 10}"#).unwrap();
        let err = training_done(dir.path(), 30).unwrap_err().to_string();
        assert!(err.contains("epochs 10 (this run: 30)") && err.contains("--out-runs"), "{err}");
        assert!(!training_done(dir.path(), 10).unwrap(), "planned for 10, not finished");
        assert!(vae_done(dir.path(), 50).is_err());
        std::fs::write(dir.path().join("config.json"), r#"{"epochs": 50, "beta": 1.0, "learning_rate": 0.001}"#)
            .unwrap();
        let err = vae_done(dir.path(), 50).unwrap_err().to_string();
        assert!(err.contains("beta 1 (this run: 0.1)") && !err.contains("learning_rate"), "{err}");
    }
}
