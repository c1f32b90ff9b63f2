//! Media capture: the images and videos that new or changed items attach or link are
//! downloaded through the same fetcher as feeds (SSRF guard, timeouts, per-host politeness),
//! their type sniffed from the bytes (never the declared Content-Type or the URL), capped by
//! size (a larger cap for video, chosen from the first bytes), image dimensions checked from
//! the header before anything is decoded, and their bytes kept in the capture store named by
//! SHA-256, with the HTTP exchange recorded as a capture (for the evidence pack's WARC). A
//! video's first frame and keyframes are taken with ffmpeg ([`super::video`]) and added to the
//! item as `image/png` media with `frame_of`, so the image detectors see them. The item's
//! `media[].sha256` and `mime` record the result, so the detectors (which read the stored
//! copy), the web UI and evidence packs all use exactly the captured bytes.
//!
//! Media that fail to download get `capture_error` (the reason, naming the URL) and the item
//! is still stored and classified. Failures that may pass (network trouble, timeouts, 404,
//! 5xx) also get `capture_retry` and are tried again, once, on each later poll that carries
//! the item, for [`RETRY_FOR`] after the item's version was stored; a retry that fails again
//! does not make a new version (the reason is not part of an item's content hash), one that
//! succeeds does. Other failures are kept as they are.

use std::collections::HashMap;

use ballotwatch_core::{Capture, Item, LimitsConfig, Media};
use ballotwatch_ingest::{FetchError, FetchRequest, Fetched, Fetcher};
use ballotwatch_store::{NewCapture, PipelineStore, Store};

use super::quarantine::MediaGate;
use super::video;
use crate::Result;

/// Most media captured per item.
pub const MAX_PER_ITEM: usize = 8;
const ACCEPT: &str =
    "image/avif,image/webp,image/png,image/jpeg,image/gif,video/mp4,video/webm;q=0.9,*/*;q=0.1";

/// The size caps of media capture, in bytes: `[limits] max_image_size` and `max_video_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Largest image downloaded (`[limits] max_image_size`).
    pub image: u64,
    /// Largest video downloaded (`[limits] max_video_size`).
    pub video: u64,
}

impl Caps {
    /// The caps `[limits]` sets.
    pub fn from_limits(limits: &LimitsConfig) -> Caps {
        Caps {
            image: limits.max_image_size.as_u64(),
            video: limits.max_video_size.as_u64(),
        }
    }

    /// The cap for a body starting with `head`: a video's when its first bytes are a video
    /// container's, an image's otherwise, and the larger of the two while nothing is known.
    fn for_head(&self, head: &[u8]) -> u64 {
        if head.is_empty() {
            self.image.max(self.video)
        } else if sniff_video(head).is_some() {
            self.video
        } else {
            self.image
        }
    }

    /// What a download cut off at `limit` was over, naming the `[limits]` key.
    fn describe(&self, limit: u64) -> String {
        let key = if limit == self.image && limit != self.video {
            "media cap ([limits] max_image_size)"
        } else if limit == self.video && limit != self.image {
            "video cap ([limits] max_video_size)"
        } else {
            "media cap ([limits] max_image_size, max_video_size)"
        };
        format!("{} {key}", size(limit))
    }
}

impl Default for Caps {
    fn default() -> Caps {
        Caps::from_limits(&LimitsConfig::default())
    }
}

/// What the bytes of a medium are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Image(&'static str),
    Video(&'static str),
}

impl Kind {
    fn mime(self) -> &'static str {
        match self {
            Kind::Image(m) | Kind::Video(m) => m,
        }
    }
}

/// The media downloaded by [`capture`], to store.
#[derive(Debug, Default)]
pub struct Captured {
    /// Each download's HTTP exchange and bytes (recorded as captures).
    pub fetched: Vec<(Capture, Vec<u8>)>,
    /// Frames taken from videos, as PNG (stored as blobs only: they were not fetched).
    pub frames: Vec<Vec<u8>>,
}

/// Stores what [`capture`] downloaded: every body and frame in the capture store, and every
/// download's HTTP exchange as a capture of `source`.
pub fn store_captured(store: &dyn PipelineStore, source: &str, captured: &Captured) -> Result<()> {
    for (capture, body) in &captured.fetched {
        store.put_blob(body)?;
        store.record_capture(
            source,
            NewCapture {
                capture: capture.clone(),
            },
        )?;
    }
    for frame in &captured.frames {
        store.put_blob(frame)?;
    }
    Ok(())
}

/// Gives media whose URL was already captured for the same item (an unchanged entry seen
/// again) the stored SHA-256, type and frames, and keeps failures that would recur, so they
/// are neither fetched again nor seen as a change. Failures marked `capture_retry` are left
/// for [`capture`] to try again. The stored versions are read in one batch, on either back end.
pub fn reuse_stored(store: &dyn PipelineStore, items: &mut [(usize, Item)]) -> Result<()> {
    let ids: Vec<String> = items
        .iter()
        .filter(|(_, i)| !i.media.is_empty())
        .map(|(_, i)| i.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let stored: HashMap<String, Item> = store
        .get_items(&ids)?
        .into_iter()
        .map(|s| (s.item.id.clone(), s.item))
        .collect();
    let now = chrono::Utc::now();
    for (_, item) in items.iter_mut() {
        if let Some(old) = stored.get(&item.id) {
            reuse_from(old, item, now);
        }
    }
    Ok(())
}

/// How long after an item version was stored its passing failures are still retried; after
/// that (a picture still missing a day later) the failure is kept, so a long-lived feed entry
/// does not make a request per poll for ever. A new version of the item starts again.
pub const RETRY_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// [`reuse_stored`] for one item and its latest stored version, at `now`.
fn reuse_from(old: &Item, item: &mut Item, now: chrono::DateTime<chrono::Utc>) {
    let retry_over = old.ingested_at.is_some_and(|at| now - at > RETRY_FOR);
    if item.media.iter().any(|m| m.frame_of.is_some()) {
        return;
    }
    let mut frames = Vec::new();
    for (index, m) in item.media.iter_mut().enumerate() {
        if m.sha256.is_some() || m.path.is_some() {
            continue;
        }
        let Some(url) = &m.url else { continue };
        let Some((old_index, known)) = old
            .media
            .iter()
            .enumerate()
            .find(|(_, o)| o.frame_of.is_none() && o.url.as_ref() == Some(url))
        else {
            continue;
        };
        if let Some(sha) = &known.sha256 {
            m.sha256 = Some(sha.clone());
            m.mime = known.mime.clone().or(m.mime.take());
            m.capture_error = known.capture_error.clone();
            frames.extend(
                old.media
                    .iter()
                    .filter(|f| f.frame_of == Some(old_index))
                    .map(|f| Media {
                        frame_of: Some(index),
                        ..f.clone()
                    }),
            );
        } else if known.capture_error.is_some() && (!known.capture_retry || retry_over) {
            m.capture_error = known.capture_error.clone();
        }
    }
    item.media.extend(frames);
}

/// Media bytes a source already has, by URL: the captures of the same poll (a report's
/// attachments, read with its message). A medium whose URL is one of them is taken from that
/// capture instead of being downloaded, and goes through the same sniffing, caps, quarantine and
/// frames; its capture is stored with the poll, not again here.
pub type Prefetched<'a> = HashMap<&'a str, &'a (Capture, Vec<u8>)>;

/// The captures of a poll as [`Prefetched`] media.
pub fn prefetched(captures: &[(Capture, Vec<u8>)]) -> Prefetched<'_> {
    captures.iter().map(|c| (c.0.url.as_str(), c)).collect()
}

/// Downloads the not yet captured media of `items` (at most [`MAX_PER_ITEM`] each, each within
/// `caps`), or takes them from `prefetched`, records their SHA-256 and sniffed type (or why
/// they could not be captured) on the items, adds the frames of videos, and returns what to
/// store.
///
/// With a `gate`, each download is recorded as media work before its bytes are looked at
/// (sniffed, the image header read, the video's frames taken) and cleared after, so a medium
/// that kills the process is quarantined after `[limits] quarantine_after` attempts: its
/// download is kept as a capture, the medium gets the quarantine as its `capture_error`, and
/// the item is stored and classified without it.
pub async fn capture(
    fetcher: &Fetcher,
    caps: Caps,
    gate: Option<&MediaGate>,
    items: &mut [(usize, Item)],
    prefetched: &Prefetched<'_>,
) -> Captured {
    let mut out = Captured::default();
    let mut ffmpeg: Option<Option<std::path::PathBuf>> = None;
    for (_, item) in items.iter_mut() {
        let mut frames = Vec::new();
        for (index, m) in item.media.iter_mut().enumerate().take(MAX_PER_ITEM) {
            if m.sha256.is_some()
                || m.path.is_some()
                || m.frame_of.is_some()
                || m.capture_error.is_some()
            {
                continue;
            }
            let Some(url) = m.url.clone() else { continue };
            let known = prefetched.get(url.as_str());
            // What this download adds to the captures to store (a prefetched one is stored
            // with its poll already).
            let keep = |out: &mut Captured, capture: Capture, body: Vec<u8>| {
                if known.is_none() {
                    out.fetched.push((capture, body));
                }
            };
            let got = match known {
                Some((capture, body)) => Ok((capture.clone(), body.clone())),
                None => download(fetcher, caps, &url).await,
            };
            let (capture, body) = match got {
                Ok(downloaded) => downloaded,
                Err((reason, retry)) => {
                    tracing::warn!(item = %item.id, %url, %reason, retry, "media not captured; the item is still processed");
                    m.capture_error = Some(reason);
                    m.capture_retry = retry;
                    continue;
                }
            };
            let attempt = match gate {
                Some(g) => match g.begin(&url, &capture.sha256, &body).await {
                    Ok(key) => Some(key),
                    Err(reason) => {
                        // Quarantined: the download is kept as evidence, never looked at.
                        m.capture_error = Some(reason.to_string());
                        m.capture_retry = false;
                        keep(&mut out, capture, body);
                        continue;
                    }
                },
                None => None,
            };
            match sniff(caps, &body) {
                Ok(kind) => {
                    m.sha256 = Some(capture.sha256.clone());
                    m.mime = Some(kind.mime().to_string());
                    m.capture_retry = false;
                    if let Kind::Video(mime) = kind {
                        let ff = ffmpeg.get_or_insert_with(video::find_ffmpeg).clone();
                        let (body_back, result) = take_frames(ff, body, mime).await;
                        match result {
                            Ok(taken) => {
                                for frame in taken {
                                    frames.push(Media {
                                        url: None,
                                        path: None,
                                        mime: Some("image/png".into()),
                                        sha256: Some(ballotwatch_core::sha256_hex(&frame.png)),
                                        frame_of: Some(index),
                                        frame_time_ms: Some(frame.time_ms),
                                        ..Media::default()
                                    });
                                    out.frames.push(frame.png);
                                }
                            }
                            Err(reason) => {
                                tracing::warn!(item = %item.id, %url, %reason, "video captured without frames");
                                m.capture_error = Some(reason.to_string());
                            }
                        }
                        keep(&mut out, capture, body_back);
                    } else {
                        keep(&mut out, capture, body);
                    }
                }
                Err(reason) => {
                    let reason = format!("{url}: {reason}");
                    tracing::warn!(item = %item.id, %url, %reason, "media not captured; the item is still processed");
                    m.capture_error = Some(reason);
                    m.capture_retry = false;
                }
            }
            if let (Some(g), Some(key)) = (gate, attempt) {
                g.finish(key).await;
            }
        }
        item.media.extend(frames);
    }
    out
}

/// Runs ffmpeg off the async runtime; hands the video's bytes back with the outcome.
async fn take_frames(
    ffmpeg: Option<std::path::PathBuf>,
    body: Vec<u8>,
    mime: &'static str,
) -> (Vec<u8>, Result<Vec<video::Frame>, video::KeyframeError>) {
    let Some(ff) = ffmpeg else {
        return (body, Err(video::KeyframeError::NotInstalled));
    };
    let body = std::sync::Arc::new(body);
    let shared = body.clone();
    let joined = tokio::task::spawn_blocking(move || {
        video::keyframes(&ff, &shared, mime, &video::Limits::default())
    })
    .await;
    let result = joined.unwrap_or_else(|e| Err(video::KeyframeError::Task(e.to_string())));
    // The task has ended, so this is the only reference left (a copy otherwise).
    let body = std::sync::Arc::try_unwrap(body).unwrap_or_else(|b| b.as_ref().clone());
    (body, result)
}

/// One medium's download: its capture and bytes, or why it was not downloaded and whether
/// trying again later may help.
async fn download(
    fetcher: &Fetcher,
    caps: Caps,
    url: &str,
) -> Result<(Capture, Vec<u8>), (String, bool)> {
    let parsed =
        url::Url::parse(url).map_err(|e| (format!("{url} is not a valid URL: {e}"), false))?;
    let fetched = fetcher
        .get_capped(&FetchRequest::new(parsed, ACCEPT), &move |head: &[u8]| {
            caps.for_head(head)
        })
        .await
        .map_err(|e| fetch_failure(caps, url, &e))?;
    match fetched {
        Fetched::Body { capture, body, .. } => Ok((capture, body)),
        Fetched::NotModified { .. } => Err((
            format!("{url} answered 304 Not Modified to an unconditional request"),
            true,
        )),
    }
}

/// A fetch error as a reason for `capture_error`, and whether to retry it.
fn fetch_failure(caps: Caps, url: &str, e: &FetchError) -> (String, bool) {
    match e {
        FetchError::TooLarge { limit, .. } => (
            format!(
                "{url} is over the {}; the download was cut off and discarded",
                caps.describe(*limit)
            ),
            false,
        ),
        FetchError::Status { status: 404, .. } => (e.to_string(), true),
        other => (other.to_string(), other.is_transient()),
    }
}

/// A size as `[limits]` is usually written: "20 MiB", "4 KiB", else "1500-byte".
fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes}-byte")
    }
}

/// The video type of `bytes` from their content: MP4/QuickTime (`ftyp` box) or
/// WebM/Matroska (EBML header).
fn sniff_video(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        return match brand {
            b"qt  " => Some("video/quicktime"),
            // Audio-only and still-image brands.
            b"M4A " | b"M4B " | b"M4P " | b"F4A " | b"F4B " | b"heic" | b"heix" | b"mif1"
            | b"msf1" | b"avif" | b"avis" => None,
            _ => Some("video/mp4"),
        };
    }
    if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        let head = &bytes[..bytes.len().min(64)];
        return Some(if head.windows(4).any(|w| w == b"webm") {
            "video/webm"
        } else {
            "video/x-matroska"
        });
    }
    None
}

/// Why downloaded bytes are not kept as media.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaRefusal {
    /// Over the size cap of its kind (the cap described, with the key that sets it).
    #[error("over the {0}")]
    OverCap(String),
    /// Not an image or video format Ballotwatch reads, by its bytes.
    #[error("not a PNG, JPEG, GIF, WebP or video by its bytes{hint}")]
    Unrecognised {
        /// What it looks like instead (" (it is HTML or XML)"), or empty.
        hint: &'static str,
    },
    /// The image's header could not be read.
    #[error("unreadable image header: {0}")]
    Header(String),
    /// The image declares more pixels a side than the decoders are allowed.
    #[error("{width}×{height} pixels is over the {max}-pixel limit")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit a side.
        max: u32,
    },
}

/// The kind of `bytes` from their content, after checking an image's declared dimensions and
/// the size cap of its kind.
fn sniff(caps: Caps, bytes: &[u8]) -> Result<Kind, MediaRefusal> {
    if let Some(mime) = sniff_video(bytes) {
        if bytes.len() as u64 > caps.video {
            return Err(MediaRefusal::OverCap(caps.describe(caps.video)));
        }
        return Ok(Kind::Video(mime));
    }
    let format = image::guess_format(bytes).map_err(|_| {
        let looks = String::from_utf8_lossy(&bytes[..bytes.len().min(256)])
            .trim_start()
            .to_ascii_lowercase();
        let hint = if looks.starts_with("<!doctype html")
            || looks.starts_with("<html")
            || looks.starts_with('<')
        {
            " (it is HTML or XML)"
        } else if bytes.is_empty() {
            " (it is empty)"
        } else {
            ""
        };
        MediaRefusal::Unrecognised { hint }
    })?;
    if bytes.len() as u64 > caps.image {
        return Err(MediaRefusal::OverCap(caps.describe(caps.image)));
    }
    let (w, h) = image::ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| MediaRefusal::Header(e.to_string()))?;
    let max = ballotwatch_classify::media::MAX_SIDE;
    if w > max || h > max {
        return Err(MediaRefusal::TooLarge {
            width: w,
            height: h,
            max,
        });
    }
    Ok(Kind::Image(format.to_mime_type()))
}

/// A copy of `item` whose captured media point at their files in the capture store, for the
/// detectors (which read only local files). The stored item stays as published.
pub fn with_local_paths(store: &Store, item: &Item) -> Item {
    let mut copy = item.clone();
    for m in &mut copy.media {
        if m.path.is_none() {
            if let Some(sha) = &m.sha256 {
                m.path = Some(store.blob_path(sha));
            }
        }
    }
    copy
}

#[cfg(test)]
mod tests;
