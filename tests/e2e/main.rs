//! The end-to-end tests: one test binary (`cargo test --test e2e`), one module per area. The
//! binary is linked once, and what the tests share (tests/common) is set up once per process.
//! `cargo test --test e2e alerts::` runs one area's tests; `cargo test --test e2e NAME` one test.

#[path = "../common/mod.rs"]
mod common;

mod alerts;
mod cluster;
mod demo;
mod demo_evidence;
mod demo_stream;
mod demo_tour;
mod disk_full;
mod evidence;
mod impersonation;
mod ingest;
mod jetstream;
mod lifecycle;
mod media;
mod media_capture;
mod media_ocr;
mod narratives;
mod quarantine;
mod reports;
mod sources;
mod web;
