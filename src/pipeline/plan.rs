//! [`RunPlan`]: what `netlens run` does, as a value a user can print, edit and pass back
//! (TOML). It is made of the library configs themselves — [`TrainConfig`] per classifier,
//! [`VaeTrainConfig`], [`FeatureOptions`], [`ExplainOptions`] — so a setting means the same
//! in a plan, on the command line of the single commands and in the run folders.

use std::path::{Path, PathBuf};

use netlens_analyze::explain::pipeline::ExplainOptions;
use netlens_analyze::features::FeatureOptions;
use netlens_analyze::vae::DEFAULT_ALPHAS;
use netlens_fetch::runs::{Architecture, DeviceName, FaithfulnessSettings, TrainConfig, VaeTrainConfig};
use serde::{Deserialize, Serialize};

use super::PipelineError;

/// Where the data sets of a run are, found under one folder (`--data-root`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRoot {
    /// Fashion-MNIST in the course layout (`fashion-mnist-small/` or `fashion-mnist/`).
    pub fashion: PathBuf,
    /// LFW faces (`lfw-small/` or `lfw/`).
    pub lfw: PathBuf,
    /// ImageNet sample photos (`imagenet-samples/`), when there.
    pub imagenet_samples: Option<PathBuf>,
    /// A fetched ResNet-34 (`resnet34/resnet34.onnx`), when there.
    pub resnet: Option<PathBuf>,
}

impl DataRoot {
    /// The data sets under `root`: the small course sets, or the full fetched ones.
    ///
    /// # Errors
    /// [`PipelineError::Data`] naming the folder that is missing.
    pub fn find(root: &Path) -> Result<DataRoot, PipelineError> {
        let pick = |names: [&str; 2]| names.iter().map(|n| root.join(n)).find(|p| p.is_dir());
        let missing = |what: &str| PipelineError::Data { path: root.into(), expected: what.into() };
        Ok(DataRoot {
            fashion: pick(["fashion-mnist-small", "fashion-mnist"])
                .ok_or_else(|| missing("a fashion-mnist-small/ or fashion-mnist/ folder"))?,
            lfw: pick(["lfw-small", "lfw"]).ok_or_else(|| missing("an lfw-small/ or lfw/ folder"))?,
            imagenet_samples: Some(root.join("imagenet-samples")).filter(|p| p.is_dir()),
            resnet: Some(root.join("resnet34/resnet34.onnx")).filter(|p| p.exists()),
        })
    }

    /// The folders `netlens fetch` prepares under `root` (`fashion-mnist/`, `lfw/`), whether or
    /// not they are there yet.
    pub fn fetched(root: &Path) -> DataRoot {
        DataRoot {
            fashion: root.join("fashion-mnist"),
            lfw: root.join("lfw"),
            imagenet_samples: None,
            resnet: Some(root.join("resnet34/resnet34.onnx")).filter(|p| p.exists()),
        }
    }
}

/// The explanation stages of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainPlan {
    /// The classifier runs whose first test images are explained (by architecture name).
    pub classifiers: Vec<Architecture>,
    /// How many test images, from index 0.
    pub images: usize,
    /// The methods and their settings.
    pub options: ExplainOptions,
    /// An ONNX classifier exported from PyTorch for the Fashion-MNIST images (1×32×32), also
    /// explained on the same test images.
    pub torch_model: Option<PathBuf>,
    /// ResNet-34 weights: a torchvision `.pth` (converted) or an ONNX file.
    pub resnet: Option<PathBuf>,
    /// Folder of photos ResNet-34 explains (PNG or JPEG).
    pub imagenet_samples: Option<PathBuf>,
    /// Integrated Gradients path points for ResNet-34 (its backward passes cost seconds each).
    pub resnet_steps: usize,
}

/// Everything `netlens run` does: train the classifiers and the VAE, study features, draw
/// interpolations, explain predictions, write the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPlan {
    /// A quick check (fewer epochs, samples, steps and permutations); the report says so.
    pub quick: bool,
    /// Fetch Fashion-MNIST and LFW into their `data` folders first when they are missing.
    pub fetch_missing: bool,
    /// Folder of the run folders (one per classifier, `vae`, the explanations) and
    /// `stages.json`.
    pub out_runs: PathBuf,
    /// Folder of `report.md` and its figures.
    pub report: PathBuf,
    /// Use only the first N faces for the VAE (quick checks); all when absent.
    pub vae_limit: Option<usize>,
    /// The interpolation weights α of z = α z₁ + (1 − α) z₂.
    pub alphas: Vec<f64>,
    /// One training run per classifier, in report order; the run folder is named after the
    /// architecture.
    pub classifiers: Vec<TrainConfig>,
    /// The VAE.
    pub vae: VaeTrainConfig,
    /// The feature study of every classifier.
    pub features: FeatureOptions,
    /// The explanations.
    pub explain: ExplainPlan,
}

impl RunPlan {
    /// The course project in full: LeNet-5 30 epochs, the shallow net and the CNN 15 each, the
    /// VAE 50, features of 20 images per class with 1,000 t-SNE iterations, 8 explained CNN
    /// test images with IG of 64 steps and Shapley values from 200 orders, deletion/insertion
    /// curves; runs in `runs/main`, report in `reports/main`.
    pub fn full(data: &DataRoot) -> RunPlan {
        let fashion = data.fashion.display().to_string();
        let classifiers = Architecture::ALL.iter().map(|&a| TrainConfig::new(a, fashion.clone())).collect();
        let features = FeatureOptions { per_class: 20, ..FeatureOptions::default() };
        let options =
            ExplainOptions { faithfulness: Some(FaithfulnessSettings::default()), ..ExplainOptions::default() };
        RunPlan {
            quick: false,
            fetch_missing: false,
            out_runs: "runs/main".into(),
            report: "reports/main".into(),
            vae_limit: None,
            alphas: DEFAULT_ALPHAS.to_vec(),
            classifiers,
            vae: VaeTrainConfig::new(data.lfw.display().to_string()),
            features,
            explain: ExplainPlan {
                // The two designed networks, so two trained models' explanations can be compared.
                classifiers: vec![Architecture::Shallow, Architecture::Cnn],
                images: 8,
                options,
                torch_model: None,
                resnet: data.resnet.clone(),
                imagenet_samples: data.imagenet_samples.clone(),
                resnet_steps: 32,
            },
        }
    }

    /// A check of the whole pipeline in minutes: LeNet-5 10 epochs, the shallow net and the
    /// CNN 5, the VAE 8; 15 images per class with 500 t-SNE iterations; 4 explained images with
    /// IG of 32 steps and 40 Shapley orders; runs in `runs/quick`, report in `reports/quick`.
    pub fn quick(data: &DataRoot) -> RunPlan {
        let mut plan = RunPlan::full(data);
        plan.quick = true;
        plan.out_runs = "runs/quick".into();
        plan.report = "reports/quick".into();
        for c in &mut plan.classifiers {
            c.epochs = match c.architecture {
                Architecture::Lenet => 10,
                Architecture::Shallow | Architecture::Cnn => 5,
            };
        }
        plan.vae.epochs = 8;
        plan.features.per_class = 15;
        plan.features.iterations = 500;
        plan.explain.images = 4;
        plan.explain.options.steps = 32;
        plan.explain.options.permutations = 40;
        plan
    }

    /// Every classifier, the VAE and the gradient methods of the explain stages on `device`.
    pub fn set_device(&mut self, device: DeviceName) {
        for c in &mut self.classifiers {
            c.device = device;
        }
        self.vae.device = device;
        self.explain.options.device = device;
    }

    /// The devices the plan computes on, each once, in stage order.
    pub fn devices(&self) -> Vec<DeviceName> {
        let mut devices = vec![];
        let all = self.classifiers.iter().map(|c| c.device).chain([self.vae.device, self.explain.options.device]);
        for d in all {
            if !devices.contains(&d) {
                devices.push(d);
            }
        }
        devices
    }

    /// The plan as TOML, with a header saying how to use it.
    ///
    /// # Errors
    /// [`PipelineError::Plan`] if a value cannot be written as TOML.
    pub fn to_toml(&self) -> Result<String, PipelineError> {
        let body = toml::to_string_pretty(self)
            .map_err(|e| PipelineError::Plan { path: None, reason: format!("cannot write the plan as TOML: {e}") })?;
        Ok(format!(
            "# netlens run plan: edit any value and run `netlens run --plan THIS_FILE`.\n\
             # Stages whose settings or input files changed run again; the others are skipped.\n\n{body}"
        ))
    }

    /// Reads a plan written by [`RunPlan::to_toml`] (and perhaps edited).
    ///
    /// # Errors
    /// [`PipelineError::Plan`] naming the file and the key when it cannot be read or a value
    /// is missing, unknown or of the wrong type; the checks of [`RunPlan::check`].
    pub fn load(path: &Path) -> Result<RunPlan, PipelineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PipelineError::Plan { path: Some(path.into()), reason: e.to_string() })?;
        let plan: RunPlan = toml::from_str(&text)
            .map_err(|e| PipelineError::Plan { path: Some(path.into()), reason: e.to_string() })?;
        plan.check().map_err(|e| PipelineError::Plan { path: Some(path.into()), reason: format!("{e:#}") })?;
        Ok(plan)
    }

    /// Checks every setting before any stage runs.
    ///
    /// # Errors
    /// The first setting out of range, named; two classifiers of one architecture (they would
    /// share a run folder); an explained classifier the plan does not train.
    pub fn check(&self) -> Result<(), PipelineError> {
        for (i, c) in self.classifiers.iter().enumerate() {
            c.check()?;
            if self.classifiers[..i].iter().any(|o| o.architecture == c.architecture) {
                return Err(PipelineError::Setting(netlens_fetch::runs::InvalidSetting::new(
                    "classifiers",
                    c.architecture,
                    "appears twice; each architecture trains once (its run folder is named after it)",
                )));
            }
        }
        self.vae.check()?;
        if let Some(missing) =
            self.explain.classifiers.iter().find(|a| !self.classifiers.iter().any(|c| c.architecture == **a))
        {
            return Err(PipelineError::Setting(netlens_fetch::runs::InvalidSetting::new(
                "explain.classifiers",
                missing,
                "is not among the classifiers the plan trains",
            )));
        }
        self.explain.options.check()?;
        if self.explain.resnet_steps < 2 {
            return Err(PipelineError::Setting(netlens_fetch::runs::InvalidSetting::new(
                "explain.resnet_steps",
                self.explain.resnet_steps,
                "needs at least 2 path points",
            )));
        }
        Ok(())
    }

    /// The explanation options for ResNet-34: the plan's, with at most
    /// [`ExplainPlan::resnet_steps`] IG points.
    pub fn resnet_options(&self) -> ExplainOptions {
        let mut options = self.explain.options.clone();
        options.steps = options.steps.min(self.explain.resnet_steps);
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> DataRoot {
        DataRoot::find(
            &Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
                .join("../shared/data"),
        )
        .unwrap()
    }

    #[test]
    fn a_printed_plan_reads_back_as_the_same_plan() {
        for plan in [RunPlan::full(&data()), RunPlan::quick(&data())] {
            let text = plan.to_toml().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("plan.toml");
            std::fs::write(&path, &text).unwrap();
            assert_eq!(RunPlan::load(&path).unwrap(), plan, "{text}");
        }
    }

    #[test]
    fn a_bad_plan_names_the_file_and_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.toml");
        let text = RunPlan::full(&data()).to_toml().unwrap().replacen("epochs = 30", "epochs = 0", 1);
        std::fs::write(&path, text).unwrap();
        let err = format!("{:#}", anyhow::Error::from(RunPlan::load(&path).unwrap_err()));
        assert!(err.contains("plan.toml") && err.contains("epochs = 0"), "{err}");
        let text = RunPlan::full(&data()).to_toml().unwrap().replacen("quick = false", "quick = false\nspeed = 3", 1);
        std::fs::write(&path, text).unwrap();
        let err = format!("{:#}", anyhow::Error::from(RunPlan::load(&path).unwrap_err()));
        assert!(err.contains("plan.toml") && err.contains("speed"), "{err}");
    }

    #[test]
    fn the_quick_plan_is_smaller_and_lands_elsewhere() {
        let (full, quick) = (RunPlan::full(&data()), RunPlan::quick(&data()));
        assert!(quick.quick && !full.quick);
        assert_ne!(full.out_runs, quick.out_runs);
        for (f, q) in full.classifiers.iter().zip(&quick.classifiers) {
            assert!(q.epochs < f.epochs, "{:?}", q.architecture);
        }
        assert!(quick.explain.options.permutations < full.explain.options.permutations);
    }
}
