//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__Add.html>, `Sub`, `Mul`, `Div`
//!
//! Element-wise arithmetic with NumPy broadcasting, opsets 7–14. Float tensors run on the
//! autodiff device; integer tensors (shape arithmetic) run on the host.

use super::Ctx;
use crate::error::Result;
use crate::executor::value::Value;

/// The four arithmetic ops.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// The broadcast of two shapes (right-aligned; each axis equal or 1), or `None`.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

/// Evaluates one arithmetic op.
///
/// # Shapes
/// `a`, `b`: any shapes that broadcast; output: their broadcast shape.
pub(crate) fn eval(ctx: &Ctx, op: Op, inputs: &[Option<Value>]) -> Result<Value> {
    let (a, b) = (ctx.input(inputs, 0)?, ctx.input(inputs, 1)?);
    let shape = broadcast_shape(a.shape(), b.shape())
        .ok_or_else(|| ctx.err(format!("shapes {:?} and {:?} do not broadcast", a.shape(), b.shape())))?;
    ctx.check_rank(&shape)?;
    if let (Value::Int { data: x, .. }, Value::Int { data: y, .. }) = (a, b) {
        return int_op(ctx, op, x, a.shape(), y, b.shape(), shape);
    }
    let ((x, _), (y, _)) = (ctx.float(inputs, 0)?, ctx.float(inputs, 1)?);
    let tensor = match op {
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
        Op::Div => x / y,
    };
    Ok(Value::Float { tensor, shape })
}

/// Host arithmetic on integer tensors, for the small shape computations of exported graphs.
fn int_op(ctx: &Ctx, op: Op, x: &[i64], xs: &[usize], y: &[i64], ys: &[usize], shape: Vec<usize>) -> Result<Value> {
    let n: usize = shape.iter().product();
    let pick = |d: &[i64], s: &[usize], i: usize| if s.iter().product::<usize>() == 1 { d[0] } else { d[i] };
    if !(xs == shape.as_slice() || xs.iter().product::<usize>() == 1)
        || !(ys == shape.as_slice() || ys.iter().product::<usize>() == 1)
    {
        return Err(ctx.err(format!("integer broadcasting of {xs:?} and {ys:?} is limited to scalars")));
    }
    let mut data = Vec::with_capacity(n);
    for i in 0..n {
        let (p, q) = (pick(x, xs, i), pick(y, ys, i));
        data.push(match op {
            Op::Add => p + q,
            Op::Sub => p - q,
            Op::Mul => p * q,
            Op::Div if q == 0 => return Err(ctx.err("integer division by zero")),
            Op::Div => p.div_euclid(q),
        });
    }
    Ok(Value::Int { data, shape })
}

#[cfg(test)]
mod tests {
    use super::broadcast_shape;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[2, 3, 4], &[4]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shape(&[2, 3], &[4]), None);
    }
}
