//! netlens-train
