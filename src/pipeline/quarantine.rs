//! Poison-work quarantine as the pipeline uses it: each stage records in the store that it
//! starts on a piece of work before it starts, and clears the record when the work commits (see
//! `ballotwatch_store::Store::begin_work`). Work that has killed the process
//! `[limits] quarantine_after` times is set aside, announced once (an `error` log line and an
//! audit-log entry for the admins; the Sources page shows the count), and everything else
//! carries on.

use std::sync::{Arc, Mutex, PoisonError};

use ballotwatch_core::Capture;
use ballotwatch_ingest::ResponseGate;
use ballotwatch_store::{QuarantineEntry, Stage, Store, StoredItem, Work};

/// What each stage says it could not finish, in quarantine reasons.
fn doing(stage: Stage) -> &'static str {
    match stage {
        Stage::Poll => "parsing this response",
        Stage::Media => "capturing this item's media",
        Stage::Classify => "classifying this item",
        Stage::Index => "indexing this item",
    }
}

/// The work record of a stored item.
fn item_work(s: &StoredItem) -> Work {
    Work {
        key: s.seq.to_string(),
        source: s.item.source.name.clone(),
        what: s.item.id.clone(),
        item_seq: Some(s.seq),
        sha256: None,
    }
}

/// Records that `stage` starts on `batch` and returns what to work on now: quarantined items
/// are left out (and announced), and when some item's earlier attempt did not finish, only that
/// item is returned. Call [`finish`] with the returned items once their work is committed.
pub(crate) fn begin_items(
    store: &Store,
    stage: Stage,
    batch: Vec<StoredItem>,
    quarantine_after: u32,
) -> anyhow::Result<Vec<StoredItem>> {
    let works: Vec<Work> = batch.iter().map(item_work).collect();
    let begun = store.begin_work(stage, &works, quarantine_after, doing(stage))?;
    announce(&begun.quarantined);
    Ok(batch
        .into_iter()
        .filter(|s| begun.run.contains(&s.seq.to_string()))
        .collect())
}

/// Clears the attempt records of items whose work committed.
pub(crate) fn finish(store: &Store, stage: Stage, items: &[StoredItem]) -> anyhow::Result<()> {
    let keys: Vec<String> = items.iter().map(|s| s.seq.to_string()).collect();
    store.finish_work(stage, &keys)?;
    Ok(())
}

/// Tells the admins, once per piece of work (it is only quarantined once): an `error` log line
/// here; the store wrote the audit-log entry in the same transaction.
fn announce(entries: &[QuarantineEntry]) {
    for q in entries {
        tracing::error!(
            quarantine_id = q.id,
            stage = %q.stage,
            source = %q.source,
            what = %q.what,
            sha256 = q.sha256.as_deref().unwrap_or("-"),
            reason = %q.reason,
            "quarantined; everything else carries on (see `ballotwatch quarantine list`, then `retry` or `drop`)"
        );
    }
}

/// The start of the poll-stage work keys of `source`'s responses.
fn poll_key_prefix(source: &str) -> String {
    format!("{source}|")
}

/// Who may parse responses now. Polls of different sources run side by side, so when a parse
/// kills the process every response being parsed at that moment has an unfinished attempt. A
/// source with such an attempt is therefore polled alone (it waits for the polls in progress,
/// and new polls wait for it): if it kills the process again only its own count grows, and a
/// response that merely ran beside the poison one is cleared by its own lone run.
#[derive(Clone, Default)]
pub(crate) struct PollTurns(Arc<tokio::sync::RwLock<()>>);

/// A poll's turn, held until its gate is finished (one of the two guards is set).
pub(crate) struct PollTurn {
    _shared: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
    _alone: Option<tokio::sync::OwnedRwLockWriteGuard<()>>,
}

impl PollTurns {
    /// Waits for `source`'s turn: alone when an earlier run died while parsing one of its
    /// responses, else beside the other polls.
    pub(crate) async fn take(&self, store: &Store, source: &str) -> anyhow::Result<PollTurn> {
        let suspect = {
            let store = store.clone();
            let prefix = poll_key_prefix(source);
            tokio::task::spawn_blocking(move || store.has_unfinished_work(Stage::Poll, &prefix))
                .await??
        };
        Ok(if suspect {
            tracing::warn!(
                source,
                "an earlier run died while parsing this source's response; polling it alone"
            );
            PollTurn {
                _shared: None,
                _alone: Some(self.0.clone().write_owned().await),
            }
        } else {
            PollTurn {
                _shared: Some(self.0.clone().read_owned().await),
                _alone: None,
            }
        })
    }
}

/// The [`ResponseGate`] of one poll of one source: before the source parses a response, its
/// bytes go to the capture store and the attempt is recorded; a response that is quarantined is
/// refused. [`PollGate::finish`] clears the attempts once the poll's outcome is recorded.
pub(crate) struct PollGate {
    store: Store,
    source: String,
    quarantine_after: u32,
    begun: Mutex<Vec<String>>,
}

impl PollGate {
    pub(crate) fn new(store: Store, source: &str, quarantine_after: u32) -> Arc<PollGate> {
        Arc::new(PollGate {
            store,
            source: source.to_string(),
            quarantine_after,
            begun: Mutex::new(Vec::new()),
        })
    }

    /// Clears the attempt records of the responses this poll parsed (it finished).
    pub(crate) fn finish(&self) -> anyhow::Result<()> {
        let keys = std::mem::take(&mut *self.begun.lock().unwrap_or_else(PoisonError::into_inner));
        self.store.finish_work(Stage::Poll, &keys)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResponseGate for PollGate {
    async fn admit(&self, capture: &Capture, body: &[u8]) -> Result<(), String> {
        let work = Work {
            key: format!("{}{}", poll_key_prefix(&self.source), capture.sha256),
            source: self.source.clone(),
            what: capture.url.clone(),
            item_seq: None,
            sha256: Some(capture.sha256.clone()),
        };
        let store = self.store.clone();
        let after = self.quarantine_after;
        let bytes = body.to_vec();
        let key = work.key.clone();
        let begun = tokio::task::spawn_blocking(move || {
            // Keep the bytes first: a quarantined response is evidence too.
            store.put_blob(&bytes)?;
            store.begin_work(Stage::Poll, &[work], after, doing(Stage::Poll))
        })
        .await
        .map_err(|e| format!("recording the parse of this response failed: {e}"))?
        .map_err(|e| format!("recording the parse of this response failed: {e}"))?;
        announce(&begun.quarantined);
        if !begun.run.contains(&key) {
            return Err(format!(
                "this response (sha256 {}) is quarantined: parsing it did not finish in {after} \
                 attempts; its bytes are kept; see `ballotwatch quarantine list`, then `retry` or \
                 `drop`",
                capture.sha256
            ));
        }
        self.begun
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(key);
        fault::stall().await;
        fault::point(Stage::Poll, body);
        Ok(())
    }
}

/// Fault injection for the end-to-end quarantine tests, in debug builds only: with
/// `BALLOTWATCH_FAULT_ABORT=STAGE:MARKER` set, the process aborts (as a stack overflow or an
/// out-of-memory kill would: no unwinding, no cleanup) when `STAGE` is about to work on bytes
/// containing `MARKER`. Release builds compile it to nothing.
pub(crate) mod fault {
    use ballotwatch_store::Stage;

    /// Aborts if the fault is armed for `stage` and `bytes` contain its marker.
    #[cfg(debug_assertions)]
    pub(crate) fn point(stage: Stage, bytes: &[u8]) {
        let Ok(spec) = std::env::var("BALLOTWATCH_FAULT_ABORT") else {
            return;
        };
        let Some((at, marker)) = spec.split_once(':') else {
            return;
        };
        if at == stage.as_str()
            && !marker.is_empty()
            && bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
        {
            eprintln!("BALLOTWATCH_FAULT_ABORT: aborting in stage {at} on marker {marker}");
            std::process::abort();
        }
    }

    /// Release builds: nothing.
    #[cfg(not(debug_assertions))]
    #[inline(always)]
    pub(crate) fn point(_stage: Stage, _bytes: &[u8]) {}

    /// With `BALLOTWATCH_FAULT_STALL_MS=N` set, every admitted parse waits N ms before it
    /// starts, so a test can have several in progress when the poison one aborts the process.
    #[cfg(debug_assertions)]
    pub(crate) async fn stall() {
        if let Some(ms) = std::env::var("BALLOTWATCH_FAULT_STALL_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }

    /// Release builds: nothing.
    #[cfg(not(debug_assertions))]
    #[inline(always)]
    pub(crate) async fn stall() {}

    /// The item's text as the fault marker is looked for in it.
    pub(crate) fn item(stage: Stage, item: &ballotwatch_core::Item) {
        if cfg!(debug_assertions) {
            for text in [&item.title, &item.text].into_iter().flatten() {
                point(stage, text.as_bytes());
            }
        }
    }
}
