//! netlens: look inside image neural networks. The `netlens` command ([`main.rs`]) parses
//! arguments and prints; what it runs lives in the member crates and, for `netlens run` and
//! the steps the commands share, in [`pipeline`].
//!
//! [`main.rs`]: https://docs.rs/netlens

pub mod pipeline;
