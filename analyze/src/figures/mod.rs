//! Figures: plotters SVG charts.
//!
//! - [`scatter`]: 2-D and projected 3-D scatter plots of embeddings, coloured by class.

pub mod scatter;
