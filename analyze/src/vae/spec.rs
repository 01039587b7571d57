//! Which images an interpolation end stands for: one index, a list of indices (their mean
//! latent), a named group (its mean latent) or a group's medoid (the one member whose latent is
//! nearest the group mean: a real face rather than an average), from a groups file such as
//! `lfw-small/groups.json`
//! (`{"female": [9, 11, …], "male": […], …}`; keys whose value is not a list of indices, such as
//! `"note"`, are ignored).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{AnalyzeError, Result};

/// One end of an interpolation, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LatentSpec {
    /// One image index (0-based), e.g. `12`.
    Index(usize),
    /// Several image indices, e.g. `3,8,21`: their μ are averaged.
    Indices(Vec<usize>),
    /// A group name from the groups file, e.g. `female`: the mean μ of its images.
    Group(String),
    /// `GROUP:medoid`, e.g. `female:medoid`: the μ of the group's member nearest (Euclidean) to
    /// the group's mean μ.
    Medoid(String),
}

impl std::str::FromStr for LatentSpec {
    type Err = String;

    /// `12` → [`LatentSpec::Index`], `3,8,21` → [`LatentSpec::Indices`], `female:medoid` →
    /// [`LatentSpec::Medoid`], anything else starting with a letter → [`LatentSpec::Group`].
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            let parsed: std::result::Result<Vec<usize>, _> = s.split(',').map(|p| p.trim().parse::<usize>()).collect();
            let v =
                parsed.map_err(|_| format!("`{s}`: expected an image index (12), indices (3,8,21) or a group name"))?;
            return Ok(if v.len() == 1 { LatentSpec::Index(v[0]) } else { LatentSpec::Indices(v) });
        }
        if let Some(group) = s.strip_suffix(":medoid")
            && group.starts_with(|c: char| c.is_alphabetic())
        {
            return Ok(LatentSpec::Medoid(group.to_string()));
        }
        if s.starts_with(|c: char| c.is_alphabetic()) && !s.contains(':') {
            return Ok(LatentSpec::Group(s.to_string()));
        }
        Err(format!(
            "`{s}`: expected an image index (12), indices (3,8,21), a group name (female) or a group's medoid (female:medoid)"
        ))
    }
}

impl std::fmt::Display for LatentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LatentSpec::Index(i) => write!(f, "{i}"),
            LatentSpec::Indices(v) => write!(f, "{}", v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")),
            LatentSpec::Group(g) => write!(f, "{g}"),
            LatentSpec::Medoid(g) => write!(f, "{g}:medoid"),
        }
    }
}

/// Named groups of image indices, read from a JSON file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Groups {
    path: PathBuf,
    groups: BTreeMap<String, Vec<usize>>,
}

impl Groups {
    /// Reads the JSON object at `path`, keeping each key whose value is a list of non-negative
    /// integers.
    ///
    /// # Errors
    /// [`AnalyzeError::Io`] when unreadable, [`AnalyzeError::Parse`] when not a JSON object.
    pub fn load(path: &Path) -> Result<Groups> {
        let text = std::fs::read_to_string(path).map_err(|source| AnalyzeError::Io { path: path.into(), source })?;
        let parse = |reason: String| AnalyzeError::Parse { path: path.into(), reason };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| parse("expected a JSON object of group name → list of image indices".into()))?;
        let groups = object
            .iter()
            .filter_map(|(k, v)| {
                let list = v.as_array()?;
                let idx: Option<Vec<usize>> = list.iter().map(|x| x.as_u64().map(|i| i as usize)).collect();
                idx.filter(|i| !i.is_empty()).map(|i| (k.clone(), i))
            })
            .collect();
        Ok(Groups { path: path.into(), groups })
    }

    /// The file the groups were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The group names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.groups.keys().cloned().collect()
    }

    /// The indices of group `name`.
    ///
    /// # Errors
    /// [`AnalyzeError::UnknownGroup`] listing the groups the file has.
    pub fn get(&self, name: &str) -> Result<&[usize]> {
        self.groups.get(name).map(|v| v.as_slice()).ok_or_else(|| AnalyzeError::UnknownGroup {
            group: name.into(),
            path: self.path.clone(),
            available: self.names(),
        })
    }
}

impl LatentSpec {
    /// The image indices this spec stands for, each checked against `count` images in `what`
    /// (e.g. the data file's name).
    ///
    /// # Errors
    /// [`AnalyzeError::UnknownGroup`] for a group not in `groups`, [`AnalyzeError::InvalidParam`]
    /// for a group name without a groups file, [`AnalyzeError::IndexOutOfRange`] for an index
    /// ≥ `count`.
    pub fn resolve(&self, groups: Option<&Groups>, count: usize, what: &str) -> Result<Vec<usize>> {
        let indices = match self {
            LatentSpec::Index(i) => vec![*i],
            LatentSpec::Indices(v) => v.clone(),
            LatentSpec::Group(g) | LatentSpec::Medoid(g) => match groups {
                Some(groups) => groups.get(g)?.to_vec(),
                None => {
                    return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
                        name: "spec".into(),
                        value: g.clone(),
                        reason: "is a group name, but no groups file was given (--groups FILE)".into(),
                    }));
                }
            },
        };
        match indices.iter().find(|&&i| i >= count) {
            Some(&index) => Err(AnalyzeError::IndexOutOfRange { index, count, what: what.into() }),
            None => Ok(indices),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lfw_groups() -> Groups {
        Groups::load(
            &Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
                .join("../../shared/data/lfw-small/groups.json"),
        )
        .unwrap()
    }

    #[test]
    fn parses_indices_lists_and_names() {
        assert_eq!("12".parse::<LatentSpec>().unwrap(), LatentSpec::Index(12));
        assert_eq!("3, 8,21".parse::<LatentSpec>().unwrap(), LatentSpec::Indices(vec![3, 8, 21]));
        assert_eq!("female".parse::<LatentSpec>().unwrap(), LatentSpec::Group("female".into()));
        assert_eq!("female:medoid".parse::<LatentSpec>().unwrap(), LatentSpec::Medoid("female".into()));
        assert_eq!(LatentSpec::Medoid("male".into()).to_string(), "male:medoid");
        for bad in ["", "-1", "3,x", "1.5", "female:mean", ":medoid"] {
            assert!(bad.parse::<LatentSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_the_real_groups_file_and_names_what_is_wrong() {
        let groups = lfw_groups();
        assert_eq!(groups.names(), ["female", "male", "older", "younger"]);
        let female = LatentSpec::Group("female".into()).resolve(Some(&groups), 1000, "X_train.npy").unwrap();
        assert_eq!(female.len(), 14);
        let err = LatentSpec::Group("teen".into()).resolve(Some(&groups), 1000, "X").unwrap_err().to_string();
        assert!(err.contains("`teen`") && err.contains("female, male, older, younger"), "{err}");
        let err = LatentSpec::Indices(vec![1, 1000]).resolve(None, 1000, "X_train.npy").unwrap_err().to_string();
        assert!(err.contains("1000") && err.contains("X_train.npy") && err.contains("0–999"), "{err}");
        assert!(LatentSpec::Group("male".into()).resolve(None, 1000, "X").is_err());
    }
}
