//! ONNX export of a trained VAE as two graphs: the encoder (image → μ, log σ²) and the decoder
//! (z → image), each with a symbolic batch axis, so analysis needs no burn.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};

use super::model::{IMAGE_CHANNELS, Vae, VaeConfig, VaeDecoder, VaeEncoder};
use crate::error::Result;

/// Exports `vae` (shaped by `config`) to ONNX bytes `(encoder, decoder)`:
///
/// - encoder: input `[batch, 3, size, size]` float32 pixels in `[0, 1]`; outputs μ and
///   log σ², each `[batch, latent]`;
/// - decoder: input z `[batch, latent]`; output `[batch, 3, size, size]` pixels in `[0, 1]`.
///
/// Names are burn-onnx's (`node_N`, `tensor_N`); `netlens_onnx::naming` renames them for people.
/// Export captures the forward pass on a capture device: pass a model loaded afresh (see
/// [`super::load_vae`]) and do not run it afterwards.
///
/// # Errors
/// [`crate::TrainError::Export`] when burn-onnx cannot lower an operation.
pub fn export_vae(vae: &Vae, config: &VaeConfig, device: &Device) -> Result<(Vec<u8>, Vec<u8>)> {
    let vae = vae.clone().valid();
    let s = config.image_size;
    let image = |batch| Tensor::<4>::zeros([batch, IMAGE_CHANNELS, s, s], device);
    let dynamic = AxisSpec::dynamic("batch");
    let specs = [InputSpec::new([dynamic.clone(), AxisSpec::Static, AxisSpec::Static, AxisSpec::Static])];
    let encoder = OnnxExporter::new().export_dynamic(
        &vae.encoder,
        image(2),
        image(3),
        &specs,
        |m: &VaeEncoder, x: Tensor<4>| m.forward(x),
    )?;
    let z = |batch| Tensor::<2>::zeros([batch, config.latent], device);
    let specs = [InputSpec::new([dynamic, AxisSpec::Static])];
    let decoder =
        OnnxExporter::new()
            .export_dynamic(&vae.decoder, z(2), z(3), &specs, |m: &VaeDecoder, z: Tensor<2>| m.forward(z))?;
    Ok((encoder.into_bytes(), decoder.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_graphs_export_for_both_upsampling_modes() {
        let device = Device::flex();
        for upsample in [super::super::Upsample::Nearest, super::super::Upsample::Bilinear] {
            let config = VaeConfig { latent: 8, image_size: 32, upsample };
            let vae = super::super::Vae::new(&config, &device).unwrap();
            let (encoder, decoder) = export_vae(&vae, &config, &device).unwrap();
            assert!(!encoder.is_empty() && !decoder.is_empty());
        }
    }
}
