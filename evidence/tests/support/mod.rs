//! Test helpers shared by the evidence crate's integration tests.

pub mod tsa;
