//! Choosing the burn device at run time. `flex` (pure-Rust CPU) is always built; `cpu` (CubeCL
//! CPU), `wgpu` (Vulkan/Metal/DX12) and `cuda` need the cargo feature of the same name.
//!
//! A `wgpu` device is acquired once per process and kept: its adapter (the GPU, or a software
//! Vulkan device such as Mesa's lavapipe) is named by [`describe_device`], and a machine without
//! one gets [`TrainError::Device`] instead of a panic inside the runtime.

use burn::tensor::Device;
use netlens_fetch::runs::DeviceName;

use crate::error::{Result, TrainError};

/// The burn device `name`, without autodiff.
///
/// # Errors
/// [`TrainError::Device`] for a backend this binary was built without (the message says which
/// cargo feature to enable), or a `wgpu` device when the machine offers no adapter (the message
/// gives wgpu's reason).
pub fn device_by_name(name: DeviceName) -> Result<Device> {
    acquire(name).map(|(device, _)| device)
}

/// One line naming the device `name` stands for on this machine, e.g. `flex (pure-Rust CPU)` or
/// `wgpu: llvmpipe (LLVM 15.0.6, 256 bits) — Vulkan, Cpu`.
///
/// # Errors
/// As [`device_by_name`].
pub fn describe_device(name: DeviceName) -> Result<String> {
    acquire(name).map(|(_, description)| description)
}

fn acquire(name: DeviceName) -> Result<(Device, String)> {
    #[allow(unused_variables)]
    let missing = |feature: &str| TrainError::Device {
        name: name.to_string(),
        reason: format!("this netlens was built without it; rebuild with `cargo build --release --features {feature}`"),
    };
    match name {
        DeviceName::Flex => Ok((Device::flex(), "flex (pure-Rust CPU)".into())),
        #[cfg(feature = "cpu")]
        DeviceName::Cpu => Ok((Device::cpu(), "cpu (CubeCL CPU)".into())),
        #[cfg(not(feature = "cpu"))]
        DeviceName::Cpu => Err(missing("cpu")),
        #[cfg(feature = "wgpu")]
        DeviceName::Wgpu => wgpu::acquire(),
        #[cfg(not(feature = "wgpu"))]
        DeviceName::Wgpu => Err(missing("wgpu")),
        #[cfg(feature = "cuda")]
        DeviceName::Cuda => Ok((Device::cuda(0), "cuda:0".into())),
        #[cfg(not(feature = "cuda"))]
        DeviceName::Cuda => Err(missing("cuda")),
    }
}

#[cfg(feature = "wgpu")]
mod wgpu {
    use std::sync::OnceLock;

    use burn::tensor::Device;
    use netlens_fetch::runs::DeviceName;

    use crate::error::{Result, TrainError};

    /// The runtime can be initialised once per process; every later request reuses the device
    /// (or the reason there is none).
    static WGPU: OnceLock<std::result::Result<(Device, String), String>> = OnceLock::new();

    pub(super) fn acquire() -> Result<(Device, String)> {
        WGPU.get_or_init(|| {
            let (device, setup) = Device::wgpu_options().init_with_setup().map_err(|e| {
                format!(
                    "no wgpu adapter could be opened ({e}); on Linux without a GPU, Mesa's software \
                     Vulkan device (Debian/Ubuntu package `mesa-vulkan-drivers`) provides one"
                )
            })?;
            let info = setup.adapter.get_info();
            Ok((device, format!("wgpu: {} — {:?}, {:?}", info.name, info.backend, info.device_type)))
        })
        .clone()
        .map_err(|reason| TrainError::Device { name: DeviceName::Wgpu.to_string(), reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_always_there_and_a_missing_backend_names_its_feature() {
        assert!(device_by_name(DeviceName::Flex).is_ok());
        assert!(describe_device(DeviceName::Flex).unwrap().starts_with("flex"));
        #[cfg(not(feature = "cuda"))]
        {
            let err = device_by_name(DeviceName::Cuda).unwrap_err().to_string();
            assert!(err.contains("--features cuda"), "{err}");
        }
    }
}
