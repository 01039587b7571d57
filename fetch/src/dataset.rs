//! The in-memory form every data set is loaded into.

/// A batch of images, `[batch, channels, height, width]` (NCHW), row-major `f32` pixels in
/// `[0, 1]` (uint8 / 255).
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    /// `batch * channels * height * width` values, NCHW.
    pub data: Vec<f32>,
    /// `[batch, channels, height, width]`.
    pub shape: [usize; 4],
}

impl Images {
    /// Number of images (the batch axis).
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }

    /// Values per image: `channels * height * width`.
    pub fn image_len(&self) -> usize {
        self.shape[1] * self.shape[2] * self.shape[3]
    }

    /// Pixels of image `i`, `[channels, height, width]`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.data[i * n..(i + 1) * n]
    }

    /// The images at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Images {
        let mut data = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            data.extend_from_slice(self.image(i));
        }
        let [_, c, h, w] = self.shape;
        Images { data, shape: [indices.len(), c, h, w] }
    }
}

/// Labelled images for classification: images, one label per image in `0..class_names.len()`,
/// and the class names in label order.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// `[batch, channels, height, width]` pixels in `[0, 1]`.
    pub images: Images,
    /// One label per image, in `0..class_names.len()`.
    pub labels: Vec<u32>,
    /// Class names in label order.
    pub class_names: Vec<String>,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            images: self.images.select(indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
        }
    }
}

/// Fashion-MNIST's class names in label order (Xiao et al. 2017, the data set's README).
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Fashion-MNIST's class names as owned strings.
pub fn fashion_mnist_class_names() -> Vec<String> {
    FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect()
}
