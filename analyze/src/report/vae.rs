//! VAE: architecture diagram (from the model card's layer list, written by the trainer from the
//! exported model), how it was implemented (the card's rationale), hyper-parameters, held-out
//! numbers, reconstructions, samples and interpolation strips.

use std::path::{Path, PathBuf};

use netlens_fetch::runs::{
    FACE_INTERPOLATIONS, FaceEdit, FaceInterpolations, Interpolations, ModelCard, Reconstruction, RunFolder,
    VaeHistory, VaeTrainConfig, read_json,
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
            doc.copy_figure(&src, &format!("{}-{file}", slug(&name)), what)?;
        }
    }
    blur(doc, &config, &vae_history);
    baselines(doc, &folder, config.model.latent);
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

/// The VAE's held-out error beside the mean face's and a PCA's of the same size, from
/// `baselines.json` (absent in runs of older versions: then nothing is said).
fn baselines(doc: &mut Doc, folder: &RunFolder, latent: usize) {
    let Ok(b) = read_json::<netlens_fetch::runs::ReconstructionBaselines>(&folder.reconstruction_baselines()) else {
        return;
    };
    let share = 100.0 * b.vae_mse / b.mean_face_mse.max(f64::MIN_POSITIVE);
    let verdict = if b.vae_mse < b.pca_mse {
        "The VAE reconstructs better than the linear model of its size."
    } else {
        "PCA with as many components reconstructs the held-out faces better than the VAE: PCA spends all of its code \
         on reconstruction, while the VAE's KL term keeps its latent close to N(0, I) and so limits what z carries \
         about one face. What the VAE gains is a latent space to sample from and to walk in (the samples and \
         interpolations below), which PCA's coefficients are not."
    };
    doc.para(&format!(
        "**Against simple models** (the same held-out faces, mean squared error per pixel value): the mean training \
         face {:.4}; PCA with {} components{} fit on the training faces {:.4}; the VAE {:.4}, \
         {share:.0}% of the mean face's error. {verdict}",
        b.mean_face_mse,
        b.pca_components,
        if b.pca_components == latent { " (the VAE's latent size)" } else { " (as many as the training faces allow)" },
        b.pca_mse,
        b.vae_mse
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
    let faces = split.map_or_else(String::new, |s| {
        format!(
            " on {} training faces of `{}` ({} held out, drawn at random with the run's seed before training and \
                 never trained on)",
            s.train.len(),
            c.data,
            s.heldout.len()
        )
    });
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
    let layers = boxes.iter().filter(|b| b.name != "input").count();
    doc.para(&format!(
        "Architecture diagram ({layers} boxes after the input: the layers, the flatten and reshape steps and the sampling of z; each box: layer, operation, output size)."
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

/// The interpolation figures: the attribute edits and face pairs of `interp/faces.json`
/// (written by `netlens run` and `netlens interpolate --run-figures`), then every
/// `interpolation_*.png` strip in the run folder or its `interp/`, with `interpolation.json`
/// (ends and α values) when present.
fn interpolations(doc: &mut Doc, run: &Path, name: &str) -> Result<()> {
    let interp = run.join(netlens_fetch::runs::INTERP_DIR);
    let faces_file = interp.join(FACE_INTERPOLATIONS);
    let faces: Option<FaceInterpolations> = faces_file.exists().then(|| read_json(&faces_file)).transpose()?;
    let mut strips: Vec<PathBuf> = vec![];
    for dir in [run.to_path_buf(), interp.clone()] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        strips.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| {
            let f = base(p);
            f.starts_with("interpolation_") && f.ends_with(".png")
        }));
    }
    strips.sort();
    doc.heading(4, "Interpolations");
    if strips.is_empty() && faces.as_ref().is_none_or(|f| f.attributes.is_empty() && f.pairs.is_none()) {
        doc.missing(
            "latent interpolations",
            "`netlens interpolate --encoder E --decoder D --data DIR --run-figures --out RUN/interp` draws the \
             attribute edits and face pairs; `--a SPEC --b SPEC` a strip",
        );
        return Ok(());
    }
    if let Some(faces) = &faces {
        face_figures(doc, &interp, name, faces)?;
    }
    if !strips.is_empty() {
        strip_figures(doc, name, &strips)?;
    }
    Ok(())
}

/// The indices `v`, joined by ", ".
fn list(v: &[usize]) -> String {
    v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// Mean, smallest and largest of `v` (`None` when empty).
fn spread(v: impl IntoIterator<Item = f64>) -> Option<(f64, f64, f64)> {
    let v: Vec<f64> = v.into_iter().collect();
    if v.is_empty() {
        return None;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    Some((mean, lo, hi))
}

/// "about as much as" when `a` and `b` differ by less than a quarter, else "k× as much as".
fn compared(a: f64, b: f64) -> String {
    let ratio = a / b;
    if (0.8..=1.25).contains(&ratio) { "about as much as".into() } else { format!("{ratio:.1}× as much as") }
}

/// The attribute-edit figures with the table of what the encoder reads in them, then the
/// face-pairs figure; every number from `faces.json`.
fn face_figures(doc: &mut Doc, interp: &Path, name: &str, record: &FaceInterpolations) -> Result<()> {
    let faces = record.faces();
    let distinct: std::collections::BTreeSet<usize> = faces.iter().map(|f| f.index).collect();
    let heldout = faces.iter().filter(|f| f.heldout == Some(true)).count();
    let known = faces.iter().any(|f| f.heldout.is_some());
    let alphas: Vec<String> = record.alphas.iter().map(|a| a.to_string()).collect();
    let mut intro = format!(
        "The course's interpolation $z = \\alpha z_1 + (1-\\alpha) z_2$ is drawn at α = {}, with α = 0 and α = 1 (the \
         two ends, decoded) on either side; every latent is the encoder's mean $\\mu$. The figures show {} individual \
         faces of `X_train.npy`",
        alphas.join(", "),
        faces.len()
    );
    if distinct.len() == faces.len() {
        intro += ", each once";
    }
    if known {
        intro += &format!(
            "; {heldout} of them {} held out of training (marked in the figures)",
            if heldout == 1 { "was" } else { "were" }
        );
    }
    doc.para(&format!("{intro}."));
    if !record.attributes.is_empty() {
        doc.para(
            "**Attribute edits** (White 2016, \"Sampling Generative Networks\", arXiv:1609.04468; Larsen et al. 2016) \
             give a face $x$ of group B a property of group A: decode $z = \\mu(x) + \\alpha d$ with \
             $d = \\bar\\mu_A - \\bar\\mu_B$, the difference between the two groups' mean latents, both computed without \
             $x$. This is the course's formula with $z_1 = \\mu(x) + d$ and $z_2 = \\mu(x)$: α = 0 is the face's own \
             reconstruction, α = 1 adds the whole difference between the groups. In each figure the top row \
             interpolates between the two group means themselves ($z_1 = \\bar\\mu_A$, $z_2 = \\bar\\mu_B$, every \
             member counted; there is no input face); each row below edits one face, labelled with its index and \
             group.",
        );
    }
    for figure in &record.attributes {
        let m = &figure.means;
        let moved: Vec<String> = figure
            .directions
            .iter()
            .map(|d| {
                let idx: Vec<usize> = d.faces.iter().map(|f| f.face.index).collect();
                format!(
                    "{} {} of {} moved toward {}",
                    if idx.len() == 1 { "face" } else { "faces" },
                    list(&idx),
                    d.away,
                    d.toward
                )
            })
            .collect();
        doc.para(&format!(
            "*{} ↔ {}* ({} and {} faces): the top row runs from the mean of {} to the mean of {}; below it, {}.",
            m.toward,
            m.away,
            m.sizes[0],
            m.sizes[1],
            m.away,
            m.toward,
            moved.join("; ")
        ));
        let stem = figure.figure.trim_end_matches(".png");
        let caption = format!(
            "Attribute edits {} ↔ {}: the path between the group means (top row), then single faces moved by the \
             attribute vector, α = 0 to 1",
            m.toward, m.away
        );
        doc.copy_figure(&interp.join(&figure.figure), &format!("{}-{}.png", slug(name), slug(stem)), &caption)?;
    }
    edit_table(doc, record);
    if let Some(pairs) = &record.pairs {
        let rows: Vec<String> = pairs
            .pairs
            .iter()
            .map(|p| {
                let who = |f: &netlens_fetch::runs::FaceRef| match &f.group {
                    Some(g) => format!("{g} {}", f.index),
                    None => format!("face {}", f.index),
                };
                format!("{} → {}", who(&p.b), who(&p.a))
            })
            .collect();
        doc.para(&format!(
            "**Pairs of real faces:** each row decodes $z = \\alpha\\thinspace\\mu(x_A) + (1-\\alpha)\\thinspace\\mu(x_B)$ \
             between two individual faces, B on the left and A on the right ({}); left to right: input B, decoded \
             $\\mu(x_B)$ (α = 0), one face per α, decoded $\\mu(x_A)$ (α = 1), input A.",
            rows.join(", ")
        ));
        let stem = pairs.figure.trim_end_matches(".png");
        doc.copy_figure(
            &interp.join(&pairs.figure),
            &format!("{}-{}.png", slug(name), slug(stem)),
            "Linear interpolation between pairs of real faces, α = 0 to 1",
        )?;
        pair_observation(doc, record);
    }
    Ok(())
}

/// The table of where the encoder puts each decoded edit along d, per direction and α, and what
/// it shows.
fn edit_table(doc: &mut Doc, record: &FaceInterpolations) {
    let edits: Vec<&FaceEdit> =
        record.attributes.iter().flat_map(|a| a.directions.iter().flat_map(|d| d.faces.iter())).collect();
    if edits.is_empty() {
        return;
    }
    let weights: Vec<String> =
        std::iter::once(0.0).chain(record.alphas.iter().copied()).chain([1.0]).map(|w| format!("α = {w}")).collect();
    let mut header: Vec<&str> = vec!["edit", "faces", "input μ(x)"];
    header.extend(weights.iter().map(String::as_str));
    header.extend(["shift α = 0 → 1", "RMS change α = 0 → 1"]);
    let mut rows = vec![];
    let cell = |v: f64| format!("{v:.2}");
    for figure in &record.attributes {
        let m = &figure.means;
        let mut row = vec![
            format!("{} → {}, group means", m.away, m.toward),
            format!("means of {} and {}", m.sizes[1], m.sizes[0]),
            "—".into(),
        ];
        row.extend(m.fractions.iter().map(|&f| cell(f)));
        let shift = m.fractions.last().zip(m.fractions.first()).map_or(f64::NAN, |(l, f)| l - f);
        row.extend([cell(shift), format!("{:.3}", m.rms_change)]);
        rows.push(row);
        for d in &figure.directions {
            let n = d.faces.len() as f64;
            let mean_at = |k: usize| d.faces.iter().filter_map(|f| f.fractions.get(k)).sum::<f64>() / n;
            let columns = d.faces.first().map_or(0, |f| f.fractions.len());
            let idx: Vec<usize> = d.faces.iter().map(|f| f.face.index).collect();
            let mut row = vec![
                format!("{} → {}", d.away, d.toward),
                list(&idx),
                cell(d.faces.iter().map(|f| f.input_fraction).sum::<f64>() / n),
            ];
            row.extend((0..columns).map(|k| cell(mean_at(k))));
            row.push(cell(mean_at(columns.saturating_sub(1)) - mean_at(0)));
            row.push(format!("{:.3}", d.faces.iter().map(|f| f.rms_change).sum::<f64>() / n));
            rows.push(row);
        }
    }
    doc.para(
        "**Does a decoded edit carry the attribute?** Each decoded face is encoded again and its $\\mu$ projected on \
         $d$; the table gives that position as a fraction of the way from the mean latent of B, the group the faces \
         come from (0), to that of A, the group they move toward (1): $(\\mu - \\bar\\mu_B) \\cdot d / \\lVert d \\rVert^2$, \
         averaged over the faces of each row (for the edits, with each face's own leave-one-out means). The latent itself moves by exactly α along this scale, so an edit \
         that survived decoding in full would shift by 1 from α = 0 to α = 1. \"input μ(x)\" is the face's own \
         position, the last column the root mean square change per pixel value (pixels in [0, 1]) from the α = 0 \
         reconstruction to α = 1.",
    );
    doc.table(&header, &rows);
    let shift = |f: &FaceEdit| match (f.fractions.first(), f.fractions.last()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    let Some((mean_shift, lo, hi)) = spread(edits.iter().map(|f| shift(f))) else { return };
    let growing = edits.iter().filter(|f| f.fractions.windows(2).all(|w| w[1] > w[0])).count();
    let reading = if mean_shift >= 0.75 {
        "as the encoder reads the decoded edits back, they keep most of the attribute vector — a measure of \
         consistency between decoder and encoder, not of what a viewer sees"
    } else if mean_shift >= 0.25 {
        "the decoder carries part of the attribute vector into the image; the rest is lost between decoding and \
         encoding"
    } else {
        "little of the edit survives decoding, and the encoder reads the edited faces almost where it read their \
         reconstructions"
    };
    let mut text = format!(
        "**What the numbers show:** from α = 0 to α = 1 the re-encoded edits move {mean_shift:.2} of the way between \
         the two means on average (per face {lo:.2} to {hi:.2}), and the position grows with every step of α for \
         {}: {reading}. This is the VAE's own encoder judging its own decoder, not a person or \
         a classifier judging the property. ",
        if growing == edits.len() {
            format!("all {growing} faces")
        } else {
            format!("{growing} of the {} faces", edits.len())
        }
    );
    if let (Some((rms, rlo, rhi)), Some((means_rms, _, _))) =
        (spread(edits.iter().map(|f| f.rms_change)), spread(record.attributes.iter().map(|a| a.means.rms_change)))
    {
        text += &format!(
            "In pixels an edit at α = 1 changes a face by {rms:.3} per pixel value (root mean square; {rlo:.3} to \
             {rhi:.3}), {} the path between two group means changes ({means_rms:.3}). ",
            compared(rms, means_rms)
        );
    }
    if let Some((centre, clo, chi)) = spread(edits.iter().map(|f| f.centre_share))
        && centre > 0.0
    {
        text += &format!(
            "Where the pixels change: {:.0}% of an edit's squared change at α = 1 (per face {:.0}% to {:.0}%) lies in \
             the central quarter of the image (the middle half of its rows and of its columns, where the face is), \
             against 25% for a change spread evenly: {}. ",
            100.0 * centre,
            100.0 * clo,
            100.0 * chi,
            if centre < 0.3 {
                "the edits change the hair, the clothing and the background around the face far more than the \
                 face — the groups' mean latents differ in everything the hand-labelled photos differ in, not only in \
                 the face"
            } else {
                "the edits act mostly on the face itself"
            }
        );
    }
    if let Some((_, ilo, ihi)) = spread(edits.iter().map(|f| f.input_fraction)) {
        let nearer = edits.iter().filter(|f| f.input_fraction > 0.5).count();
        text += &format!(
            "The edited faces themselves lie between {ilo:.2} and {ihi:.2} along their $d$ (0 = their own group's \
             mean), and {nearer} of the {} lie nearer the other group's mean than their own",
            edits.len()
        );
        text += if nearer > 0 {
            ": these small hand-labelled groups overlap along the direction that separates their means."
        } else {
            "."
        };
    }
    doc.para(&text);
    if let Some((d, dlo, dhi)) = spread(edits.iter().map(|f| f.distance)) {
        doc.finding(format!(
            "**VAE attribute edits:** adding the difference of two groups' mean latents (|d| = {dlo:.1} to {dhi:.1}, \
             mean {d:.1}) to a face changes it by {:.3} per pixel value (root mean square); encoded again, the edited \
             faces have moved {mean_shift:.2} of the way from one group's mean toward the other's (per face {lo:.2} \
             to {hi:.2}; 1 would be the whole edit).",
            spread(edits.iter().map(|f| f.rms_change)).map_or(f64::NAN, |s| s.0)
        ));
    }
}

/// How far the two ends of each face pair lie apart, in the latent and in pixels, and how the
/// change spreads over the α steps.
fn pair_observation(doc: &mut Doc, record: &FaceInterpolations) {
    let Some(pairs) = &record.pairs else { return };
    let (Some((ends, elo, ehi)), Some((_, slo, shi)), Some((dist, dlo, dhi))) = (
        spread(pairs.pairs.iter().map(|p| p.rms_ends)),
        spread(pairs.pairs.iter().flat_map(|p| p.steps.iter().copied())),
        spread(pairs.pairs.iter().map(|p| p.latent_distance)),
    ) else {
        return;
    };
    // The largest step of each row against that row's mean step.
    let uneven = pairs
        .pairs
        .iter()
        .filter_map(|p| spread(p.steps.iter().copied()).map(|(mean, _, hi)| hi / mean))
        .fold(0.0f64, f64::max);
    let mut text = format!(
        "**What the pairs show:** the decoded ends of a pair differ by {elo:.3} to {ehi:.3} per pixel value (mean \
         {ends:.3}) and neighbouring columns by {slo:.3} to {shi:.3}; in no row is a step more than {uneven:.1}× the \
         row's mean step, "
    );
    text += if uneven <= 1.5 {
        "so the change is spread over the α steps, with no sudden jump."
    } else {
        "so in some rows the change gathers in a few of the α steps."
    };
    let edits: Vec<&FaceEdit> =
        record.attributes.iter().flat_map(|a| a.directions.iter().flat_map(|d| d.faces.iter())).collect();
    if let (Some((d, _, dmax)), Some((rms, _, rmax))) =
        (spread(edits.iter().map(|f| f.distance)), spread(edits.iter().map(|f| f.rms_change)))
    {
        let further = if dlo > dmax { "further apart than" } else { "about as far apart as, or further than," };
        text += &format!(
            " Two faces of a pair lie {dlo:.1} to {dhi:.1} apart in the latent (mean {dist:.1}), {further} two group \
             means (|d| up to {dmax:.1}, mean {d:.1}), and "
        );
        text += &if elo > rmax {
            format!(
                "replacing one face by another changes the image more than any attribute edit at α = 1 does \
                 ({ends:.3} against {rms:.3} per pixel value on average): two groups' mean latents lie closer \
                 together than two people's do, so an attribute edit is a small change of a face."
            )
        } else {
            format!(
                "in pixels the pairs' ends differ by {ends:.3} on average, the attribute edits at α = 1 change a \
                 face by {rms:.3}."
            )
        };
    }
    doc.para(&text);
}

/// The strips of `netlens interpolate --a --b` (and of runs drawn by older versions).
fn strip_figures(doc: &mut Doc, name: &str, strips: &[PathBuf]) -> Result<()> {
    doc.para("Each strip decodes $z = \\alpha z_1 + (1-\\alpha) z_2$, where $z_1$ and $z_2$ are the encoder outputs $\\mu$ of the two ends: for a group, the mean $\\mu$ of its faces (which decodes to a near-average face); for `GROUP-medoid`, the $\\mu$ of the one member nearest that mean (a real face, shown as the input). Left to right: input faces of the second end, decoded $z_2$ (α = 0), one face per α in ascending order, decoded $z_1$ (α = 1), input faces of the first end.");
    let mut spans: Vec<(String, f64)> = vec![];
    for strip in strips {
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
