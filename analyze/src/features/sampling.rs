//! Class-balanced, seeded samples of a labelled data set. The course asks for n ≥ 150 with at
//! least 15 samples per class from all 10 classes ([`SamplingRule::Course`], checked on the
//! course's data); any other data set takes up to `per_class` of each class, so 3 classes or
//! 1,000 both work ([`SamplingRule::UpTo`]).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{AnalyzeError, Result};

/// The fewest samples per class the course accepts.
pub const MIN_PER_CLASS: usize = 15;

/// The default number of samples per class.
pub const DEFAULT_PER_CLASS: usize = 30;

/// The fewest samples in all the course accepts.
pub const MIN_TOTAL: usize = 150;

/// How many examples of each class a sample must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplingRule {
    /// The course's rule: exactly `per_class` ≥ [`MIN_PER_CLASS`] of every class, n ≥
    /// [`MIN_TOTAL`]; a smaller class is an error.
    Course,
    /// Up to `per_class` ≥ 1 of every class: a smaller class gives all it has.
    UpTo,
}

/// Indices of `per_class` examples of every class `0..class_names.len()`, drawn without
/// replacement by a seeded shuffle (rand's `StdRng`, ChaCha12) and returned class by class.
/// The same labels, count and seed give the same sample.
///
/// # Errors
/// With [`SamplingRule::Course`]: [`AnalyzeError::InvalidParam`] when `per_class <
/// MIN_PER_CLASS` or the sample would be under [`MIN_TOTAL`]; [`AnalyzeError::ClassTooSmall`]
/// when a class has fewer than `per_class` examples. With [`SamplingRule::UpTo`]:
/// [`AnalyzeError::InvalidParam`] when `per_class` is 0.
pub fn balanced_sample(
    labels: &[u32],
    class_names: &[String],
    per_class: usize,
    seed: u64,
    rule: SamplingRule,
) -> Result<Vec<usize>> {
    let invalid = |reason: String| {
        AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
            name: "per-class".into(),
            value: per_class.to_string(),
            reason,
        })
    };
    if rule == SamplingRule::Course && per_class < MIN_PER_CLASS {
        return Err(invalid(format!("the course needs at least {MIN_PER_CLASS} samples per class")));
    }
    if rule == SamplingRule::Course && per_class * class_names.len() < MIN_TOTAL {
        return Err(invalid(format!("the course needs at least {MIN_TOTAL} samples in all")));
    }
    if per_class == 0 {
        return Err(invalid("needs at least 1 sample per class".into()));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sample = Vec::with_capacity(per_class * class_names.len());
    for (label, class) in class_names.iter().enumerate() {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] as usize == label).collect();
        if rule == SamplingRule::Course && members.len() < per_class {
            return Err(AnalyzeError::ClassTooSmall {
                label,
                class: class.clone(),
                found: members.len(),
                needed: per_class,
                minimum: MIN_PER_CLASS,
            });
        }
        members.shuffle(&mut rng);
        members.truncate(per_class);
        members.sort_unstable();
        sample.extend(members);
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn balanced_and_reproducible() {
        let labels: Vec<u32> = (0..300).map(|i| (i % 3) as u32).collect();
        let a = balanced_sample(&labels, &names(3), 20, 7, SamplingRule::UpTo).unwrap();
        assert_eq!(a.len(), 60);
        for c in 0..3u32 {
            assert_eq!(a.iter().filter(|&&i| labels[i] == c).count(), 20);
        }
        assert_eq!(a, balanced_sample(&labels, &names(3), 20, 7, SamplingRule::UpTo).unwrap());
        assert_ne!(a, balanced_sample(&labels, &names(3), 20, 8, SamplingRule::UpTo).unwrap());
        let unique: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(unique.len(), a.len());
    }

    #[test]
    fn too_few_per_class_is_an_error() {
        let labels: Vec<u32> = (0..40).map(|i| if i < 10 { 1 } else { 0 }).collect();
        let names10 = names(10);
        let err = balanced_sample(&labels, &names10, 15, 0, SamplingRule::Course).unwrap_err().to_string();
        assert!(
            err.contains("class 0 (`c0`) has 30 examples") || err.contains("class 1 (`c1`) has 10 examples"),
            "{err}"
        );
        let err = balanced_sample(&labels, &names10, 5, 0, SamplingRule::Course).unwrap_err().to_string();
        assert!(err.contains("per-class = 5") && err.contains("at least 15"), "{err}");
        let err = balanced_sample(&labels, &names(2), 15, 0, SamplingRule::Course).unwrap_err().to_string();
        assert!(err.contains("per-class = 15") && err.contains("at least 150 samples in all"), "{err}");
        // Any other data: a small class gives what it has, and 1,000 classes of one each work.
        let some = balanced_sample(&labels, &names(2), 15, 0, SamplingRule::UpTo).unwrap();
        assert_eq!(some.iter().filter(|&&i| labels[i] == 1).count(), 10);
        assert_eq!(some.iter().filter(|&&i| labels[i] == 0).count(), 15);
        let many: Vec<u32> = (0..2000).map(|i| i % 1000).collect();
        let one_each = balanced_sample(&many, &names(1000), 1, 0, SamplingRule::UpTo).unwrap();
        assert_eq!(one_each.len(), 1000);
    }
}
