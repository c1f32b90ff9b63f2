//! Detectors and enrichers for an item's media (`media[].path`, local files only; nothing here
//! fetches). [`ocr`] reads the text in images (not a verdict itself: the classifier adds the
//! text to the item for the text detectors); [`pixel`] is the pluggable image classifier for
//! AI-generated pictures.

pub mod ocr;

pub mod pixel;
