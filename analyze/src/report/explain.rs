//! Explanations: each method's formula with its notation, the figures of `netlens explain`, and
//! the comparison — Spearman rank correlations between the maps and deletion/insertion AUCs
//! (Petsiuk et al. 2018) against a random order — with observations drafted from the means.

use std::collections::BTreeMap;
use std::path::Path;

use netlens_fetch::runs::{
    EXPLANATIONS, ExplainMethod, ExplainSettings, Explanations, GradCam, ImageExplanation, IntegratedGradients,
    ShapleyEstimator, read_json,
};

use super::doc::{Doc, slug};
use crate::error::{AnalyzeError, Result};
use crate::explain::pipeline::{CLASS_SEPARATOR, photo_of};

const FORMULAS: &str = r"**Grad-CAM** (Selvaraju et al. 2017, arXiv:1610.02391):

$$\alpha_k^c = \frac{1}{HW} \sum_{i=1}^{H} \sum_{j=1}^{W} \frac{\partial y^c}{\partial A^k_{ij}}, \qquad L^c_{\text{Grad-CAM}} = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big)$$

where $y^c$ is the pre-softmax score (logit) of class $c$, $A^k \in \mathbb{R}^{H \times W}$ is channel $k$ of the chosen convolutional layer's feature map (height $H$, width $W$), $\alpha_k^c$ is the weight of channel $k$ for class $c$ (the spatial mean of the gradient), and the map $L^c$ is bilinearly upsampled to the input size.

**HiResCAM** (Draelos & Carin 2020, arXiv:2011.08891), from the same layer and gradients:

$$L^c_{\text{HiResCAM}} = \mathrm{ReLU}\Big(\sum_k \frac{\partial y^c}{\partial A^k} \odot A^k\Big)$$

where $\odot$ multiplies position by position: each activation is weighted by the gradient at its own position instead of the channel's mean gradient. When the feature map reaches the logit through global average pooling, the two maps are the same; when it reaches it through flattening and a dense layer (each position with its own weights, as in our shallow net and CNN), Grad-CAM's mean mixes positions whose gradients cancel. When only max-pooling, flattening and one dense layer follow the feature map (our shallow net), the HiResCAM map before its ReLU sums exactly to the logit minus that layer's bias (Euler's theorem: each of those steps is positively homogeneous), so it splits the logit over the positions.

**Integrated Gradients** (Sundararajan et al. 2017, arXiv:1703.01365):

$$\mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial F\big(x' + \alpha (x - x')\big)}{\partial x_i}\thinspace d\alpha \approx (x_i - x'_i) \sum_{s=0}^{m-1} w_s \frac{\partial F\big(x' + \tfrac{s}{m-1} (x - x')\big)}{\partial x_i}$$

where $x$ is the input image, $x'$ the baseline image (given per model below), $i$ a pixel (and channel), $F$ the logit of the explained class, $\alpha \in [0, 1]$ the position on the straight path from $x'$ to $x$, $m$ the number of points on the path and $w_s$ the trapezoid weights ($\tfrac{1}{2(m-1)}$ at the two ends, $\tfrac{1}{m-1}$ inside). Completeness: $\sum_i \mathrm{IG}_i = F(x) - F(x')$; the *completeness error* $\lvert \sum_i \mathrm{IG}_i - (F(x) - F(x')) \rvert$ measures the quadrature error.

**Shapley values** (Shapley 1953; for image regions as in Zhang et al. 2019, arXiv:1911.09017 §3.1):

$$\phi_i = \sum_{S \subseteq N \setminus \lbrace i\rbrace} \frac{\lvert S\rvert!\thinspace(n - \lvert S\rvert - 1)!}{n!} \big(v(S \cup \lbrace i\rbrace) - v(S)\big)$$

where the players $N = \lbrace 1, \dots, n\rbrace$ are the $n$ patches of a grid over the image, $S$ a coalition of patches, $v(S)$ the logit of the explained class when the patches outside $S$ are replaced by the baseline, and $\phi_i$ the average marginal contribution of patch $i$. It is estimated by sampling permutations (Castro et al. 2009) in antithetic pairs unless a model's settings below name another estimator (unbiased KernelSHAP, Covert & Lee 2021, or all $2^n$ coalitions); each $\phi_i$ has a standard error, and *efficiency* $\sum_i \phi_i = v(N) - v(\emptyset)$ holds exactly for every estimator (the *efficiency gap* is its numerical error).

**Comparison.** Rank correlation: Spearman's $\rho$ between two methods' maps at input resolution. Deletion (insertion) curve: the softmax probability of the class as pixels are removed (restored) in order of decreasing attribution; its area under the curve (AUC) is low for deletion and high for insertion when the map is faithful (Petsiuk et al. 2018, arXiv:1806.07421); a random pixel order is the reference. The maps differ in kind, which keeps ρ low even for methods that agree on the region: Grad-CAM and HiResCAM are non-negative and come from a coarse feature map (bilinearly upsampled), Shapley values are constant over each patch (many ties), IG is signed and per pixel (summed over channels); ρ compares them as they are. In the figures each map is drawn on its own scale (the colour bar under it gives the values, in logit units for IG and Shapley values): compare maps by their bars' numbers, not their colours.

**Why a blurred baseline.** IG, the Shapley values and the deletion/insertion curves all need an image that stands for “absent”. A black image is the usual choice, but on black backgrounds it equals the background: a dark pixel then differs from it by nothing, so IG gives it no attribution whatever the model does with it (the dark side of an outline can never count), and deleting it changes nothing. A blurred copy of the image (a Gaussian of σ = a sixth of the image's larger side unless set, 5.3 pixels at 32×32: wide enough to erase a garment's edges and texture) removes the evidence a classifier uses while keeping the brightness where it was; its side effect is that the background next to the object differs from its blurred copy, so evidence there is credited (see the band column below).";

/// The "Explanations" section for every folder holding an `explanations.json`.
pub(crate) fn section(doc: &mut Doc, dirs: &[std::path::PathBuf]) -> Result<()> {
    doc.heading(2, "4. Explanations: Grad-CAM, HiResCAM, Integrated Gradients, Shapley values");
    doc.para(FORMULAS);
    if dirs.is_empty() {
        doc.missing("explanations of a classifier", "`netlens explain MODEL.onnx --data DIR --out RUN/explain` writes the `explanations.json` this section reads");
    }
    let models: Vec<(String, Explanations)> = dirs.iter().map(|d| one_model(doc, d)).collect::<Result<_>>()?;
    compare_networks(doc, &models);
    if !models.iter().any(|(_, e)| e.model.to_ascii_lowercase().contains("resnet")) {
        doc.missing("explanations of ResNet-34 (the course asks for them)", "run `netlens fetch resnet34`, or pass `--resnet resnet34-b627a593.pth` (torchvision's weights) to `netlens run`");
    }
    Ok(())
}

/// Names the explained images the model gets wrong: their maps show the evidence for the wrong
/// class, which is where a reader should look for what misled the model.
fn misclassified(doc: &mut Doc, images: &[ImageExplanation]) {
    let wrong: Vec<String> = images
        .iter()
        .filter_map(|i| {
            let truth = i.label_name.as_ref()?;
            (i.label != Some(i.predicted)).then(|| format!("{} (true {truth}, predicted {})", i.name, i.predicted_name))
        })
        .collect();
    if !wrong.is_empty() {
        doc.para(&format!(
            "**Misclassified among these:** {}. Their maps explain the predicted, wrong class: the regions they \
             mark are the evidence that misled the model.",
            wrong.join(", ")
        ));
    }
}

/// Names the Grad-CAM maps whose peak is under a tenth of the strongest map's peak:
/// drawn on their own scale they look as strong as the others, but they are nearly flat.
fn weak_grad_cam(doc: &mut Doc, images: &[ImageExplanation]) {
    let peaks: Vec<(&str, f32)> = images
        .iter()
        .filter_map(|i| i.grad_cam.as_ref().map(|g| (i.name.as_str(), g.map.data.iter().copied().fold(0f32, f32::max))))
        .filter(|p| p.1 > 0.0)
        .collect();
    if peaks.len() < 2 {
        return;
    }
    let strongest = peaks.iter().map(|p| p.1).fold(0f32, f32::max);
    let weak: Vec<String> =
        peaks.iter().filter(|p| p.1 < strongest / 10.0).map(|p| format!("{} (peak {:.1e})", p.0, p.1)).collect();
    if !weak.is_empty() {
        doc.para(&format!(
            "**Weak Grad-CAM maps:** {} against the strongest map's peak of {strongest:.3}. Drawn on their own scale \
             these maps look as strong as the others, but the class's evidence at the layer is nearly flat there: \
             read their colours with their colour bar, and their place in the table with care.",
            weak.join(", ")
        ));
    }
}

/// The model file's stem, for figure names.
fn stem_of(model: &str) -> String {
    Path::new(model).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The name of an explanation's figures: the classifier run's folder name when `dir` is a run's
/// `explain/` folder (every run's model is `model.onnx`, so two networks' figures would otherwise
/// share a name and be told apart only by a `-2`), else the model file's stem.
fn figure_stem(dir: &Path, model: &str) -> String {
    let run = dir.parent().filter(|run| netlens_fetch::runs::RunFolder::new(run).card().is_ok());
    match run.and_then(|run| run.file_name()) {
        Some(name) => name.to_string_lossy().into_owned(),
        None => stem_of(model),
    }
}

/// A readable name for the explained model: the title of the classifier run whose `explain/`
/// folder `dir` is, "ResNet-34" for a converted ResNet-34, else the model file's name.
fn model_title(dir: &Path, model: &str) -> String {
    if let Some(card) = dir.parent().and_then(|run| netlens_fetch::runs::RunFolder::new(run).card().ok()) {
        return card.title;
    }
    let path = Path::new(model);
    match path.file_stem().and_then(|s| s.to_str()) {
        Some("resnet34") => "ResNet-34".into(),
        _ => format!("`{}`", path.file_name().map_or(model.into(), |n| n.to_string_lossy().into_owned())),
    }
}

/// For a ResNet-34 whose first convolution is narrower than torchvision's 64 channels: a
/// sentence saying it is a reduced stand-in, not the published weights.
fn reduced_resnet(title: &str, model: &str) -> Option<String> {
    if title != "ResNet-34" {
        return None;
    }
    let summary = netlens_onnx::inspect(Path::new(model)).ok()?;
    let first = summary.layers.iter().find(|l| l.op == "Conv")?;
    let channels = match first.output_shape.as_deref()?.get(1)? {
        netlens_onnx::inspect::Dim::Fixed(c) => *c,
        _ => return None,
    };
    (channels != 64).then(|| {
        format!(
            "Its first convolution has {channels} channels instead of torchvision's 64: this is a reduced stand-in \
             with ResNet-34's topology (a test fixture), not the published `resnet34-b627a593.pth`."
        )
    })
}

/// One model's figures, table and observations; returns the model's title and explanations.
fn one_model(doc: &mut Doc, dir: &Path) -> Result<(String, Explanations)> {
    let path = dir.join(EXPLANATIONS);
    let json: Explanations = read_json(&path)?;
    let model = json.model.clone();
    let images = &json.images;
    let title = model_title(dir, &model);
    let one_photo = images.len() > 1
        && images.iter().all(|i| i.name.contains(CLASS_SEPARATOR))
        && images.iter().all(|i| photo_of(&i.name) == photo_of(&images[0].name));
    doc.heading(3, &if one_photo { format!("{title}: one photo, several classes") } else { title.clone() });
    let chosen = match test_indices(images) {
        Some(range) => format!(" (the test images with indices {range}, taken in order, not picked)"),
        None => String::new(),
    };
    doc.para(&format!(
        "{} {} explained{chosen}. Baseline image $x'$ — where IG starts, what replaces Shapley's absent patches and the pixels the deletion/insertion curves remove: {}.",
        images.len(),
        images_word(images.len()),
        json.baseline.description
    ));
    let mut settings = settings_text(&json.settings).unwrap_or_default();
    if let Some(g) = images.iter().find_map(|i| i.grad_cam.as_ref().or(i.hires_cam.as_ref())) {
        let [h, w] = [g.layer_map.height, g.layer_map.width];
        settings += &format!(
            " Grad-CAM and HiResCAM use the feature map `{}` ({h}×{w}), the last convolutional one.",
            g.layer.trim_start_matches('/').replace("_output_0", "")
        );
    }
    if !settings.is_empty() {
        doc.para(settings.trim_start());
    }
    if let Some(p) = &json.preprocess {
        doc.para_once(&format!("Model inputs: {}.", p.describe()));
    }
    let caution = untrained_caution(images).map(|c| match reduced_resnet(&title, &model) {
        Some(note) => format!("{c} {note}"),
        None => c,
    });
    let cautioned_before = doc.findings().iter().any(|f| f.contains(&format!("of {title}:")));
    match &caution {
        Some(_) if cautioned_before => {
            doc.para(&format!("**Caution:** as above, this {title} predicts almost uniformly; its maps say nothing about a trained model."));
        }
        Some(caution) => doc.para(caution),
        None => {}
    }
    let mut means = Means::default();
    images.iter().for_each(|img| count_maps(img, &mut means));
    evidence_table(doc, images);
    checks(doc, images);
    faithfulness(doc, images, &mut means);
    if caution.is_some() {
        doc.para("No observations are drawn from these maps and curves: see the caution above.");
        let already = doc.findings().iter().any(|f| f.contains(&format!("of {title}:")));
        if !already {
            doc.finding(format!(
                "**Explanations of {title}:** the model predicts almost uniformly (see the caution in section 4), so \
                 its maps are shown for the method only and not interpreted."
            ));
        }
    } else {
        mean_curves(doc, images, &figure_stem(dir, &model), &title)?;
        // The maps pooled to the patch grid: shown in a table and summed up in the finding.
        let pooled = patch_grid_rho(images);
        agreement_on_one_grid(doc, images, &means, &pooled);
        observations(doc, &means, &title, &pooled);
        weak_grad_cam(doc, images);
        if images.iter().all(|i| i.evidence.is_empty()) {
            misclassified(doc, images);
        }
    }
    let stem = figure_stem(dir, &model);
    // Images made from one photo for several classes (see `photo_of`) are shown together.
    let mut groups: BTreeMap<&str, Vec<&ImageExplanation>> = BTreeMap::new();
    for img in images {
        groups.entry(photo_of(&img.name)).or_default().push(img);
    }
    for img in images {
        let photo = photo_of(&img.name);
        let group = &groups[photo];
        if group.len() > 1 {
            if group[0].name == img.name {
                one_photo_several_classes(doc, dir, &stem, photo, group, caution.is_some())?;
            }
            continue;
        }
        let src = dir.join(format!("{}.png", img.name));
        if src.exists() {
            doc.copy_figure(&src, &format!("explain-{}-{}.png", slug(&stem), slug(&img.name)), &figure_caption(img))?;
        }
    }
    Ok((title, json))
}

/// `0–7` when the images are `test-0` … `test-7` (consecutive test indices), else `None`.
fn test_indices(images: &[ImageExplanation]) -> Option<String> {
    let idx: Vec<usize> = images.iter().map(|i| i.name.strip_prefix("test-")?.parse().ok()).collect::<Option<_>>()?;
    let (first, last) = (*idx.first()?, *idx.last()?);
    (idx.len() > 1 && idx.windows(2).all(|w| w[1] == w[0] + 1)).then(|| format!("{first}–{last}"))
}

/// The caption of one image's figure: its labels and, where its object was found, where each
/// map puts its evidence (as in the table).
fn figure_caption(img: &ImageExplanation) -> String {
    let truth = img.label_name.as_ref().map_or(String::new(), |t| format!("true {t}, "));
    let mut caption =
        format!("{} ({truth}predicted {}, explained class {})", img.name, img.predicted_name, img.target_name);
    let places: Vec<String> = ExplainMethod::ALL
        .iter()
        .filter_map(|m| {
            img.evidence
                .get(m.key())
                .map(|e| format!("{} {:.0}% on the object, {}", m.title(), 100.0 * e.on_object, e.describe()))
        })
        .collect();
    if !places.is_empty() {
        caption += &format!(": {}", places.join("; "));
    }
    caption
}

/// One photo explained for several classes: the figures stacked top to bottom in one (as the
/// course's cat-and-dog figure), and how far the classes' Grad-CAM maps differ.
fn one_photo_several_classes(
    doc: &mut Doc,
    dir: &Path,
    stem: &str,
    photo: &str,
    group: &[&ImageExplanation],
    near_uniform: bool,
) -> Result<()> {
    let mut figures = vec![];
    for img in group {
        let src = dir.join(format!("{}.png", img.name));
        let figure =
            image::open(&src).map_err(|e| AnalyzeError::Figure { path: src.clone(), reason: e.to_string() })?.to_rgb8();
        figures.push(figure);
    }
    let width = figures.iter().map(|f| f.width()).max().unwrap_or(1);
    let height = figures.iter().map(|f| f.height()).sum::<u32>().max(1);
    let mut stacked = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut y = 0;
    for f in &figures {
        image::imageops::replace(&mut stacked, f, 0, i64::from(y));
        y += f.height();
    }
    let classes: Vec<String> = group.iter().map(|g| format!("'{}'", g.target_name)).collect();
    let fig = doc.reserve_figure(&format!("explain-{}-{}-classes.png", slug(stem), slug(photo)));
    crate::explain::figure::write_png(&doc.figure_path(&fig), &stacked)?;
    let logits: Vec<String> = group
        .iter()
        .map(|g| format!("'{}' {:.2}", g.target_name, g.logits.get(g.target).copied().unwrap_or(f32::NAN)))
        .collect();
    let mut text = format!(
        "**One photo, {} classes** (`{photo}`, as the course's figure after Selvaraju et al. 2017, Fig. 1): the \
         same image explained for {}, top to bottom. The model predicts '{}'; the explained classes' logits are {}.",
        group.len(),
        classes.join(" and "),
        group[0].predicted_name,
        logits.join(", ")
    );
    let maps: Vec<&[f32]> = group.iter().filter_map(|g| g.grad_cam.as_ref().map(|c| c.map.data.as_slice())).collect();
    let empty: Vec<String> = group
        .iter()
        .filter(|g| g.grad_cam.as_ref().is_some_and(GradCam::is_empty))
        .map(|g| format!("'{}'", g.target_name))
        .collect();
    if near_uniform {
        text += " The model is near-uniform (see the caution above), so the two maps are not compared.";
    } else if !empty.is_empty() {
        text += &format!(
            " The Grad-CAM map for {} is zero everywhere (no positive evidence at its layer), so the classes' \
             Grad-CAM maps cannot be compared here.",
            empty.join(" and ")
        );
    } else if maps.len() == 2 && maps[0].len() == maps[1].len() {
        let rho = crate::explain::compare::spearman(maps[0], maps[1]);
        text += &format!(
            " The two Grad-CAM maps have a rank correlation of ρ = {rho:.3}: {}.",
            if rho < 0.3 {
                "each class's evidence lies in a different part of the photo — Grad-CAM is class-discriminative"
            } else {
                "they point at much the same regions, so at this layer the map tells the classes apart only weakly"
            }
        );
    }
    doc.para(&text);
    doc.link_figure(&fig, &format!("{photo} explained for {}", classes.join(" and ")));
    Ok(())
}

/// The settings recorded in `explanations.json`, as one sentence.
fn settings_text(s: &ExplainSettings) -> Option<String> {
    let mut parts = vec![];
    if let Some(ig) = &s.integrated_gradients {
        parts.push(format!("IG with {} points ({} rule)", ig.steps, ig.rule.describe()));
    }
    if let Some(sh) = &s.shapley {
        let [rows, cols] = sh.grid;
        let players = rows * cols;
        let how = match sh.estimator {
            ShapleyEstimator::Permutation => format!("{} sampled permutations (seed {})", sh.permutations, sh.seed),
            ShapleyEstimator::Kernel => format!(
                "unbiased KernelSHAP with paired sampling (Covert & Lee 2021) on {} coalitions, the model calls of {} \
                 permutations (seed {})",
                2 * sh.kernel_pairs(),
                sh.permutations,
                sh.seed
            ),
            ShapleyEstimator::Exact => format!("all 2^{players} coalitions (exact)"),
        };
        parts.push(format!("Shapley values of a {rows}×{cols} grid of patches from {how}"));
    }
    if let Some(f) = &s.faithfulness {
        parts.push(format!("deletion/insertion curves of {} steps against {} random orders", f.steps, f.random_draws));
    }
    (!parts.is_empty()).then(|| format!("Settings: {}.", parts.join("; ")))
}

/// A warning when the model's predictions are close to uniform (mean top-class softmax
/// probability below twice chance): an untrained or random-weight network, whose maps say
/// nothing about a trained one.
fn untrained_caution(images: &[ImageExplanation]) -> Option<String> {
    let classes = images.iter().map(|i| i.logits.len()).find(|&n| n > 0)?;
    let tops: Vec<f64> =
        images.iter().filter(|i| !i.logits.is_empty()).map(ImageExplanation::top_probability).collect();
    let mean_top = tops.iter().sum::<f64>() / tops.len() as f64;
    (mean_top < 2.0 / classes as f64).then(|| {
        format!(
            "**Caution:** the mean top-class probability over these images is {mean_top:.4}, close to chance (1/{classes} = {:.4}): the model predicts almost uniformly, as an untrained or random-weight network does, so its maps and curves below say nothing about a trained model of this architecture.",
            1.0 / classes as f64
        )
    })
}

/// Sums for the means over images.
#[derive(Default)]
struct Means {
    rho: BTreeMap<String, (f64, usize)>,
    deletion: BTreeMap<String, (f64, usize)>,
    insertion: BTreeMap<String, (f64, usize)>,
    /// Per CAM method key: images with its map, and those whose map is zero everywhere.
    empty: BTreeMap<String, (usize, usize)>,
    /// Per method: images whose deletion AUC is below the random order's, and images.
    beats_random: BTreeMap<String, (usize, usize)>,
}

/// "image" or "images" after a count of `n`.
fn images_word(n: usize) -> &'static str {
    if n == 1 { "image" } else { "images" }
}

/// AUCs closer than this are reported as a tie (curves sampled at about 20 points).
const AUC_TIE: f64 = 0.005;

fn add(map: &mut BTreeMap<String, (f64, usize)>, key: &str, v: f64) {
    let e = map.entry(key.to_string()).or_insert((0.0, 0));
    (e.0, e.1) = (e.0 + v, e.1 + 1);
}

/// Means per key, keyed by the readable method name ([`readable`]).
fn mean(map: &BTreeMap<String, (f64, usize)>) -> Vec<(String, f64)> {
    map.iter().map(|(k, (s, n))| (readable(k), s / *n as f64)).collect()
}

/// The readable name of a method key of `explanations.json` (`grad_cam` → `Grad-CAM`), or of a
/// pair of them (`grad_cam~shapley` → `Grad-CAM~Shapley values`); other keys stay as they are.
fn readable(key: &str) -> String {
    key.split('~')
        .map(|k| match k {
            "grad_cam" => "Grad-CAM",
            "hires_cam" => "HiResCAM",
            "integrated_gradients" => "Integrated Gradients",
            "shapley" => "Shapley values",
            "random" => "random",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("~")
}

/// The CAM maps of `img` (`grad_cam`, `hires_cam`), by method.
fn cams(img: &ImageExplanation) -> [(ExplainMethod, Option<&GradCam>); 2] {
    [(ExplainMethod::GradCam, img.grad_cam.as_ref()), (ExplainMethod::HiResCam, img.hires_cam.as_ref())]
}

/// Counts `img`'s empty CAM maps and adds its pixel-level ρ of each pair to the means. An empty
/// map has no ranking: its pairs are left out of the means, not counted as ρ = 0.
fn count_maps(img: &ImageExplanation, means: &mut Means) {
    let mut empty = vec![];
    for (method, cam) in cams(img) {
        if let Some(g) = cam {
            let e = means.empty.entry(method.key().to_string()).or_insert((0, 0));
            e.0 += 1;
            if g.is_empty() {
                e.1 += 1;
                empty.push(method.key());
            }
        }
    }
    for (pair, rho) in &img.rank_correlation {
        if let Some(v) = rho
            && !pair.split('~').any(|k| empty.contains(&k))
        {
            add(&mut means.rho, pair, *v);
        }
    }
}

/// Per image: the labels, and where each map puts its evidence on the image's object (the
/// share of its positive mass on the object, and the third of the object where its top decile
/// lies); photos without a plain background get the labels only.
fn evidence_table(doc: &mut Doc, images: &[ImageExplanation]) {
    let methods: Vec<ExplainMethod> =
        ExplainMethod::ALL.into_iter().filter(|m| images.iter().any(|i| method_ran(i, *m))).collect();
    let located = images.iter().any(|i| i.object.is_some());
    let mut header = vec!["image".to_string(), "true label".into(), "predicted".into(), "explained class".into()];
    if located {
        header.push("object (share of image)".into());
        header.extend(methods.iter().map(|m| m.title().to_string()));
    }
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|img| {
            let truth = img.label_name.clone().unwrap_or_else(|| "—".into());
            let predicted = match img.label {
                Some(label) if label != img.predicted => format!("**{}** (wrong)", img.predicted_name),
                _ => img.predicted_name.clone(),
            };
            let mut row = vec![img.name.clone(), truth, predicted, img.target_name.clone()];
            if located {
                row.push(img.object.as_ref().map_or("—".into(), |o| format!("{:.0}%", 100.0 * o.area)));
                for m in &methods {
                    let empty = cams(img).iter().any(|(c, g)| c == m && g.is_some_and(GradCam::is_empty));
                    row.push(match img.evidence.get(m.key()) {
                        Some(e) => format!("{:.0}% · {}", 100.0 * e.on_object, e.describe()),
                        None if empty => "empty map".into(),
                        None => "—".into(),
                    });
                }
            }
            row
        })
        .collect();
    let refs: Vec<&str> = header.iter().map(String::as_str).collect();
    if located {
        doc.para(&format!(
            "**Where the maps put the evidence.** The object (for Fashion-MNIST, the garment) is the set of pixels that differ from the \
             background (the median border pixel) by more than {:.0}% of the value range. Each method's cell gives \
             the share of its positive attribution that lies on the object — compare it with the object's own \
             share of the image, which a map blind to the object would match — and where the map's top 10% of \
             pixels lie within the object's bounding box (upper/middle/lower and left/centre/right thirds, named \
             when one third holds at least half of them; \"spread\" otherwise, and \"outside its box\" when most of them lie outside the bounding box).",
            100.0 * netlens_fetch::runs::ObjectRegion::THRESHOLD
        ));
    }
    doc.table(&refs, &rows);
    if located {
        reading(doc, images, &methods);
    }
}

/// Whether `method` ran on `img`.
fn method_ran(img: &ImageExplanation, method: ExplainMethod) -> bool {
    match method {
        ExplainMethod::GradCam => img.grad_cam.is_some(),
        ExplainMethod::HiResCam => img.hires_cam.is_some(),
        ExplainMethod::IntegratedGradients => img.integrated_gradients.is_some(),
        ExplainMethod::Shapley => img.shapley.is_some(),
    }
}

/// The table read: each method's mean share on the object against the object's mean area, and
/// on how many images two methods put their top decile in the same place.
fn reading(doc: &mut Doc, images: &[ImageExplanation], methods: &[ExplainMethod]) {
    let objects: Vec<f64> = images.iter().filter_map(|i| i.object.as_ref().map(|o| o.area)).collect();
    if objects.is_empty() {
        return;
    }
    let area = objects.iter().sum::<f64>() / objects.len() as f64;
    let band = netlens_fetch::runs::EvidenceLocation::OUTLINE_PIXELS;
    let mut rows = vec![];
    let (mut focused, mut outline) = (vec![], vec![]);
    for m in methods {
        let located: Vec<&netlens_fetch::runs::EvidenceLocation> =
            images.iter().filter_map(|i| i.evidence.get(m.key())).collect();
        if located.is_empty() {
            continue;
        }
        let n = located.len() as f64;
        let on = located.iter().map(|e| e.on_object).sum::<f64>() / n;
        let around = located.iter().map(|e| e.around_object).sum::<f64>() / n;
        rows.push(vec![
            m.title().to_string(),
            located.len().to_string(),
            format!("{:.0}%", 100.0 * on),
            format!("{:.0}%", 100.0 * around),
            format!("{:.0}%", 100.0 * (1.0 - on - around).max(0.0)),
        ]);
        if on >= area + 0.1 {
            focused.push(format!("{} ({:.0}%)", m.title(), 100.0 * on));
        }
        if around >= 0.2 {
            // Why evidence lands just outside the object differs by method.
            let why = match m {
                ExplainMethod::GradCam | ExplainMethod::HiResCam => {
                    "its coarse feature map is bilinearly upsampled, which spreads each cell over the edge"
                }
                ExplainMethod::IntegratedGradients => {
                    "the background next to the object differs from the blurred baseline (into which the object's \
                     blur spreads), so restoring it restores the silhouette, and IG credits the edge"
                }
                ExplainMethod::Shapley => {
                    "its patches straddle the edge, and every pixel of a patch carries the patch's value"
                }
            };
            outline.push(format!("{} ({:.0}% just outside: {why})", m.title(), 100.0 * around));
        }
    }
    doc.para(&format!(
        "**Reading the maps.** The object covers {:.0}% of an image on average. Mean share of each map's positive \
         evidence on the object, in the band of {band} pixels just outside it (its outline seen from the \
         background), and further out:",
        100.0 * area
    ));
    doc.table(
        &["method", "images with evidence", "on the object", &format!("within {band} px outside"), "further out"],
        &rows,
    );
    let mut text = String::new();
    if !focused.is_empty() {
        text += &format!("Concentrated on the object (at least 10 points above its area): {}. ", focused.join(", "));
    }
    if !outline.is_empty() {
        text += &format!(
            "A fifth or more of the evidence lies in the {band}-pixel band just outside the object for {}. ",
            outline.join("; ")
        );
    }
    let mut agree = vec![];
    for (i, a) in methods.iter().enumerate() {
        for b in &methods[i + 1..] {
            let overlaps: Vec<f64> = images
                .iter()
                .filter_map(|img| Some(top_decile_iou(&method_map(img, *a)?, &method_map(img, *b)?)))
                .collect();
            // A mean over fewer than half the images is not read (see the empty CAM maps).
            if overlaps.len() >= 2 && 2 * overlaps.len() >= images.len() {
                let mean = overlaps.iter().sum::<f64>() / overlaps.len() as f64;
                agree.push(format!("{} and {} {mean:.2}", a.title(), b.title()));
            }
        }
    }
    if !agree.is_empty() {
        text += &format!(
            "How far two methods mark the same pixels: the overlap of their top deciles (the 10% of pixels each ranks \
             highest; intersection over union, mean over the images; two unrelated maps give about {:.2}, the same \
             map 1): {}.",
            0.1 / 1.9,
            agree.join(", ")
        );
    }
    let wrong: Vec<String> = images
        .iter()
        .filter(|i| i.label.is_some_and(|l| l != i.predicted))
        .filter_map(|i| {
            let places: Vec<String> = methods
                .iter()
                .filter_map(|m| i.evidence.get(m.key()).map(|e| format!("{} {}", m.title(), e.describe())))
                .collect();
            (!places.is_empty()).then(|| {
                format!(
                    "{} ({} taken for {}: {})",
                    i.name,
                    i.label_name.as_deref().unwrap_or("?"),
                    i.predicted_name,
                    places.join(", ")
                )
            })
        })
        .collect();
    if !wrong.is_empty() {
        text += &format!(
            " On the misclassified images the maps show the evidence for the wrong class, the evidence that misled \
             the model: {}.",
            wrong.join("; ")
        );
    }
    if !text.is_empty() {
        doc.para(text.trim_end());
    }
}

/// IG's completeness and the Shapley values' efficiency, as one sentence: the worst image of
/// each.
fn checks(doc: &mut Doc, images: &[ImageExplanation]) {
    let mut parts = vec![];
    let worst_ig = images.iter().filter_map(|i| i.integrated_gradients.as_ref().map(|ig| (i, ig))).max_by(|a, b| {
        let share = |ig: &IntegratedGradients| ig.relative_completeness_error().unwrap_or(0.0);
        share(a.1).total_cmp(&share(b.1))
    });
    if let Some((img, ig)) = worst_ig {
        parts.push(format!("IG's completeness error is at most {}, on image {}", completeness(ig), img.name));
    }
    let gap = images
        .iter()
        .filter_map(|i| i.shapley.as_ref().map(|s| s.efficiency_gap))
        .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))));
    if let Some(gap) = gap {
        parts.push(format!("the Shapley values' efficiency gap at most {gap:.1e} logit units"));
    }
    if !parts.is_empty() {
        doc.para(&format!("**Checks of the methods:** {}.", parts.join("; ")));
    }
}

/// IG's completeness error, absolute and relative to `F(x) − F(x′)` (the part of the logit
/// change the attributions should add up to).
fn completeness(ig: &IntegratedGradients) -> String {
    let e = ig.completeness_error;
    let change = ig.logit as f64 - ig.baseline_logit as f64;
    match ig.relative_completeness_error() {
        // A logit change this close to 0 makes any share meaningless (a near-uniform model).
        Some(_) if change.abs() < 1e-2 => format!("{e:.2e} (F(x)−F(x′) = {change:.1e}, too small for a share)"),
        Some(share) => format!("{e:.2e} ({:.1}% of F(x)−F(x′) = {change:.3})", 100.0 * share),
        None => format!("{e:.2e}"),
    }
}

/// The deletion/insertion curves of `img` whose map gives an order: an empty Grad-CAM or
/// HiResCAM map ranks no pixel above another, so its curves follow an arbitrary order and are
/// left out. Keyed by method key.
fn ordered_curves(img: &ImageExplanation) -> Vec<(&str, &netlens_fetch::runs::MethodCurves)> {
    let Some(di) = &img.deletion_insertion else { return vec![] };
    let empty: Vec<&str> =
        cams(img).iter().filter(|(_, g)| g.is_some_and(GradCam::is_empty)).map(|(m, _)| m.key()).collect();
    di.methods.iter().filter(|(m, _)| !empty.contains(&m.as_str())).map(|(m, c)| (m.as_str(), c)).collect()
}

/// Mean deletion and insertion AUC per method (and random) over the images that have them.
fn faithfulness(doc: &mut Doc, images: &[ImageExplanation], means: &mut Means) {
    for img in images {
        let Some(di) = &img.deletion_insertion else { continue };
        for (method, curves) in ordered_curves(img) {
            add(&mut means.deletion, method, curves.deletion.auc);
            add(&mut means.insertion, method, curves.insertion.auc);
            let e = means.beats_random.entry(method.to_string()).or_insert((0, 0));
            (e.0, e.1) = (e.0 + usize::from(curves.deletion.auc < di.random.deletion_auc), e.1 + 1);
        }
        add(&mut means.deletion, "random", di.random.deletion_auc);
        add(&mut means.insertion, "random", di.random.insertion_auc);
    }
    if means.deletion.is_empty() {
        return;
    }
    let ins: BTreeMap<String, f64> = mean(&means.insertion).into_iter().collect();
    let rows: Vec<Vec<String>> = mean(&means.deletion)
        .into_iter()
        .map(|(m, d)| vec![m.clone(), format!("{d:.3}"), format!("{:.3}", ins.get(&m).copied().unwrap_or(f64::NAN))])
        .collect();
    let counts: BTreeMap<String, usize> = means.deletion.iter().map(|(k, (_, n))| (readable(k), *n)).collect();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|mut r| {
            r.insert(1, counts.get(&r[0]).map_or("—".into(), |n| n.to_string()));
            r
        })
        .collect();
    doc.para("Mean deletion and insertion AUC over the images (a Grad-CAM or HiResCAM map that is zero everywhere gives no order, so its image is left out for that method):");
    doc.table(&["method", "images", "deletion AUC (lower = better)", "insertion AUC (higher = better)"], &rows);
}

/// The mean deletion and insertion curves of each method over the images (all sampled at the
/// same fractions), as one chart each, the random order's mean AUC in the title.
fn mean_curves(doc: &mut Doc, images: &[ImageExplanation], stem: &str, title: &str) -> Result<()> {
    let runs: Vec<&netlens_fetch::runs::DeletionInsertion> =
        images.iter().filter_map(|i| i.deletion_insertion.as_ref()).collect();
    let Some(first) = runs.first() else { return Ok(()) };
    let colours = [
        plotters::style::RGBColor(214, 39, 40),
        plotters::style::RGBColor(31, 119, 180),
        plotters::style::RGBColor(44, 160, 44),
        plotters::style::RGBColor(148, 103, 189),
    ];
    for (kind, better) in
        [("deletion", "a faithful map makes it fall fast"), ("insertion", "a faithful map makes it rise fast")]
    {
        let pick = |c: &'_ netlens_fetch::runs::MethodCurves| {
            if kind == "deletion" { c.deletion.clone() } else { c.insertion.clone() }
        };
        // (label, mean curve) per method, then the random orders' mean in grey.
        let mut means: Vec<(String, Vec<(f64, f64)>)> = vec![];
        for method in first.methods.keys() {
            let curves: Vec<netlens_fetch::runs::Curve> = images
                .iter()
                .filter_map(|img| ordered_curves(img).into_iter().find(|(m, _)| m == method).map(|(_, c)| pick(c)))
                .collect();
            if let Some(points) = mean_curve(&curves) {
                // An empty CAM map leaves its image out: the legend says over how many images.
                let label = if curves.len() < runs.len() {
                    format!("{} ({} of {} images)", readable(method), curves.len(), runs.len())
                } else {
                    readable(method)
                };
                means.push((label, points));
            }
        }
        if means.is_empty() {
            continue;
        }
        let random_curves: Vec<netlens_fetch::runs::Curve> = runs
            .iter()
            .filter_map(|r| if kind == "deletion" { r.random.deletion.clone() } else { r.random.insertion.clone() })
            .collect();
        let random_points = (random_curves.len() == runs.len()).then(|| mean_curve(&random_curves)).flatten();
        let mut series: Vec<crate::curves::Series> = means
            .iter()
            .enumerate()
            .map(|(k, (label, points))| crate::curves::Series {
                label,
                points: points.clone(),
                color: colours[k % colours.len()],
            })
            .collect();
        let grey = if random_points.is_some() {
            "the grey line is a random pixel order, whose"
        } else {
            "a random pixel order's"
        };
        if let Some(points) = random_points {
            series.push(crate::curves::Series {
                label: "random order",
                points,
                color: plotters::style::RGBColor(127, 127, 127),
            });
        }
        let random = runs
            .iter()
            .map(|r| if kind == "deletion" { r.random.deletion_auc } else { r.random.insertion_auc })
            .sum::<f64>()
            / runs.len() as f64;
        let chart = crate::curves::chart_svg(
            &format!("{title}: mean {kind} curves"),
            crate::curves::Axis {
                name: &format!("fraction of pixels {}", if kind == "deletion" { "removed" } else { "restored" }),
                range: 0.0..1.0,
                whole: false,
            },
            "probability of the explained class",
            &series,
        )?;
        let fig = doc.reserve_figure(&format!("explain-{}-{kind}-curves.svg", slug(stem)));
        netlens_fetch::write_atomically(&doc.figure_path(&fig), chart.as_bytes())?;
        doc.para(&format!("Mean {kind} curves over the images ({better}); {grey} mean {kind} AUC is {random:.3}:"));
        doc.link_figure(&fig, &format!("{title}: mean {kind} curves"));
    }
    Ok(())
}

/// Intersection over union of the top deciles of two maps of the same size (each map's 10% of
/// pixels with the largest values, ties broken by index).
fn top_decile_iou(a: &[f32], b: &[f32]) -> f64 {
    let top = |m: &[f32]| -> std::collections::BTreeSet<usize> {
        let mut order: Vec<usize> = (0..m.len()).collect();
        order.sort_by(|&i, &j| m[j].total_cmp(&m[i]).then(i.cmp(&j)));
        order.into_iter().take(m.len().div_ceil(10)).collect()
    };
    let (ta, tb) = (top(a), top(b));
    let union = ta.union(&tb).count();
    if union == 0 { 0.0 } else { ta.intersection(&tb).count() as f64 / union as f64 }
}

/// `method`'s map of `img` at input resolution (`[height, width]`, row-major): IG summed over
/// the channels, the Shapley values spread over their patches; `None` when the method did not
/// run or its class-activation map is empty (no ranking).
fn method_map(img: &ImageExplanation, method: ExplainMethod) -> Option<Vec<f32>> {
    let [c, h, w] = img.shape;
    let cam =
        |g: Option<&GradCam>| g.filter(|g| g.map.data.len() == h * w && !g.is_empty()).map(|g| g.map.data.clone());
    match method {
        ExplainMethod::GradCam => cam(img.grad_cam.as_ref()),
        ExplainMethod::HiResCam => cam(img.hires_cam.as_ref()),
        ExplainMethod::IntegratedGradients => img
            .integrated_gradients
            .as_ref()
            .filter(|ig| ig.attributions.len() == c * h * w)
            .map(|ig| (0..h * w).map(|i| (0..c).map(|ch| ig.attributions[ch * h * w + i]).sum()).collect()),
        ExplainMethod::Shapley => img.shapley.as_ref().map(|s| s.pixel_map(h, w).data),
    }
}

/// `map` (`[h, w]`) averaged over each cell of a `grid` of patches (row-major), the players of
/// the Shapley values.
fn pool_to_grid(map: &[f32], [h, w]: [usize; 2], grid: [usize; 2]) -> Vec<f32> {
    let mut cells = vec![(0f64, 0usize); grid[0] * grid[1]];
    for (&v, p) in map.iter().zip(netlens_fetch::runs::patch_of_pixel(grid, h, w)) {
        cells[p].0 += f64::from(v);
        cells[p].1 += 1;
    }
    cells.iter().map(|(sum, n)| (sum / (*n).max(1) as f64) as f32).collect()
}

/// The point-by-point mean of `curves` when they share their fractions; `None` for none.
fn mean_curve(curves: &[netlens_fetch::runs::Curve]) -> Option<Vec<(f64, f64)>> {
    let c0 = curves.first()?;
    if curves.iter().any(|c| c.fractions != c0.fractions || c.probabilities.len() != c0.fractions.len()) {
        return None;
    }
    Some(
        (0..c0.fractions.len())
            .map(|j| (c0.fractions[j], curves.iter().map(|c| c.probabilities[j]).sum::<f64>() / curves.len() as f64))
            .collect(),
    )
}

/// Spearman's ρ between the methods' maps pooled to the Shapley values' patch grid (each map's
/// mean over each patch), averaged over the images: the maps compared on one footing.
/// Returns (readable pair, mean ρ) for the pairs with data.
fn patch_grid_rho(images: &[ImageExplanation]) -> Vec<(String, f64)> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for img in images {
        let Some(s) = &img.shapley else { continue };
        let [_, h, w] = img.shape;
        let pooled: Vec<(ExplainMethod, Vec<f32>)> = ExplainMethod::ALL
            .into_iter()
            .filter_map(|m| method_map(img, m).map(|map| (m, pool_to_grid(&map, [h, w], s.grid))))
            .collect();
        for (i, (a, x)) in pooled.iter().enumerate() {
            for (b, y) in &pooled[i + 1..] {
                let rho = crate::explain::compare::spearman(x, y);
                if rho.is_finite() {
                    add(&mut sums, &format!("{}~{}", a.key(), b.key()), rho);
                }
            }
        }
    }
    mean(&sums)
}

/// The explanations of the networks that explained the same images (same names and shapes: the
/// Fashion-MNIST classifiers), compared method by method: how far their maps of one image
/// agree on the patch grid, and how much of their evidence lies on the object.
fn compare_networks(doc: &mut Doc, models: &[(String, Explanations)]) {
    let Some((_, first)) = models.first() else { return };
    let same = |e: &Explanations| {
        e.images.len() == first.images.len()
            && e.images.iter().zip(&first.images).all(|(a, b)| a.name == b.name && a.shape == b.shape)
    };
    let group: Vec<&(String, Explanations)> = models.iter().filter(|(_, e)| same(e)).collect();
    if group.len() < 2 || untrained_caution(&first.images).is_some() {
        return;
    }
    let grid = first.images.iter().find_map(|i| i.shapley.as_ref().map(|s| s.grid)).unwrap_or([4, 4]);
    doc.heading(3, "The networks compared");
    for (k, (ta, a)) in group.iter().enumerate() {
        for (tb, b) in &group[k + 1..] {
            let mut rows = vec![];
            let mut findings = vec![];
            let same_prediction = a.images.iter().zip(&b.images).filter(|(x, y)| x.predicted == y.predicted).count();
            doc.para(&format!(
                "{ta} and {tb} explained the same {} test images; they predict the same class on {same_prediction} \
                 of them. Per method: Spearman's ρ between the two networks' maps of the same image (each pooled \
                 to the {}×{} patch grid, as above), averaged over the images where both have a map, and the mean \
                 share of positive evidence on the object for each network.",
                a.images.len(),
                grid[0],
                grid[1]
            ));
            for m in ExplainMethod::ALL {
                let rhos: Vec<f64> = a
                    .images
                    .iter()
                    .zip(&b.images)
                    .filter_map(|(x, y)| {
                        let [_, h, w] = x.shape;
                        let (mx, my) = (method_map(x, m)?, method_map(y, m)?);
                        let rho = crate::explain::compare::spearman(
                            &pool_to_grid(&mx, [h, w], grid),
                            &pool_to_grid(&my, [h, w], grid),
                        );
                        rho.is_finite().then_some(rho)
                    })
                    .collect();
                let share = |e: &Explanations| {
                    let v: Vec<f64> =
                        e.images.iter().filter_map(|i| i.evidence.get(m.key()).map(|l| l.on_object)).collect();
                    (!v.is_empty()).then(|| 100.0 * v.iter().sum::<f64>() / v.len() as f64)
                };
                if rhos.is_empty() && share(a).is_none() && share(b).is_none() {
                    continue;
                }
                let rho = (!rhos.is_empty()).then(|| rhos.iter().sum::<f64>() / rhos.len() as f64);
                let pct = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0}%"));
                rows.push(vec![
                    m.title().to_string(),
                    rho.map_or("—".into(), |r| format!("{r:.2} ({} images)", rhos.len())),
                    pct(share(a)),
                    pct(share(b)),
                ]);
                // A mean over fewer than half the images is shown in the table, not concluded from.
                if let Some(r) = rho
                    && 2 * rhos.len() >= a.images.len()
                {
                    findings.push((m.title(), r));
                }
            }
            doc.table(
                &[
                    "method",
                    &format!("ρ {ta} ~ {tb}"),
                    &format!("on the object: {ta}"),
                    &format!("on the object: {tb}"),
                ],
                &rows,
            );
            if let (Some(hi), Some(lo)) =
                (findings.iter().max_by(|x, y| x.1.total_cmp(&y.1)), findings.iter().min_by(|x, y| x.1.total_cmp(&y.1)))
            {
                let strength = |r: f64| match r {
                    r if r >= 0.6 => "much the same regions",
                    r if r >= 0.3 => "partly the same regions",
                    _ => "different regions",
                };
                let text = format!(
                    "by {} the two networks mark {} of the same image (mean ρ = {:.2}), by {} {} (ρ = {:.2})",
                    hi.0,
                    strength(hi.1),
                    hi.1,
                    lo.0,
                    strength(lo.1),
                    lo.1
                );
                doc.para(&format!(
                    "**Observation:** {text}. A method whose maps of two networks agree more than another's \
                    sees a property of the image both networks use; where they differ, the networks (or the method's \
                    view of them) differ."
                ));
                doc.finding(format!("**{ta} and {tb} explained:** {text}."));
            }
        }
    }
}

/// The pixel-level and patch-level mean ρ side by side, and the Shapley values' standard errors.
fn agreement_on_one_grid(doc: &mut Doc, images: &[ImageExplanation], means: &Means, pooled: &[(String, f64)]) {
    if pooled.is_empty() {
        return;
    }
    let pixel: BTreeMap<String, f64> = mean(&means.rho).into_iter().collect();
    let rows: Vec<Vec<String>> = pooled
        .iter()
        .map(|(pair, rho)| {
            vec![
                pair.replace('~', " and "),
                pixel.get(pair).map_or("—".into(), |p| format!("{p:.3}")),
                format!("{rho:.3}"),
            ]
        })
        .collect();
    let grid = images.iter().find_map(|i| i.shapley.as_ref().map(|s| s.grid)).unwrap_or([0, 0]);
    doc.para(&format!(
        "**The maps on one footing:** mean Spearman ρ over the images, at the pixels (as above) and with every map \
         averaged over the {}×{} Shapley patches first, so that resolution and ties no longer lower it:",
        grid[0], grid[1]
    ));
    doc.table(&["methods", "ρ at the pixels", "ρ on the patch grid"], &rows);
    let mut ratios: Vec<f64> = images
        .iter()
        .filter_map(|i| i.shapley.as_ref())
        .flat_map(|s| s.values.iter().zip(&s.std_errors).filter(|(v, _)| v.abs() > 0.0).map(|(v, e)| e / v.abs()))
        .filter(|r| r.is_finite())
        .collect();
    if !ratios.is_empty() {
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        doc.para(&format!(
            "Sampling noise of the Shapley values: the median standard error of a patch's φ is {:.0}% of its \
             magnitude (over all patches of all images), {}.",
            100.0 * median,
            if median < 0.25 {
                "small enough to rank the patches"
            } else {
                "too large to rank the weaker patches: more permutations would be needed"
            }
        ));
    }
}

/// Which methods agree (mean ρ) and which are faithful (mean AUCs against random).
fn observations(doc: &mut Doc, means: &Means, title: &str, pooled: &[(String, f64)]) {
    let mut text = "**Observations** (means over the images):".to_string();
    let most = means.rho.values().map(|(_, n)| *n).max().unwrap_or(0);
    for (key, (sum, n)) in &means.rho {
        let (pair, rho) = (readable(key), sum / *n as f64);
        let relation = match rho {
            r if r >= 0.6 => "agree strongly",
            r if r >= 0.3 => "agree moderately",
            r if r > 0.1 => "agree weakly",
            r if r >= -0.1 => "are unrelated",
            r if r > -0.3 => "disagree weakly",
            _ => "disagree",
        };
        // A mean over fewer than half the images is not read as a finding.
        if 2 * n < most {
            continue;
        }
        let only = if *n < most { format!(", on only {n} of {most} images") } else { String::new() };
        text += &format!(" {} {relation} (mean ρ = {rho:.3}{only}).", pair.replace('~', " and "));
    }
    let counts = |key: &str| means.empty.get(key).copied().unwrap_or((0, 0));
    let (with_map, empty) = counts("grad_cam");
    if empty > 0 {
        text += &format!(
            " Grad-CAM's map is zero everywhere for {empty} of {with_map} {}: the class-weighted sum of the layer's channels is negative at every location, so the ReLU leaves nothing (those images are left out of the rank correlations above, and Grad-CAM's deletion order on them is arbitrary, so they are left out of its deletion and insertion means too).",
            images_word(with_map)
        );
        if 2 * empty >= with_map {
            text += " With most maps empty, Grad-CAM at this layer says little about this network: a channel's weight is the spatial mean of its gradient, and where a position-dependent linear layer follows the feature map (no global average pooling: only with it are Grad-CAM's channel weights those of CAM, Selvaraju et al. 2017 §3.1) positive and negative gradients at different positions cancel in that mean.";
        }
    }
    let (hires, hires_empty) = counts("hires_cam");
    if hires > 0 && empty > 0 {
        text += &if hires_empty < empty {
            format!(
                " HiResCAM, from the same layer and gradients but without the mean, has a map on {} of {hires} {}: it is the class-activation map to read for this network.",
                hires - hires_empty,
                images_word(hires)
            )
        } else {
            format!(" HiResCAM is empty on {hires_empty} of {hires} {} too.", images_word(hires))
        };
    }
    let del = mean(&means.deletion);
    let ins = mean(&means.insertion);
    let random = |v: &[(String, f64)]| v.iter().find(|(m, _)| m == "random").map(|p| p.1);
    let methods =
        |v: &[(String, f64)]| v.iter().filter(|(m, x)| m != "random" && x.is_finite()).cloned().collect::<Vec<_>>();
    let spread = |v: &[(String, f64)]| {
        let all: Vec<f64> = v.iter().map(|p| p.1).filter(|x| x.is_finite()).collect();
        all.iter().copied().fold(f64::NEG_INFINITY, f64::max) - all.iter().copied().fold(f64::INFINITY, f64::min)
    };
    if let (Some(best), Some(r)) = (methods(&del).into_iter().min_by(|a, b| a.1.total_cmp(&b.1)), random(&del)) {
        if spread(&del) < AUC_TIE {
            text += &format!(
                " Deletion: every method and the random order have the same mean AUC (within {AUC_TIE}; {:.3}), so the curves cannot rank the maps here — the class probability hardly moves as pixels are removed.",
                best.1
            );
        } else {
            text += &format!(" Deletion: {} has the lowest mean AUC ({:.3}; random order {r:.3}).", best.0, best.1);
            let worse: Vec<String> =
                methods(&del).iter().filter(|(_, d)| *d >= r - AUC_TIE).map(|(m, d)| format!("{m} ({d:.3})")).collect();
            if worse.is_empty() {
                text += " On average every method deletes the evidence faster than a random order (its mean deletion AUC is below random's).";
            } else {
                text += &format!(
                    " Not better than random on deletion (within {AUC_TIE} of it or above): {}.",
                    worse.join(", ")
                );
            }
            let per_image: Vec<String> = means
                .beats_random
                .iter()
                // Only methods better than random on average, on enough images to count.
                .filter(|(m, (won, n))| {
                    won < n && 2 * n >= most && del.iter().any(|(k, d)| *k == readable(m) && *d < r - AUC_TIE)
                })
                .map(|(m, (won, n))| format!("{} deletes faster than random on only {won} of {n} images", readable(m)))
                .collect();
            if !per_image.is_empty() {
                text += &format!(" Image by image the picture is less clean: {}.", per_image.join(", "));
            }
            text += " The deleted pixels are replaced by the shared baseline, the very input Integrated Gradients and Shapley values measure their attributions against, while Grad-CAM never sees it: the deletion curves are tilted in favour of those two.";
        }
    }
    if let (Some(best), Some(r)) = (methods(&ins).into_iter().max_by(|a, b| a.1.total_cmp(&b.1)), random(&ins)) {
        if spread(&ins) < AUC_TIE {
            text += &format!(" Insertion: all mean AUCs tie too ({:.3}).", best.1);
        } else {
            text += &format!(" Insertion: {} has the highest mean AUC ({:.3}; random order {r:.3}).", best.0, best.1);
            let worse: Vec<String> =
                methods(&ins).iter().filter(|(_, v)| *v <= r + AUC_TIE).map(|(m, v)| format!("{m} ({v:.3})")).collect();
            if !worse.is_empty() {
                text += &format!(" Not better than random on insertion: {}.", worse.join(", "));
            }
        }
    }
    doc.para(&text);
    // Pairs on fewer than half the images (an empty CAM map) are not read, as above.
    let rhos: Vec<f64> = means.rho.values().filter(|(_, n)| 2 * n >= most).map(|(s, n)| s / *n as f64).collect();
    let mut finding = String::new();
    if let Some((lo, hi)) =
        rhos.iter().fold(None, |acc: Option<(f64, f64)>, &r| Some(acc.map_or((r, r), |(a, b)| (a.min(r), b.max(r)))))
    {
        finding += &format!(
            "at the pixels the methods' maps of the same image agree {} (mean Spearman ρ between pairs \
             {lo:.2} to {hi:.2})",
            if hi >= 0.3 {
                "at most moderately"
            } else if hi > 0.1 {
                "at most weakly"
            } else {
                "little"
            }
        );
        if let Some((pair, rho)) = pooled.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
            let rest = pooled.iter().filter(|p| p.0 != *pair).map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            finding += &format!(
                "; averaged over the Shapley patches, {} agree {} (ρ = {rho:.2}) and the other pairs at most ρ = {rest:.2}",
                pair.replace('~', " and "),
                if *rho >= 0.6 {
                    "strongly"
                } else if *rho >= 0.3 {
                    "moderately"
                } else {
                    "weakly"
                }
            );
            if pair == "Integrated Gradients~Shapley values" && *rho >= 0.6 && rest < 0.6 {
                finding += ": the two methods that measure each region against the same baseline find the same \
                            regions, while Grad-CAM's late-layer map agrees with them less";
            }
        }
    }
    if let (Some(best), Some(r)) = (methods(&del).into_iter().min_by(|a, b| a.1.total_cmp(&b.1)), random(&del))
        && spread(&del) >= AUC_TIE
    {
        if !finding.is_empty() {
            finding += "; ";
        }
        finding += &format!(
            "by the deletion curves {} points at the evidence best (mean AUC {:.3} against {r:.3} for a random order), \
             a ranking tilted by the shared baseline",
            best.0, best.1
        );
    }
    if !finding.is_empty() {
        doc.finding(format!("**Explanations of {title}:** {finding}."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An explanation of one `shape` image with `logits`, class 0 predicted and explained, no maps.
    fn explanation(shape: [usize; 3], logits: Vec<f32>) -> ImageExplanation {
        ImageExplanation {
            name: "x".into(),
            shape,
            label: None,
            label_name: None,
            predicted: 0,
            predicted_name: "a".into(),
            target: 0,
            target_name: "a".into(),
            logits,
            ..ImageExplanation::default()
        }
    }

    fn observed(means: &Means) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = Doc::new(dir.path()).unwrap();
        observations(&mut doc, means, "the CNN", &[]);
        doc.markdown().to_string()
    }

    fn means(deletion: &[(&str, f64)], grad_cam: (usize, usize)) -> Means {
        let mut m = Means::default();
        m.empty.insert("grad_cam".into(), grad_cam);
        for &(k, v) in deletion {
            add(&mut m.deletion, k, v);
            add(&mut m.insertion, k, 1.0 - v);
        }
        m
    }

    #[test]
    fn a_near_uniform_model_gets_a_caution_and_a_trained_one_none() {
        let image = |logits: Vec<f32>| explanation([1, 1, 1], logits);
        let uniform: Vec<ImageExplanation> = (0..3).map(|_| image(vec![0.01; 1000])).collect();
        let caution = untrained_caution(&uniform).unwrap();
        assert!(caution.contains("0.0010") && caution.contains("1/1000"), "{caution}");
        let trained = vec![image(vec![8.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])];
        assert!(untrained_caution(&trained).is_none());
        let ig = IntegratedGradients {
            target: 0,
            logit: 2.0,
            baseline_logit: 1.0,
            attributions: vec![],
            shape: [1, 1, 1],
            completeness_error: 0.3,
        };
        assert_eq!(completeness(&ig), "3.00e-1 (30.0% of F(x)−F(x′) = 1.000)");
    }

    #[test]
    fn tied_aucs_name_no_best_method_and_empty_grad_cam_maps_are_counted() {
        let tied =
            observed(&means(&[("grad_cam", 0.0021), ("integrated_gradients", 0.0020), ("random", 0.0022)], (4, 1)));
        assert!(tied.contains("cannot rank the maps") && !tied.contains("lowest mean AUC"), "{tied}");
        assert!(tied.contains("zero everywhere for 1 of 4 images"), "{tied}");
        let mut m = means(&[("grad_cam", 0.376), ("integrated_gradients", 0.169), ("random", 0.496)], (4, 0));
        add(&mut m.rho, "grad_cam~integrated_gradients", -0.45);
        add(&mut m.rho, "grad_cam~shapley", 0.02);
        let ranked = observed(&m);
        assert!(ranked.contains("Grad-CAM and Integrated Gradients disagree (mean ρ = -0.450)"), "{ranked}");
        assert!(ranked.contains("Grad-CAM and Shapley values are unrelated (mean ρ = 0.020)"), "{ranked}");
        assert!(
            ranked.contains("Integrated Gradients has the lowest mean AUC (0.169; random order 0.496)"),
            "{ranked}"
        );
        assert!(!ranked.contains("zero everywhere") && !ranked.contains("Not better than random"), "{ranked}");
        assert!(ranked.contains("every method deletes the evidence faster than a random order"), "{ranked}");
        assert!(!ranked.contains("Image by image"), "{ranked}");
        // Means can hide single images on which a method is slower than random: they are counted.
        m.beats_random.insert("grad_cam".into(), (5, 8));
        m.beats_random.insert("integrated_gradients".into(), (8, 8));
        let counted = observed(&m);
        assert!(counted.contains("Grad-CAM deletes faster than random on only 5 of 8 images"), "{counted}");
        assert!(counted.contains("tilted in favour of those two"), "{counted}");
    }

    #[test]
    fn maps_pooled_to_the_patch_grid_compare_on_one_footing() {
        use netlens_fetch::runs::ShapleyValues;
        // A 4×4 image, 2×2 patches with φ = 1, 2, 3, 4; Grad-CAM is φ spread over its patch (so
        // pooled it ranks the patches exactly as φ) and IG the opposite order within the grid.
        let shapley = ShapleyValues {
            target: 0,
            grid: [2, 2],
            values: vec![1.0, 2.0, 3.0, 4.0],
            std_errors: vec![0.1; 4],
            full_logit: 10.0,
            empty_logit: 0.0,
            efficiency_gap: 0.0,
            permutations: 8,
            model_calls: 26,
        };
        let spread = shapley.pixel_map(4, 4);
        let reversed: Vec<f32> = spread.data.iter().map(|v| 5.0 - v).collect();
        let image = ImageExplanation {
            grad_cam: Some(GradCam {
                layer: "l".into(),
                target: 0,
                logit: 1.0,
                layer_map: spread.clone(),
                map: spread,
            }),
            integrated_gradients: Some(IntegratedGradients {
                target: 0,
                logit: 10.0,
                baseline_logit: 0.0,
                attributions: reversed,
                shape: [1, 4, 4],
                completeness_error: 0.0,
            }),
            shapley: Some(shapley),
            ..explanation([1, 4, 4], vec![1.0, 0.0])
        };
        let rho: BTreeMap<String, f64> = patch_grid_rho(&[image]).into_iter().collect();
        assert!((rho["Grad-CAM~Shapley values"] - 1.0).abs() < 1e-9, "{rho:?}");
        assert!((rho["Integrated Gradients~Shapley values"] + 1.0).abs() < 1e-9, "{rho:?}");
        assert!((rho["Grad-CAM~Integrated Gradients"] + 1.0).abs() < 1e-9, "{rho:?}");
    }

    #[test]
    fn top_deciles_overlap_by_intersection_over_union() {
        // 20 pixels: the top decile is 2 pixels. Same order → 1; disjoint → 0; one shared → 1/3.
        let a: Vec<f32> = (0..20).map(|i| i as f32).collect();
        assert_eq!(top_decile_iou(&a, &a), 1.0);
        let reversed: Vec<f32> = a.iter().map(|v| -v).collect();
        assert_eq!(top_decile_iou(&a, &reversed), 0.0);
        let mut b = reversed.clone();
        b[19] = 100.0; // b's top two: pixel 19 (shared with a's 19, 18) and pixel 0
        assert!((top_decile_iou(&a, &b) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn an_empty_hires_cam_is_counted_and_a_full_one_recommended() {
        let mut m = means(&[("grad_cam", 0.3), ("random", 0.4)], (8, 7));
        m.empty.insert("hires_cam".into(), (8, 0));
        let text = observed(&m);
        assert!(text.contains("zero everywhere for 7 of 8"), "{text}");
        assert!(text.contains("has a map on 8 of 8 images"), "{text}");
        m.empty.insert("hires_cam".into(), (8, 7));
        assert!(observed(&m).contains("HiResCAM is empty on 7 of 8 images too"));
    }
}
