//! VAE: architecture diagram (from the model card's layer list, written by the trainer from the
//! exported model), how it was implemented (the card's rationale), hyper-parameters, held-out
//! numbers, reconstructions, samples and interpolation strips.

use std::path::{Path, PathBuf};

use netlens_fetch::runs::{
    Interpolations, ModelCard, Reconstruction, RunFolder, VaeHistory, VaeTrainConfig, read_json,
};

use super::diagram::{DiagramBox, write_diagram_svg};
use super::doc::{Doc, base, slug};
use super::inputs::settings_rows;
use crate::error::{AnalyzeError, Result};

/// The "VAE" section.
pub(crate) fn section(doc: &mut Doc, runs: &[&Path]) -> Result<()> {
    doc.heading(2, "3. Variational autoencoder");
    if runs.is_empty() {
        doc.missing(
            "the variational autoencoder",
            "`netlens vae --data DIR --out runs/vae`, then pass the run folder to `netlens report`",
        );
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
    let card = folder.card()?;
    let title = card.title.clone();
    doc.heading(3, &title);
    diagram(doc, &card, &name, &title)?;
    doc.para(&format!("**How it is built and trained:** {}", card.rationale));
    doc.para("Loss per image: $\\mathcal{L}(x) = \\lVert x - \\hat x \\rVert^2 + \\beta\\thinspace\\mathrm{KL}\\big(q(z\\mid x)\\thinspace\\Vert\\thinspace\\mathcal{N}(0, I)\\big)$ with $q(z\\mid x) = \\mathcal{N}(\\mu(x), \\operatorname{diag}\\sigma^2(x))$, $\\mathrm{KL} = -\\tfrac12 \\sum_j (1 + \\log\\sigma_j^2 - \\mu_j^2 - \\sigma_j^2)$, $\\hat x$ the decoding of $z = \\mu + \\sigma \\odot \\varepsilon$, $\\varepsilon \\sim \\mathcal{N}(0, I)$ (Kingma & Welling 2014); $\\beta$ and the reconstruction term are in the table below.");
    let config = folder.vae_config()?;
    config_table(doc, &folder.config(), &config)?;
    let vae_history = folder.vae_history()?;
    history(doc, &folder.history(), &vae_history)?;
    let split: Option<netlens_fetch::runs::HoldoutSplit> = read_json(&folder.split()).ok();
    optimiser_and_beta(doc, &config, &vae_history, split.as_ref());
    for (file, what) in [
        ("loss.svg", "training and held-out loss"),
        ("loss_terms.svg", "reconstruction term and KL term per image (the KL without β)"),
        ("reconstructions.png", "held-out faces, each row of inputs above the row of their reconstructions"),
        ("samples.png", "faces decoded from z ~ N(0, I)"),
    ] {
        let src = run.join(file);
        if src.exists() {
            doc.para(&format!("*{what}:*"));
            doc.copy_figure(&src, &format!("{}-{file}", slug(&name)), what)?;
        }
    }
    blur(doc, &config, &vae_history);
    interpolations(doc, run, &name)?;
    groups_note(doc, &config);
    Ok(())
}

/// Where the interpolation groups come from: `groups.json` beside the faces, its note (who
/// labelled them and how) and each group's size.
fn groups_note(doc: &mut Doc, config: &VaeTrainConfig) {
    let path = Path::new(&config.data).join("groups.json");
    let Ok(groups) = crate::vae::Groups::load(&path) else { return };
    let sizes: Vec<String> =
        groups.names().iter().filter_map(|g| groups.get(g).ok().map(|v| format!("{g} {}", v.len()))).collect();
    let note = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("note").and_then(|n| n.as_str()).map(str::to_string));
    let names = groups.names();
    let shared: usize = names
        .iter()
        .enumerate()
        .flat_map(|(i, a)| names[i + 1..].iter().map(move |b| (a, b)))
        .map(|(a, b)| {
            let (x, y) = (groups.get(a).unwrap_or(&[]), groups.get(b).unwrap_or(&[]));
            x.iter().filter(|i| y.contains(i)).count()
        })
        .sum();
    doc.para(&format!(
        "**The groups** come with the faces, in `groups.json` ({}){}. With so few faces per group, a group's mean \
         latent averages a handful of people{}.",
        sizes.join(", "),
        note.map_or(String::new(), |n| format!(": \"{n}\"")),
        if shared > 0 { format!(", and {shared} faces belong to two of the groups at once") } else { String::new() },
    ));
}

/// The optimiser and why β has its value: with the summed squared error, the loss is the
/// negative log-likelihood of a Gaussian decoder of variance σ² = β/2 per pixel (up to a
/// constant and a factor), which the held-out error per pixel can be set against.
fn optimiser_and_beta(
    doc: &mut Doc,
    c: &VaeTrainConfig,
    h: &VaeHistory,
    split: Option<&netlens_fetch::runs::HoldoutSplit>,
) {
    let faces = split
        .map_or_else(String::new, |s| format!(" on {} training faces ({} held out)", s.train.len(), s.heldout.len()));
    let mut text = format!(
        "**Optimiser and β:** Adam (Kingma & Ba 2015) with a constant learning rate of {}, batches of {}, {} \
         epochs{faces}, seed {}. ",
        c.learning_rate, c.batch_size, c.epochs, c.seed
    );
    let mse = h.epochs.last().map(|e| e.heldout_mse);
    text += &match (c.reconstruction, mse) {
        (Reconstruction::Mse, Some(mse)) => format!(
            "Why β = {b}: with the squared error summed over the pixels, minimising \
             $\\lVert x - \\hat x \\rVert^2 + \\beta\\thinspace\\mathrm{{KL}}$ is minimising $\\beta$ times the \
             negative ELBO of a Gaussian decoder $p(x\\mid z) = \\mathcal{{N}}(\\hat x, \\sigma^2 I)$ with \
             $\\sigma^2 = \\beta / 2$ per pixel value. β = 1 would assume a pixel noise of variance 0.5 — larger than \
             the whole [0, 1] range allows — so the KL term would dominate and the decoder would learn little more \
             than an average face. β = {b} assumes σ² = {s2}, closer to the error the model reaches (held-out mean \
             squared error per pixel {mse:.4}); a smaller β would sharpen reconstructions further at the cost of a \
             latent space further from N(0, I), where samples and interpolations decode worse (Higgins et al. 2017 \
             discuss the same trade-off for β > 1).",
            b = c.beta,
            s2 = c.beta / 2.0,
        ),
        _ => format!(
            "β = {} weighs the KL term against the reconstruction term (binary cross-entropy summed over the pixels); \
             β < 1 favours reconstructions over a latent space close to N(0, I) (Higgins et al. 2017).",
            c.beta
        ),
    };
    doc.para(&text);
}

/// Why the faces are blurred, with the numbers that show it.
fn blur(doc: &mut Doc, c: &VaeTrainConfig, h: &VaeHistory) {
    let Some(last) = h.epochs.last() else { return };
    let side = c.model.image_size;
    doc.finding(format!(
        "**VAE:** it reconstructs held-out faces with a mean squared error of {:.4} per pixel value (root mean square \
         {:.3} of the [0, 1] range) from a {}-dimensional latent; its faces are blurred — the squared error averages \
         what the latent does not pin down, and β·KL limits what the latent carries.",
        last.heldout_mse,
        last.heldout_mse.sqrt(),
        c.model.latent
    ));
    doc.para(&format!(
        "**Why the faces are blurred:** the held-out reconstructions have a root mean square error of {:.3} per pixel \
         value, on a [0, 1] scale. Three causes: (1) for a pixel the latent code does not pin down (hair, background, the \
         exact position of an edge), the squared error is smallest at the *mean* of its possible values, so such detail \
         is averaged into a smooth grey; (2) the KL term ({:.1} nats per image on held-out faces) limits how much \
         information z carries about one face — {} latent dimensions for {}×{}×3 = {} pixel values; (3) the samples \
         decode z drawn from N(0, I), and where the training posteriors do not cover the prior (the KL is not zero), \
         those z fall between training faces and decode to averages of them. Sharper faces need a likelihood that \
         does not average (a perceptual or adversarial loss, as in VAE-GAN), a smaller β, or more faces and a larger \
         latent.",
        last.heldout_mse.sqrt(),
        last.heldout_kl,
        c.model.latent,
        side,
        side,
        3 * side * side,
    ));
}

fn diagram(doc: &mut Doc, card: &ModelCard, name: &str, title: &str) -> Result<()> {
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
    let layers = boxes.iter().filter(|b| b.op != "image").count();
    doc.para(&format!(
        "Architecture diagram ({layers} layers after the input; each box: layer, operation, output size)."
    ));
    doc.link_figure(&fig, &format!("{title} architecture"));
    Ok(())
}

fn config_table(doc: &mut Doc, path: &Path, config: &VaeTrainConfig) -> Result<()> {
    doc.para("**Hyper-parameters:**");
    let rows = super::inputs::readable_rows(
        settings_rows(config, path)?,
        &[
            ("model.latent", "latent dimensions"),
            ("model.image_size", "image side (pixels)"),
            ("model.upsample", "decoder upsampling"),
            ("reconstruction", "reconstruction term"),
            ("beta", "β (weight of the KL term)"),
            ("epochs", "epochs"),
            ("batch_size", "batch size"),
            ("learning_rate", "learning rate (Adam)"),
            ("heldout_fraction", "held-out share of the faces"),
            ("seed", "seed"),
        ],
    );
    doc.table(&["setting", "value"], &rows);
    Ok(())
}

fn history(doc: &mut Doc, path: &Path, h: &VaeHistory) -> Result<()> {
    let last = h
        .epochs
        .last()
        .ok_or_else(|| AnalyzeError::Parse { path: path.to_path_buf(), reason: "no epoch recorded".into() })?;
    let seconds = h.seconds();
    doc.para(&format!(
        "**Training:** after {} epochs the held-out reconstruction term is {:.2} and the KL term {:.2} per image (train: {:.2} and {:.2}); the held-out mean squared error per pixel is **{:.4}**. Training took {seconds:.1} s.",
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
        doc.missing(
            "latent interpolations",
            "`netlens interpolate --encoder E --decoder D --data DIR --a SPEC --b SPEC` writes the strips",
        );
        return Ok(());
    }
    doc.para("Each strip decodes $z = \\alpha z_1 + (1-\\alpha) z_2$, where $z_1$ and $z_2$ are the encoder outputs $\\mu$ of the two ends: for a group, the mean $\\mu$ of its faces (which decodes to a near-average face); for `GROUP-medoid`, the $\\mu$ of the one member nearest that mean (a real face, shown as the input). Left to right: input faces of the second end, decoded $z_2$ (α = 0), one face per α in ascending order, decoded $z_1$ (α = 1), input faces of the first end.");
    let mut spans: Vec<(String, f64)> = vec![];
    for strip in &strips {
        let stem = base(strip).trim_end_matches(".png").to_string();
        let alphas = alphas_of(strip, &stem)?;
        let steps = step_differences(&strip.with_extension("npy"));
        let span = steps.as_ref().map(|s| s.0);
        let span_text = steps.map_or_else(String::new, |(d, steps)| {
            let (lo, hi) = steps.iter().fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
            format!(
                " The decoded ends differ by {d:.3} per pixel value (root mean square); neighbouring decoded faces by \
                 {lo:.3} to {hi:.3}."
            )
        });
        doc.para(&format!("`{stem}`: {alphas}{span_text}"));
        doc.copy_figure(strip, &format!("{}-{}.png", slug(name), slug(&stem)), &stem)?;
        if let Some(d) = span {
            spans.push((stem, d));
        }
    }
    // Mean end-to-end difference of the medoid strips and of the group-mean strips.
    let mean_of = |medoid: bool| {
        let v: Vec<f64> = spans.iter().filter(|(s, _)| s.contains("medoid") == medoid).map(|x| x.1).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    if let (Some(medoid), Some(group)) = (mean_of(true), mean_of(false)) {
        doc.para(&format!(
            "**Observation** (root mean square difference between the two decoded ends of each strip, from the strips' \
             `.npy`): the group-mean strips change little from end to end ({:.3} on average) and the medoid strips, \
             between two real faces, much more ({:.3}). The mean μ of a group averages away what its members do not \
             share, and two such averages (women and men, older and younger people) decode to similar smooth faces: \
             the group-mean strips show only the direction in which the groups differ on average, the medoid strips \
             the path between two real faces. Along every \
             strip the change is spread over the steps (the differences between neighbouring faces under each strip \
             stay within a small range): the decoder is smooth along these paths, with no sudden jump between \
             neighbouring α.",
            group, medoid,
        ));
    }
    Ok(())
}

/// Root-mean-square differences of a strip's `.npy` (`[2 + alphas, 3, H, W]` decoded faces,
/// α ascending): between its first and last face, and between each pair of neighbours; `None`
/// when it cannot be read.
fn step_differences(npy: &Path) -> Option<(f64, Vec<f64>)> {
    let faces = netlens_fetch::npy::read_f32(npy, "(2 + alphas, 3, H, W)").ok()?;
    let n = *faces.shape.first()?;
    let len = faces.data.len() / n.max(1);
    if n < 2 || len == 0 {
        return None;
    }
    let face = |i: usize| &faces.data[i * len..(i + 1) * len];
    let rms = |a: &[f32], b: &[f32]| {
        (a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>() / len as f64).sqrt()
    };
    Some((rms(face(0), face(n - 1)), (1..n).map(|i| rms(face(i - 1), face(i))).collect()))
}

/// "α = 0.2, 0.4 … (from FILE)" from `interpolation.json` next to the strip, or the number of
/// intermediate faces from the strip's `.npy` header.
fn alphas_of(strip: &Path, stem: &str) -> Result<String> {
    let json = strip.with_file_name(netlens_fetch::runs::INTERPOLATIONS);
    if json.exists() {
        let record: Interpolations = read_json(&json)?;
        if let Some(i) = record.0.get(stem) {
            let list: Vec<String> = i.alphas.iter().map(|a| a.to_string()).collect();
            return Ok(format!("α = {}.", list.join(", ")));
        }
    }
    let npy = strip.with_extension("npy");
    let rows = netlens_fetch::npy::read_f32(&npy, "(2 + alphas, 3, H, W)")?.shape[0];
    Ok(format!("{} intermediate faces.", rows.saturating_sub(2)))
}
