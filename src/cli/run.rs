//! `netlens run`: the whole course project in one command, as a [`RunPlan`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use netlens::pipeline::{DataRoot, RunPlan};
use netlens_fetch::runs::DeviceName;

use super::progress::Terminal;

/// Train, analyse, explain and report: the course project in one command.
///
/// Trains LeNet-5, the shallow net and the CNN on Fashion-MNIST and the VAE on LFW faces (into
/// OUT_RUNS/lenet, shallow, cnn, vae), embeds each classifier's features (OUT_RUNS/NAME/features),
/// draws VAE interpolations (OUT_RUNS/vae/interp), explains test images with our CNN
/// (OUT_RUNS/cnn/explain), with --torch-model (OUT_RUNS/explain-STEM) and with ResNet-34 when
/// its weights are there (OUT_RUNS/resnet34-explain, on DATA_ROOT/imagenet-samples), then writes
/// the report. Each stage is skipped when its settings, input files and outputs are as it left
/// them; rerun the command to continue an interrupted run.
///
/// Every setting is in a plan: `--print-plan` writes it as TOML, `--plan FILE` runs an edited
/// one (the flags below override its values).
///
/// Example: `netlens run --data-root ../shared/data --quick`
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Folder with fashion-mnist-small (or fashion-mnist), lfw-small (or lfw) and
    /// imagenet-samples [default: fetched data in `data/`, fetched when missing].
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Fewer epochs, samples, steps and permutations (minutes instead of half an hour).
    #[arg(long, conflicts_with = "plan")]
    pub quick: bool,
    /// Run the plan in FILE (TOML, as `--print-plan` writes it) instead of the default one.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Print the plan as TOML to stdout and stop.
    #[arg(long)]
    pub print_plan: bool,
    /// Folder of the run folders [default: runs/main, or runs/quick with --quick, so that a
    /// quick run never resumes into a full one].
    #[arg(long, value_name = "DIR")]
    pub out_runs: Option<PathBuf>,
    /// Report folder [default: reports/main, or reports/quick with --quick].
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// ResNet-34 weights: torchvision `.pth` (converted) or an ONNX file [default: the fetched
    /// `resnet34/resnet34.onnx` under the data root when present].
    #[arg(long, value_name = "FILE")]
    pub resnet: Option<PathBuf>,
    /// An ONNX classifier exported from PyTorch taking the Fashion-MNIST images (1×32×32).
    #[arg(long, value_name = "FILE")]
    pub torch_model: Option<PathBuf>,
    /// burn device for training the classifiers and the VAE and for the gradient methods
    /// (Grad-CAM, HiResCAM, IG): flex, or cpu, wgpu, cuda (built with the cargo feature of the
    /// same name) [default: flex, or the plan's]. Features, t-SNE, Shapley values and the
    /// report run on the CPU whatever the device.
    #[arg(long, value_enum)]
    pub device: Option<DeviceName>,
}

impl RunArgs {
    /// The plan these arguments ask for.
    fn plan(&self) -> anyhow::Result<RunPlan> {
        let mut plan = match &self.plan {
            Some(file) => RunPlan::load(file)?,
            None => {
                let data = match &self.data_root {
                    Some(root) => DataRoot::find(root)?,
                    None => DataRoot::fetched(&PathBuf::from("data")),
                };
                let mut plan = if self.quick { RunPlan::quick(&data) } else { RunPlan::full(&data) };
                plan.fetch_missing = self.data_root.is_none();
                plan
            }
        };
        if let (Some(_), Some(root)) = (&self.plan, &self.data_root) {
            let data = DataRoot::find(root)?;
            for c in &mut plan.classifiers {
                c.data = data.fashion.display().to_string();
            }
            plan.vae.data = data.lfw.display().to_string();
            plan.explain.imagenet_samples = data.imagenet_samples.clone();
            plan.explain.resnet = plan.explain.resnet.or(data.resnet);
        }
        if let Some(dir) = &self.out_runs {
            plan.out_runs = dir.clone();
        }
        if let Some(dir) = &self.report {
            plan.report = dir.clone();
        }
        if let Some(file) = &self.resnet {
            plan.explain.resnet = Some(file.clone());
        }
        if let Some(file) = &self.torch_model {
            plan.explain.torch_model = Some(file.clone());
        }
        if let Some(device) = self.device {
            plan.set_device(device);
        }
        plan.check()?;
        Ok(plan)
    }
}

/// Runs `netlens run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let plan = args.plan()?;
    if args.print_plan {
        print!("{}", plan.to_toml()?);
        return Ok(());
    }
    for device in plan.devices() {
        super::announce_device(device)?;
    }
    let mut terminal = Terminal::default();
    let written = netlens::pipeline::run(&plan, &mut terminal, &super::invocation())
        .with_context(|| format!("netlens run into {}", plan.out_runs.display()))?;
    println!(
        "netlens run: {:.0} s; wrote {} ({} figures)",
        written.seconds,
        written.report.markdown.display(),
        written.report.figures.len()
    );
    Ok(())
}
