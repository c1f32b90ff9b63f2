//! Ballotwatch's pipeline library (issue 23: being built).
//!
//! This crate is where orchestration moves: the root configuration composed from the
//! components' own tables and the flow sources → capture → store → classify → decide → index,
//! with media capture, video frames, real-time streams and the known-fakes refresh. Until that
//! move lands it is empty, and the pipeline still lives in the binary (`src/pipeline.rs`).
