//! A run folder being trained into: the schema's [`RunFolder`] and the checkpoints in it.

use std::ops::Deref;
use std::path::PathBuf;

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use netlens_fetch::runs::{RunFolder, read_json, write_json};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The run folder of a training run: the files of [`RunFolder`] (`config.json`, `history.json`,
/// `model_card.json`, `test_logits.npy`, `model.onnx`, …) and the checkpoints in `checkpoint/`
/// (`epoch-N.model.bpk`, `epoch-N.optimizer.bpk` and `latest.json`, which names the last
/// complete epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    folder: RunFolder,
}

impl Deref for RunDir {
    type Target = RunFolder;

    fn deref(&self) -> &RunFolder {
        &self.folder
    }
}

/// What `checkpoint/latest.json` records.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct Latest {
    pub epoch: usize,
}

impl RunDir {
    /// The run folder at `root` (nothing is created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { folder: RunFolder::new(root) }
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
    /// [`TrainError::Data`] if `checkpoint/latest.json` is malformed.
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

    /// Starts a new run: refuses a folder that already holds one, creates it, and writes
    /// `config.json` and `model_card.json`.
    pub(crate) fn start_fresh<C: Serialize, M: Serialize>(&self, config: &C, card: &M) -> Result<()> {
        if self.history().exists() || self.latest_epoch()?.is_some() {
            return Err(self.refused("already holds a run; pass --resume to continue it, or choose another --out"));
        }
        self.create()?;
        write_json(&self.config(), config)?;
        Ok(write_json(&self.model_card(), card)?)
    }

    /// The epoch to resume from; rewrites `config.json` (whose epochs may have changed).
    pub(crate) fn start_resume<C: Serialize>(&self, config: &C) -> Result<usize> {
        let epoch = self
            .latest_epoch()?
            .ok_or_else(|| self.refused("holds no checkpoint to resume; train without --resume"))?;
        write_json(&self.config(), config)?;
        Ok(epoch)
    }

    /// Checks that a history read back holds the checkpoint's epochs and cuts it there.
    pub(crate) fn truncate_history<T>(&self, epochs: &mut Vec<T>, epoch: usize) -> Result<()> {
        if epochs.len() < epoch {
            return Err(self.refused("history.json has fewer epochs than the checkpoint"));
        }
        epochs.truncate(epoch);
        Ok(())
    }

    fn refused(&self, reason: &str) -> TrainError {
        TrainError::RunFolder { path: self.root().to_path_buf(), reason: reason.into() }
    }

    /// Saves `epoch`'s weights and optimizer state (call [`Self::commit_checkpoint`] after).
    pub(crate) fn save_checkpoint<M: Module>(
        &self,
        epoch: usize,
        model: &M,
        optimizer: &ModuleOptimizer,
    ) -> Result<()> {
        let path = self.model_checkpoint(epoch);
        model
            .clone()
            .save_file(&path)
            .map_err(|e| TrainError::Checkpoint { path: path.clone(), reason: e.to_string() })?;
        let path = self.optimizer_checkpoint(epoch);
        optimizer.save(&path).map_err(|e| TrainError::Checkpoint { path: path.clone(), reason: e.to_string() })
    }

    /// Loads `epoch`'s weights into `fresh` (a module of the right shape).
    pub(crate) fn load_weights<M: Module>(&self, fresh: M, epoch: usize) -> Result<M> {
        let path = self.model_checkpoint(epoch);
        fresh.try_load_file(&path).map_err(|e| TrainError::Checkpoint { path, reason: e.to_string() })
    }

    /// Loads `epoch`'s Adam state (burn's default Adam, as every netlens run uses).
    pub(crate) fn load_adam(&self, epoch: usize) -> Result<ModuleOptimizer> {
        let path = self.optimizer_checkpoint(epoch);
        AdamConfig::new().init().load(&path).map_err(|e| TrainError::Checkpoint { path, reason: e.to_string() })
    }
}
