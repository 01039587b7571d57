//! `netlens report` and `netlens run`: a report built from small real runs (LeNet-5 for one
//! epoch, its features, explanations and a one-epoch VAE on 100 faces — seconds, not the
//! minutes of `netlens run --quick`), checked for its sections, its figures (exist, valid
//! SVG/PNG) and the numbers it quotes (equal to the JSON they come from).

use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::Value;

use crate::common::{fails, fashion_small, netlens, ok, read_npy_f32, shared};

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A LeNet-5 run with features/ and explain/, and a VAE run with one interpolation strip.
fn small_runs(root: &Path) -> (PathBuf, PathBuf) {
    let data = fashion_small();
    let lenet = root.join("lenet");
    ok(netlens(&["train", "lenet", "--data", s(&data), "--epochs", "1", "--out", s(&lenet)]));
    let model = lenet.join("model.onnx");
    ok(netlens(&[
        "features",
        s(&model),
        "--data",
        s(&data),
        "--per-class",
        "15",
        "--iterations",
        "250",
        "--out",
        s(&lenet.join("features")),
    ]));
    ok(netlens(&[
        "explain",
        s(&model),
        "--data",
        s(&data),
        "--index",
        "0,1",
        "--steps",
        "8",
        "--permutations",
        "8",
        "--faithfulness",
        "--out",
        s(&lenet.join("explain")),
    ]));
    let vae = root.join("vae");
    let faces = shared().join("data/lfw-small");
    ok(netlens(&["vae", "--data", s(&faces), "--epochs", "1", "--limit", "100", "--out", s(&vae)]));
    ok(netlens(&[
        "interpolate",
        "--encoder",
        s(&vae.join("encoder.onnx")),
        "--decoder",
        s(&vae.join("decoder.onnx")),
        "--data",
        s(&faces),
        "--a",
        "0",
        "--b",
        "1",
        "--out",
        s(&vae.join("interp")),
    ]));
    (lenet, vae)
}

/// The `figures/…` targets of the Markdown image links.
fn linked_figures(md: &str) -> Vec<String> {
    md.split("](figures/").skip(1).map(|rest| rest.split(')').next().unwrap().to_string()).collect()
}

fn assert_valid_figure(path: &Path) {
    assert!(path.exists(), "{} is linked but missing", path.display());
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.contains("<svg") && text.trim_end().ends_with("</svg>"), "{} is not an SVG", path.display());
        }
        Some("png") => {
            let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(img.width() > 10 && img.height() > 10);
        }
        other => panic!("unexpected figure type {other:?}"),
    }
}

/// The formulas of a Markdown text as GitHub parses them (GFM tables and its `$…$` / `$$…$$`
/// rules, which pulldown-cmark's math extension follows), each written back with its
/// delimiters, and what would not render: a `$` left in text (a formula not parsed as math),
/// and a backslash before ASCII punctuation inside a formula (`\{`, `\,`, `\\`), which GitHub's
/// Markdown pass turns into the bare character before MathJax sees it (`\{1\}` shows as 1).
#[derive(Default)]
struct Math {
    display: Vec<String>,
    inline: Vec<String>,
    problems: Vec<String>,
}

fn math(md: &str) -> Math {
    let mut m = Math::default();
    let mut in_code_block = false;
    for event in Parser::new_ext(md, Options::ENABLE_MATH | Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => in_code_block = true,
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Text(t) if !in_code_block && t.contains('$') => {
                m.problems.push(format!("`$` in text, not math: {t:?}"))
            }
            Event::DisplayMath(f) => m.display.push(format!("$${f}$$")),
            Event::InlineMath(f) => m.inline.push(format!("${f}$")),
            _ => {}
        }
    }
    for f in m.display.iter().chain(&m.inline) {
        let mut chars = f.chars();
        while let Some(c) = chars.next() {
            if c == '\\'
                && let Some(next) = chars.next().filter(char::is_ascii_punctuation)
            {
                m.problems.push(format!("`\\{next}` in {f} (use \\lbrace, \\rbrace, \\thinspace …)"));
            }
        }
    }
    m
}

/// Every `$…$` and `$$…$$` of a text without literal dollars, by plain string search.
fn dollar_spans(text: &str) -> Vec<String> {
    let (mut spans, mut rest) = (vec![], text);
    while let Some(start) = rest.find('$') {
        let delim = if rest[start..].starts_with("$$") { "$$" } else { "$" };
        let body = &rest[start + delim.len()..];
        let end = body.find(delim).unwrap_or_else(|| panic!("unclosed {delim} in {body:?}"));
        spans.push(format!("{delim}{}{delim}", &body[..end]));
        rest = &body[end + delim.len()..];
    }
    spans
}

/// The report's formulas render on GitHub: display and inline math parse as math, every
/// formula of the Explanations section (found by plain search for its dollars) among them.
fn assert_math_renders(md: &str) {
    let all = math(md);
    assert!(all.problems.is_empty(), "{}", all.problems.join("\n"));
    assert!(
        !all.display.is_empty() && all.inline.len() >= 5,
        "{} display, {} inline formulas",
        all.display.len(),
        all.inline.len()
    );
    let start = md.find("## 4. Explanations").unwrap();
    let section = &md[start..start + md[start..].find("## 5.").unwrap()];
    let parsed = math(section);
    let mut formulas: Vec<String> = parsed.display.into_iter().chain(parsed.inline).collect();
    let mut searched = dollar_spans(section);
    assert!(searched.len() >= 10 && searched.iter().filter(|f| f.starts_with("$$")).count() >= 3, "{searched:?}");
    formulas.sort();
    searched.sort();
    assert_eq!(formulas, searched, "Explanations formulas not parsed as math");
}

#[test]
fn report_from_small_runs_has_sections_figures_and_the_runs_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (lenet, vae) = small_runs(dir.path());
    let out = dir.path().join("report");
    ok(netlens(&["report", s(&lenet), s(&vae), "--out", s(&out)]));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();

    // The introduction names the data and so the course's option (the small set: 1.2.2).
    assert!(md.contains("1,000 training and 1,000 test images") && md.contains("option 1.2.2"), "{md}");
    for heading in [
        "## Introduction",
        "## 1. Classifiers",
        "## 2. Features",
        "## 3. Variational autoencoder",
        "#### Interpolations",
        "## 4. Explanations",
        "## 5. Conclusion",
        "## 6. Reproducibility",
    ] {
        assert!(md.contains(heading), "no `{heading}`");
    }
    // Formulas with notation, and the missing ResNet-34 named instead of hidden.
    assert!(md.contains(r"\alpha_k^c") && md.contains(r"\mathrm{IG}_i") && md.contains(r"\phi_i") && md.contains("$$"));
    // What the run lacks is said in the text; the command that would add it is in the appendix.
    assert!(md.contains("*Not part of this run: explanations of ResNet-34"));
    let appendix = md.split("## Appendix").nth(1).expect("an appendix of notes");
    assert!(appendix.contains("netlens fetch resnet34"), "{appendix}");
    assert!(
        !md.split("## Appendix").next().unwrap().contains("netlens fetch"),
        "no tool instruction in the graded text"
    );
    assert_math_renders(&md);

    let figures = linked_figures(&md);
    assert!(figures.len() >= 12, "only {} figures", figures.len());
    for f in &figures {
        assert_valid_figure(&out.join("figures").join(f));
    }
    assert!(
        figures.iter().any(|f| f == "lenet-architecture.svg") && figures.iter().any(|f| f == "vae-architecture.svg")
    );
    let diagram = std::fs::read_to_string(out.join("figures/lenet-architecture.svg")).unwrap();
    assert!(diagram.contains("6×28×28") && diagram.contains("16×5×5"), "feature-map sizes in the diagram");
    // LeNet-5: 5×5 convolutions without padding, 2×2 max-pooling with stride 2 (ONNX attributes).
    assert!(diagram.contains("Conv 5×5<") && diagram.contains("MaxPool 2×2, stride 2<"), "kernels in the diagram");

    // Training numbers.
    let history = json(&lenet.join("history.json"));
    let last = &history["epochs"][0];
    assert!(md.contains(&format!("test accuracy is **{:.4}**", last["test_accuracy"].as_f64().unwrap())));
    let vh = json(&vae.join("history.json"));
    assert!(md.contains(&format!("**{:.4}**", vh["epochs"][0]["heldout_mse"].as_f64().unwrap())));
    // The held-out error beside the mean face's and a PCA's of the latent size, from baselines.json;
    // the VAE's own number there is the one its ONNX graphs give.
    let baselines = json(&vae.join("baselines.json"));
    let (mean_face, pca) = (baselines["mean_face_mse"].as_f64().unwrap(), baselines["pca_mse"].as_f64().unwrap());
    assert!(pca < mean_face, "PCA with components beats the mean face: {baselines}");
    assert!(
        md.contains(&format!(
            "the mean training face {mean_face:.4}; PCA with {} components",
            baselines["pca_components"]
        )) && md.contains(&format!("{pca:.4}")),
        "baselines not in the report"
    );
    // Per class, from test_logits.npy and the data set's labels: the correct counts add up to the
    // recorded final test accuracy, and the classes' test images to the test set.
    let header = md
        .lines()
        .position(|l| l.starts_with("| class | test images | correct | accuracy |"))
        .expect("a per-class table");
    let rows: Vec<Vec<usize>> = md
        .lines()
        .skip(header + 2)
        .take(10)
        .map(|l| l.split('|').skip(2).take(2).map(|c| c.trim().parse::<usize>().unwrap()).collect())
        .collect();
    let total: usize = rows.iter().map(|r| r[0]).sum();
    let correct: usize = rows.iter().map(|r| r[1]).sum();
    assert_eq!(total, 1000, "{rows:?}");
    assert!((correct as f64 / total as f64 - last["test_accuracy"].as_f64().unwrap()).abs() < 1e-9, "{rows:?}");
    assert!(
        figures.iter().any(|f| f == "lenet-confusion.svg") && figures.iter().any(|f| f == "lenet-misclassified.png")
    );

    // Feature scores: ≥ 3 layers, each PCA and t-SNE panel in the grid figure and its scores in the table.
    assert!(figures.contains(&"lenet-features.svg".to_string()), "{figures:?}");
    let grid = std::fs::read_to_string(out.join("figures/lenet-features.svg")).unwrap();
    let summary = json(&lenet.join("features/summary.json"));
    let layers = summary["layers"].as_array().unwrap();
    assert!(layers.len() >= 3);
    for l in layers {
        let name = l["layer"].as_str().unwrap();
        // A dense layer's output (written by its bias `Add` in the graph) is named Linear.
        let op = match l["op"].as_str().unwrap() {
            "Add" | "Gemm" | "MatMul" if l["sample_shape"].as_array().unwrap().len() == 1 => "Linear",
            other => other,
        };
        for e in l["embeddings"].as_array().unwrap() {
            let method = e["method"].as_str().unwrap();
            let row = format!(
                "| `{name}` | {op} | {} | {:.3} | {method} | {:.3} | {:.3} |",
                l["features"],
                l["knn_accuracy"].as_f64().unwrap(),
                e["silhouette"].as_f64().unwrap(),
                e["knn_accuracy"].as_f64().unwrap()
            );
            assert!(md.contains(&row), "no row {row}");
            let label = if method == "tsne" { "t-SNE" } else { "PCA" };
            assert!(
                grid.contains(&format!("{name} (")) && grid.contains(&format!(": {label}, 5-NN")),
                "{name} {method}"
            );
        }
    }
    // Per-class 5-NN recall in the final layer's t-SNE map: with equal class sizes its mean is the
    // embedding's 5-NN accuracy that `netlens features` computed (rounded to 2 decimals per class).
    let last = layers.last().unwrap();
    let tsne_accuracy =
        last["embeddings"].as_array().unwrap().iter().find(|e| e["method"] == "tsne").unwrap()["knn_accuracy"]
            .as_f64()
            .unwrap();
    let header = format!("| class | `{}` |", layers[0]["layer"].as_str().unwrap());
    let table = md.split(&header).nth(1).expect("a per-class recall table");
    let recalls: Vec<f64> = table
        .lines()
        .skip(2)
        .take(10)
        .map(|row| row.trim_end_matches(" |").rsplit("| ").next().unwrap().trim_matches('*').parse::<f64>().unwrap())
        .collect();
    assert_eq!(recalls.len(), 10, "{table}");
    let mean = recalls.iter().sum::<f64>() / 10.0;
    assert!((mean - tsne_accuracy).abs() <= 0.005 + 1e-9, "mean recall {mean} vs 5-NN accuracy {tsne_accuracy}");
    let best = layers.iter().map(|l| l["knn_accuracy"].as_f64().unwrap()).fold(f64::MIN, f64::max);
    assert!(md.contains(&format!("({best:.3})")), "the best layer's score is quoted");
    assert!(md.contains("classes that overlap most are") || md.contains("no classes overlap"));

    // Explanation numbers.
    let ex = json(&lenet.join("explain/explanations.json"));
    // The mean pixel-level ρ of Grad-CAM and IG over the images with a Grad-CAM map.
    let rhos: Vec<f64> = ex["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|img| img["grad_cam"]["map"]["data"].as_array().unwrap().iter().any(|v| v.as_f64().unwrap() > 0.0))
        .map(|img| img["rank_correlation"]["grad_cam~integrated_gradients"].as_f64().unwrap())
        .collect();
    let rho = rhos.iter().sum::<f64>() / rhos.len() as f64;
    assert!(md.contains(&format!("| Grad-CAM and Integrated Gradients | {rho:.3} |")), "mean ρ {rho:.3}: {md}");
    for img in ex["images"].as_array().unwrap() {
        // Every explained image is shown, with its true label in the table.
        let name = img["name"].as_str().unwrap();
        // Where IG puts its evidence on the garment, from the run's numbers.
        let ig = &img["evidence"]["integrated_gradients"];
        let share = format!("{:.0}% · ", 100.0 * ig["on_object"].as_f64().unwrap());
        let row = md.lines().find(|l| l.starts_with(&format!("| {name} | "))).unwrap();
        assert!(row.contains(&share), "{name}: IG's share {share} not in {row}");
        assert!(
            figures.iter().any(|f| f.starts_with("explain-") && f.ends_with(&format!("-{name}.png"))),
            "{name}: {figures:?}"
        );
        if let Some(truth) = img["label_name"].as_str() {
            assert!(md.contains(&format!("| {name} | {truth} | ")), "{name}: true label {truth} not in the table");
        }
    }
    assert!(md.contains("Deletion:") && md.contains("random order"));
    // The maps compared on the Shapley patch grid, and the mean curves drawn.
    assert!(md.contains("| methods | ρ at the pixels | ρ on the patch grid |"), "{md}");
    for kind in ["deletion", "insertion"] {
        // Named after the run folder (`lenet`), not the run's `model.onnx`.
        assert!(figures.iter().any(|f| f == &format!("explain-lenet-{kind}-curves.svg")), "{figures:?}");
        // The random orders' mean curve is drawn beside the methods'.
        let svg = std::fs::read_to_string(out.join(format!("figures/explain-lenet-{kind}-curves.svg"))).unwrap();
        assert!(svg.contains("random order"), "{kind}: no random-order curve");
    }
    // Interpolation α from interpolation.json is absent here: the count comes from the .npy.
    assert!(md.contains("4 intermediate faces"));
}

/// Members of `group` in the course's groups file.
fn members(groups: &Value, group: &str) -> Vec<u64> {
    groups[group].as_array().unwrap_or_else(|| panic!("no group {group}")).iter().map(|v| v.as_u64().unwrap()).collect()
}

/// A one-epoch VAE on 100 faces, its attribute edits and face pairs (`interpolate
/// --run-figures`) and its report: the figures exist and are linked, no face is drawn twice,
/// each edited face comes from the group it moves away from, the α are the course's, and the
/// table quotes `faces.json`.
#[test]
fn the_interpolation_section_edits_and_pairs_real_faces_once_each_at_the_courses_alphas() {
    let dir = tempfile::tempdir().unwrap();
    let faces = shared().join("data/lfw-small");
    let vae = dir.path().join("vae");
    ok(netlens(&["vae", "--data", s(&faces), "--epochs", "1", "--limit", "100", "--out", s(&vae)]));
    let interp = vae.join("interp");
    let stdout = ok(netlens(&[
        "interpolate",
        "--encoder",
        s(&vae.join("encoder.onnx")),
        "--decoder",
        s(&vae.join("decoder.onnx")),
        "--data",
        s(&faces),
        "--run-figures",
        "--out",
        s(&interp),
    ]));
    assert!(stdout.contains("faces.json"), "{stdout}");
    let out = dir.path().join("report");
    ok(netlens(&["report", s(&vae), "--out", s(&out)]));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let start = md.find("#### Interpolations").expect("an interpolation section");
    let section = &md[start..start + md[start..].find("\n## ").unwrap()];
    assert!(math(&md).problems.is_empty(), "{:?}", math(&md).problems);

    // The course's α, in the record, the text and the table's columns.
    let record = json(&interp.join("faces.json"));
    assert_eq!(record["alphas"], serde_json::json!([0.2, 0.4, 0.6, 0.8]));
    assert!(section.contains("α = 0.2, 0.4, 0.6, 0.8"), "{section}");
    assert!(section.contains("| α = 0 | α = 0.2 | α = 0.4 | α = 0.6 | α = 0.8 | α = 1 |"), "{section}");

    // One figure per attribute and one of pairs: written, valid, linked.
    let linked = linked_figures(section);
    let attributes = record["attributes"].as_array().unwrap();
    let mut figures: Vec<&str> = attributes.iter().map(|a| a["figure"].as_str().unwrap()).collect();
    figures.push(record["pairs"]["figure"].as_str().unwrap());
    assert_eq!(figures, ["edit_female_male.png", "edit_older_younger.png", "pairs.png"]);
    for figure in &figures {
        assert!(interp.join(figure).is_file(), "{figure}");
        let name = format!("vae-{figure}");
        assert!(linked.contains(&name), "{name} not linked: {linked:?}");
        assert_valid_figure(&out.join("figures").join(&name));
    }

    // Every face once; an edited face belongs to the group it leaves and not to the one it joins;
    // a pair joins a face of each group.
    let groups = json(&faces.join("groups.json"));
    let mut seen = std::collections::BTreeSet::new();
    let mut once = |i: u64| assert!(seen.insert(i), "face {i} drawn twice");
    for attribute in attributes {
        let directions = attribute["directions"].as_array().unwrap();
        assert_eq!(directions.len(), 2, "both ways");
        let mut rows = 1;
        for d in directions {
            let (toward, away) = (d["toward"].as_str().unwrap(), d["away"].as_str().unwrap());
            let edited = d["faces"].as_array().unwrap();
            assert_eq!(edited.len(), 3, "{away} → {toward}");
            let mut indices = vec![];
            for f in edited {
                let i = f["face"]["index"].as_u64().unwrap();
                assert!(members(&groups, away).contains(&i) && !members(&groups, toward).contains(&i), "{i}");
                assert_eq!(f["face"]["group"].as_str(), Some(away));
                assert_eq!(f["fractions"].as_array().unwrap().len(), 6, "α = 0, the course's four, 1");
                once(i);
                indices.push(i.to_string());
            }
            rows += edited.len();
            // The table's row of this direction: the mean position per α, from faces.json.
            let head = format!("| {away} → {toward} | {} | ", indices.join(", "));
            let line = section.lines().find(|l| l.starts_with(&head)).unwrap_or_else(|| panic!("no row {head}"));
            let cells: Vec<f64> =
                line[head.len()..].trim_end_matches(" |").split(" | ").map(|c| c.parse().unwrap()).collect();
            for k in 0..6 {
                let mean = edited.iter().map(|f| f["fractions"][k].as_f64().unwrap()).sum::<f64>() / 3.0;
                assert!((cells[1 + k] - mean).abs() <= 0.005 + 1e-9, "{head} α column {k}: {} vs {mean}", cells[1 + k]);
            }
        }
        // The group-mean row above the faces; input and six weights per row.
        let stem = attribute["figure"].as_str().unwrap().trim_end_matches(".png");
        let (shape, _) = read_npy_f32(&interp.join(format!("{stem}.npy")));
        assert_eq!(shape, vec![rows * 6, 3, 32, 32], "{stem}");
        let png = image::open(interp.join(attribute["figure"].as_str().unwrap())).unwrap();
        assert!(png.height() as usize > rows * 128 && png.width() as usize > 7 * 128, "{stem}");
    }
    let pairs = record["pairs"]["pairs"].as_array().unwrap();
    assert!(pairs.len() >= 3, "{} pairs", pairs.len());
    for p in pairs {
        for end in ["a", "b"] {
            let (i, group) = (p[end]["index"].as_u64().unwrap(), p[end]["group"].as_str().unwrap());
            assert!(members(&groups, group).contains(&i), "{group} {i}");
            once(i);
        }
        assert_ne!(p["a"]["group"], p["b"]["group"]);
        assert_eq!(p["steps"].as_array().unwrap().len(), 5, "between the six decoded faces");
    }
    let (shape, _) = read_npy_f32(&interp.join("pairs.npy"));
    assert_eq!(shape, vec![pairs.len() * 6, 3, 32, 32]);
    assert!(section.contains(&format!("The figures show {} individual faces of `X_train.npy`, each once", seen.len())));
    // The pairs' numbers are quoted from the file.
    let ends: Vec<f64> = pairs.iter().map(|p| p["rms_ends"].as_f64().unwrap()).collect();
    let lo = ends.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(section.contains(&format!("the decoded ends of a pair differ by {lo:.3} to ")), "{section}");
}

/// The check behind `assert_math_renders` flags what GitHub would show as raw text or mangle.
#[test]
fn report_math_check_flags_dollars_and_escapes_github_would_not_render() {
    let good = math(
        "Loss $\\lVert x - \\hat x \\rVert^2$, set $\\lbrace 1, \\dots, n\\rbrace$:\n\n$$\\phi_i = \\sum_{S} v(S)$$\n\n| a | b |\n|---|---|\n| $x'$ | $y$ |\n\n```\n$ echo $HOME\n```\n",
    );
    assert!(good.problems.is_empty(), "{:?}", good.problems);
    assert_eq!((good.display.len(), good.inline.len()), (1, 4));
    for bad in ["a $ x$ b", "a $x $ b", "costs $5 and $6", "$N = \\{1, n\\}$", "$a\\,b$", "$$a \\\\ b$$"] {
        assert!(!math(bad).problems.is_empty(), "{bad} not flagged");
    }
    assert_eq!(dollar_spans("a $x$ b $$y$$ c"), ["$x$", "$$y$$"]);
}

#[test]
fn report_and_run_name_bad_folders() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(netlens(&["report", s(dir.path()), "--out", s(&dir.path().join("r"))]));
    assert!(err.contains("not a run folder") && err.contains(s(dir.path())), "{err}");
    let missing = dir.path().join("nope");
    let err = fails(netlens(&["run", "--data-root", s(&missing), "--out-runs", s(&dir.path().join("runs"))]));
    assert!(err.contains("expected a fashion-mnist-small/ or fashion-mnist/ folder") && err.contains("nope"), "{err}");
}

/// Two runs named alike (`seed0/lenet` and `seed1/lenet`, each explaining a `model.onnx` with
/// images of the same names but different maps) keep their own figures in one report.
#[test]
fn runs_with_the_same_names_do_not_overwrite_each_others_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data = fashion_small();
    let mut runs = vec![];
    for (seed, methods) in [("seed0", "gradcam,ig"), ("seed1", "gradcam")] {
        let run = dir.path().join(seed).join("lenet");
        ok(netlens(&["train", "lenet", "--data", s(&data), "--epochs", "1", "--seed", &seed[4..], "--out", s(&run)]));
        let model = run.join("model.onnx");
        let explain = run.join("explain");
        ok(netlens(&[
            "explain",
            s(&model),
            "--data",
            s(&data),
            "--index",
            "0,1",
            "--methods",
            methods,
            "--steps",
            "4",
            "--out",
            s(&explain),
        ]));
        runs.push(run);
    }
    let out = dir.path().join("report");
    ok(netlens(&["report", s(&runs[0]), s(&runs[1]), "--out", s(&out)]));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let figures = linked_figures(&md);
    let unique: std::collections::HashSet<&String> = figures.iter().collect();
    assert_eq!(unique.len(), figures.len(), "every linked figure has its own file: {figures:?}");
    let on_disk = std::fs::read_dir(out.join("figures")).unwrap().count();
    assert_eq!(on_disk, figures.len(), "as many files as links");
    // Each run's explanation PNGs appear, byte for byte, among the report's figures.
    let contents: Vec<Vec<u8>> = figures.iter().map(|f| std::fs::read(out.join("figures").join(f)).unwrap()).collect();
    for run in &runs {
        for entry in std::fs::read_dir(run.join("explain")).unwrap() {
            let path = entry.unwrap().path();
            // The contact sheet repeats the per-image figures; the report shows those.
            let contact_sheet = path.file_name().is_some_and(|n| n == "contact_sheet.png");
            if path.extension().is_some_and(|e| e == "png") && !contact_sheet {
                let bytes = std::fs::read(&path).unwrap();
                assert!(contents.contains(&bytes), "{} is not in the report", path.display());
            }
        }
    }
    // Two classifiers: the side-by-side table, LeNet-5 counted by the stated rule (11 layers: 2
    // conv, 2 pool, 3 FC, 4 ReLU) with its learned parameters by hand: conv 156 + 2,416, FC
    // 48,120 + 10,164 + 850 = 61,706.
    assert!(md.contains("### Side by side"), "{md}");
    assert_eq!(md.matches("| LeNet-5 | 11 | — (reference) | 61706 |").count(), 2, "{md}");
}

/// The course's Grad-CAM figure explains one photo for the cat and for the dog in it: with the
/// tiny random-weight ResNet-34 fixture the report shows the pair stacked in one figure, says
/// what can and cannot be compared, and keeps the caution about a near-uniform model.
#[test]
fn the_cat_dog_photo_is_shown_for_the_cat_and_for_the_dog_with_the_caution() {
    use netlens_analyze::explain::pipeline::{ExplainInputs, ExplainOptions};
    use netlens_fetch::runs::ExplainMethod;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = shared().join("fixtures/tiny-resnet34.pth");
    ok(netlens(&["fetch", "resnet34", "--from", s(&checkpoint), "--out", s(dir.path())]));
    let model = dir.path().join("resnet34/resnet34.onnx");
    let out = dir.path().join("resnet34-cat-dog");
    let options = ExplainOptions {
        methods: vec![ExplainMethod::GradCam, ExplainMethod::IntegratedGradients],
        steps: 4,
        ..ExplainOptions::default()
    };
    let inputs = ExplainInputs::FileForClasses {
        file: shared().join("data/imagenet-samples/cat_dog.png"),
        classes: netlens::pipeline::CAT_DOG_CLASSES.to_vec(),
    };
    netlens::pipeline::steps::explain_on_device(&model, &inputs, &options, None, &out, |_| {}).unwrap();
    let report = dir.path().join("report");
    ok(netlens(&["report", s(&out), "--out", s(&report)]));
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("**One photo, 2 classes** (`cat_dog`"), "{md}");
    assert!(md.contains("explained for 'tiger cat' and 'boxer', top to bottom"), "{md}");
    assert!(md.contains("**Caution:** the mean top-class probability"), "{md}");
    let pair = report.join("figures/explain-resnet34-cat_dog-classes.png");
    assert!(linked_figures(&md).contains(&"explain-resnet34-cat_dog-classes.png".to_string()));
    let single = image::image_dimensions(out.join("cat_dog-class-282.png")).unwrap();
    assert_eq!(image::image_dimensions(&pair).unwrap(), (single.0, 2 * single.1), "two figures, one above the other");
}
