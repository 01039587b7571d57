//! The Markdown report: one `report.md` with its figures in `figures/`, built only from the
//! saved outputs of runs (config/history/model-card JSON, ONNX graphs, feature and explanation
//! summaries, figures). Every number and every observation comes from those files; the only
//! fixed text is headings, method definitions and the sources they cite.
//!
//! Course requirements it covers: `../shared/docs/DESIGN.md`, "The course's rules that the
//! product must honour".

mod classifier;
mod diagram;
mod doc;
mod explain;
mod features;
mod inputs;
mod repro;
mod vae;

use std::path::{Path, PathBuf};

pub use diagram::{DiagramBox, write_diagram_svg};
pub use netlens_fetch::runs::RunKind;
use netlens_fetch::runs::{EXPLANATIONS, RunFolder};

use crate::error::Result;
use doc::Doc;

/// Facts about how the report was made that the run folders do not hold.
#[derive(Clone, Debug, Default)]
pub struct ReportMeta {
    /// The command line that produced the runs and the report.
    pub command: String,
    /// The git commit of the source tree, when known.
    pub commit: Option<String>,
    /// Wall-clock seconds per stage of `netlens run` (`None` = skipped, outputs already there).
    pub stages: Vec<(String, Option<f64>)>,
    /// Made by `netlens run --quick`: fewer epochs, samples, steps and permutations.
    pub quick: bool,
}

/// What [`write_report`] wrote.
#[derive(Clone, Debug)]
pub struct ReportOutput {
    /// `OUT/report.md`.
    pub markdown: PathBuf,
    /// Every figure copied or drawn into `OUT/figures/`.
    pub figures: Vec<PathBuf>,
}

/// The task, the data the classifiers were trained on (and so which of the course's two options
/// this is: 1.2.1 with the full 60,000 / 10,000 Fashion-MNIST images, 1.2.2 with the simplified
/// 1,000 / 1,000), and what the sections hold.
fn introduction(doc: &mut Doc, classifiers: &[&Path]) {
    doc.heading(2, "Introduction");
    let data = classifiers.first().and_then(|c| RunFolder::new(c).train_config().ok()).map(|c| c.data);
    let sizes = data.as_ref().and_then(|d| {
        let split = |s| netlens_fetch::load_split(Path::new(d), s).ok().map(|ds| ds.len());
        Some((d, split(netlens_fetch::Split::Train)?, split(netlens_fetch::Split::Test)?))
    });
    let data_text = match sizes {
        Some((d, train, test)) => {
            let option = match (train, test) {
                (60_000, 10_000) => "the course's option 1.2.1 (full Fashion-MNIST)",
                (1_000, 1_000) => "the course's option 1.2.2 (simplified Fashion-MNIST, for CPU training)",
                _ => "a data set of the course's layout",
            };
            format!(
                "The classifiers were trained on `{d}`: {} training and {} test images of 32×32 grey pixels in 10 \
                 classes, {option}.",
                thousands(train),
                thousands(test)
            )
        }
        None => "The classifiers' training data could not be read from here, so its size is not given.".into(),
    };
    doc.para(&format!(
        "The task: design and train image classifiers for Fashion-MNIST — LeNet-5, a shallow network of 3–7 \
         layers and a network of our own of 12–35 layers — look inside them by embedding intermediate feature \
         maps with PCA and t-SNE, explain single predictions with Grad-CAM, HiResCAM, Integrated Gradients and Shapley \
         values, and train a variational autoencoder on faces. {data_text} The networks, their training, the VAE and the \
         four explanation methods are this project's own code (netlens, in Rust), written from the papers cited \
         in each section; libraries provide tensors, automatic differentiation and the Adam optimiser (burn), the \
         eigendecomposition behind PCA (linfa-linalg), the t-SNE optimiser (bhtsne) and ONNX forward passes (tract) — numerical tools, as NumPy's eigensolver or scikit-learn's t-SNE are to a Python project; the networks, the analyses built on them and the explanation methods are ours. Section 1 describes and compares the \
         classifiers, section 2 their features, section 3 the VAE, section 4 the explanations, section 5 \
         sums up the findings and section 6 says how to reproduce every number."
    ));
}

/// Section 5: the findings each section recorded, one paragraph each, then what they add up to.
fn conclusion(doc: &mut Doc) {
    doc.heading(2, "5. Conclusion");
    let findings = doc.findings().to_vec();
    if findings.is_empty() {
        doc.para("This run holds no results to conclude from.");
        return;
    }
    for f in &findings {
        doc.para(f);
    }
    doc.para(
        "Every network here was trained once, with one seed: the noise levels above are those of sampling the \
         test images, not of training, which a second seed could add to.",
    );
}

/// `1000` → `1,000`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writes `out/report.md` and `out/figures/` from the run folders `runs` (classifier runs of
/// `netlens train` with optional `features/` and `explain/` subfolders, VAE runs of
/// `netlens vae` with interpolation strips, and folders of `netlens explain`).
///
/// Sections appear in the order: introduction, architectures and training, features, VAE, explanations,
/// reproducibility; a requirement of the course without data is named as missing.
pub fn write_report(runs: &[PathBuf], out: &Path, meta: &ReportMeta) -> Result<ReportOutput> {
    let kinds = runs.iter().map(|r| Ok((r.clone(), RunFolder::new(r).kind()?))).collect::<Result<Vec<_>>>()?;
    let of = |want: RunKind| kinds.iter().filter(move |(_, k)| *k == want).map(|(p, _)| p.as_path());
    let mut doc = Doc::new(out)?;
    doc.para("# Inside image neural networks: classifiers, their features, a VAE and explanations");
    doc.para("Every number below is read from the saved outputs of the runs listed in section 6.");
    if meta.quick {
        doc.para("**Note:** made by `netlens run --quick`: fewer epochs, samples, IG steps and Shapley permutations than the full run, to check the pipeline in minutes. Rerun without `--quick` for the numbers to hand in.");
    }
    let classifiers: Vec<&Path> = of(RunKind::Classifier).collect();
    introduction(&mut doc, &classifiers);
    classifier::sections(&mut doc, &classifiers)?;
    features::section(&mut doc, &classifiers)?;
    vae::section(&mut doc, &of(RunKind::Vae).collect::<Vec<_>>())?;
    let mut explained: Vec<PathBuf> =
        classifiers.iter().map(|c| RunFolder::new(c).explain_dir()).filter(|p| p.join(EXPLANATIONS).exists()).collect();
    explained.extend(of(RunKind::Explanations).map(Path::to_path_buf));
    explain::section(&mut doc, &explained)?;
    conclusion(&mut doc);
    repro::section(&mut doc, &kinds, meta)?;
    doc.finish()
}
