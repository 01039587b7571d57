//! Choosing the burn device at run time. `flex` (pure-Rust CPU) is always built; `cpu` (CubeCL
//! CPU), `wgpu` (Vulkan/Metal/DX12) and `cuda` need the cargo feature of the same name.

use burn::tensor::Device;

use crate::error::{Result, TrainError};

/// The devices `--device` accepts.
pub const DEVICE_NAMES: [&str; 4] = ["flex", "cpu", "wgpu", "cuda"];

/// The device called `name` (one of [`DEVICE_NAMES`]), without autodiff.
///
/// # Errors
/// [`TrainError::Device`] for an unknown name, or a backend this binary was built without (the
/// message says which cargo feature to enable).
pub fn device_by_name(name: &str) -> Result<Device> {
    let missing = |feature: &str| TrainError::Device {
        name: name.into(),
        reason: format!("this netlens was built without it; rebuild with `cargo build --release --features {feature}`"),
    };
    match name {
        "flex" => Ok(Device::flex()),
        #[cfg(feature = "cpu")]
        "cpu" => Ok(Device::cpu()),
        #[cfg(not(feature = "cpu"))]
        "cpu" => Err(missing("cpu")),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => Err(missing("wgpu")),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(not(feature = "cuda"))]
        "cuda" => Err(missing("cuda")),
        other => Err(TrainError::Device {
            name: other.into(),
            reason: format!("unknown; expected one of {}", DEVICE_NAMES.join(", ")),
        }),
    }
}
