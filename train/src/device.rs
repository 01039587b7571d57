//! Choosing the burn device at run time. `flex` (pure-Rust CPU) is always built; `cpu` (CubeCL
//! CPU), `wgpu` (Vulkan/Metal/DX12) and `cuda` need the cargo feature of the same name.

use burn::tensor::Device;
use netlens_fetch::runs::DeviceName;

use crate::error::{Result, TrainError};

/// The burn device `name`, without autodiff.
///
/// # Errors
/// [`TrainError::Device`] for a backend this binary was built without (the message says which
/// cargo feature to enable).
pub fn device_by_name(name: DeviceName) -> Result<Device> {
    #[allow(unused_variables)]
    let missing = |feature: &str| TrainError::Device {
        name: name.to_string(),
        reason: format!("this netlens was built without it; rebuild with `cargo build --release --features {feature}`"),
    };
    match name {
        DeviceName::Flex => Ok(Device::flex()),
        #[cfg(feature = "cpu")]
        DeviceName::Cpu => Ok(Device::cpu()),
        #[cfg(not(feature = "cpu"))]
        DeviceName::Cpu => Err(missing("cpu")),
        #[cfg(feature = "wgpu")]
        DeviceName::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(not(feature = "wgpu"))]
        DeviceName::Wgpu => Err(missing("wgpu")),
        #[cfg(feature = "cuda")]
        DeviceName::Cuda => Ok(Device::cuda(0)),
        #[cfg(not(feature = "cuda"))]
        DeviceName::Cuda => Err(missing("cuda")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_always_there_and_a_missing_backend_names_its_feature() {
        assert!(device_by_name(DeviceName::Flex).is_ok());
        #[cfg(not(feature = "cuda"))]
        {
            let err = device_by_name(DeviceName::Cuda).unwrap_err().to_string();
            assert!(err.contains("--features cuda"), "{err}");
        }
    }
}
