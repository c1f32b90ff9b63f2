//! Poison-work quarantine as the pipeline uses it: each stage records in the store that it
//! starts on a piece of work before it starts, and clears the record when the work commits (see
//! `ballotwatch_store::Store::begin_work`). Work that has killed the process
//! `[limits] quarantine_after` times is set aside, announced once (an `error` log line, an
//! audit-log entry, and a notice queued for `[alerts] admin_to` / `admin_webhooks`; the Sources
//! page shows the count), and everything else carries on.

use std::sync::{Arc, Mutex, PoisonError};

use ballotwatch_core::Capture;

use crate::Config;
use ballotwatch_ingest::{GateRefusal, ResponseGate};
use ballotwatch_store::{Begun, QuarantineEntry, Stage, Store, StoredItem, Work};

use crate::{full_message, PipelineError, Result};

/// What each stage says it could not finish, in quarantine reasons.
fn doing(stage: Stage) -> &'static str {
    match stage {
        Stage::Poll => "parsing this response",
        Stage::Media => "capturing this medium",
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
    config: &Config,
    stage: Stage,
    batch: Vec<StoredItem>,
) -> Result<Vec<StoredItem>> {
    let works: Vec<Work> = batch.iter().map(item_work).collect();
    let begun = begin(store, config, stage, &works)?;
    Ok(batch
        .into_iter()
        .filter(|s| begun.run.contains(&s.seq.to_string()))
        .collect())
}

/// Clears the attempt records of items whose work committed.
pub(crate) fn finish(store: &Store, stage: Stage, items: &[StoredItem]) -> Result<()> {
    let keys: Vec<String> = items.iter().map(|s| s.seq.to_string()).collect();
    store.finish_work(stage, &keys)?;
    Ok(())
}

/// [`Store::begin_work`] for `stage`, announcing what it quarantined.
fn begin(store: &Store, config: &Config, stage: Stage, works: &[Work]) -> Result<Begun> {
    let begun = store.begin_work(stage, works, config.limits.quarantine_after, doing(stage))?;
    announce(store, config, &begun.quarantined);
    Ok(begun)
}

/// Tells the admins, once per piece of work (it is only quarantined once): an `error` log line
/// and the notices for `[alerts] admin_to` / `admin_webhooks` in the outbox, here; the store
/// wrote the audit-log entry with the quarantine. A notice that could not be queued is queued
/// at the next start ([`notify_held`]).
fn announce(store: &Store, config: &Config, entries: &[QuarantineEntry]) {
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
        let notices = ballotwatch_alerting::admin::quarantine_notices(&config.alerts, q);
        if let Err(e) = store.outbox_enqueue(&notices) {
            tracing::error!(quarantine_id = q.id, error = %e, "cannot queue the admins' notice of this quarantine; it is queued at the next start");
        }
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
    /// Waits until nothing else polls, and keeps it so while the turn is held.
    pub(crate) async fn alone(&self) -> PollTurn {
        PollTurn {
            _shared: None,
            _alone: Some(self.0.clone().write_owned().await),
        }
    }

    /// Waits for `source`'s turn: alone when an earlier run died while parsing one of its
    /// responses, else beside the other polls.
    pub(crate) async fn take(&self, store: &Store, source: &str) -> Result<PollTurn> {
        let suspect = {
            let store = store.clone();
            let prefix = poll_key_prefix(source);
            tokio::task::spawn_blocking(move || store.has_unfinished_work(Stage::Poll, &prefix))
                .await
                .map_err(|e| PipelineError::panicked("looking for a suspect response", e))??
        };
        Ok(if suspect {
            tracing::warn!(
                source,
                "an earlier run died while parsing this source's response; polling it alone"
            );
            self.alone().await
        } else {
            PollTurn {
                _shared: Some(self.0.clone().read_owned().await),
                _alone: None,
            }
        })
    }
}

/// Queues the admins' notice of every piece of work held in quarantine that does not have one
/// yet (their idempotency keys make this a no-op for the rest): at start-up, for notices a
/// crash or a full disk kept from being queued when the work was quarantined.
pub(crate) fn notify_held(store: &Store, config: &Config) -> Result<()> {
    let held = store.quarantine_list(false)?;
    let notices: Vec<_> = held
        .iter()
        .flat_map(|q| ballotwatch_alerting::admin::quarantine_notices(&config.alerts, q))
        .collect();
    store.outbox_enqueue(&notices)?;
    Ok(())
}

/// The [`ResponseGate`] of one poll of one source: before the source parses a response, its
/// bytes go to the capture store and the attempt is recorded; a response that is quarantined is
/// refused. [`PollGate::finish`] clears the attempts once the poll's outcome is recorded.
pub(crate) struct PollGate {
    store: Store,
    config: Arc<Config>,
    source: String,
    begun: Mutex<Vec<String>>,
}

impl PollGate {
    pub(crate) fn new(store: Store, config: Arc<Config>, source: &str) -> Arc<PollGate> {
        Arc::new(PollGate {
            store,
            config,
            source: source.to_string(),
            begun: Mutex::new(Vec::new()),
        })
    }

    /// Clears the attempt records of the responses this poll parsed (it finished).
    pub(crate) fn finish(&self) -> Result<()> {
        let keys = std::mem::take(&mut *self.begun.lock().unwrap_or_else(PoisonError::into_inner));
        self.store.finish_work(Stage::Poll, &keys)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResponseGate for PollGate {
    async fn admit(&self, capture: &Capture, body: &[u8]) -> Result<(), GateRefusal> {
        let work = Work {
            key: format!("{}{}", poll_key_prefix(&self.source), capture.sha256),
            source: self.source.clone(),
            what: capture.url.clone(),
            item_seq: None,
            sha256: Some(capture.sha256.clone()),
        };
        let store = self.store.clone();
        let config = self.config.clone();
        let after = config.limits.quarantine_after;
        let bytes = body.to_vec();
        let key = work.key.clone();
        let begun = tokio::task::spawn_blocking(move || {
            // Keep the bytes first: a quarantined response is evidence too.
            store.put_blob(&bytes)?;
            begin(&store, &config, Stage::Poll, &[work])
        })
        .await
        .map_err(|e| GateRefusal::NotRecorded {
            what: "response",
            message: e.to_string(),
        })?
        .map_err(|e| GateRefusal::NotRecorded {
            what: "response",
            message: full_message(&e),
        })?;
        if !begun.run.contains(&key) {
            return Err(GateRefusal::Quarantined {
                what: "response",
                sha256: capture.sha256.clone(),
                attempts: after,
            });
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

/// A downloaded medium [`MediaGate::begin`] will not let be looked at: capturing the same
/// bytes ended the process `attempts` times.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{url} is quarantined: capturing it (sha256 {sha256}) did not finish in {attempts} attempts; \
     its download is kept; see `ballotwatch quarantine list`"
)]
pub(crate) struct MediaQuarantined {
    /// Where it was downloaded from.
    pub url: String,
    /// The SHA-256 of its bytes.
    pub sha256: String,
    /// `[limits] quarantine_after`.
    pub attempts: u32,
}

/// Media capture's quarantine for one poll of one source (see [`super::media::capture`]): each
/// downloaded medium is media work keyed by the SHA-256 of its bytes, recorded before anything
/// looks at them (sniffing, the image header, ffmpeg's frames) and cleared after. The same bytes
/// are the same work whichever item or source carries them.
pub(crate) struct MediaGate {
    store: Store,
    config: Arc<Config>,
    source: String,
    in_flight: MediaInFlight,
}

/// The media work this process is looking at now, with how many captures hold each key. The
/// same bytes carried by several items or sources at once (a picture shared on three
/// platforms, polled side by side) are one attempt: a crash ends them all together, so the
/// store records the attempt once, when the first capture begins, and clears it when the last
/// one finishes. Without this, three sources capturing one picture at the same moment looked
/// like two unfinished attempts and quarantined it.
#[derive(Debug, Clone, Default)]
pub(crate) struct MediaInFlight(Arc<Mutex<std::collections::HashMap<String, usize>>>);

impl MediaInFlight {
    /// Takes a hold on `key`; true if no other capture held it.
    fn enter(&self, key: &str) -> bool {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Lets go of `key`; true if that was the last hold.
    fn leave(&self, key: &str) -> bool {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match held.get_mut(key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                held.remove(key);
                true
            }
        }
    }
}

impl MediaGate {
    pub(crate) fn new(
        store: Store,
        config: Arc<Config>,
        source: &str,
        in_flight: MediaInFlight,
    ) -> MediaGate {
        MediaGate {
            store,
            config,
            source: source.to_string(),
            in_flight,
        }
    }

    /// Records that the medium downloaded from `url` (`sha256`, `body`) is about to be looked
    /// at; returns its work key, or, when it is quarantined, the reason to record as its
    /// `capture_error`.
    pub(crate) async fn begin(
        &self,
        url: &str,
        sha256: &str,
        body: &[u8],
    ) -> Result<String, MediaQuarantined> {
        let work = Work {
            key: sha256.to_string(),
            source: self.source.clone(),
            what: url.to_string(),
            item_seq: None,
            sha256: Some(sha256.to_string()),
        };
        let (store, config) = (self.store.clone(), self.config.clone());
        let after = config.limits.quarantine_after;
        let key = work.key.clone();
        if !self.in_flight.enter(&key) {
            // Another capture in this process is already looking at the same bytes under a
            // recorded attempt.
            fault::point(Stage::Media, body);
            return Ok(key);
        }
        let begun =
            tokio::task::spawn_blocking(move || begin(&store, &config, Stage::Media, &[work]))
                .await
                .map_err(|e| PipelineError::panicked("recording a media capture attempt", e))
                .and_then(|r| r);
        let begun = match begun {
            Ok(begun) => begun,
            // Not recorded: the capture goes ahead unguarded rather than not at all.
            Err(e) => {
                tracing::error!(%url, error = %full_message(&e), "cannot record a media capture attempt; capturing it unguarded");
                return Ok(key);
            }
        };
        if !begun.run.contains(&key) {
            self.in_flight.leave(&key);
            return Err(MediaQuarantined {
                url: url.to_string(),
                sha256: sha256.to_string(),
                attempts: after,
            });
        }
        fault::point(Stage::Media, body);
        Ok(key)
    }

    /// Clears the attempt record of a medium that was looked at (whatever came of it).
    pub(crate) async fn finish(&self, key: String) {
        if !self.in_flight.leave(&key) {
            return;
        }
        let store = self.store.clone();
        let cleared =
            tokio::task::spawn_blocking(move || store.finish_work(Stage::Media, &[key])).await;
        match cleared {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot clear a media capture attempt"),
            Err(e) => tracing::error!(error = %e, "cannot clear a media capture attempt"),
        }
    }
}

/// The quarantine of one real-time stream's messages (Bluesky's Jetstream): the
/// [`ResponseGate`] of its connection.
///
/// A stream may carry hundreds of messages a second, and a committed store transaction per
/// message would cost a disk flush each, so the attempt is recorded more cheaply: before each
/// parse the message's SHA-256 is written over a small marker file in `data_dir/quarantine/`
/// (a plain write, no flush: the page cache outlives the process, so an abort or an
/// out-of-memory kill still leaves it there), and the marker is blanked after the parse. A
/// marker still set at the next start names the message that killed the process: that attempt
/// goes into the store as poll work (`<stream>|<sha256>`), and the message, which the stream
/// replays from its last committed position, is parsed again as store-recorded work until it
/// finishes or reaches `[limits] quarantine_after`. A quarantined message is skipped: its bytes
/// stay in the stream's capture and the stream's health names it.
pub(crate) struct StreamGate {
    store: Store,
    config: Arc<Config>,
    source: String,
    stream: String,
    url: String,
    marker: std::fs::File,
    /// SHA-256 of this stream's messages in quarantine (held or dropped).
    held: Mutex<std::collections::HashSet<String>>,
    /// The message that killed the last run, until it is parsed (or quarantined).
    suspect: Mutex<Option<String>>,
    /// While the suspect is parsed again, nothing else polls (see [`PollTurns`]), so that if it
    /// kills the process again no response parsed beside it is blamed with it.
    turn: Arc<Mutex<Option<PollTurn>>>,
}

/// How long a stream keeps the other polls waiting for its suspect message to come round again.
const SUSPECT_ALONE_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// What the marker holds when no message is being parsed.
const NO_MESSAGE: [u8; 64] = [b'-'; 64];

impl StreamGate {
    /// The gate of stream `stream` (a real-time part of source `source`, at `url`); reads and
    /// records what the last run's marker says. Blocking (store and file work).
    pub(crate) fn open(
        store: Store,
        config: Arc<Config>,
        source: &str,
        stream: &str,
        url: &str,
    ) -> Result<StreamGate> {
        use std::os::unix::fs::FileExt;

        let dir = config.data_dir.join("quarantine");
        std::fs::create_dir_all(&dir).map_err(|source| PipelineError::File {
            what: "cannot create",
            path: dir.clone(),
            source,
        })?;
        let name = &ballotwatch_core::sha256_hex(stream.as_bytes())[..16];
        let path = dir.join(format!("stream-{name}.parsing"));
        let marker = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| PipelineError::File {
                what: "cannot open the stream marker",
                path: path.clone(),
                source,
            })?;
        let mut last = [0u8; 64];
        let suspect = match marker.read_exact_at(&mut last, 0) {
            Ok(()) if last.iter().all(u8::is_ascii_hexdigit) => {
                Some(String::from_utf8_lossy(&last).into_owned())
            }
            _ => None,
        };
        let gate = StreamGate {
            store,
            config,
            source: source.to_string(),
            stream: stream.to_string(),
            url: url.to_string(),
            marker,
            held: Mutex::new(Default::default()),
            suspect: Mutex::new(None),
            turn: Arc::default(),
        };
        let prefix = format!("{stream}|");
        let held = gate
            .store
            .quarantine_list(true)?
            .into_iter()
            .filter(|q| q.stage == Stage::Poll)
            .filter_map(|q| q.key.strip_prefix(&prefix).map(str::to_string))
            .collect();
        *gate.held.lock().unwrap_or_else(PoisonError::into_inner) = held;
        if let Some(sha) = suspect {
            let key = gate.key(&sha);
            tracing::warn!(stream, sha256 = %sha, "the last run ended while parsing this stream message; it is parsed again as recorded work");
            // Record the attempt that killed the last run, unless it was already recorded
            // (it was itself a suspect, parsed as recorded work).
            if !gate.store.work_attempts(Stage::Poll)?.contains_key(&key) {
                gate.begin(&sha)?;
            }
            *gate.suspect.lock().unwrap_or_else(PoisonError::into_inner) = Some(sha);
        }
        gate.mark(&NO_MESSAGE);
        Ok(gate)
    }

    fn key(&self, sha: &str) -> String {
        format!("{}|{sha}", self.stream)
    }

    /// Whether the last run died while parsing one of this stream's messages.
    pub(crate) fn has_suspect(&self) -> bool {
        self.suspect
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Holds `turn` (taken alone) until the suspect message is parsed or quarantined, or
    /// [`SUSPECT_ALONE_FOR`] has passed.
    pub(crate) fn hold_alone(&self, turn: PollTurn) {
        *self.turn.lock().unwrap_or_else(PoisonError::into_inner) = Some(turn);
        let held = Arc::downgrade(&self.turn);
        tokio::spawn(async move {
            tokio::time::sleep(SUSPECT_ALONE_FOR).await;
            if let Some(held) = held.upgrade() {
                held.lock().unwrap_or_else(PoisonError::into_inner).take();
            }
        });
    }

    /// Lets the other polls run again.
    fn release_turn(&self) {
        self.turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Records an attempt at message `sha` as poll work; `Ok(false)` when it is quarantined.
    fn begin(&self, sha: &str) -> Result<bool> {
        let work = Work {
            key: self.key(sha),
            source: self.source.clone(),
            what: format!("a message of {} ({})", self.stream, self.url),
            item_seq: None,
            sha256: Some(sha.to_string()),
        };
        let begun = begin(&self.store, &self.config, Stage::Poll, &[work])?;
        Ok(begun.run.contains(&self.key(sha)))
    }

    /// Writes the marker (a SHA-256, or [`NO_MESSAGE`]).
    fn mark(&self, what: &[u8; 64]) {
        use std::os::unix::fs::FileExt;
        if let Err(e) = self.marker.write_all_at(what, 0) {
            tracing::error!(stream = %self.stream, error = %e, "cannot write the stream's quarantine marker");
        }
    }

    fn refusal(&self, sha: &str) -> GateRefusal {
        GateRefusal::Quarantined {
            what: "message",
            sha256: sha.to_string(),
            attempts: self.config.limits.quarantine_after,
        }
    }
}

#[async_trait::async_trait]
impl ResponseGate for StreamGate {
    /// The stream's other requests (resolving handles) are not gated.
    async fn admit(&self, _capture: &Capture, _body: &[u8]) -> Result<(), GateRefusal> {
        Ok(())
    }

    fn admit_message(&self, message: &[u8]) -> Result<(), GateRefusal> {
        let sha = ballotwatch_core::sha256_hex(message);
        if self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&sha)
        {
            return Err(self.refusal(&sha));
        }
        let suspect = self
            .suspect
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if suspect.as_deref() == Some(sha.as_str()) {
            // Rare (once after a crash): the store work blocks this task briefly.
            match self.begin(&sha) {
                Ok(true) => {}
                Ok(false) => {
                    self.held
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(sha.clone());
                    *self.suspect.lock().unwrap_or_else(PoisonError::into_inner) = None;
                    self.release_turn();
                    return Err(self.refusal(&sha));
                }
                Err(e) => {
                    tracing::error!(stream = %self.stream, error = %full_message(&e), "cannot record a stream message attempt");
                }
            }
        }
        if let Ok(mark) = <[u8; 64]>::try_from(sha.as_bytes()) {
            self.mark(&mark);
        }
        fault::point(Stage::Poll, message);
        Ok(())
    }

    fn parsed_message(&self, message: &[u8]) {
        self.mark(&NO_MESSAGE);
        let mut suspect = self.suspect.lock().unwrap_or_else(PoisonError::into_inner);
        if suspect.is_some() {
            let sha = ballotwatch_core::sha256_hex(message);
            if suspect.as_deref() == Some(sha.as_str()) {
                *suspect = None;
                self.release_turn();
                if let Err(e) = self.store.finish_work(Stage::Poll, &[self.key(&sha)]) {
                    tracing::error!(stream = %self.stream, error = %e, "cannot clear a stream message attempt");
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(store: &Store, in_flight: &MediaInFlight, source: &str) -> MediaGate {
        let config = Config::from_toml("data_dir = \"d\"\n", std::path::Path::new("t.toml"))
            .expect("a minimal config");
        MediaGate::new(store.clone(), Arc::new(config), source, in_flight.clone())
    }

    /// One picture shared by three sources, captured at the same moment, is one attempt: it
    /// is recorded once, not quarantined, and cleared when the last capture finishes.
    #[tokio::test]
    async fn the_same_bytes_captured_side_by_side_are_one_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let in_flight = MediaInFlight::default();
        let gates: Vec<MediaGate> = ["Reddit", "Bluesky", "Telegram"]
            .iter()
            .map(|s| gate(&store, &in_flight, s))
            .collect();
        let mut keys = Vec::new();
        for g in &gates {
            let key = g
                .begin("https://x.example/fake-notice.png", "ab12", b"png")
                .await
                .expect("not quarantined");
            keys.push(key);
        }
        assert_eq!(store.work_attempts(Stage::Media).unwrap()["ab12"], 1);
        assert!(store.quarantine_list(true).unwrap().is_empty());
        for (g, key) in gates.iter().zip(keys) {
            g.finish(key).await;
        }
        assert!(store.work_attempts(Stage::Media).unwrap().is_empty());
    }

    #[test]
    fn holds_are_counted() {
        let f = MediaInFlight::default();
        assert!(f.enter("k"));
        assert!(!f.enter("k"));
        assert!(!f.leave("k"));
        assert!(f.leave("k"));
        assert!(f.enter("k"), "a key let go is free again");
    }
}
