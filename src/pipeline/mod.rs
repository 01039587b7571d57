//! `netlens run` as a library: a [`RunPlan`] (the library configs of every stage, printable
//! and editable as TOML) carried out stage by stage — train the classifiers and the VAE,
//! study features, draw interpolations, explain predictions, write the report — with each
//! stage skipped when its settings, input files and outputs are as it last left them
//! (`stages.json`). [`steps`] holds what the single commands share.

mod plan;
mod stages;
pub mod steps;

use std::path::{Path, PathBuf};
use std::time::Instant;

use netlens_analyze::explain::pipeline::ExplainInputs;
use netlens_analyze::features::{FeatureProgress, study_to_dir};
use netlens_analyze::report::{ReportMeta, ReportOutput, write_report};
use netlens_analyze::vae::{ATTRIBUTES, EDITED_FACES, FACE_PAIRS, Groups, write_run_faces};
use netlens_fetch::download::DownloadProgress;
use netlens_fetch::runs::{EpochMetrics, RunFolder, TrainConfig, VaeEpochMetrics, VaeTrainConfig};
use netlens_train::{Progress, RunDir, Start};
use serde::Serialize;

pub use plan::{DataRoot, ExplainPlan, RunPlan};
use stages::{Stage, Stages};
use steps::{Download, Source};

/// Errors of the pipeline: each names the stage, file or setting involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A plan file that cannot be read, or a plan value out of range.
    #[error("plan{}: {reason}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Plan { path: Option<PathBuf>, reason: String },
    /// A data folder without what the run needs.
    #[error("{}: expected {expected}", path.display())]
    Data { path: PathBuf, expected: String },
    /// A stage failed.
    #[error("stage `{name}`")]
    Stage {
        name: String,
        #[source]
        source: Box<PipelineError>,
    },
    /// A file could not be read, written or removed.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A setting out of range.
    #[error(transparent)]
    Setting(#[from] netlens_fetch::runs::InvalidSetting),
    /// From the data layer.
    #[error(transparent)]
    Fetch(#[from] netlens_fetch::FetchError),
    /// From training.
    #[error(transparent)]
    Train(#[from] netlens_train::TrainError),
    /// From the ONNX layer.
    #[error(transparent)]
    Onnx(#[from] netlens_onnx::OnnxError),
    /// From the analyses.
    #[error(transparent)]
    Analyze(#[from] netlens_analyze::AnalyzeError),
}

/// Receives what the pipeline does; it never prints itself. Training progress comes through
/// the training loops' [`Progress`].
pub trait Reporter: Progress<EpochMetrics> + Progress<VaeEpochMetrics> {
    /// A line for the user: a stage starting, skipped or rerun and why, a file converted.
    fn note(&mut self, line: &str);
    /// A training loop of `epochs` epochs starts.
    fn training(&mut self, _epochs: usize) {}
    /// Where a feature study is.
    fn features(&mut self, _progress: FeatureProgress<'_>) {}
    /// Bytes of a download so far.
    fn download(&mut self, _file: &str, _progress: DownloadProgress) {}
}

/// A [`Reporter`] that drops everything (tests, library use).
pub struct Quiet;

impl Progress<EpochMetrics> for Quiet {}
impl Progress<VaeEpochMetrics> for Quiet {}
impl Reporter for Quiet {
    fn note(&mut self, _line: &str) {}
}

/// What a run wrote.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The report.
    pub report: ReportOutput,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
}

/// Facts about the invocation for the report's reproducibility section.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    /// The command line (`netlens run …`).
    pub command: String,
    /// The git commit of the source tree, when known.
    pub commit: Option<String>,
}

/// The files directly in `dir`, sorted (the inputs of a stage that reads a data folder).
fn folder_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// A config's settings as a stage compares them: without the data folder's name (the data
/// files themselves are the stage's inputs, so a data folder given by another path is the same
/// data).
///
/// # Errors
/// [`PipelineError::Plan`] when the config cannot be serialised.
fn without_data(config: &impl Serialize) -> Result<serde_json::Value, PipelineError> {
    let mut value = serde_json::to_value(config)
        .map_err(|e| PipelineError::Plan { path: None, reason: format!("a config cannot be recorded: {e}") })?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("data");
    }
    Ok(value)
}

/// Carries out `plan`: every stage in order, each skipped when up to date; then the report.
///
/// # Errors
/// The plan's checks, then the first stage that fails (named) — the stages before it stay
/// recorded, so running again continues from there.
pub fn run(plan: &RunPlan, reporter: &mut dyn Reporter, invocation: &Invocation) -> Result<RunOutput, PipelineError> {
    let started = Instant::now();
    plan.check()?;
    if plan.fetch_missing {
        fetch_missing(plan, reporter)?;
    }
    let out = &plan.out_runs;
    std::fs::create_dir_all(out).map_err(|source| PipelineError::Io { path: out.clone(), source })?;
    let mut stages = Stages::load(out);
    let mut runs = vec![];
    for config in &plan.classifiers {
        let dir = RunDir::new(out.join(config.architecture.name()));
        train_stage(&mut stages, reporter, &dir, config)?;
        features_stage(&mut stages, reporter, plan, &dir, config)?;
        if plan.explain.classifiers.contains(&config.architecture) {
            let data = PathBuf::from(&config.data);
            explain_stage(
                &mut stages,
                reporter,
                plan,
                config.architecture.name(),
                &dir.onnx(),
                &data,
                &dir.explain_dir(),
            )?;
        }
        runs.push(dir.root().to_path_buf());
    }
    let vae = RunDir::new(out.join("vae"));
    vae_stage(&mut stages, reporter, plan, &vae)?;
    interpolation_stage(&mut stages, reporter, plan, &vae)?;
    runs.push(vae.root().to_path_buf());
    if let Some(model) = &plan.explain.torch_model {
        let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "torch".into());
        let dir = out.join(format!("explain-{stem}"));
        let data = plan.classifiers.first().map(|c| PathBuf::from(&c.data)).unwrap_or_default();
        explain_stage(&mut stages, reporter, plan, &stem, model, &data, &dir)?;
        runs.push(dir);
    }
    runs.extend(resnet_stages(&mut stages, reporter, plan)?);
    let mut times = stages.times();
    times.push(("this invocation, before the report".into(), Some(started.elapsed().as_secs_f64())));
    let meta = ReportMeta {
        command: invocation.command.clone(),
        commit: invocation.commit.clone(),
        stages: times,
        quick: plan.quick,
    };
    let report = write_report(&runs, &plan.report, &meta)?;
    Ok(RunOutput { report, seconds: started.elapsed().as_secs_f64() })
}

/// Fetches Fashion-MNIST and LFW into their folders when the plan's data are not there.
fn fetch_missing(plan: &RunPlan, reporter: &mut dyn Reporter) -> Result<(), PipelineError> {
    let fashion = plan.classifiers.first().map(|c| PathBuf::from(&c.data));
    let wanted = [
        (Source::FashionMnist, fashion, "X_test.npy"),
        (Source::Lfw, Some(plan.vae.data.clone().into()), "X_train.npy"),
    ];
    for (source, dir, file) in wanted {
        let Some(dir) = dir else { continue };
        if dir.join(file).exists() {
            continue;
        }
        reporter.note(&format!("== fetch {}: {} has no {file}", source.folder(), dir.display()));
        let mut progress = |file: &str, p: DownloadProgress| reporter.download(file, p);
        let download = Download { cache: None, mirror: None, options: Default::default(), progress: &mut progress };
        let fetched = steps::fetch(source, download, &dir)?;
        reporter.note(&format!("{fetched} in {}", dir.display()));
    }
    Ok(())
}

/// Whether the run folder holds a run of `config` (other than the data folder's name), and
/// how many epochs of it are done.
fn existing_run(dir: &RunDir, config: &TrainConfig) -> Option<usize> {
    let found = dir.train_config().ok()?;
    (TrainConfig { data: config.data.clone(), ..found } == *config).then(|| dir.finished_epochs().unwrap_or(0))
}

/// Removes a run folder made with other settings, so the stage starts afresh. Only folders
/// that netlens made (they hold a `config.json`) are removed.
fn replace_run(dir: &Path, reporter: &mut dyn Reporter) -> Result<(), PipelineError> {
    if dir.join(netlens_fetch::runs::CONFIG).exists() {
        reporter.note(&format!("{} holds a run made with other settings: it is replaced", dir.display()));
        std::fs::remove_dir_all(dir).map_err(|source| PipelineError::Io { path: dir.into(), source })?;
    }
    Ok(())
}

fn train_stage(
    stages: &mut Stages,
    reporter: &mut dyn Reporter,
    dir: &RunDir,
    config: &TrainConfig,
) -> Result<(), PipelineError> {
    let mut stage = Stage::new(
        format!("train {}", config.architecture),
        &without_data(config)?,
        folder_files(Path::new(&config.data)),
        vec![dir.onnx(), dir.file("accuracy.svg"), dir.file("loss.svg")],
    )?;
    let done = existing_run(dir, config);
    stage.done_without_record = done == Some(config.epochs);
    stages.run(stage, reporter, |reporter| {
        let start = match done {
            Some(_) if dir.latest_epoch()?.is_some() => Start::Resume,
            _ => {
                replace_run(dir.root(), reporter)?;
                Start::Fresh
            }
        };
        reporter.training(config.epochs);
        let history = steps::train_classifier(dir, config, start, reporter)?;
        if let Some(last) = history.epochs.last() {
            reporter.note(&format!(
                "{}: test accuracy {:.4} after {} epochs",
                config.architecture, last.test_accuracy, last.epoch
            ));
        }
        Ok(())
    })
}

/// Removes the folder a stage is about to remake, so no file of an earlier run stays beside
/// the new ones.
fn clear(dir: &Path) -> Result<(), PipelineError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|source| PipelineError::Io { path: dir.into(), source })?;
    }
    Ok(())
}

fn features_stage(
    stages: &mut Stages,
    reporter: &mut dyn Reporter,
    plan: &RunPlan,
    dir: &RunDir,
    config: &TrainConfig,
) -> Result<(), PipelineError> {
    let data = PathBuf::from(&config.data);
    let out = dir.features_dir();
    let mut inputs = vec![dir.onnx()];
    inputs.extend(folder_files(&data));
    let stage = Stage::new(
        format!("features {}", config.architecture),
        &plan.features,
        inputs,
        vec![out.join(netlens_fetch::runs::FEATURE_SUMMARY)],
    )?;
    stages.run(stage, reporter, |reporter| {
        clear(&out)?;
        study_to_dir(&dir.onnx(), &data, &plan.features, &out, |p| reporter.features(p))?;
        Ok(())
    })
}

/// The settings an explanation stage depends on.
#[derive(Serialize)]
struct ExplainStageSettings<'a> {
    images: usize,
    options: &'a netlens_analyze::explain::pipeline::ExplainOptions,
}

fn explain_stage(
    stages: &mut Stages,
    reporter: &mut dyn Reporter,
    plan: &RunPlan,
    name: &str,
    model: &Path,
    data: &Path,
    out: &Path,
) -> Result<(), PipelineError> {
    let settings = ExplainStageSettings { images: plan.explain.images, options: &plan.explain.options };
    let mut inputs = vec![model.to_path_buf()];
    inputs.extend(folder_files(data));
    let stage =
        Stage::new(format!("explain {name}"), &settings, inputs, vec![out.join(netlens_fetch::runs::EXPLANATIONS)])?;
    stages.run(stage, reporter, |reporter| {
        clear(out)?;
        let inputs = ExplainInputs::Dataset { dir: data.into(), indices: (0..plan.explain.images).collect() };
        steps::explain_on_device(model, &inputs, &plan.explain.options, None, out, |line| reporter.note(line))?;
        Ok(())
    })
}

fn vae_stage(
    stages: &mut Stages,
    reporter: &mut dyn Reporter,
    plan: &RunPlan,
    dir: &RunDir,
) -> Result<(), PipelineError> {
    let config = &plan.vae;
    let settings = serde_json::json!({ "config": without_data(config)?, "limit": plan.vae_limit });
    let data = PathBuf::from(&config.data);
    let mut stage = Stage::new(
        "train vae",
        &settings,
        folder_files(&data),
        vec![dir.encoder(), dir.decoder(), dir.file("samples.png")],
    )?;
    let existing =
        dir.vae_config().ok().filter(|found| VaeTrainConfig { data: config.data.clone(), ..found.clone() } == *config);
    stage.done_without_record = existing.is_some() && dir.finished_epochs() == Some(config.epochs);
    stages.run(stage, reporter, |reporter| {
        let start = match existing {
            Some(_) if dir.latest_epoch()?.is_some() => Start::Resume,
            _ => {
                replace_run(dir.root(), reporter)?;
                Start::Fresh
            }
        };
        let faces = steps::load_faces(&data, plan.vae_limit)?;
        reporter.training(config.epochs);
        let run = steps::train_vae(dir, config, &faces, start, reporter)?;
        if let (Some(last), Some(onnx)) = (run.history.epochs.last(), run.onnx) {
            reporter.note(&format!(
                "vae: held-out MSE per pixel {:.4} (burn), {:.4} (ONNX; max |ONNX − burn| {:.1e}) after {} epochs",
                last.heldout_mse, onnx.heldout_mse, onnx.max_abs_diff, last.epoch
            ));
        }
        Ok(())
    })
}

fn interpolation_stage(
    stages: &mut Stages,
    reporter: &mut dyn Reporter,
    plan: &RunPlan,
    dir: &RunDir,
) -> Result<(), PipelineError> {
    let data = PathBuf::from(&plan.vae.data);
    let groups_file = data.join("groups.json");
    // split.json says which drawn faces the VAE did not train on.
    let mut inputs = vec![dir.encoder(), dir.decoder(), dir.split(), data.join("X_train.npy")];
    if groups_file.exists() {
        inputs.push(groups_file.clone());
    }
    let out = dir.interp_dir();
    // What is drawn is part of the settings, so a run drawn by an older netlens (strips between
    // group means and medoids) is drawn again.
    let settings = serde_json::json!({
        "alphas": plan.alphas,
        "limit": plan.vae_limit,
        "figures": { "attributes": ATTRIBUTES, "edited_faces": EDITED_FACES, "face_pairs": FACE_PAIRS },
    });
    let stage = Stage::new("interpolate", &settings, inputs, vec![out.join(netlens_fetch::runs::FACE_INTERPOLATIONS)])?;
    stages.run(stage, reporter, |_| {
        clear(&out)?;
        let faces = steps::load_faces(&data, plan.vae_limit)?;
        let groups = groups_file.exists().then(|| Groups::load(&groups_file)).transpose()?;
        let what = data.join("X_train.npy").display().to_string();
        write_run_faces(&RunFolder::new(dir.root()), &faces, &what, groups.as_ref(), &plan.alphas)?;
        Ok(())
    })
}

/// ResNet-34: converted from a `.pth` or used as given (`.onnx`), explaining the ImageNet
/// sample photos. Returns the explanation folder, or `None` (with a note) when there are no
/// weights or photos.
/// ImageNet's "tiger cat" and "boxer": the two classes of the cat-and-dog photo in Selvaraju et
/// al. 2017, Fig. 1 (Grad-CAM 'Cat' and 'Dog'), which the course's figure reproduces.
pub const CAT_DOG_CLASSES: [usize; 2] = [282, 242];

/// Converts the ResNet-34 weights when needed and explains the ImageNet sample photos, each for
/// its predicted class; `cat_dog` also for the cat and for the dog in it
/// ([`CAT_DOG_CLASSES`]). Returns the explanation folders (none without weights or photos).
fn resnet_stages(
    stages: &mut Stages,
    reporter: &mut dyn Reporter,
    plan: &RunPlan,
) -> Result<Vec<PathBuf>, PipelineError> {
    let Some(weights) = &plan.explain.resnet else {
        reporter.note("== ResNet-34: no weights (netlens fetch resnet34, or --resnet FILE); its explanations are left out of the report");
        return Ok(vec![]);
    };
    let Some(samples) = &plan.explain.imagenet_samples else {
        reporter.note("== ResNet-34: no folder of ImageNet sample photos (imagenet-samples under --data-root); its explanations are left out");
        return Ok(vec![]);
    };
    let onnx = if weights.extension().is_some_and(|e| e == "onnx") {
        weights.clone()
    } else {
        let dir = plan.out_runs.join("resnet34");
        let onnx = dir.join("resnet34.onnx");
        let stage =
            Stage::new("convert resnet34", &serde_json::Value::Null, vec![weights.clone()], vec![onnx.clone()])?;
        stages.run(stage, reporter, |reporter| {
            let fetched = steps::convert_resnet(weights, &dir)?;
            reporter.note(&fetched.to_string());
            Ok(())
        })?;
        onnx
    };
    let photos = photos(samples)?;
    let out = plan.out_runs.join("resnet34-explain");
    let options = plan.resnet_options();
    let settings = ExplainStageSettings { images: photos.len(), options: &options };
    let mut inputs = vec![onnx.clone()];
    inputs.extend(photos.iter().cloned());
    let stage = Stage::new("explain resnet34", &settings, inputs, vec![out.join(netlens_fetch::runs::EXPLANATIONS)])?;
    stages.run(stage, reporter, |reporter| {
        clear(&out)?;
        steps::explain_on_device(&onnx, &ExplainInputs::Files(photos.clone()), &options, None, &out, |line| {
            reporter.note(line)
        })?;
        Ok(())
    })?;
    let mut dirs = vec![out];
    if let Some(cat_dog) = photos.iter().find(|p| p.file_stem().is_some_and(|s| s == "cat_dog")) {
        let out = plan.out_runs.join("resnet34-cat-dog");
        let inputs = ExplainInputs::FileForClasses { file: cat_dog.clone(), classes: CAT_DOG_CLASSES.to_vec() };
        let settings = serde_json::json!({ "classes": CAT_DOG_CLASSES, "options": &options });
        let stage = Stage::new(
            "explain resnet34 cat_dog for the cat and for the dog",
            &settings,
            vec![onnx.clone(), cat_dog.clone()],
            vec![out.join(netlens_fetch::runs::EXPLANATIONS)],
        )?;
        stages.run(stage, reporter, |reporter| {
            clear(&out)?;
            steps::explain_on_device(&onnx, &inputs, &options, None, &out, |line| reporter.note(line))?;
            Ok(())
        })?;
        dirs.push(out);
    }
    Ok(dirs)
}

/// The PNG and JPEG files of `dir`, one per file stem (explanations are named by stem).
fn photos(dir: &Path) -> Result<Vec<PathBuf>, PipelineError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PipelineError::Io { path: dir.into(), source })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| ["png", "jpg", "jpeg"].iter().any(|x| e.eq_ignore_ascii_case(x))))
        .collect();
    files.sort();
    files.dedup_by(|a, b| a.file_stem() == b.file_stem());
    if files.is_empty() {
        return Err(PipelineError::Data { path: dir.into(), expected: "PNG or JPEG photos".into() });
    }
    Ok(files)
}

/// `git rev-parse --short HEAD` of the working directory, when git and a repository are there.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
