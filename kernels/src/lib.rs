#![doc = include_str!("../README.md")]

pub mod conv;
pub mod resize;
pub mod subpixel;
