//! Ballotwatch's pipeline library.
//!
//! It owns orchestration: the root configuration composed from the components' own tables and
//! the flow sources → capture → store → classify → decide → index, with media capture, video
//! frames, real-time streams and the known-fakes refresh. `serve`, `ingest --once`, the demo,
//! the benchmarks and the end-to-end tests all drive this one pipeline; the `ballotwatch` binary
//! only parses the command line and runs it.
