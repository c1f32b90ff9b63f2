//! The screenshot task: for flagged items with a web URL, a full-page screenshot and the
//! rendered HTML, stored in the capture store with their hashes; or, when Chromium is absent,
//! refused or fails, a record saying that no screenshot was taken and why.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballotwatch_store::{NewScreenshot, PipelineStore, ScreenshotOutcome, StoredItem};
use chrono::Utc;
use url::Url;

use crate::chromium::{guard, Chromium, ChromiumError, ShotLimits};
use crate::error::Result;

/// Takes and records screenshots.
#[derive(Debug, Clone)]
pub struct Screenshotter {
    chromium: Result<Chromium, ChromiumError>,
    limits: ShotLimits,
    allow_private: bool,
}

impl Screenshotter {
    /// A screenshotter using the Chromium found on this machine (if any). `allow_private` is
    /// `[ingest] allow_private_addresses`: the same switch that lets the fetcher reach
    /// non-public addresses.
    pub fn new(allow_private: bool, limits: ShotLimits) -> Screenshotter {
        let chromium = Chromium::find();
        if let Err(why) = &chromium {
            tracing::warn!(%why, "screenshots of flagged pages will not be taken");
        }
        Screenshotter {
            chromium,
            limits,
            allow_private,
        }
    }

    /// The Chromium in use, or why there is none.
    pub fn chromium(&self) -> std::result::Result<&Chromium, &ChromiumError> {
        self.chromium.as_ref()
    }

    /// Screenshots `url` for `item_id`, stores the PNG and HTML blobs and records the attempt
    /// (taken, or not taken and why). Only a store failure is an error.
    pub fn take(
        &self,
        store: &dyn PipelineStore,
        item_id: &str,
        url: &str,
    ) -> Result<NewScreenshot> {
        let shot = self.shoot(store, item_id, url)?;
        store.record_screenshot(&shot)?;
        Ok(shot)
    }

    /// [`Screenshotter::take`] without recording the attempt: the PNG and HTML blobs are
    /// stored, the attempt is returned for the caller to record once it knows the item (a
    /// report that may join an earlier report's item).
    pub fn shoot(
        &self,
        store: &dyn PipelineStore,
        item_id: &str,
        url: &str,
    ) -> Result<NewScreenshot> {
        let attempted_at = Utc::now();
        let (tool, outcome) = match &self.chromium {
            Err(why) => (
                "none".to_string(),
                ScreenshotOutcome::NotTaken {
                    reason: why.to_string(),
                },
            ),
            Ok(chromium) => {
                let shot = Url::parse(url)
                    .map_err(|e| ChromiumError::Refused(format!("`{url}` is not a valid URL: {e}")))
                    .and_then(|u| {
                        let rules = guard(&u, self.allow_private)?;
                        chromium.screenshot(&u, &rules, &self.limits)
                    });
                let outcome = match shot {
                    Ok(shot) => ScreenshotOutcome::Taken {
                        png_sha256: {
                            let sha = store.put_blob(&shot.png)?;
                            // The report's thumbnail, made once now rather than at every export.
                            crate::thumbnail::store_thumbnail(
                                store,
                                &sha,
                                &shot.png,
                                crate::thumbnail::REPORT_WIDTH,
                            );
                            sha
                        },
                        png_size: shot.png.len() as u64,
                        width: shot.width,
                        height: shot.height,
                        truncated: shot.truncated,
                        html_sha256: store.put_blob(&shot.html)?,
                        html_size: shot.html.len() as u64,
                    },
                    Err(reason) => {
                        tracing::warn!(item = %item_id, %url, %reason, "screenshot not taken");
                        ScreenshotOutcome::NotTaken {
                            reason: reason.to_string(),
                        }
                    }
                };
                (chromium.version().to_string(), outcome)
            }
        };
        Ok(NewScreenshot {
            item_id: item_id.to_string(),
            url: url.to_string(),
            attempted_at,
            tool,
            outcome,
        })
    }

    /// Screenshots up to `limit` flagged items that have none yet; returns how many were
    /// attempted. This is what `serve`'s screenshot task runs.
    pub fn run_pending(&self, store: &dyn PipelineStore, limit: usize) -> Result<usize> {
        let todo = store.flagged_items_without_screenshot(limit)?;
        self.take_all(store, &todo)
    }

    /// Screenshots those of `items` that are flagged, have a web URL and have no screenshot
    /// taken yet (what `export` does before writing a pack). An earlier failed attempt is tried
    /// once more: the page may be back, or Chromium installed since; both attempts go in the
    /// pack.
    pub fn ensure(&self, store: &dyn PipelineStore, items: &[StoredItem]) -> Result<usize> {
        let mut todo = Vec::new();
        for s in items {
            let flagged = s.result.as_ref().is_some_and(|r| r.flagged);
            if !flagged || web_url(s).is_none() {
                continue;
            }
            let taken = store
                .screenshots_of(&s.item.id)?
                .iter()
                .any(|r| matches!(r.shot.outcome, ScreenshotOutcome::Taken { .. }));
            if !taken {
                todo.push(s.clone());
            }
        }
        self.take_all(store, &todo)
    }

    fn take_all(&self, store: &dyn PipelineStore, items: &[StoredItem]) -> Result<usize> {
        let mut n = 0;
        for s in items {
            if let Some(url) = web_url(s) {
                self.take(store, &s.item.id, url)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The screenshot task `serve` runs: a thread that screenshots newly flagged items, a few at a
/// time, until stopped.
#[derive(Debug)]
pub struct ScreenshotTask {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// Items screenshotted per round before looking for newer ones.
pub const TASK_BATCH: usize = 8;

impl ScreenshotTask {
    /// Starts the task: it looks for flagged items without a screenshot every `interval` (at
    /// once after finding some). `recorded` is called after each round that recorded some (the
    /// pipeline asks for a trusted timestamp then, so the screenshots, which join the capture
    /// log, are covered at once rather than at the next interval).
    pub fn spawn(
        store: Arc<dyn PipelineStore>,
        shotter: Screenshotter,
        interval: Duration,
        recorded: Box<dyn Fn() + Send>,
    ) -> ScreenshotTask {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("screenshots".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let n = match shotter.run_pending(&*store, TASK_BATCH) {
                        Ok(n) => n,
                        Err(e) => {
                            tracing::error!(error = %e, "screenshot task: cannot read or record; retrying later");
                            0
                        }
                    };
                    if n > 0 {
                        tracing::info!(count = n, "screenshots of flagged items recorded");
                        recorded();
                        continue;
                    }
                    let until = Instant::now() + interval;
                    while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            });
        let handle = match handle {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the screenshot task; export takes missing screenshots instead");
                None
            }
        };
        ScreenshotTask { stop, handle }
    }

    /// Stops the task, waiting for a screenshot in progress (bounded by its timeout).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                tracing::error!("the screenshot task panicked");
            }
        }
    }
}

/// The item's http(s) URL, if it has one.
fn web_url(s: &StoredItem) -> Option<&str> {
    s.item
        .url
        .as_deref()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_chromium_the_reason_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = ballotwatch_store::Store::open(dir.path()).unwrap();
        let s = Screenshotter {
            chromium: Err(ChromiumError::NotInstalled),
            limits: ShotLimits::default(),
            allow_private: false,
        };
        let shot = s.take(&store, "a", "https://anytown-gov.uk/").unwrap();
        assert_eq!(shot.tool, "none");
        assert_eq!(
            shot.outcome,
            ScreenshotOutcome::NotTaken {
                reason: ChromiumError::NotInstalled.to_string()
            }
        );
        assert_eq!(store.screenshots_of("a").unwrap().len(), 1);
    }

    #[test]
    fn a_private_address_is_refused_and_recorded_when_chromium_exists() {
        let Ok(chromium) = Chromium::find() else {
            panic!("this test needs Chromium: apt-get install --no-install-recommends chromium");
        };
        let dir = tempfile::tempdir().unwrap();
        let store = ballotwatch_store::Store::open(dir.path()).unwrap();
        let s = Screenshotter {
            chromium: Ok(chromium),
            limits: ShotLimits::default(),
            allow_private: false,
        };
        let shot = s.take(&store, "a", "http://127.0.0.1:9/").unwrap();
        match shot.outcome {
            ScreenshotOutcome::NotTaken { reason } => {
                assert!(reason.contains("loopback"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
