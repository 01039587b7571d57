//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__Resize.html>,
//! <https://onnx.ai/onnx/operators/onnx__Upsample.html>
//!
//! `Resize` at every version: opset 10 (scales only; `asymmetric` coordinates, nearest rounds
//! down), 11 and 13 (`roi`, `scales` or `sizes`; `coordinate_transformation_mode`
//! `half_pixel`, `pytorch_half_pixel`, `align_corners`, `asymmetric`, `tf_half_pixel_for_nn`,
//! `tf_crop_and_resize` with `extrapolation_value`; `nearest_mode`; `cubic_coeff_a`,
//! `exclude_outside`), 18 (`antialias`, `axes`, `keep_aspect_ratio_policy`), 19
//! (`half_pixel_symmetric`); `Upsample` (7: scales attribute; 9: scales input). Modes nearest,
//! linear and cubic, separably per axis: each output position is a weighted sum of input
//! positions (weights from the host, values gathered on the device, so gradients flow back).

use burn::tensor::{Int, Tensor, TensorData};

use super::{Ctx, OpDef, Phys, Value, host_floats, padded, phys_axis};
use crate::error::Result;

pub(crate) const OPS: &[OpDef] = &[
    OpDef {
        op: "Resize",
        since: 10,
        attrs: &[
            "mode",
            "coordinate_transformation_mode",
            "nearest_mode",
            "cubic_coeff_a",
            "exclude_outside",
            "extrapolation_value",
            "antialias",
            "axes",
            "keep_aspect_ratio_policy",
        ],
        check: check_resize,
        eval: resize,
    },
    OpDef { op: "Upsample", since: 7, attrs: &["mode", "scales"], check: check_upsample, eval: upsample },
];

fn check_resize(ctx: &Ctx) -> Result<()> {
    ctx.attr_choice("mode", "nearest", &["nearest", "linear", "cubic"])?;
    let modes: &[&str] = match ctx.opset {
        ..=10 => &["asymmetric"],
        11..=18 => &[
            "half_pixel",
            "pytorch_half_pixel",
            "align_corners",
            "asymmetric",
            "tf_half_pixel_for_nn",
            "tf_crop_and_resize",
        ],
        _ => &[
            "half_pixel",
            "half_pixel_symmetric",
            "pytorch_half_pixel",
            "align_corners",
            "asymmetric",
            "tf_crop_and_resize",
        ],
    };
    ctx.attr_choice(
        "coordinate_transformation_mode",
        if ctx.opset >= 11 { "half_pixel" } else { "asymmetric" },
        modes,
    )?;
    ctx.attr_choice(
        "nearest_mode",
        "round_prefer_floor",
        &["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"],
    )?;
    ctx.attr_choice("keep_aspect_ratio_policy", "stretch", &["stretch", "not_larger", "not_smaller"])?;
    Ok(())
}

fn check_upsample(ctx: &Ctx) -> Result<()> {
    ctx.attr_choice("mode", "nearest", &["nearest", "linear", "bilinear"]).map(drop)
}

/// How one axis is resampled.
struct Axis {
    /// For each output position, `(input position, weight)` pairs.
    taps: Vec<Vec<(usize, f32)>>,
    /// Output positions outside the input (tf_crop_and_resize's extrapolation).
    outside: Vec<bool>,
}

struct Settings {
    mode: String,
    coords: String,
    nearest: String,
    cubic_a: f32,
    exclude_outside: bool,
    antialias: bool,
}

/// The input coordinate of output position `x` (see the spec's formulas).
fn source(coords: &str, x: f32, scale: f32, len_in: usize, len_out: usize, roi: (f32, f32)) -> f32 {
    let (li, lo) = (len_in as f32, len_out as f32);
    match coords {
        "half_pixel" => (x + 0.5) / scale - 0.5,
        "half_pixel_symmetric" => {
            let adjustment = lo / (scale * li);
            let center = li / 2.0;
            center * (1.0 - adjustment) + (x + 0.5) / scale - 0.5
        }
        "pytorch_half_pixel" if len_out > 1 => (x + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => 0.0,
        "align_corners" if len_out == 1 => 0.0,
        "align_corners" => x * (li - 1.0) / (lo - 1.0),
        "tf_half_pixel_for_nn" => (x + 0.5) / scale,
        "tf_crop_and_resize" if len_out > 1 => roi.0 * (li - 1.0) + x * (roi.1 - roi.0) * (li - 1.0) / (lo - 1.0),
        "tf_crop_and_resize" => 0.5 * (roi.0 + roi.1) * (li - 1.0),
        _ => x / scale,
    }
}

fn nearest_index(mode: &str, x: f32) -> i64 {
    let half = (x - x.floor() - 0.5).abs() < f32::EPSILON * x.abs().max(1.0);
    (match mode {
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        "round_prefer_ceil" if half => x.ceil(),
        "round_prefer_floor" if half => x.floor(),
        _ => x.round(),
    }) as i64
}

/// The cubic convolution kernel (Keys 1981) with coefficient `a`.
fn cubic(a: f32, t: f32) -> f32 {
    let t = t.abs();
    if t <= 1.0 {
        ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    } else if t < 2.0 {
        ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a
    } else {
        0.0
    }
}

fn plan_axis(s: &Settings, len_in: usize, len_out: usize, scale: f32, roi: (f32, f32)) -> Axis {
    let clamp = |i: i64| i.clamp(0, len_in as i64 - 1) as usize;
    let mut outside = vec![false; len_out];
    let taps = (0..len_out)
        .map(|o| {
            let x = source(&s.coords, o as f32, scale, len_in, len_out, roi);
            if s.coords == "tf_crop_and_resize" && !(0.0..=(len_in as f32 - 1.0)).contains(&x) {
                outside[o] = true;
                return vec![(0, 0.0)];
            }
            match s.mode.as_str() {
                "nearest" => vec![(clamp(nearest_index(&s.nearest, x)), 1.0)],
                "linear" if s.antialias && scale < 1.0 => {
                    filtered(x, scale, 1.0, len_in, s.exclude_outside, |t| (1.0 - t.abs()).clamp(0.0, 1.0))
                }
                "cubic" if s.antialias && scale < 1.0 => {
                    filtered(x, scale, 2.0, len_in, s.exclude_outside, |t| cubic(s.cubic_a, t))
                }
                "linear" => {
                    let x0 = x.floor();
                    let w1 = x - x0;
                    vec![(clamp(x0 as i64), 1.0 - w1), (clamp(x0 as i64 + 1), w1)]
                }
                _ => {
                    let x0 = x.floor();
                    let t = x - x0;
                    let mut taps: Vec<(i64, f32)> =
                        (-1..=2).map(|k| (x0 as i64 + k, cubic(s.cubic_a, t - k as f32))).collect();
                    if s.exclude_outside {
                        taps.retain(|&(i, _)| (0..len_in as i64).contains(&i));
                        let total: f32 = taps.iter().map(|t| t.1).sum();
                        taps.iter_mut().for_each(|t| t.1 /= total);
                    }
                    taps.into_iter().map(|(i, w)| (clamp(i), w)).collect()
                }
            }
        })
        .collect();
    Axis { taps, outside }
}

/// Antialiased taps, as the ONNX reference computes them (`onnx/reference/ops/op_resize.py`):
/// the kernel stretched by `1 / scale` over a fixed window of `2 − 2·start` positions
/// (`start = ⌊−support / scale⌋ + 1`) around `x`, its weights normalised over the whole window;
/// positions outside the input take the edge value, or with `exclude_outside` are dropped and
/// the rest renormalised.
fn filtered(
    x: f32,
    scale: f32,
    support: f32,
    len_in: usize,
    exclude_outside: bool,
    kernel: impl Fn(f32) -> f32,
) -> Vec<(usize, f32)> {
    let floor = x.floor();
    // An exact integer counts as ratio 1 from the position below, as the reference does.
    let (base, ratio) = if x == floor { (floor as i64 - 1, 1.0) } else { (floor as i64, x - floor) };
    let start = (-support / scale).floor() as i64 + 1;
    let n = 2 - 2 * start;
    let mut taps: Vec<(i64, f32)> =
        (0..n).map(|k| (base + start + k, kernel(((start + k) as f32 - ratio) * scale))).collect();
    if exclude_outside {
        taps.retain(|t| (0..len_in as i64).contains(&t.0));
    }
    let total: f32 = taps.iter().map(|t| t.1).sum();
    taps.into_iter()
        .map(|(i, w)| (i.clamp(0, len_in as i64 - 1) as usize, if total != 0.0 { w / total } else { 0.0 }))
        .collect()
}

/// Resamples axis `axis` of `x` (logical shape `s`) by `plan`.
fn apply(ctx: &Ctx, x: Phys, s: &[usize], axis: usize, plan: &Axis) -> Phys {
    let width = plan.taps.iter().map(Vec::len).max().unwrap_or(1);
    let d = phys_axis(axis, s.len());
    let len_out = plan.taps.len();
    let mut out: Option<Phys> = None;
    for k in 0..width {
        let idx: Vec<i64> = plan.taps.iter().map(|t| t.get(k).map_or(0, |p| p.0 as i64)).collect();
        let w: Vec<f32> = plan.taps.iter().map(|t| t.get(k).map_or(0.0, |p| p.1)).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [len_out]), ctx.device);
        let w = Tensor::<{ super::MAX_RANK }>::from_data(
            TensorData::new(w, padded(&super::along(s.len(), axis, len_out))),
            ctx.device,
        );
        let term = x.clone().select(d, idx) * w;
        out = Some(match out {
            Some(o) => o + term,
            None => term,
        });
    }
    out.expect("at least one tap")
}

/// Resizes every axis of `x` whose output size or scale asks for it.
fn resample(
    ctx: &Ctx,
    x: Value,
    out: &[usize],
    scales: &[f32],
    rois: &[(f32, f32)],
    s: &Settings,
    extrapolation: f32,
) -> Result<Vec<Value>> {
    let (mut t, shape) = ctx.to_float(&x);
    let mut current = shape.clone();
    let mut outside: Vec<Vec<bool>> = vec![];
    for a in 0..shape.len() {
        let identity = out[a] == shape[a] && scales[a] == 1.0 && s.coords != "tf_crop_and_resize";
        if identity {
            outside.push(vec![false; out[a]]);
            continue;
        }
        let plan = plan_axis(s, shape[a], out[a], scales[a], rois[a]);
        t = apply(ctx, t, &current, a, &plan);
        current[a] = out[a];
        outside.push(plan.outside);
    }
    if outside.iter().any(|o| o.iter().any(|&b| b)) {
        let mask = super::index_map(out, |i| i.iter().enumerate().any(|(a, &x)| outside[a][x]) as usize);
        let mask: Vec<f32> = mask.iter().map(|&m| m as f32).collect();
        let m =
            Tensor::<{ super::MAX_RANK }>::from_data(TensorData::new(mask, padded(out)), ctx.device).equal_elem(1.0);
        t = t.mask_fill(m, extrapolation);
    }
    Ok(vec![Value::Float { tensor: t, shape: out.to_vec() }])
}

fn resize(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let x = ctx.input(inputs, 0)?.clone();
    let s = x.shape().to_vec();
    let rank = s.len();
    let settings = Settings {
        mode: ctx.attr_string("mode", "nearest")?,
        coords: ctx
            .attr_string("coordinate_transformation_mode", if ctx.opset >= 11 { "half_pixel" } else { "asymmetric" })?,
        nearest: if ctx.opset >= 11 { ctx.attr_string("nearest_mode", "round_prefer_floor")? } else { "floor".into() },
        cubic_a: ctx.attr_float("cubic_coeff_a", -0.75)?,
        exclude_outside: ctx.attr_int("exclude_outside", 0)? == 1,
        antialias: ctx.opset >= 18 && ctx.attr_int("antialias", 0)? == 1,
    };
    let axes: Vec<usize> = match ctx.attr_ints("axes")? {
        Some(a) if ctx.opset >= 18 => a.iter().map(|&x| ctx.axis(x, rank)).collect::<Result<_>>()?,
        _ => (0..rank).collect(),
    };
    let present = |i: usize| ctx.optional(inputs, i).filter(|v| v.len() > 0);
    let (scales_in, roi_in, sizes_in) =
        if ctx.opset < 11 { (present(1), None, None) } else { (present(2), present(1), present(3)) };
    let mut rois = vec![(0.0f32, 1.0f32); rank];
    if let Some(r) = roi_in {
        let r = host_floats(r).map_err(|e| ctx.err(e))?;
        if settings.coords == "tf_crop_and_resize" {
            let k = axes.len();
            if r.len() != 2 * k {
                return Err(ctx.err(format!("roi of {} values for {k} axes", r.len())));
            }
            for (j, &a) in axes.iter().enumerate() {
                rois[a] = (r[j], r[j + k]);
            }
        }
    }
    let mut scales = vec![1.0f32; rank];
    let mut out = s.clone();
    if sizes_in.is_some() {
        let (sizes, _) = ctx.ints(inputs, 3)?;
        if sizes.len() != axes.len() {
            return Err(ctx.err(format!("{} sizes for {} axes", sizes.len(), axes.len())));
        }
        let policy = ctx.attr_string("keep_aspect_ratio_policy", "stretch")?;
        let ratio = |j: usize| sizes[j] as f32 / s[axes[j]] as f32;
        let common = match policy.as_str() {
            "not_larger" => Some((0..axes.len()).map(ratio).fold(f32::INFINITY, f32::min)),
            "not_smaller" => Some((0..axes.len()).map(ratio).fold(0.0, f32::max)),
            _ => None,
        };
        for (j, &a) in axes.iter().enumerate() {
            match common {
                Some(r) => {
                    scales[a] = r;
                    out[a] = (r * s[a] as f32).round() as usize;
                }
                None => {
                    out[a] = sizes[j].max(0) as usize;
                    scales[a] = out[a] as f32 / s[a] as f32;
                }
            }
        }
    } else if let Some(sc) = scales_in {
        let sc = host_floats(sc).map_err(|e| ctx.err(e))?;
        if sc.len() != axes.len() {
            return Err(ctx.err(format!("{} scales for {} axes", sc.len(), axes.len())));
        }
        for (j, &a) in axes.iter().enumerate() {
            if !(sc[j].is_finite() && sc[j] > 0.0) {
                return Err(ctx.err(format!("scale {} must be positive", sc[j])));
            }
            scales[a] = sc[j];
            out[a] = (s[a] as f32 * sc[j]).floor() as usize;
        }
    } else {
        return Err(ctx.err("neither scales nor sizes"));
    }
    let extrapolation = ctx.attr_float("extrapolation_value", 0.0)?;
    resample(ctx, x, &out, &scales, &rois, &settings, extrapolation)
}

/// `Upsample`: `floor(d · scale)` per axis, asymmetric coordinates; nearest rounds down,
/// (bi)linear interpolates.
fn upsample(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let x = ctx.input(inputs, 0)?.clone();
    let s = x.shape().to_vec();
    let scales = if ctx.opset < 9 {
        ctx.attr_floats("scales")?.ok_or_else(|| ctx.err("no scales"))?
    } else {
        ctx.host_floats(inputs, 1)?
    };
    if scales.len() != s.len() || scales.iter().any(|&v| v < 1.0) {
        return Err(ctx.err(format!("scales {scales:?} for an input of shape {s:?} (each ≥ 1)")));
    }
    let mode = match ctx.attr_string("mode", "nearest")?.as_str() {
        "nearest" => "nearest",
        _ => "linear",
    };
    let settings = Settings {
        mode: mode.into(),
        coords: "asymmetric".into(),
        nearest: "floor".into(),
        cubic_a: -0.75,
        exclude_outside: false,
        antialias: false,
    };
    let out: Vec<usize> = s.iter().zip(&scales).map(|(&d, &k)| (d as f32 * k).floor() as usize).collect();
    resample(ctx, x, &out, &scales, &vec![(0.0, 1.0); s.len()], &settings, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_follow_the_spec_formulas() {
        // Upsampling 4 → 8 by 2: half_pixel maps output 0 to −0.25, asymmetric to 0.
        assert_eq!(source("half_pixel", 0.0, 2.0, 4, 8, (0.0, 1.0)), -0.25);
        assert_eq!(source("asymmetric", 3.0, 2.0, 4, 8, (0.0, 1.0)), 1.5);
        assert_eq!(source("align_corners", 7.0, 2.0, 4, 8, (0.0, 1.0)), 3.0);
        assert_eq!(source("pytorch_half_pixel", 0.0, 0.25, 4, 1, (0.0, 1.0)), 0.0);
        assert_eq!(nearest_index("round_prefer_floor", 1.5), 1);
        assert_eq!(nearest_index("round_prefer_ceil", 1.5), 2);
        assert_eq!(nearest_index("floor", 1.9), 1);
        let total: f32 = (-1..=2).map(|k| cubic(-0.75, 0.3 - k as f32)).sum();
        assert!((total - 1.0).abs() < 1e-6, "cubic weights sum to {total}");
    }
}
