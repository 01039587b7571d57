"""Zoo check: export many real image classifiers to ONNX and check `netlens explain` on each.

For every model and exporter this script
1. exports the model (random weights, seed 0, eval mode) with a symbolic batch axis: the
   TorchScript exporter at opset 17 (`dynamic_axes`), or `dynamo=True` at the exporter's
   default opset (`dynamic_shapes`); if the dynamic export fails it retries with a fixed
   batch of 1 and says so;
2. takes a census of the op types (and the opset) in the exported graph;
3. writes a data folder in the course layout (`X_test.npy` uint8 `(1, 3, H, W)`: a real photo
   resized (shorter side H/0.875, bilinear) and centre-cropped to the model's size with PIL;
   `Y_test.npy` uint8 `(1,)`), so that netlens uses the pixels as they are;
4. runs `netlens explain MODEL --data DIR --index 0 --methods gradcam,ig,shapley --steps 64
   --grid 4 --permutations N` with a timeout, timed, keeping its stderr;
5. runs onnxruntime on the very tensor netlens sees (x/255, ImageNet-normalised in float32 for
   a 1000-class 3x224x224 model, as netlens does) and compares the logits with the
   executor's: pass when max |diff| <= 1e-3 * (max - min of onnxruntime's logits); checks the
   IG completeness error relative to |F(x) - F(x')| (pass <= 5% where |F(x) - F(x')| > 1e-3;
   above that, `bench/zoo_ig.py` computes the same IG with PyTorch autograd, and netlens passes
   when it matches PyTorch, whose own integral then misses completeness by as much),
   the Grad-CAM map (present, finite, not all zero) and the Shapley efficiency gap;
6. prints a Markdown table and writes it (`zoo.md`), the raw results (`zoo.json` and
   `results/<model>-<exporter>.json`) and everything else under `--out`.

Exports land in `--out/models` (some are 100+ MB): never point `--out` into the repository.
A by-hand check, not a test: nothing netlens needs at run time depends on Python.

Needs torch, torchvision, timm, onnx, onnxruntime, onnxscript (for dynamo), numpy, pillow.
Usage:
  python bench/zoo.py --netlens ~/.cache/netlens-ci-target/release/netlens --out /tmp/zoo \
      [--models resnet18,timm:convnext_atto] [--exporters torchscript,dynamo] \
      [--timm-exporters torchscript] [--permutations 10] [--timeout 1200] [--reuse] \
      [--calibrate] [--external-data]
  --calibrate: random weights leave many networks with vanishing (1e-9 .. 1e-16) or constant
  logits, which makes the IG and Grad-CAM checks vacuous; this sets BatchNorm statistics from
  the sample photos and re-initialises all-zero Linear weights before export (weights stay random).
  --external-data: dynamo's default of weights in a separate `.onnx.data` file.
  python bench/zoo.py --list           # the model keys
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_IMAGE = REPO.parent / "shared" / "data" / "imagenet-samples" / "cat_dog.jpg"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# torchvision builders: key -> (function name, extra kwargs, input side)
TORCHVISION = {
    "resnet18": ("resnet18", {}, 224),
    "resnext50_32x4d": ("resnext50_32x4d", {}, 224),
    "mobilenet_v2": ("mobilenet_v2", {}, 224),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}, 224),
    "efficientnet_b0": ("efficientnet_b0", {}, 224),
    "squeezenet1_1": ("squeezenet1_1", {}, 224),
    "shufflenet_v2_x0_5": ("shufflenet_v2_x0_5", {}, 224),
    "mnasnet0_5": ("mnasnet0_5", {}, 224),
    "regnet_y_400mf": ("regnet_y_400mf", {}, 224),
    "densenet121": ("densenet121", {}, 224),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": True}, 224),
    "inception_v3": ("inception_v3", {"aux_logits": False, "init_weights": True}, 299),
    "convnext_tiny": ("convnext_tiny", {}, 224),
    "swin_t": ("swin_t", {}, 224),
    "vit_b_16": ("vit_b_16", {}, 224),
}

# timm models (key "timm:<name>"), one or two per family; input size from timm's config.
TIMM = [
    "resnet18d",
    "efficientnet_b0",
    "mobilenetv3_small_100",
    "convnext_atto",
    "deit_tiny_patch16_224",
    "vit_tiny_patch16_224",
    "regnetx_002",
    "ghostnet_100",
    "lcnet_050",
    "mixnet_s",
    "rexnet_100",
    "levit_128s",
    "mobilevit_xxs",
    "coatnet_nano_rw_224",
    "efficientformer_l1",
]

ALL_MODELS = list(TORCHVISION) + [f"timm:{n}" for n in TIMM]


# ----------------------------------------------------------------------------------------------
# Export (run in a child process, so that a crash or the memory of one model cannot hurt the rest)
# ----------------------------------------------------------------------------------------------

def build_model(key):
    """The model in eval mode with random weights (seed 0), and its input side."""
    import torch

    torch.manual_seed(0)
    if key.startswith("timm:"):
        import timm

        name = key[len("timm:"):]
        model = timm.create_model(name, pretrained=False)
        side = int(timm.get_pretrained_cfg(name).input_size[-1])
        size = tuple(int(s) for s in timm.get_pretrained_cfg(name).input_size)
        assert size[0] == 3 and size[1] == size[2], size
    else:
        import torchvision

        fn, kwargs, side = TORCHVISION[key]
        model = getattr(torchvision.models, fn)(weights=None, **kwargs)
    return model.eval(), side


def calibration_batch(side, imagenet, image_dir):
    """The sample photos (and their mirror images) as the model sees them, `(N, 3, side, side)`."""
    photos = [photo(p, side) for p in sorted(image_dir.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    photos += [p[:, :, ::-1].copy() for p in photos]
    return np.concatenate([model_input(p, imagenet) for p in photos])


def calibrate(model, x):
    """Makes a random-weight network's logits depend on its input, weights staying random.

    With random weights and BatchNorm's default statistics (mean 0, variance 1), many networks'
    logits vanish (1e-9 .. 1e-16) or do not depend on the input at all (googlenet), and
    torchvision's vit_b_16 initialises its head to zeros (all logits 0): the checks are then
    vacuous. This re-initialises every all-zero Linear weight (normal, std 0.02) and sets every
    BatchNorm's running statistics to those of the activations on `x` (only the BatchNorm layers
    run in training mode; dropout and stochastic depth stay off). Returns what it changed.
    """
    import torch

    torch.manual_seed(1)
    zero_linears = [n for n, m in model.named_modules()
                    if isinstance(m, torch.nn.Linear) and not torch.any(m.weight != 0)]
    with torch.no_grad():
        for n in zero_linears:
            torch.nn.init.normal_(model.get_submodule(n).weight, std=0.02)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass gives exactly the batch statistics
        m.train()
    with torch.no_grad():
        model(torch.from_numpy(x))
    model.eval()
    return {"batchnorms": len(bns), "zero_linears_reinitialised": zero_linears}


def export_child(key, exporter, path, side, external_data, do_calibrate):
    """Exports `key` with `exporter` to `path`; prints one JSON line with what happened."""
    import torch

    model, _ = build_model(key)
    info = {"dynamic_batch": True, "attempts": []}
    if do_calibrate:
        x = calibration_batch(side, side == 224, DEFAULT_IMAGE.parent)  # all models here have 1000 classes
        info["calibrated"] = calibrate(model, x)
        info["calibration_images"] = int(x.shape[0])

    def torchscript(dynamic):
        x = torch.randn(1, 3, side, side)
        kwargs = dict(input_names=["image"], output_names=["logits"], opset_version=17, dynamo=False)
        if dynamic:
            kwargs["dynamic_axes"] = {"image": {0: "batch"}, "logits": {0: "batch"}}
        torch.onnx.export(model, (x,), str(path), **kwargs)

    def dynamo(dynamic):
        # torch.export specialises a size-1 axis, so a dynamic batch needs an example batch of 2.
        x = torch.randn(2 if dynamic else 1, 3, side, side)
        kwargs = dict(input_names=["image"], output_names=["logits"], dynamo=True,
                      external_data=external_data)
        if dynamic:
            kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=1024)},)
        prog = torch.onnx.export(model, (x,), str(path), **kwargs)
        return prog

    fn = torchscript if exporter == "torchscript" else dynamo
    # Not under torch.no_grad(): without gradients nn.MultiheadAttention takes its fused fast
    # path (aten::_native_multi_head_attention), which the TorchScript exporter cannot export.
    for dynamic in (True, False):
        try:
            fn(dynamic)
            info["dynamic_batch"] = dynamic
            info["ok"] = True
            break
        except Exception as e:  # noqa: BLE001 - any exporter failure is a result
            info["attempts"].append({
                "dynamic": dynamic,
                "error": f"{type(e).__name__}: {e}"[:4000],
                "traceback": traceback.format_exc()[-4000:],
            })
    else:
        info["ok"] = False
    print("ZOO-EXPORT " + json.dumps(info), flush=True)


def export(key, exporter, path, side, timeout, external_data, do_calibrate):
    cmd = [sys.executable, __file__, "--_export", key, exporter, str(path), str(side),
           "1" if external_data else "0", "1" if do_calibrate else "0"]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "attempts": [{"error": f"export timed out after {timeout} s"}], "seconds": timeout}
    seconds = time.perf_counter() - start
    for line in proc.stdout.splitlines():
        if line.startswith("ZOO-EXPORT "):
            info = json.loads(line[len("ZOO-EXPORT "):])
            info["seconds"] = seconds
            return info
    return {"ok": False, "seconds": seconds,
            "attempts": [{"error": f"exporter process died (exit {proc.returncode}): {proc.stderr[-3000:]}"}]}


# ----------------------------------------------------------------------------------------------
# Census, input, netlens, onnxruntime
# ----------------------------------------------------------------------------------------------

def census(path):
    """Op types (with domain when not the default one), node counts and opsets of an ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    counts = {}

    def walk(graph):
        for node in graph.node:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
            counts[op] = counts.get(op, 0) + 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for g in attr.graphs:
                    walk(g)

    walk(model.graph)
    function_ops = {}
    for f in model.functions:
        for node in f.node:
            function_ops[node.op_type] = function_ops.get(node.op_type, 0) + 1
    opsets = {(o.domain or "ai.onnx"): o.version for o in model.opset_import}
    has_external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    inp = model.graph.input[0]
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    return {
        "opset": opsets.get("ai.onnx"),
        "opsets": opsets,
        "nodes": sum(counts.values()),
        "op_counts": dict(sorted(counts.items())),
        "functions": [f"{f.domain}::{f.name}" for f in model.functions],
        "function_op_counts": dict(sorted(function_ops.items())),
        "external_data": has_external,
        "input_dims": dims,
        "file_mb": round(os.path.getsize(path) / 1e6, 1),
    }


def photo(image, side):
    """uint8 (3, side, side): the photo resized (shorter side side/0.875) and centre-cropped."""
    from PIL import Image

    img = Image.open(image).convert("RGB")
    short = round(side / 0.875)
    w, h = img.size
    if w <= h:
        nw, nh = short, round(h * short / w)
    else:
        nw, nh = round(w * short / h), short
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - side) // 2, (nh - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def model_input(u8, imagenet):
    """The float32 tensor netlens feeds the model: x/255, ImageNet-normalised when asked."""
    x = u8.astype(np.float32) / np.float32(255)
    if imagenet:
        x = (x - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
    return x[None].astype(np.float32)


def run_netlens(netlens, model_path, data_dir, out_dir, permutations, timeout, log_path,
                methods="gradcam,ig,shapley"):
    """Runs `netlens explain`, timed, with a timeout; returns exit, output and peak memory."""
    cmd = [str(netlens), "explain", str(model_path), "--data", str(data_dir), "--index", "0",
           "--methods", methods, "--steps", "64", "--grid", "4",
           "--permutations", str(permutations), "--out", str(out_dir)]
    out_f, err_f = log_path.with_suffix(".stdout"), log_path.with_suffix(".stderr")
    start = time.perf_counter()
    with open(out_f, "w") as so, open(err_f, "w") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, start_new_session=True)
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > timeout:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    stdout, stderr = out_f.read_text(errors="replace"), err_f.read_text(errors="replace")
    log_path.write_text(f"$ {' '.join(cmd)}\n--- exit {proc.returncode} timed_out={timed_out} "
                        f"{seconds:.1f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MB\n"
                        f"--- stdout\n{stdout}\n--- stderr\n{stderr}\n")
    return {"cmd": cmd, "exit": proc.returncode, "timed_out": timed_out, "seconds": seconds,
            "stdout": stdout, "stderr": stderr, "peak_rss_mb": usage.ru_maxrss / 1024}


def ort_logits(model_path, x):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = sess.run(None, {name: x})[0]
    return np.asarray(out, dtype=np.float64).reshape(-1)


def netlens_error(stderr):
    """netlens's error: the lines from `Error`/`error` on, else the last lines of stderr."""
    lines = [l for l in stderr.splitlines() if l.strip()]
    for i, l in enumerate(lines):
        if re.match(r"^(Error|error)\b", l.strip()):
            return "\n".join(lines[i:])
    return "\n".join(lines[-15:])


SUPPORTED_RE = re.compile(r"supported: ([A-Za-z0-9_, ]+)")


def supported_from(message):
    m = SUPPORTED_RE.search(message or "")
    return sorted(s.strip() for s in m.group(1).split(",") if s.strip()) if m else None


def classify_error(message):
    """(loads, short) for a netlens error message."""
    m = re.search(r"node `([^`]*)`: ONNX op `([^`]*)` is not supported", message)
    if m:
        return "no", f"unsupported op `{m.group(2)}` (node `{m.group(1)}`)"
    m = re.search(r"node `([^`]*)` \(([^)]*)\): (.*)", message)
    if m:
        reason = m.group(3)
        load_time = ("is not implemented by the executor" in reason or "older than" in reason
                     or "which the executor does not evaluate" in reason)
        return ("no" if load_time else "yes, fails at run"), f"`{m.group(2)}` node `{m.group(1)}`: {reason}"
    m = re.search(r"invalid layer = (.*?): (.*)", message)
    if m:
        return "yes", f"Grad-CAM refuses its auto layer `{m.group(1)}`: {m.group(2)}"
    if "tract could not" in message:
        # The executor loads the graph before tract does: this is tract's failure, not the executor's.
        m = re.search(r"tract could not (.*)", message)
        return "executor yes, tract no", "tract could not " + m.group(1)
    if "not a valid ONNX model" in message:
        return "no", message.splitlines()[0] if message else message
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    return "?", first


# ----------------------------------------------------------------------------------------------
# One model, the table
# ----------------------------------------------------------------------------------------------

def check_one(key, exporter, args, supported_ops):
    tag = f"{key.replace(':', '-')}-{exporter}" + ("-cal" if args.calibrate else "")
    models_dir, work = args.out / "models", args.out / "work" / tag
    models_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{tag}.onnx"
    side = TORCHVISION[key][2] if key in TORCHVISION else None
    if side is None:
        import timm

        side = int(timm.get_pretrained_cfg(key[len("timm:"):]).input_size[-1])
    r = {"model": key, "exporter": exporter, "side": side, "onnx": str(path)}
    total_start = time.perf_counter()

    # 1. export
    if args.reuse and path.exists() and (work / "export.json").exists():
        r["export"] = json.loads((work / "export.json").read_text())
        r["export"]["reused"] = True
    else:
        print(f"  exporting {key} with {exporter} ...", flush=True)
        r["export"] = export(key, exporter, path, side, args.export_timeout, args.external_data,
                             args.calibrate)
        (work / "export.json").write_text(json.dumps(r["export"], indent=1))
    if not r["export"].get("ok"):
        r["status"] = "PyTorch cannot export"
        r["seconds_total"] = time.perf_counter() - total_start
        return r

    # 2. census
    r["census"] = census(path)

    # 3. input in the course layout
    u8 = photo(args.image, side)
    data_dir = work / "data"
    data_dir.mkdir(exist_ok=True)
    np.save(data_dir / "X_test.npy", u8[None])
    np.save(data_dir / "Y_test.npy", np.zeros(1, dtype=np.uint8))

    # 5a. onnxruntime first (cheap) — both normalisations, to diagnose a normalisation mismatch
    try:
        ort_raw = ort_logits(path, model_input(u8, False))
        classes = ort_raw.size
        imagenet = classes == 1000 and side == 224
        ort_l = ort_logits(path, model_input(u8, True)) if imagenet else ort_raw
        r["ort"] = {"classes": int(classes), "imagenet_normalised": bool(imagenet),
                    "argmax": int(np.argmax(ort_l)), "range": float(ort_l.max() - ort_l.min()),
                    "min": float(ort_l.min()), "max": float(ort_l.max())}
    except Exception as e:  # noqa: BLE001
        r["ort"] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        ort_l = ort_raw = None
        imagenet = None

    # 4. netlens
    out_dir = work / "explain"
    if out_dir.exists():
        for f in out_dir.iterdir():
            f.unlink()
    print(f"  netlens explain {tag} ...", flush=True)
    nl = run_netlens(args.netlens, path, data_dir, out_dir, args.permutations, args.timeout, work / "netlens.log")
    r["netlens"] = {k: nl[k] for k in ("exit", "timed_out", "seconds", "peak_rss_mb")}
    r["seconds_netlens"] = nl["seconds"]
    expl_path = out_dir / "explanations.json"
    if nl["exit"] != 0 and "invalid layer = " in nl["stderr"]:
        # Grad-CAM refused the layer it chose itself: record that, and check the rest without it.
        r["grad_cam_error"] = netlens_error(nl["stderr"])
        print(f"  Grad-CAM refused its layer; netlens explain {tag} --methods ig,shapley ...", flush=True)
        nl = run_netlens(args.netlens, path, data_dir, out_dir, args.permutations, args.timeout,
                         work / "netlens-ig-shapley.log", methods="ig,shapley")
        r["netlens_retry"] = {k: nl[k] for k in ("cmd", "exit", "timed_out", "seconds", "peak_rss_mb")}
        r["seconds_netlens"] += nl["seconds"]
    if nl["exit"] != 0 or not expl_path.exists():
        msg = netlens_error(nl["stderr"])
        if nl["timed_out"]:
            msg = f"timed out after {args.timeout} s\n" + msg
        r["netlens"]["error"] = msg
        r["netlens"]["stderr_tail"] = nl["stderr"][-6000:]
        loads, short = classify_error(msg)
        if nl["timed_out"]:
            loads, short = "?", f"timed out after {args.timeout} s"
        r["loads"], r["error_short"] = loads, short
        sup = supported_from(msg)
        if sup:
            supported_ops.setdefault("list", sup)
        r["status"] = "netlens failed"
    else:
        r["loads"] = "yes"
        doc = json.loads(expl_path.read_text())
        img = doc["images"][0]
        r["netlens"]["predicted"] = img.get("predicted")
        r["netlens"]["target"] = img.get("target")
        logits = np.asarray(img["logits"], dtype=np.float64)

        # 5b. logits vs onnxruntime
        if ort_l is not None:
            if logits.shape != ort_l.shape:
                r["logits"] = {"error": f"shape {logits.shape} vs onnxruntime {ort_l.shape}"}
            else:
                diff = float(np.max(np.abs(logits - ort_l)))
                tol = 1e-3 * float(ort_l.max() - ort_l.min())
                r["logits"] = {"max_abs_diff": diff, "tolerance": tol, "ok": bool(diff <= tol),
                               "argmax_netlens": int(np.argmax(logits)), "argmax_ort": int(np.argmax(ort_l)),
                               "finite": bool(np.all(np.isfinite(logits)))}
                if imagenet is not None and not r["logits"]["ok"]:
                    other = ort_raw if imagenet else ort_logits(path, model_input(u8, True))
                    r["logits"]["max_abs_diff_vs_other_normalisation"] = float(np.max(np.abs(logits - other)))
                    worst = int(np.argmax(np.abs(logits - ort_l)))
                    r["logits"]["worst_class"] = worst
                    r["logits"]["worst_netlens_ort"] = [float(logits[worst]), float(ort_l[worst])]
        # Grad-CAM
        gc = img.get("grad_cam")
        if gc is None and "grad_cam_error" in r:
            r["grad_cam"] = {"ok": False, "why": "auto layer refused", "error": r["grad_cam_error"]}
        elif gc is None:
            r["grad_cam"] = {"ok": False, "why": "missing"}
        else:
            m = np.asarray(gc["map"]["data"], dtype=np.float64)
            lm = np.asarray(gc["layer_map"]["data"], dtype=np.float64)
            finite = bool(np.all(np.isfinite(m)))
            nonzero = bool(finite and np.any(m != 0))
            r["grad_cam"] = {"ok": finite and nonzero, "layer": gc.get("layer"), "finite": finite,
                             "all_zero": finite and not nonzero, "max": float(np.nanmax(m)) if m.size else None,
                             "layer_map_shape": [gc["layer_map"].get("height"), gc["layer_map"].get("width")],
                             "layer_map_nonzero_frac": float(np.mean(lm > 0)) if lm.size else None,
                             "logit": gc.get("logit")}
        # IG
        ig = img.get("integrated_gradients")
        if ig is None:
            r["ig"] = {"ok": False, "why": "missing"}
        else:
            delta = abs(ig["logit"] - ig["baseline_logit"])
            err = ig["completeness_error"]
            attr = np.asarray(ig["attributions"], dtype=np.float64)
            rel = err / delta if delta > 1e-3 else None
            r["ig"] = {"completeness_error": err, "delta": delta, "relative": rel,
                       "near_zero": delta <= 1e-3,
                       "ok": bool(np.all(np.isfinite(attr)) and np.isfinite(err)
                                  and (rel is None or rel <= 0.05)),
                       "logit": ig["logit"], "baseline_logit": ig["baseline_logit"],
                       "finite": bool(np.all(np.isfinite(attr)))}
            if ort_l is not None and ort_l.size > ig["target"]:
                r["ig"]["logit_minus_ort"] = float(ig["logit"] - ort_l[ig["target"]])
            if not r["ig"]["ok"] and r["ig"]["finite"] and args.ig_reference:
                r["ig"]["reference"] = ig_reference(key, exporter, args)
                r["ig"]["ok"] = r["ig"]["reference"].get("agrees", False)
        # Shapley
        sh = img.get("shapley")
        if sh is None:
            r["shapley"] = {"ok": False, "why": "missing"}
        else:
            vals = np.asarray(sh["values"], dtype=np.float64)
            span = abs(sh["full_logit"] - sh["empty_logit"])
            gap = sh["efficiency_gap"]
            r["shapley"] = {"efficiency_gap": gap, "span": span,
                            "relative": gap / span if span > 1e-3 else None,
                            "finite": bool(np.all(np.isfinite(vals))),
                            "ok": bool(np.all(np.isfinite(vals)) and np.isfinite(gap)
                                       and gap <= max(1e-3 * span, 1e-4)),
                            "full_logit": sh["full_logit"], "empty_logit": sh["empty_logit"]}
            if ort_l is not None and ort_l.size > sh["target"]:
                # v(N) comes from tract's forward pass: a second independent engine.
                r["shapley"]["full_logit_minus_ort"] = float(sh["full_logit"] - ort_l[sh["target"]])
        ok = all(r.get(k, {}).get("ok") for k in ("logits", "grad_cam", "ig", "shapley"))
        r["status"] = "ok" if ok else "check failed"
    r["seconds_total"] = time.perf_counter() - total_start
    return r


def ig_reference(key, exporter, args):
    """A large completeness error is either netlens's gradients or the path integral's own
    quadrature error (steep ReLU networks need hundreds of steps). `bench/zoo_ig.py` tells them
    apart: it runs netlens and PyTorch autograd on the same model with the baseline x' = 0 and the
    trapezoid rule at 64 steps. netlens passes when its attributions are as close to PyTorch's
    float64 ones as PyTorch's float32 ones are (max |diff| within twice theirs, or 2% of the
    largest attribution) and the float64 integral misses completeness by as much (within a
    factor of 1.5): then the error is the method's, not netlens's."""
    cmd = [sys.executable, str(REPO / "bench" / "zoo_ig.py"), "--model", key, "--exporter", exporter,
           "--out", str(args.out / "ig"), "--steps", "64", "--netlens", str(args.netlens)]
    if args.calibrate:
        cmd.append("--calibrate")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout * 3)
    if p.returncode != 0:
        return {"agrees": False, "error": (p.stderr or p.stdout)[-500:]}
    res = json.loads(p.stdout)
    t = res["trapezoid_64"]
    vs = t["netlens_vs_torch_float32"]
    # Distance to the float64 integral, allowed up to twice PyTorch float32's own (a ReLU gate
    # that flips between float32 runs moves single pixels), or 2% of the largest attribution.
    ours64 = t["netlens_vs_torch_float64"]["max_abs_diff_over_max_abs"]
    theirs64 = t["torch_float32_vs_float64"]["max_abs_diff_over_max_abs"]
    ours, torch64 = t["netlens"]["relative"], t["torch_float64"]["relative"]
    close = ours64 <= max(0.02, 2 * theirs64)
    agrees = close and torch64 > 0 and 1 / 1.5 <= ours / torch64 <= 1.5
    return {"agrees": bool(agrees), "max_abs_diff_over_max_abs": vs["max_abs_diff_over_max_abs"],
            "pearson": vs["pearson"], "netlens_relative": ours, "torch_float64_relative": torch64,
            "netlens_vs_float64": ours64, "torch_float32_vs_float64": theirs64}


def fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}g}" if abs(x) < 1e-2 or abs(x) >= 1e4 else f"{x:.{digits + 1}g}"


def unsupported_ops(r, supported_ops):
    sup = supported_ops.get("list")
    if not sup or "census" not in r:
        return None
    ops = r["census"]["op_counts"]
    return sorted(op for op in ops if op not in sup)


def row(r, supported_ops):
    c = r.get("census", {})
    exp = r.get("export", {})
    exporter = r["exporter"] + ("" if exp.get("dynamic_batch", True) else " (fixed batch 1)")
    if exp.get("calibrated") is not None:
        exporter += " (calibrated)"
    cells = [r["model"], exporter, str(c.get("opset", "—"))]
    if r.get("status") == "PyTorch cannot export":
        err = exp.get("attempts", [{}])[-1].get("error", "")
        return cells + ["—", f"PyTorch cannot export: {err.splitlines()[0][:120] if err else ''}",
                        "—", "—", "—", "—", "—", f"{exp.get('seconds', 0):.0f}"]
    missing = unsupported_ops(r, supported_ops)
    nops = f"{len(c.get('op_counts', {}))} / " + (", ".join(missing) if missing else ("none" if missing is not None else "?"))
    loads = r.get("loads", "?")
    if r.get("status") == "netlens failed":
        short = r.get("error_short", "")
        loads = f"{loads}: {short}"[:220]
        return cells + [nops, loads, "—", "—", "—", "—", f"{r['seconds_netlens']:.0f}"]
    lg = r.get("logits", {})
    if "max_abs_diff" in lg:
        logits = f"{fmt(lg['max_abs_diff'])} (≤ {fmt(lg['tolerance'])}) {'ok' if lg['ok'] else 'FAIL'}"
        if not lg["finite"]:
            logits += " non-finite"
    else:
        logits = lg.get("error", r.get("ort", {}).get("error", "—"))[:100]
    gc = r.get("grad_cam", {})
    gcs = "ok" if gc.get("ok") else ("all zero" if gc.get("all_zero") else ("non-finite" if "finite" in gc else gc.get("why", "—")))
    if gc.get("why") == "auto layer refused":
        m = re.search(r"invalid layer = (.*?): (.*)", gc["error"])
        gcs = f"FAIL: refuses its own auto layer `{m.group(1)}` ({m.group(2).split(':')[0]}); IG, Shapley rerun without it" if m else gc["error"][:150]
    if gc.get("layer"):
        gcs += f" (`{gc['layer']}`)"
    ig = r.get("ig", {})
    if "completeness_error" in ig:
        if ig["near_zero"]:
            raw = ig["completeness_error"] / ig["delta"] if ig["delta"] > 0 else None
            igs = "near-zero logits" + (f" (|ΔF| {ig['delta']:.1e}, rel. {100 * raw:.2g}%)" if raw is not None
                                        else " (F(x) = F(x′) exactly)")
        else:
            igs = f"{100 * ig['relative']:.2g}%"
        ref = ig.get("reference")
        if ref and "torch_float64_relative" in ref:
            within = (f"{100 * ref['netlens_vs_float64']:.2g}% of float64's (PyTorch float32: "
                      f"{100 * ref['torch_float32_vs_float64']:.2g}%)" if "netlens_vs_float64" in ref
                      else f"{100 * ref['max_abs_diff_over_max_abs']:.2g}% of PyTorch float32's")
            igs += (f" (zeros baseline: PyTorch float64 {100 * ref['torch_float64_relative']:.2g}% vs netlens "
                    f"{100 * ref['netlens_relative']:.2g}%, attributions within {within}: quadrature)")
        igs += "" if ig["ok"] else " FAIL"
    else:
        igs = ig.get("why", "—")
    sh = r.get("shapley", {})
    if "efficiency_gap" in sh:
        shs = f"{'ok' if sh['ok'] else 'FAIL'} (gap {fmt(sh['efficiency_gap'])})"
    else:
        shs = sh.get("why", "—")
    return cells + [nops, loads, logits, gcs, igs, shs, f"{r['seconds_netlens']:.0f}"]


HEADER = ["model", "exporter", "opset", "#op types / unsupported", "loads", "logits max |Δ| (criterion)",
          "Grad-CAM", "IG completeness (rel.)", "Shapley (efficiency gap)", "s"]


def table(results, supported_ops):
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in results:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row(r, supported_ops)) + " |")
    return "\n".join(lines)


def readme_table(results):
    """One row per model, both exporters side by side (`torchscript / dynamo`): the condensed
    table the README carries."""
    by_model = {}
    for r in results:
        by_model.setdefault(r["model"], {})[r["exporter"]] = r

    def both(f):
        return " / ".join(f(by_model[m].get(e)) if by_model[m].get(e) else "—" for e in ("torchscript", "dynamo"))

    def logits(r):
        lg = r.get("logits", {})
        if "max_abs_diff" not in lg:
            return "FAIL: " + r.get("status", "?")
        return f"{fmt(lg['max_abs_diff'])} {'ok' if lg['ok'] else 'FAIL'}"

    def ig(r):
        g = r.get("ig", {})
        if "completeness_error" not in g:
            return g.get("why", "—")
        if g["near_zero"]:
            return "near-zero logits"
        text = f"{100 * g['relative']:.2g}%"
        ref = g.get("reference")
        if ref and "torch_float64_relative" in ref:
            text += f" (zeros: {100 * ref['netlens_relative']:.2g}% = PyTorch {100 * ref['torch_float64_relative']:.2g}%)"
        return text + ("" if g["ok"] else " FAIL")

    def shapley(r):
        sh = r.get("shapley", {})
        return f"{fmt(sh['efficiency_gap'])}" + ("" if sh.get("ok") else " FAIL") if "efficiency_gap" in sh else "—"

    def seconds(r):
        return f"{r.get('seconds_netlens', 0):.0f}"

    lines = ["| model | opset | logits max \\|Δ\\| vs onnxruntime | Grad-CAM layer (TorchScript export) | "
             "IG completeness error, 64 steps | Shapley efficiency gap | seconds |", "|---|---|---|---|---|---|---|"]
    for m, rs in by_model.items():
        ts = rs.get("torchscript") or next(iter(rs.values()))
        gc = ts.get("grad_cam", {})
        layer = f"`{gc['layer']}`" if gc.get("ok") else ("all zero" if gc.get("all_zero") else "FAIL")
        lines.append(f"| {m} | {both(lambda r: str(r.get('census', {}).get('opset', '—')))} | {both(logits)} | "
                     f"{layer} | {both(ig)} | {both(shapley)} | {both(seconds)} |")
    return "\n".join(lines)


def details(results, supported_ops):
    out = []
    for r in results:
        tag = f"{r['model']} / {r['exporter']}"
        if r.get("status") == "PyTorch cannot export":
            out.append(f"### {tag}: PyTorch cannot export\n")
            for a in r["export"].get("attempts", []):
                out.append(f"- dynamic={a.get('dynamic')}: `{a.get('error', '')[:1500]}`")
            out.append("")
            continue
        exp = r.get("export", {})
        if exp.get("attempts") and r.get("status") != "PyTorch cannot export":
            out.append(f"### {tag}: dynamic-batch export failed, fixed batch 1 used\n")
            for a in exp["attempts"]:
                out.append(f"- `{a.get('error', '')[:1500]}`")
            out.append("")
        if r.get("status") in ("netlens failed", "check failed"):
            out.append(f"### {tag}: {r['status']}\n")
            if "error" in r.get("netlens", {}):
                msg = r["netlens"]["error"]
                msg = re.sub(r"supported: [A-Za-z0-9_, ]+", "supported: <list>", msg)
                out.append("```\n" + msg + "\n```")
            for k in ("logits", "grad_cam", "ig", "shapley"):
                if k in r and not r[k].get("ok"):
                    out.append(f"- {k}: `{json.dumps(r[k])}`")
            c = r.get("census", {})
            missing = unsupported_ops(r, supported_ops)
            out.append(f"- census (opset {c.get('opset')}, {c.get('nodes')} nodes): "
                       + ", ".join(f"{k}×{v}" for k, v in c.get("op_counts", {}).items()))
            if c.get("functions"):
                out.append(f"- local functions: {', '.join(c['functions'])}")
            if missing is not None:
                out.append(f"- op types not in the executor's supported list: {', '.join(missing) or 'none'}")
            out.append("")
    return "\n".join(out)


def probe_supported(args, supported_ops):
    """The executor's supported op list, read from its error on a one-node model of an unknown op."""
    import onnx
    from onnx import TensorProto, helper

    probe_dir = args.out / "work" / "probe"
    probe_dir.mkdir(parents=True, exist_ok=True)
    node = helper.make_node("ZooProbeUnknownOp", ["image"], ["logits"], name="probe")
    graph = helper.make_graph([node], "probe",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = probe_dir / "probe.onnx"
    onnx.save(model, str(path))
    data = probe_dir / "data"
    data.mkdir(exist_ok=True)
    np.save(data / "X_test.npy", np.zeros((1, 3, 8, 8), np.uint8))
    np.save(data / "Y_test.npy", np.zeros(1, np.uint8))
    nl = run_netlens(args.netlens, path, data, probe_dir / "explain", 2, 120, probe_dir / "netlens.log")
    sup = supported_from(nl["stderr"])
    if sup:
        supported_ops["list"] = sup
    return sup


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--netlens", type=Path, default=Path.home() / ".cache/netlens-ci-target/release/netlens")
    p.add_argument("--out", type=Path, default=Path("/tmp/zoo"))
    p.add_argument("--models", default=",".join(ALL_MODELS), help="comma-separated keys (see --list)")
    p.add_argument("--exporters", default="torchscript,dynamo", help="for torchvision models")
    p.add_argument("--timm-exporters", default="torchscript", help="for timm models")
    p.add_argument("--permutations", type=int, default=10)
    p.add_argument("--timeout", type=int, default=1200, help="seconds per netlens run")
    p.add_argument("--export-timeout", type=int, default=1200)
    p.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    p.add_argument("--reuse", action="store_true", help="reuse exports already in --out")
    p.add_argument("--external-data", action="store_true",
                   help="dynamo: keep the exporter's default of weights in a separate .data file")
    p.add_argument("--list", action="store_true")
    p.add_argument("--table", action="store_true",
                   help="run nothing; rebuild zoo.md and zoo.json from all results in --out/results")
    p.add_argument("--calibrate", action="store_true",
                   help="before export, set BatchNorm statistics from the sample photos and re-initialise "
                        "all-zero Linear weights (random weights otherwise give vanishing or constant logits "
                        "in many networks)")
    p.add_argument("--no-ig-reference", dest="ig_reference", action="store_false",
                   help="do not run bench/zoo_ig.py (PyTorch autograd IG) where IG misses completeness by > 5%%")
    p.add_argument("--_export", nargs=6, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._export:
        key, exporter, path, side, ext, cal = args._export
        export_child(key, exporter, Path(path), int(side), ext == "1", cal == "1")
        return
    if args.list:
        print("\n".join(ALL_MODELS))
        return
    args.out = args.out.resolve()
    if str(args.out).startswith(str(REPO)):
        sys.exit(f"--out {args.out} is inside the repository; exports are large: choose a folder outside it")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results").mkdir(exist_ok=True)
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    for k in keys:
        if k not in ALL_MODELS and not k.startswith("timm:"):
            sys.exit(f"unknown model {k}; known: {', '.join(ALL_MODELS)}")
    import hashlib

    binary = args.netlens.read_bytes()
    args.netlens_id = (f"sha256 {hashlib.sha256(binary).hexdigest()[:16]}, built "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(args.netlens.stat().st_mtime))} UTC")
    del binary
    supported_ops = {}
    sup = probe_supported(args, supported_ops)
    print(f"executor supports {len(sup) if sup else '?'} op types: {', '.join(sup or [])}", flush=True)
    results = []
    start = time.perf_counter()
    if args.table:
        # Rebuild the table from every result in --out/results (e.g. after runs of a few models).
        order = {k: i for i, k in enumerate(ALL_MODELS)}
        for f in (args.out / "results").glob("*.json"):
            results.append(json.loads(f.read_text()))
        results.sort(key=lambda r: (order.get(r["model"], len(order)), r["model"],
                                    ["torchscript", "dynamo"].index(r["exporter"]) if r["exporter"] in
                                    ("torchscript", "dynamo") else 9, str(r.get("export", {}).get("calibrated"))))
        keys = []
    for key in keys:
        exporters = args.timm_exporters if key.startswith("timm:") else args.exporters
        for exporter in [e.strip() for e in exporters.split(",") if e.strip()]:
            print(f"== {key} / {exporter}", flush=True)
            try:
                r = check_one(key, exporter, args, supported_ops)
            except Exception as e:  # noqa: BLE001 - a bug here must not stop the zoo
                r = {"model": key, "exporter": exporter, "status": "script error",
                     "error": traceback.format_exc(), "seconds_netlens": 0}
                print(traceback.format_exc(), flush=True)
            results.append(r)
            tag = f"{key.replace(':', '-')}-{exporter}" + ("-cal" if args.calibrate else "")
            (args.out / "results" / f"{tag}.json").write_text(json.dumps(r, indent=1, default=str))
            if r.get("status") != "script error":
                print("   " + " | ".join(row(r, supported_ops)), flush=True)
    elapsed = time.perf_counter() - start
    import onnx
    import onnxruntime
    import torch
    import torchvision

    versions = (f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnx {onnx.__version__}, "
                f"onnxruntime {onnxruntime.__version__}")
    try:
        import timm

        versions += f", timm {timm.__version__}"
    except ImportError:
        pass
    rows = [r for r in results if r.get("status") != "script error"]
    md = [f"# netlens zoo check\n",
          f"netlens: `{args.netlens}` ({args.netlens_id}); {versions}; image `{args.image.name}`; "
          f"`--steps 64 --grid 4 --permutations {args.permutations}`"
          f"{'; --calibrate' if args.calibrate else ''}{'; --external-data' if args.external_data else ''}; "
          + (f"total {elapsed / 60:.1f} min.\n" if not args.table else
           f"table rebuilt from {len(results)} results; netlens time summed: "
           f"{sum(r.get('seconds_netlens', 0) for r in results) / 60:.1f} min, with exports and onnxruntime: "
           f"{sum(r.get('seconds_total', 0) for r in results) / 60:.1f} min.\n"),
          f"Executor's supported op types ({len(supported_ops.get('list', []))}): "
          f"{', '.join(supported_ops.get('list', []))}\n",
          table(rows, supported_ops), "", "## Failures\n", details(rows, supported_ops)]
    for r in results:
        if r.get("status") == "script error":
            md.append(f"### {r['model']} / {r['exporter']}: script error\n```\n{r['error']}\n```")
    text = "\n".join(md)
    (args.out / "zoo.md").write_text(text)
    (args.out / "zoo-readme.md").write_text(readme_table(rows) + "\n")
    (args.out / "zoo.json").write_text(json.dumps({"versions": versions, "elapsed_s": elapsed,
                                                   "netlens": f"{args.netlens} ({args.netlens_id})",
                                                   "supported_ops": supported_ops.get("list"),
                                                   "results": results}, indent=1, default=str))
    print()
    print(text)


if __name__ == "__main__":
    main()
