//! A run folder (`runs/NAME/`) and the files in it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::history::{read_json, write_json};
use crate::error::{Result, TrainError};

/// The files of one training run:
///
/// | file | content |
/// | --- | --- |
/// | `config.json` | [`crate::TrainConfig`]: architecture, hyper-parameters, seed, device, data |
/// | `history.json` | [`crate::History`]: metrics after every epoch |
/// | `model_card.json` | [`crate::ModelCard`]: layers, feature-map sizes, design rationale |
/// | `checkpoint/` | the latest epoch's weights and optimizer state (burnpack) |
/// | `test_logits.npy` | float32 `(N, classes)`: the final model's logits on the test set |
/// | `model.onnx` | the exported model |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

/// What `checkpoint/latest.json` records.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct Latest {
    pub epoch: usize,
}

impl RunDir {
    /// The run folder at `root` (nothing is created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }

    /// `history.json`.
    pub fn history(&self) -> PathBuf {
        self.root.join("history.json")
    }

    /// `model_card.json`.
    pub fn model_card(&self) -> PathBuf {
        self.root.join("model_card.json")
    }

    /// `test_logits.npy`.
    pub fn test_logits(&self) -> PathBuf {
        self.root.join("test_logits.npy")
    }

    /// `model.onnx`.
    pub fn onnx(&self) -> PathBuf {
        self.root.join("model.onnx")
    }

    fn checkpoint_dir(&self) -> PathBuf {
        self.root.join("checkpoint")
    }

    pub(crate) fn model_checkpoint(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir().join(format!("epoch-{epoch}.model.bpk"))
    }

    pub(crate) fn optimizer_checkpoint(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir().join(format!("epoch-{epoch}.optimizer.bpk"))
    }

    fn latest_path(&self) -> PathBuf {
        self.checkpoint_dir().join("latest.json")
    }

    /// The last epoch whose checkpoint is complete, if any.
    ///
    /// # Errors
    /// [`TrainError::Json`] if `checkpoint/latest.json` is malformed.
    pub fn latest_epoch(&self) -> Result<Option<usize>> {
        let p = self.latest_path();
        if !p.exists() {
            return Ok(None);
        }
        Ok(Some(read_json::<Latest>(&p)?.epoch))
    }

    /// Marks `epoch`'s checkpoint as complete (atomically), then removes older ones.
    pub(crate) fn commit_checkpoint(&self, epoch: usize) -> Result<()> {
        write_json(&self.latest_path(), &Latest { epoch })?;
        if epoch > 1 {
            for p in [self.model_checkpoint(epoch - 1), self.optimizer_checkpoint(epoch - 1)] {
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| TrainError::io(&p, e))?;
                }
            }
        }
        Ok(())
    }

    /// Creates the folder and its `checkpoint/` subfolder.
    pub(crate) fn create(&self) -> Result<()> {
        let d = self.checkpoint_dir();
        std::fs::create_dir_all(&d).map_err(|e| TrainError::io(&d, e))
    }
}
