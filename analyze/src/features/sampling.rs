//! Class-balanced, seeded samples of a labelled data set (the course asks for n ≥ 150 with at
//! least 15 samples per class from all 10 classes).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{AnalyzeError, Result};

/// The fewest samples per class the course accepts.
pub const MIN_PER_CLASS: usize = 15;

/// The default number of samples per class.
pub const DEFAULT_PER_CLASS: usize = 30;

/// Indices of `per_class` examples of every class `0..class_names.len()`, drawn without
/// replacement by a seeded shuffle (rand's `StdRng`, ChaCha12) and returned class by class.
/// The same labels, count and seed give the same sample.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] when `per_class < MIN_PER_CLASS`;
/// [`AnalyzeError::ClassTooSmall`] when a class has fewer than `per_class` examples.
pub fn balanced_sample(labels: &[u8], class_names: &[String], per_class: usize, seed: u64) -> Result<Vec<usize>> {
    if per_class < MIN_PER_CLASS {
        return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
            name: "per-class".into(),
            value: per_class.to_string(),
            reason: format!("the course needs at least {MIN_PER_CLASS} samples per class"),
        }));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sample = Vec::with_capacity(per_class * class_names.len());
    for (label, class) in class_names.iter().enumerate() {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] as usize == label).collect();
        if members.len() < per_class {
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
        let labels: Vec<u8> = (0..300).map(|i| (i % 3) as u8).collect();
        let a = balanced_sample(&labels, &names(3), 20, 7).unwrap();
        assert_eq!(a.len(), 60);
        for c in 0..3u8 {
            assert_eq!(a.iter().filter(|&&i| labels[i] == c).count(), 20);
        }
        assert_eq!(a, balanced_sample(&labels, &names(3), 20, 7).unwrap());
        assert_ne!(a, balanced_sample(&labels, &names(3), 20, 8).unwrap());
        let unique: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(unique.len(), a.len());
    }

    #[test]
    fn too_few_per_class_is_an_error() {
        let labels: Vec<u8> = (0..40).map(|i| if i < 10 { 1 } else { 0 }).collect();
        let err = balanced_sample(&labels, &names(2), 15, 0).unwrap_err().to_string();
        assert!(err.contains("class 1 (`c1`) has 10 examples") && err.contains("needs 15"), "{err}");
        let err = balanced_sample(&labels, &names(2), 5, 0).unwrap_err().to_string();
        assert!(err.contains("per-class = 5") && err.contains("at least 15"), "{err}");
    }
}
