//! Element-wise ops.
//!
//! - Activations and unary maths (<https://onnx.ai/onnx/operators/>): `Relu`, `Sigmoid`,
//!   `Tanh`, `Exp`, `Log`, `Sqrt`, `Neg`, `Abs`, `Reciprocal`, `Floor`, `Ceil`, `Round`, `Sign`,
//!   `Erf`, `Sin`, `Cos`, `Softplus`, `Softsign`, `LeakyRelu`, `Elu`, `Selu`, `Celu`,
//!   `ThresholdedRelu`, `HardSigmoid`, `HardSwish` (14), `Gelu` (20, `approximate` none/tanh),
//!   `Mish` (18), `Identity`, `Dropout` (inference only: `training_mode` true is refused).
//! - Arithmetic with NumPy broadcasting: `Add`, `Sub`, `Mul`, `Div` (opsets < 7 with the
//!   `broadcast`/`axis` attributes), `Pow`, `PRelu` (slope broadcast unidirectionally), `Mod`,
//!   and the variadic `Max`, `Min`, `Sum`, `Mean`.
//! - Comparisons and logic (integer 0/1 results, no gradient): `Equal`, `Less`, `Greater`,
//!   `LessOrEqual`, `GreaterOrEqual`, `Not`, `And`, `Or`, `Xor`, and `Where`.
//! - `Clip`: bounds as attributes before opset 11, as optional inputs from 11.
//!
//! Integer tensors (shape arithmetic) are computed on the host: integer `Div` truncates
//! toward zero, as the spec's C semantics and onnxruntime do.

use burn::tensor::Tensor;

use super::{Ctx, OpDef, Phys, Value, broadcast_shape, host_floats, no_check, padded, reshaped};
use crate::error::Result;

macro_rules! unary {
    ($name:literal, $since:literal, $attrs:expr, $f:expr) => {
        OpDef { op: $name, since: $since, attrs: $attrs, check: no_check, eval: |ctx, inputs| unary(ctx, inputs, $f) }
    };
}

pub(crate) const OPS: &[OpDef] = &[
    unary!("Relu", 1, &[], |_, x| Ok(burn::tensor::activation::relu(x))),
    unary!("Sigmoid", 1, &[], |_, x| Ok(burn::tensor::activation::sigmoid(x))),
    unary!("Tanh", 1, &[], |_, x| Ok(x.tanh())),
    unary!("Exp", 1, &[], |_, x| Ok(x.exp())),
    unary!("Log", 1, &[], |_, x| Ok(x.log())),
    unary!("Sqrt", 1, &[], |_, x| Ok(x.sqrt())),
    unary!("Reciprocal", 1, &[], |_, x| Ok(x.recip())),
    unary!("Floor", 1, &[], |_, x| Ok(x.floor())),
    unary!("Ceil", 1, &[], |_, x| Ok(x.ceil())),
    unary!("Round", 11, &[], |_, x| Ok(x.round())),
    unary!("Erf", 9, &[], |_, x| Ok(x.erf())),
    unary!("Sin", 7, &[], |_, x| Ok(x.sin())),
    unary!("Cos", 7, &[], |_, x| Ok(x.cos())),
    unary!("Softsign", 1, &[], |_, x| Ok(x.clone() / (x.abs() + 1.0))),
    unary!("Softplus", 1, &[], |_, x| Ok(softplus(x))),
    unary!("Mish", 18, &[], |_, x| Ok(x.clone() * softplus(x).tanh())),
    unary!("HardSwish", 14, &[], |_, x| Ok(x.clone() * (x / 6.0 + 0.5).clamp(0.0, 1.0))),
    unary!("HardSigmoid", 6, &["alpha", "beta"], |ctx, x| {
        let (a, b) = (ctx.attr_float("alpha", 0.2)?, ctx.attr_float("beta", 0.5)?);
        Ok((x * a + b).clamp(0.0, 1.0))
    }),
    unary!("LeakyRelu", 6, &["alpha"], |ctx, x| {
        let a = ctx.attr_float("alpha", 0.01)?;
        Ok(x.clone().clamp_min(0.0) + x.clamp_max(0.0) * a)
    }),
    unary!("Elu", 6, &["alpha"], |ctx, x| {
        let a = ctx.attr_float("alpha", 1.0)?;
        Ok(elu(x, a))
    }),
    unary!("Celu", 12, &["alpha"], |ctx, x| {
        let a = ctx.attr_float("alpha", 1.0)?;
        Ok(x.clone().clamp_min(0.0) + ((x.clamp_max(0.0) / a).exp() - 1.0) * a)
    }),
    unary!("Selu", 6, &["alpha", "gamma"], |ctx, x| {
        let a = ctx.attr_float("alpha", 1.673_263_2)?;
        let g = ctx.attr_float("gamma", 1.050_701)?;
        Ok(elu(x, a) * g)
    }),
    unary!("ThresholdedRelu", 10, &["alpha"], |ctx, x| {
        let a = ctx.attr_float("alpha", 1.0)?;
        let mask = x.clone().greater_elem(a).float();
        Ok(x * mask)
    }),
    OpDef { op: "Gelu", since: 20, attrs: &["approximate"], check: check_gelu, eval: gelu },
    OpDef { op: "Neg", since: 1, attrs: &[], check: no_check, eval: |c, i| int_or_float(c, i, |v| -v, |x| x.neg()) },
    OpDef { op: "Abs", since: 1, attrs: &[], check: no_check, eval: |c, i| int_or_float(c, i, i64::abs, |x| x.abs()) },
    OpDef {
        op: "Sign",
        since: 9,
        attrs: &[],
        check: no_check,
        eval: |c, i| int_or_float(c, i, i64::signum, |x| x.sign()),
    },
    OpDef { op: "Identity", since: 1, attrs: &[], check: no_check, eval: |c, i| Ok(vec![c.input(i, 0)?.clone()]) },
    OpDef { op: "Dropout", since: 1, attrs: &["ratio", "seed", "is_test"], check: no_check, eval: dropout },
    OpDef { op: "Add", since: 1, attrs: &["broadcast", "axis"], check: no_check, eval: |c, i| arith(c, i, Arith::Add) },
    OpDef { op: "Sub", since: 1, attrs: &["broadcast", "axis"], check: no_check, eval: |c, i| arith(c, i, Arith::Sub) },
    OpDef { op: "Mul", since: 1, attrs: &["broadcast", "axis"], check: no_check, eval: |c, i| arith(c, i, Arith::Mul) },
    OpDef { op: "Div", since: 1, attrs: &["broadcast", "axis"], check: no_check, eval: |c, i| arith(c, i, Arith::Div) },
    OpDef { op: "Pow", since: 1, attrs: &["broadcast", "axis"], check: no_check, eval: |c, i| arith(c, i, Arith::Pow) },
    OpDef { op: "Mod", since: 10, attrs: &["fmod"], check: no_check, eval: modulo },
    OpDef { op: "PRelu", since: 1, attrs: &[], check: no_check, eval: prelu },
    OpDef { op: "Max", since: 1, attrs: &[], check: no_check, eval: |c, i| variadic(c, i, Variadic::Max) },
    OpDef { op: "Min", since: 1, attrs: &[], check: no_check, eval: |c, i| variadic(c, i, Variadic::Min) },
    OpDef { op: "Sum", since: 1, attrs: &[], check: no_check, eval: |c, i| variadic(c, i, Variadic::Sum) },
    OpDef { op: "Mean", since: 1, attrs: &[], check: no_check, eval: |c, i| variadic(c, i, Variadic::Mean) },
    OpDef { op: "Equal", since: 1, attrs: &[], check: no_check, eval: |c, i| compare(c, i, |a, b| a == b) },
    OpDef { op: "Less", since: 1, attrs: &[], check: no_check, eval: |c, i| compare(c, i, |a, b| a < b) },
    OpDef { op: "Greater", since: 1, attrs: &[], check: no_check, eval: |c, i| compare(c, i, |a, b| a > b) },
    OpDef { op: "LessOrEqual", since: 12, attrs: &[], check: no_check, eval: |c, i| compare(c, i, |a, b| a <= b) },
    OpDef { op: "GreaterOrEqual", since: 12, attrs: &[], check: no_check, eval: |c, i| compare(c, i, |a, b| a >= b) },
    OpDef { op: "And", since: 1, attrs: &[], check: no_check, eval: |c, i| logic(c, i, |a, b| a && b) },
    OpDef { op: "Or", since: 1, attrs: &[], check: no_check, eval: |c, i| logic(c, i, |a, b| a || b) },
    OpDef { op: "Xor", since: 1, attrs: &[], check: no_check, eval: |c, i| logic(c, i, |a, b| a != b) },
    OpDef { op: "Not", since: 1, attrs: &[], check: no_check, eval: not },
    OpDef { op: "Where", since: 9, attrs: &[], check: no_check, eval: where_op },
    OpDef { op: "Clip", since: 1, attrs: &["min", "max"], check: no_check, eval: clip },
];

/// `log(1 + eˣ)`, computed as `max(x, 0) + log(1 + e^(−|x|))` so that it neither overflows
/// nor loses the small values.
fn softplus(x: Phys) -> Phys {
    x.clone().clamp_min(0.0) + (x.abs().neg().exp() + 1.0).log()
}

/// `x` for x > 0, `α (eˣ − 1)` otherwise.
fn elu(x: Phys, alpha: f32) -> Phys {
    x.clone().clamp_min(0.0) + (x.clamp_max(0.0).exp() - 1.0) * alpha
}

fn unary(ctx: &Ctx, inputs: &[Option<Value>], f: impl FnOnce(&Ctx, Phys) -> Result<Phys>) -> Result<Vec<Value>> {
    let (x, shape) = ctx.float(inputs, 0)?;
    Ok(vec![Value::Float { tensor: f(ctx, x)?, shape }])
}

fn int_or_float(ctx: &Ctx, inputs: &[Option<Value>], i: fn(i64) -> i64, f: fn(Phys) -> Phys) -> Result<Vec<Value>> {
    Ok(vec![match ctx.input(inputs, 0)? {
        Value::Int { data, shape } => Value::Int { data: data.iter().map(|&v| i(v)).collect(), shape: shape.clone() },
        Value::Float { tensor, shape } => Value::Float { tensor: f(tensor.clone()), shape: shape.clone() },
    }])
}

fn check_gelu(ctx: &Ctx) -> Result<()> {
    ctx.attr_choice("approximate", "none", &["none", "tanh"]).map(drop)
}

/// `Gelu` (opset 20): `½ x (1 + erf(x/√2))`, or with `approximate = tanh`
/// `½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
fn gelu(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let tanh = ctx.attr_string("approximate", "none")? == "tanh";
    unary(ctx, inputs, |_, x| {
        Ok(if tanh {
            let inner = (x.clone() + x.clone().powf_scalar(3.0) * 0.044_715) * (2.0f32 / std::f32::consts::PI).sqrt();
            x * (inner.tanh() + 1.0) * 0.5
        } else {
            x.clone() * ((x / std::f32::consts::SQRT_2).erf() + 1.0) * 0.5
        })
    })
}

/// `Dropout` at inference: the input unchanged and, when asked, a mask of ones. A
/// `training_mode` input that is true (opset 12+) would drop values at random: refused.
fn dropout(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    if let Some(mode) = ctx.optional(inputs, 2) {
        let on = host_floats(mode).map_err(|e| ctx.err(e))?;
        if on.iter().any(|&v| v != 0.0) {
            return Err(ctx.err("training_mode = true: random dropout is not an inference computation"));
        }
    }
    if ctx.opset < 7 && ctx.attr_int("is_test", 0)? == 0 {
        return Err(ctx.err("is_test = 0 (training-time dropout) is not an inference computation"));
    }
    let x = ctx.input(inputs, 0)?.clone();
    let shape = x.shape().to_vec();
    let mask = Value::Int { data: vec![1; shape.iter().product()], shape };
    Ok(vec![x, mask])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

/// `B`'s shape as the legacy (opset < 7) `broadcast = 1` places it against `A`: from `axis`
/// (default: aligned to the end).
fn legacy_shape(ctx: &Ctx, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    if ctx.opset >= 7 || ctx.attr_int("broadcast", 0)? == 0 {
        return Ok(b.to_vec());
    }
    let axis = match ctx.attr_int("axis", i64::MIN)? {
        i64::MIN => a.len() - b.len().min(a.len()),
        ax => ctx.axis(ax, a.len())?,
    };
    if axis + b.len() > a.len() {
        return Err(ctx.err(format!("B {b:?} does not fit A {a:?} from axis {axis}")));
    }
    let mut shape = vec![1; a.len()];
    shape[axis..axis + b.len()].copy_from_slice(b);
    Ok(shape)
}

fn arith(ctx: &Ctx, inputs: &[Option<Value>], op: Arith) -> Result<Vec<Value>> {
    let (a, b) = (ctx.input(inputs, 0)?, ctx.input(inputs, 1)?);
    let b_shape = legacy_shape(ctx, a.shape(), b.shape())?;
    let shape = broadcast_shape(a.shape(), &b_shape)
        .ok_or_else(|| ctx.err(format!("shapes {:?} and {:?} do not broadcast", a.shape(), b.shape())))?;
    ctx.check_rank(&shape)?;
    if let (Value::Int { data: x, shape: xs }, Value::Int { data: y, .. }) = (a, b) {
        let f = |p: i64, q: i64| -> Result<i64> {
            Ok(match op {
                Arith::Add => p.wrapping_add(q),
                Arith::Sub => p.wrapping_sub(q),
                Arith::Mul => p.wrapping_mul(q),
                Arith::Div if q == 0 => return Err(ctx.err("integer division by zero")),
                Arith::Div => p.wrapping_div(q),
                Arith::Pow => p
                    .checked_pow(u32::try_from(q).map_err(|_| ctx.err("negative integer exponent"))?)
                    .unwrap_or(i64::MAX),
            })
        };
        return Ok(vec![Value::Int { data: host_broadcast(x, xs, y, &b_shape, &shape, f)?, shape }]);
    }
    let ((x, _), (y, _)) = (ctx.float(inputs, 0)?, ctx.to_float(b));
    let y = y.reshape(padded(&b_shape));
    let tensor = match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        Arith::Mul => x * y,
        Arith::Div => x / y,
        Arith::Pow => x.powf(y),
    };
    let result = Value::Float { tensor: expand_to(tensor, &shape), shape };
    // Pow of an integer base keeps the base's integer type.
    Ok(vec![if op == Arith::Pow && matches!(a, Value::Int { .. }) { to_int(ctx, &result)? } else { result }])
}

/// A physical tensor broadcast to `shape` (a no-op when it has that shape).
fn expand_to(t: Phys, shape: &[usize]) -> Phys {
    let want = padded(shape);
    if t.dims() == want { t } else { t.expand(want) }
}

fn to_int(ctx: &Ctx, v: &Value) -> Result<Value> {
    let data = host_floats(v).map_err(|e| ctx.err(e))?;
    Ok(Value::Int { data: data.iter().map(|&x| x as i64).collect(), shape: v.shape().to_vec() })
}

/// `f(x, y)` element by element with NumPy broadcasting, on the host.
pub(crate) fn host_broadcast<T: Copy, U>(
    x: &[T],
    xs: &[usize],
    y: &[T],
    ys: &[usize],
    shape: &[usize],
    mut f: impl FnMut(T, T) -> Result<U>,
) -> Result<Vec<U>> {
    let (ix, iy) =
        (super::index_map(shape, broadcast_source(xs, shape)), super::index_map(shape, broadcast_source(ys, shape)));
    ix.iter().zip(&iy).map(|(&i, &j)| f(x[i as usize], y[j as usize])).collect()
}

/// The flat source index, in a tensor of shape `s`, of each position of the broadcast `shape`.
fn broadcast_source<'a>(s: &'a [usize], shape: &[usize]) -> impl FnMut(&[usize]) -> usize + 'a {
    let strides = super::strides(s);
    let offset = shape.len() - s.len();
    move |idx: &[usize]| {
        idx[offset..].iter().zip(s).zip(&strides).map(|((&i, &d), &st)| if d == 1 { 0 } else { i * st }).sum()
    }
}

/// `Mod`: integer remainder with the divisor's sign (Python), or with `fmod = 1` the C
/// remainder with the dividend's sign (required for floats).
fn modulo(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let fmod = ctx.attr_int("fmod", 0)? == 1;
    let (a, b) = (ctx.input(inputs, 0)?, ctx.input(inputs, 1)?);
    let shape = broadcast_shape(a.shape(), b.shape())
        .ok_or_else(|| ctx.err(format!("shapes {:?} and {:?} do not broadcast", a.shape(), b.shape())))?;
    match (a, b) {
        (Value::Int { data: x, shape: xs }, Value::Int { data: y, shape: ys }) => {
            let f = |p: i64, q: i64| -> Result<i64> {
                if q == 0 {
                    return Err(ctx.err("integer modulo by zero"));
                }
                let r = p % q;
                // Without fmod the result takes the divisor's sign, as Python's `%`.
                Ok(if !fmod && r != 0 && (r < 0) != (q < 0) { r + q } else { r })
            };
            Ok(vec![Value::Int { data: host_broadcast(x, xs, y, ys, &shape, f)?, shape }])
        }
        _ if !fmod => Err(ctx.err("fmod = 0 on floats is not allowed by the spec")),
        _ => {
            let ((x, _), (y, _)) = (ctx.float(inputs, 0)?, ctx.float(inputs, 1)?);
            let q = (x.clone() / y.clone()).trunc();
            Ok(vec![Value::Float { tensor: expand_to(x - q * y, &shape), shape }])
        }
    }
}

/// `PRelu`: `x` for x ≥ 0, `slope · x` otherwise, the slope broadcast to `x` (from opset 7
/// unidirectionally; a `[C]` slope before opset 7 means per channel).
fn prelu(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let (x, shape) = ctx.float(inputs, 0)?;
    let (slope, mut ss) = ctx.float(inputs, 1)?;
    if ctx.opset < 7 && ss.len() == 1 && shape.len() > 2 && ss[0] == shape[1] {
        ss = super::along(shape.len(), 1, ss[0]);
    }
    if broadcast_shape(&shape, &ss).as_deref() != Some(shape.as_slice()) {
        return Err(ctx.err(format!("slope {ss:?} does not broadcast to the input {shape:?}")));
    }
    let slope = slope.reshape(padded(&ss));
    let tensor = x.clone().clamp_min(0.0) + x.clamp_max(0.0) * slope;
    Ok(vec![Value::Float { tensor, shape }])
}

#[derive(Clone, Copy)]
enum Variadic {
    Max,
    Min,
    Sum,
    Mean,
}

fn variadic(ctx: &Ctx, inputs: &[Option<Value>], op: Variadic) -> Result<Vec<Value>> {
    let present: Vec<&Value> = inputs.iter().flatten().collect();
    let Some(first) = present.first() else { return Err(ctx.err("no inputs")) };
    let mut shape = first.shape().to_vec();
    for v in &present[1..] {
        shape = broadcast_shape(&shape, v.shape())
            .ok_or_else(|| ctx.err(format!("shapes {shape:?} and {:?} do not broadcast", v.shape())))?;
    }
    if present.iter().all(|v| matches!(v, Value::Int { .. })) && !matches!(op, Variadic::Mean) {
        let mut acc = match first {
            Value::Int { data, shape: s } => (data.clone(), s.clone()),
            Value::Float { .. } => unreachable!("all integers"),
        };
        for v in &present[1..] {
            let Value::Int { data, shape: s } = v else { unreachable!("all integers") };
            let out = super::broadcast_shape(&acc.1, s).expect("checked above");
            let f = |p: i64, q: i64| -> Result<i64> {
                Ok(match op {
                    Variadic::Max => p.max(q),
                    Variadic::Min => p.min(q),
                    _ => p + q,
                })
            };
            acc = (host_broadcast(&acc.0, &acc.1, data, s, &out, f)?, out);
        }
        return Ok(vec![Value::Int { data: acc.0, shape: acc.1 }]);
    }
    let mut tensors = present.iter().map(|v| ctx.to_float(v).0);
    let mut acc = expand_to(tensors.next().expect("at least one"), &shape);
    for t in tensors {
        let t = expand_to(t, &shape);
        acc = match op {
            Variadic::Max => acc.max_pair(t),
            Variadic::Min => acc.min_pair(t),
            Variadic::Sum | Variadic::Mean => acc + t,
        };
    }
    if matches!(op, Variadic::Mean) {
        acc = acc / present.len() as f32;
    }
    Ok(vec![Value::Float { tensor: acc, shape }])
}

/// A comparison of two tensors with broadcasting; 0/1 integers on the host.
fn compare(ctx: &Ctx, inputs: &[Option<Value>], f: fn(f64, f64) -> bool) -> Result<Vec<Value>> {
    let (a, b) = (ctx.input(inputs, 0)?, ctx.input(inputs, 1)?);
    let shape = broadcast_shape(a.shape(), b.shape())
        .ok_or_else(|| ctx.err(format!("shapes {:?} and {:?} do not broadcast", a.shape(), b.shape())))?;
    let host = |v: &Value| -> Result<Vec<f64>> {
        Ok(match v {
            Value::Int { data, .. } => data.iter().map(|&x| x as f64).collect(),
            v => host_floats(v).map_err(|e| ctx.err(e))?.into_iter().map(f64::from).collect(),
        })
    };
    let (x, y) = (host(a)?, host(b)?);
    let data = host_broadcast(&x, a.shape(), &y, b.shape(), &shape, |p, q| Ok(f(p, q) as i64))?;
    Ok(vec![Value::Int { data, shape }])
}

fn logic(ctx: &Ctx, inputs: &[Option<Value>], f: fn(bool, bool) -> bool) -> Result<Vec<Value>> {
    let (a, b) = (ctx.ints(inputs, 0)?, ctx.ints(inputs, 1)?);
    let shape = broadcast_shape(&a.1, &b.1)
        .ok_or_else(|| ctx.err(format!("shapes {:?} and {:?} do not broadcast", a.1, b.1)))?;
    let data = host_broadcast(&a.0, &a.1, &b.0, &b.1, &shape, |p, q| Ok(f(p != 0, q != 0) as i64))?;
    Ok(vec![Value::Int { data, shape }])
}

fn not(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let (x, shape) = ctx.ints(inputs, 0)?;
    Ok(vec![Value::Int { data: x.iter().map(|&v| (v == 0) as i64).collect(), shape }])
}

/// `Where(cond, x, y)`: `x` where `cond`, else `y`, all three broadcast. Float branches are
/// mixed on the device, so each gets the gradient where it was chosen.
fn where_op(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let (cond, cs) = ctx.ints(inputs, 0)?;
    let (x, y) = (ctx.input(inputs, 1)?, ctx.input(inputs, 2)?);
    let shape = broadcast_shape(&cs, x.shape())
        .and_then(|s| broadcast_shape(&s, y.shape()))
        .ok_or_else(|| ctx.err(format!("shapes {cs:?}, {:?} and {:?} do not broadcast", x.shape(), y.shape())))?;
    ctx.check_rank(&shape)?;
    if let (Value::Int { data: xd, shape: xs }, Value::Int { data: yd, shape: ys }) = (x, y) {
        let ones = vec![1i64; shape.iter().product()];
        let pick_x = host_broadcast(&cond, &cs, &ones, &shape, &shape, |c, _| Ok(c != 0))?;
        let xb = host_broadcast(xd, xs, &ones, &shape, &shape, |v, _| Ok(v))?;
        let yb = host_broadcast(yd, ys, &ones, &shape, &shape, |v, _| Ok(v))?;
        let data = pick_x.iter().zip(xb.iter().zip(&yb)).map(|(&c, (&a, &b))| if c { a } else { b }).collect();
        return Ok(vec![Value::Int { data, shape }]);
    }
    let mask: Vec<f32> = cond.iter().map(|&c| (c != 0) as i32 as f32).collect();
    let mask = Tensor::from_data(burn::tensor::TensorData::new(mask, padded(&cs)), ctx.device);
    let mask = expand_to(mask, &shape);
    let (xt, yt) = (expand_to(ctx.to_float(x).0, &shape), expand_to(ctx.to_float(y).0, &shape));
    let keep = mask.clone().equal_elem(1.0);
    let tensor = yt.mask_where(keep, xt);
    Ok(vec![Value::Float { tensor, shape }])
}

/// `Clip`: `min(max(x, lo), hi)`; before opset 11 the bounds are attributes (default ∓∞),
/// from 11 optional scalar inputs.
fn clip(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let (lo, hi) = if ctx.opset < 11 {
        (Some(ctx.attr_float("min", f32::NEG_INFINITY)?), Some(ctx.attr_float("max", f32::INFINITY)?))
    } else {
        let bound = |i: usize| -> Result<Option<f32>> {
            match ctx.optional(inputs, i) {
                None => Ok(None),
                Some(v) if v.len() == 1 => Ok(Some(host_floats(v).map_err(|e| ctx.err(e))?[0])),
                Some(v) => Err(ctx.err(format!("bound {i} of shape {:?}, expected a scalar", v.shape()))),
            }
        };
        (bound(1)?, bound(2)?)
    };
    if let Value::Int { data, shape } = ctx.input(inputs, 0)? {
        let (l, h) = (lo.map_or(i64::MIN, |v| v as i64), hi.map_or(i64::MAX, |v| v as i64));
        return Ok(vec![Value::Int {
            data: data.iter().map(|&v| v.clamp(l, h.max(l))).collect(),
            shape: shape.clone(),
        }]);
    }
    let (x, shape) = ctx.float(inputs, 0)?;
    let x = match lo.filter(|v| v.is_finite()) {
        Some(l) => x.clamp_min(l),
        None => x,
    };
    let x = match hi.filter(|v| v.is_finite()) {
        Some(h) => x.clamp_max(h),
        None => x,
    };
    Ok(vec![reshaped(x, shape)])
}
