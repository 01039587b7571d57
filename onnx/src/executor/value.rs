//! Runtime values of the differentiable executor.
//!
//! Float tensors live on the burn autodiff device with a fixed physical rank of [`MAX_RANK`]:
//! a tensor of logical shape `[d0, …, dk]` is stored as `[1, …, 1, d0, …, dk]`. Padding on the
//! left is exactly ONNX's (NumPy's) broadcasting alignment, so element-wise ops broadcast with
//! burn's own rules, and every op sees the logical shape through [`Value::shape`].
//! Integer tensors (shapes, indices, axes) stay on the host: they only feed shape arithmetic.

use burn::tensor::{Tensor, TensorData};

/// Largest logical rank a float tensor may have.
pub(crate) const MAX_RANK: usize = 6;

/// A float tensor at the physical rank [`MAX_RANK`].
pub(crate) type Phys = Tensor<MAX_RANK>;

/// One value flowing along a graph edge.
#[derive(Clone, Debug)]
// Values live for one forward pass; boxing the tensor would allocate per node for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Value {
    /// A float tensor on the autodiff device and its logical shape.
    Float { tensor: Phys, shape: Vec<usize> },
    /// A host-side integer tensor (row-major) and its shape.
    Int { data: Vec<i64>, shape: Vec<usize> },
}

/// `shape` padded on the left with ones up to [`MAX_RANK`].
///
/// # Panics
/// If `shape` has more than [`MAX_RANK`] axes; callers check the rank first.
pub(crate) fn padded(shape: &[usize]) -> [usize; MAX_RANK] {
    assert!(shape.len() <= MAX_RANK, "rank {} above the executor's maximum {MAX_RANK}", shape.len());
    let mut out = [1; MAX_RANK];
    out[MAX_RANK - shape.len()..].copy_from_slice(shape);
    out
}

impl Value {
    /// A float value from a tensor of logical shape `shape` of any physical layout.
    pub(crate) fn float<const D: usize>(tensor: Tensor<D>) -> Self {
        let shape = tensor.dims().to_vec();
        Value::Float { tensor: tensor.reshape(padded(&shape)), shape }
    }

    /// A float value from host data, placed on `device`.
    pub(crate) fn float_from_host(data: Vec<f32>, shape: Vec<usize>, device: &burn::tensor::Device) -> Self {
        let tensor = Tensor::<MAX_RANK>::from_data(TensorData::new(data, padded(&shape)), device);
        Value::Float { tensor, shape }
    }

    /// The logical shape.
    pub(crate) fn shape(&self) -> &[usize] {
        match self {
            Value::Float { shape, .. } | Value::Int { shape, .. } => shape,
        }
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.shape().iter().product()
    }
}
