//! Non-finite numbers (NaN, ±∞) are caught where they first appear — tapped features, PCA and
//! t-SNE inputs and outputs, explanation maps, VAE outputs, curves — and reported with what and
//! where, instead of flowing on into scores that read as numbers or into figures whose axis
//! ranges become ±∞ (on which plotters never finishes laying out its ticks).
//!
//! Finite but extreme values (up to `f64::MAX`) are handled by the scale-invariant analyses
//! through [`power_of_two_scale`]: multiplying by a power of two is exact, so results for
//! ordinary data are bit-for-bit what they were, and squares of large values no longer
//! overflow.

use crate::error::{AnalyzeError, Result};

/// The first non-finite value of a sequence, where it is, and how many there are in all.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonFinite {
    /// Position of the first non-finite value.
    pub index: usize,
    /// That value (NaN, +∞ or −∞).
    pub value: f64,
    /// Number of non-finite values.
    pub count: usize,
    /// Number of values looked at.
    pub total: usize,
}

/// Looks for non-finite values; `None` when all are finite (or there are none).
pub fn first_non_finite(values: impl IntoIterator<Item = f64>) -> Option<NonFinite> {
    let mut found: Option<NonFinite> = None;
    let mut total = 0;
    for (index, value) in values.into_iter().enumerate() {
        total += 1;
        if !value.is_finite() {
            match &mut found {
                Some(f) => f.count += 1,
                None => found = Some(NonFinite { index, value, count: 1, total: 0 }),
            }
        }
    }
    found.map(|f| NonFinite { total, ..f })
}

/// `Ok(())` when every value is finite; otherwise [`AnalyzeError::NonFinite`] naming `what`
/// and the first bad value's position as `at(index)` puts it.
///
/// # Errors
/// [`AnalyzeError::NonFinite`].
pub fn ensure_finite(
    what: impl FnOnce() -> String,
    values: impl IntoIterator<Item = f64>,
    at: impl FnOnce(usize) -> String,
) -> Result<()> {
    match first_non_finite(values) {
        None => Ok(()),
        Some(f) => Err(AnalyzeError::NonFinite {
            what: what(),
            at: at(f.index),
            value: name(f.value),
            count: f.count,
            total: f.total,
        }),
    }
}

/// `NaN`, `+inf` or `-inf` (or the number).
fn name(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+inf".into()
    } else if value == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        value.to_string()
    }
}

/// A power of two `s` with `s · max_abs` in `[0.5, 1)`, or 1 for 0 (and for non-finite input).
/// For `max_abs` below 2⁻¹⁰⁰⁰ (down to the subnormals) `s` stops at 2¹⁰⁰⁰, leaving `s · max_abs` above
/// 2⁻⁷⁵, whose squares are still normal numbers. Multiplying by it is exact (barring subnormal
/// results), so scale-invariant computations on the scaled data give the same result without
/// overflow.
pub fn power_of_two_scale(max_abs: f64) -> f64 {
    if !(max_abs.is_finite() && max_abs > 0.0) {
        return 1.0;
    }
    // frexp: max_abs = m · 2^e with m in [0.5, 1).
    let mut exponent = max_abs.log2().floor() as i32 + 1;
    // log2 may be off by one near powers of two; fix up exactly.
    while pow2(exponent - 1) > max_abs {
        exponent -= 1;
    }
    while pow2(exponent) <= max_abs {
        exponent += 1;
    }
    pow2(-exponent.max(-1000))
}

/// 2^e exactly, for e in [-1074, 1023] (∞ above, 0 below).
fn pow2(e: i32) -> f64 {
    match e {
        1024.. => f64::INFINITY,
        -1022..=1023 => f64::from_bits(((e + 1023) as u64) << 52),
        -1074..=-1023 => f64::from_bits(1u64 << (e + 1074)),
        _ => 0.0,
    }
}

/// The largest magnitude among finite values (0 for none).
pub fn max_abs(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().filter(|v| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
}

/// An axis range that shows `lo..=hi` with 5% padding on each side, for any finite bounds:
/// a flat range (`lo == hi`, one point, all-constant data) is widened to `±½·max(1, |lo|)`,
/// and padding is computed without overflow, so the bounds of extreme data stay finite.
///
/// # Errors
/// [`AnalyzeError::NonFinite`] when a bound is not finite or `lo > hi` (no data).
pub fn padded_range(what: &str, lo: f64, hi: f64) -> Result<std::ops::Range<f64>> {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return Err(AnalyzeError::NonFinite {
            what: format!("{what} axis"),
            at: "its range".into(),
            value: format!("{}..{}", name(lo), name(hi)),
            count: 1,
            total: 1,
        });
    }
    let magnitude = lo.abs().max(hi.abs());
    // Half-widths, so nothing overflows even for [-f64::MAX, f64::MAX].
    let half_span = hi / 2.0 - lo / 2.0;
    // A span below ~1e-9 of the magnitude has too few distinct floats for tick labels.
    let pad = if half_span > magnitude * 1e-9 { half_span * 0.1 } else { 0.5 * magnitude.max(1.0) };
    let clamp = |v: f64| v.clamp(-f64::MAX / 4.0, f64::MAX / 4.0);
    Ok(clamp(lo - pad)..clamp(hi + pad))
}

/// `(min, max)` over all values, `None` when there are none.
pub fn bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_non_finite_value_and_counts_all() {
        let found = first_non_finite([1.0, f64::NAN, 2.0, f64::INFINITY]).unwrap();
        assert_eq!((found.index, found.count, found.total), (1, 2, 4));
        assert!(first_non_finite([0.0, -1e308, 1e308]).is_none());
        let err = ensure_finite(|| "layer `x` features".into(), [0.0, f64::NEG_INFINITY], |i| format!("value {i}"));
        let err = err.unwrap_err().to_string();
        assert!(err.contains("layer `x` features") && err.contains("-inf") && err.contains("value 1"), "{err}");
    }

    #[test]
    fn power_of_two_scale_brings_any_finite_magnitude_to_half_one() {
        for m in [f64::MAX, 1e300, 3.0, 1.0, 0.5, 0.75, 1e-300, f64::MIN_POSITIVE, 5e-324] {
            let s = power_of_two_scale(m);
            assert!(s > 0.0 && s.is_finite(), "{m}: {s}");
            assert_eq!(s.log2().fract(), 0.0, "{m}: {s} is not a power of two");
            let scaled = m * s;
            let low = if m < 2f64.powi(-1000) { 2f64.powi(-75) } else { 0.5 };
            assert!((low..1.0).contains(&scaled), "{m} · {s} = {scaled}");
        }
        assert_eq!(power_of_two_scale(0.0), 1.0);
    }

    #[test]
    fn padded_range_is_finite_and_non_empty_for_any_finite_bounds() {
        let cases = [(0.0, 0.0), (1e300, 1e300), (-f64::MAX, f64::MAX), (0.0, 5e-324), (1.0, 1.0 + 1e-15), (-3.0, 2.0)];
        for (lo, hi) in cases {
            let r = padded_range("x", lo, hi).unwrap();
            assert!(r.start.is_finite() && r.end.is_finite() && r.start < r.end, "{lo}..{hi} → {r:?}");
            assert!(r.start <= lo.max(-f64::MAX / 4.0) && r.end >= hi.min(f64::MAX / 4.0), "{lo}..{hi} → {r:?}");
        }
        assert!(padded_range("x", f64::NAN, 1.0).is_err());
        assert!(padded_range("x", f64::INFINITY, f64::NEG_INFINITY).is_err());
    }
}
