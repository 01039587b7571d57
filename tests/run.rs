//! `netlens run`: the plan printed, edited and run; a changed setting reruns only the stages
//! that depend on it.

use std::path::Path;

use crate::common::{fails, netlens, ok, shared};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Sets `table[key] = value` where `key` is `a.b.c`.
fn set(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts = key.split('.').peekable();
    let mut t = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            t.insert(part.into(), value);
            return;
        }
        t = t
            .get_mut(part)
            .and_then(toml::Value::as_table_mut)
            .unwrap_or_else(|| panic!("no table `{part}` in the plan"));
    }
}

/// The default plan for the small data, cut down to seconds per stage.
fn tiny_plan(dir: &Path) -> toml::Table {
    let out = ok(netlens(&[
        "run",
        "--data-root",
        s(&shared().join("data")),
        "--out-runs",
        s(&dir.join("runs")),
        "--report",
        s(&dir.join("report")),
        "--print-plan",
    ]));
    let mut plan: toml::Table = toml::from_str(&out).expect("--print-plan prints TOML");
    for c in plan["classifiers"].as_array_mut().unwrap() {
        c.as_table_mut().unwrap().insert("epochs".into(), 1.into());
    }
    for (key, value) in [
        ("vae.epochs", 1.into()),
        ("vae_limit", 64.into()),
        ("features.per_class", 15.into()),
        ("features.iterations", 250.into()),
        ("explain.images", 1.into()),
        ("explain.options.steps", 4.into()),
        ("explain.options.permutations", 4.into()),
        ("explain.options.faithfulness.steps", 4.into()),
    ] {
        set(&mut plan, key, value);
    }
    plan
}

fn run_plan(dir: &Path, plan: &toml::Table) -> String {
    let file = dir.join("plan.toml");
    std::fs::write(&file, toml::to_string(plan).unwrap()).unwrap();
    let out = netlens(&["run", "--plan", s(&file)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    stderr
}

#[test]
fn an_edited_plan_reruns_only_what_depends_on_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = tiny_plan(dir.path());
    let first = run_plan(dir.path(), &plan);
    for stage in ["train lenet", "features cnn", "explain cnn", "train vae", "interpolate"] {
        assert!(first.contains(&format!("== {stage}\n")), "first run lacks `{stage}`:\n{first}");
    }
    let report = std::fs::read_to_string(dir.path().join("report/report.md")).unwrap();
    assert!(report.contains("## 1. Classifiers") && report.contains("## 4. Explanations"), "{report}");
    // The VAE's attribute edits and face pairs, drawn by the interpolation stage and in the report.
    let interp = dir.path().join("runs/vae/interp");
    for file in ["faces.json", "edit_female_male.png", "edit_older_younger.png", "pairs.png"] {
        assert!(interp.join(file).is_file(), "{file}");
    }
    assert!(report.contains("](figures/vae-edit_female_male.png)") && report.contains("](figures/vae-pairs.png)"));
    // The CNN is the third classifier of the default plan.
    let cnn = &mut plan["classifiers"].as_array_mut().unwrap()[2];
    assert_eq!(cnn["architecture"].as_str(), Some("cnn"));
    cnn.as_table_mut().unwrap().insert("epochs".into(), 2.into());
    let second = run_plan(dir.path(), &plan);
    assert!(second.contains("== train cnn (settings changed: epochs 1 → 2)"), "{second}");
    for stage in ["features cnn", "explain cnn"] {
        assert!(second.contains(&format!("== {stage} (input changed: ")), "`{stage}` did not rerun:\n{second}");
    }
    for stage in ["train lenet", "features lenet", "train shallow", "features shallow", "train vae", "interpolate"] {
        assert!(second.contains(&format!("== {stage}: up to date, skipped")), "`{stage}` reran:\n{second}");
    }
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("runs/cnn/history.json")).unwrap()).unwrap();
    assert_eq!(history["epochs"].as_array().unwrap().len(), 2, "the CNN trained for the plan's 2 epochs");
    let third = run_plan(dir.path(), &plan);
    let reran: Vec<&str> = third
        .lines()
        .filter(|l| l.starts_with("== ") && !l.ends_with("up to date, skipped") && !l.starts_with("== ResNet"))
        .collect();
    assert!(reran.is_empty(), "nothing changed, yet these ran: {reran:?}");
}

#[test]
fn a_plan_with_a_bad_value_is_refused_before_any_stage() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = tiny_plan(dir.path());
    set(&mut plan, "vae.beta", (-1.0).into());
    let file = dir.path().join("plan.toml");
    std::fs::write(&file, toml::to_string(&plan).unwrap()).unwrap();
    let err = fails(netlens(&["run", "--plan", s(&file)]));
    assert!(err.contains("plan.toml") && err.contains("beta = -1"), "{err}");
    assert!(!dir.path().join("runs").exists(), "nothing was made");
    let err = fails(netlens(&["run", "--plan", s(&dir.path().join("none.toml"))]));
    assert!(err.contains("none.toml"), "{err}");
}
