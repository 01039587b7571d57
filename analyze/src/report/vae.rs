//! VAE: architecture diagram (from the model card's layer list, written by the trainer from the
//! exported model), how it was implemented (the card's rationale), hyper-parameters, held-out
//! numbers, reconstructions, samples and interpolation strips.

use std::path::{Path, PathBuf};

use netlens_fetch::runs::{Interpolations, ModelCard, RunFolder, VaeHistory, VaeTrainConfig, read_json};

use super::diagram::{DiagramBox, write_diagram_svg};
use super::doc::{Doc, base, slug};
use super::inputs::settings_rows;
use crate::error::{AnalyzeError, Result};

/// The "VAE" section.
pub(crate) fn section(doc: &mut Doc, runs: &[&Path]) -> Result<()> {
    doc.heading(2, "3. Variational autoencoder");
    if runs.is_empty() {
        doc.para("**Missing:** no VAE run (`netlens vae`) was given.");
        return Ok(());
    }
    for run in runs {
        one_run(doc, run)?;
    }
    Ok(())
}

fn one_run(doc: &mut Doc, run: &Path) -> Result<()> {
    let name = base(run);
    let folder = RunFolder::new(run);
    let card_path = folder.model_card();
    let card = folder.card()?;
    let title = card.title.clone();
    doc.heading(3, &format!("{title} (`{}`)", run.display()));
    diagram(doc, &card, &card_path, &name, &title)?;
    doc.para(&format!("**How it is built and trained** (from `{}`): {}", card_path.display(), card.rationale));
    doc.para("Loss per image: $\\mathcal{L}(x) = \\lVert x - \\hat x \\rVert^2 + \\beta\\thinspace\\mathrm{KL}\\big(q(z\\mid x)\\thinspace\\Vert\\thinspace\\mathcal{N}(0, I)\\big)$ with $q(z\\mid x) = \\mathcal{N}(\\mu(x), \\operatorname{diag}\\sigma^2(x))$, $\\mathrm{KL} = -\\tfrac12 \\sum_j (1 + \\log\\sigma_j^2 - \\mu_j^2 - \\sigma_j^2)$, $\\hat x$ the decoding of $z = \\mu + \\sigma \\odot \\varepsilon$, $\\varepsilon \\sim \\mathcal{N}(0, I)$ (Kingma & Welling 2014); $\\beta$ and the reconstruction term are in the table below.");
    config_table(doc, &folder.config(), &folder.vae_config()?)?;
    history(doc, &folder.history(), &folder.vae_history()?)?;
    for (file, what) in [
        ("loss.svg", "training and held-out loss"),
        ("loss_terms.svg", "reconstruction and KL terms"),
        ("reconstructions.png", "held-out faces (top) and their reconstructions"),
        ("samples.png", "faces decoded from z ~ N(0, I)"),
    ] {
        let src = run.join(file);
        if src.exists() {
            doc.para(&format!("*{what}* (`{file}`):"));
            doc.copy_figure(&src, &format!("{}-{file}", slug(&name)), what)?;
        }
    }
    interpolations(doc, run, &name)
}

fn diagram(doc: &mut Doc, card: &ModelCard, path: &Path, name: &str, title: &str) -> Result<()> {
    let boxes: Vec<DiagramBox> = card
        .layers
        .iter()
        .map(|l| DiagramBox {
            name: l.name.clone(),
            op: l.op.clone(),
            size: l.output.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×"),
            beside_previous: l.beside_previous,
        })
        .collect();
    let fig = doc.reserve_figure(&format!("{}-architecture.svg", slug(name)));
    write_diagram_svg(
        &format!("{title}: encoder and decoder layers with output sizes"),
        &boxes,
        &doc.figure_path(&fig),
    )?;
    doc.para(&format!(
        "Architecture diagram from the layer list in `{}` ({} layers; each box: layer, operation, output size).",
        path.display(),
        boxes.len()
    ));
    doc.link_figure(&fig, &format!("{title} architecture"));
    Ok(())
}

fn config_table(doc: &mut Doc, path: &Path, config: &VaeTrainConfig) -> Result<()> {
    doc.para(&format!("**Hyper-parameters** (from `{}`):", path.display()));
    doc.table(&["setting", "value"], &settings_rows(config, path)?);
    Ok(())
}

fn history(doc: &mut Doc, path: &Path, h: &VaeHistory) -> Result<()> {
    let last = h
        .epochs
        .last()
        .ok_or_else(|| AnalyzeError::Parse { path: path.to_path_buf(), reason: "no epoch recorded".into() })?;
    let seconds = h.seconds();
    doc.para(&format!(
        "**Training** (from `{}`): after {} epochs the held-out reconstruction term is {:.2} and the KL term {:.2} per image (train: {:.2} and {:.2}); the held-out mean squared error per pixel is **{:.4}**. Training took {seconds:.1} s.",
        path.display(),
        last.epoch,
        last.heldout_reconstruction,
        last.heldout_kl,
        last.train_reconstruction,
        last.train_kl,
        last.heldout_mse,
    ));
    Ok(())
}

/// Every `interpolation_*.png` in the run folder or its `interp/`, with `interpolation.json`
/// (ends and α values, written by `netlens run`) when present.
fn interpolations(doc: &mut Doc, run: &Path, name: &str) -> Result<()> {
    let mut strips: Vec<PathBuf> = vec![];
    for dir in [run.to_path_buf(), run.join(netlens_fetch::runs::INTERP_DIR)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        strips.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| {
            let f = base(p);
            f.starts_with("interpolation_") && f.ends_with(".png")
        }));
    }
    strips.sort();
    doc.heading(4, "Interpolations");
    if strips.is_empty() {
        doc.para("**Missing:** no interpolation strip (`netlens interpolate`).");
        return Ok(());
    }
    doc.para("Each strip decodes $z = \\alpha z_1 + (1-\\alpha) z_2$, where $z_1$ and $z_2$ are the encoder outputs $\\mu$ of the two ends: for a group, the mean $\\mu$ of its faces (which decodes to a near-average face); for `GROUP-medoid`, the $\\mu$ of the one member nearest that mean (a real face, shown as the input). Left to right: input faces of the second end, decoded $z_2$, one face per α in ascending order, decoded $z_1$, input faces of the first end.");
    for strip in &strips {
        let stem = base(strip).trim_end_matches(".png").to_string();
        let alphas = alphas_of(strip, &stem)?;
        doc.para(&format!("`{stem}`: {alphas}"));
        doc.copy_figure(strip, &format!("{}-{}.png", slug(name), slug(&stem)), &stem)?;
    }
    Ok(())
}

/// "α = 0.2, 0.4 … (from FILE)" from `interpolation.json` next to the strip, or the number of
/// intermediate faces from the strip's `.npy` header.
fn alphas_of(strip: &Path, stem: &str) -> Result<String> {
    let json = strip.with_file_name(netlens_fetch::runs::INTERPOLATIONS);
    if json.exists() {
        let record: Interpolations = read_json(&json)?;
        if let Some(i) = record.0.get(stem) {
            let list: Vec<String> = i.alphas.iter().map(|a| a.to_string()).collect();
            return Ok(format!("α = {} (from `{}`).", list.join(", "), json.display()));
        }
    }
    let npy = strip.with_extension("npy");
    let rows = netlens_fetch::npy::read_f32(&npy, "(2 + alphas, 3, H, W)")?.shape[0];
    Ok(format!("{} intermediate faces (from the shape of `{}`).", rows.saturating_sub(2), npy.display()))
}
