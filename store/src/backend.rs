//! The pipeline's store interface: what poll → capture → classify → decide → index and the alert
//! sender need from a store, with one implementation per back end — [`Store`] (SQLite, embedded
//! mode) and [`crate::PgStore`] (PostgreSQL, cluster mode). Both keep the same semantics: the
//! store conformance suite (`store/tests/conformance.rs`) runs the same inputs through both and
//! checks the same observable results.
//!
//! Methods are synchronous and short, like [`Store`]'s; async callers run them with
//! `spawn_blocking` (the PostgreSQL client must not run on an async worker thread).

use std::sync::Arc;

use ballotwatch_core::{Capture, ClassifyResult, Incident};
use chrono::{DateTime, Utc};

use crate::{
    Acknowledger, AlertPlan, AuditEntry, Burst, ChainSegment, DigestEntry, Hash256, HashMatch,
    InboxReport, IncidentChange, IncidentContext, IndexMark, KnownFakeRecord, LogEntry, NewCapture,
    NewKnownFake, NewOutbox, NewScreenshot, NewTimestampToken, OutboxRow, PollOutcome, PollRecord,
    ReportRecord, Result, ScreenshotRecord, Sighting, SourceState, Store, StoredItem,
};

/// A callback a store calls after a commit that queued items for indexing again.
pub type IndexQueuedHook = Arc<dyn Fn() + Send + Sync>;

/// What the pipeline's stages and the alert sender need from a store, on either back end.
///
/// Object safe: cluster code holds an `Arc<dyn PipelineStore>`. Every method behaves as the
/// [`Store`] method of the same name documents; where the PostgreSQL back end adds something
/// for several nodes (locks, claims by node), its own documentation says so.
pub trait PipelineStore: Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgresql`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Registers the callback called after every commit that queued items for indexing again
    /// (see [`Store::on_index_queued`]).
    fn set_index_queued_hook(&self, hook: IndexQueuedHook);

    // --- capture bytes and records -------------------------------------------------------

    /// Stores bytes content-addressed; returns their SHA-256 (see [`Store::put_blob`]).
    fn put_blob(&self, bytes: &[u8]) -> Result<String>;
    /// Reads bytes back and checks they hash to their name (see [`Store::read_blob`]).
    fn read_blob(&self, sha256: &str) -> Result<Vec<u8>>;
    /// Records one capture outside a poll (see [`Store::record_capture`]).
    fn record_capture(&self, source: &str, new: NewCapture) -> Result<i64>;
    /// A capture record by row id (see [`Store::get_capture`]).
    fn get_capture(&self, id: i64) -> Result<Option<(i64, String, Capture)>>;
    /// The capture log's newest entry (see [`Store::capture_log_head`]).
    fn capture_log_head(&self) -> Result<Option<LogEntry>>;
    /// Entries after the last timestamped one, newest first (see
    /// [`Store::untimestamped_heads`]).
    fn untimestamped_heads(&self, limit: usize) -> Result<Vec<LogEntry>>;
    /// The oldest entry waiting for a timestamp (see [`Store::oldest_untimestamped`]).
    fn oldest_untimestamped(&self) -> Result<Option<LogEntry>>;
    /// Records a trusted timestamp of a head (see [`Store::record_timestamp_token`]).
    fn record_timestamp_token(&self, token: &NewTimestampToken) -> Result<i64>;

    // --- sources -----------------------------------------------------------------------

    /// Records a successful poll in one transaction (see [`Store::record_poll`]).
    fn record_poll(&self, source: &str, poll: PollRecord) -> Result<PollOutcome> {
        self.record_poll_as(source, source, poll)
    }
    /// [`PipelineStore::record_poll`] with the state kept under another name (see
    /// [`Store::record_poll_as`]).
    fn record_poll_as(
        &self,
        state_name: &str,
        source: &str,
        poll: PollRecord,
    ) -> Result<PollOutcome>;
    /// Records a failed poll (see [`Store::record_poll_error`]).
    fn record_poll_error(
        &self,
        source: &str,
        url: &str,
        error: &str,
        attempted_at: DateTime<Utc>,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Records entries a poll left out (see [`Store::record_dropped`]).
    fn record_dropped(
        &self,
        source: &str,
        dropped: &[String],
        attempted_at: DateTime<Utc>,
    ) -> Result<()>;
    /// A source's polling state and cursor (see [`Store::source_state`]).
    fn source_state(&self, source: &str) -> Result<Option<SourceState>>;

    // --- items and the stage queues ------------------------------------------------------

    /// Items waiting for classification, oldest first (see [`Store::pending_classification`]).
    fn pending_classification(&self, limit: usize) -> Result<Vec<StoredItem>>;
    /// Saves results and moves items to `classified` (see [`Store::save_results`]).
    fn save_results(&self, results: &[(i64, ClassifyResult)]) -> Result<()>;
    /// Items waiting for indexing (see [`Store::pending_index`]).
    fn pending_index(&self, limit: usize) -> Result<Vec<StoredItem>>;
    /// Marks items indexed (see [`Store::mark_indexed`]).
    fn mark_indexed(&self, marks: &[IndexMark]) -> Result<()>;
    /// The latest version of an item (see [`Store::get_item`]).
    fn get_item(&self, id: &str) -> Result<Option<StoredItem>>;
    /// Every version of an item, oldest first (see [`Store::item_versions`]).
    fn item_versions(&self, id: &str) -> Result<Vec<StoredItem>>;
    /// How many item versions are stored (see [`Store::count_items`]).
    fn count_items(&self) -> Result<u64>;
    /// Pages of every item's latest version, for rebuilding a search index (see
    /// [`Store::latest_items_after`]).
    fn latest_items_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredItem>>;
    /// How many distinct items are stored (see [`Store::count_latest_items`]).
    fn count_latest_items(&self) -> Result<u64>;

    // --- the alert decision ------------------------------------------------------------

    /// Items the alert stage has not decided about (see [`Store::pending_alerts`]).
    fn pending_alerts(&self, limit: usize) -> Result<Vec<StoredItem>>;
    /// Marks items decided with nothing to send (see [`Store::mark_alerted`]).
    fn mark_alerted(&self, seqs: &[i64]) -> Result<()>;
    /// Records a sighting and queues what `plan` decides, in one transaction (see
    /// [`Store::record_sighting`]). `plan` is called at most once.
    fn record_sighting(
        &self,
        sighting: &Sighting,
        plan: &mut dyn FnMut(&IncidentContext) -> AlertPlan,
    ) -> Result<Option<(IncidentContext, AlertPlan)>>;
    /// An incident by id (see [`Store::get_incident`]).
    fn get_incident(&self, id: i64) -> Result<Option<Incident>>;
    /// The ids of an incident's items (see [`Store::incident_item_ids`]).
    fn incident_item_ids(&self, incident_id: i64) -> Result<Vec<String>>;

    // --- the outbox --------------------------------------------------------------------

    /// Queues messages outside a sighting (see [`Store::outbox_enqueue`]).
    fn outbox_enqueue(&self, messages: &[NewOutbox]) -> Result<()>;
    /// Claims the messages to send now (see [`Store::outbox_claim`]).
    fn outbox_claim(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>>;
    /// Records that the server accepted a message (see [`Store::outbox_sent`]).
    fn outbox_sent(&self, id: i64, accepted_at: DateTime<Utc>) -> Result<()>;
    /// Records a failed attempt and when to retry (see [`Store::outbox_retry`]).
    fn outbox_retry(&self, id: i64, error: &str, next: DateTime<Utc>) -> Result<()>;
    /// Gives up on a message (see [`Store::outbox_dead`]).
    fn outbox_dead(&self, id: i64, error: &str) -> Result<()>;
    /// Puts interrupted sends back to `pending` (see [`Store::outbox_recover`]).
    fn outbox_recover(&self) -> Result<Vec<OutboxRow>>;
    /// When the earliest undelivered message is due (see [`Store::outbox_next_due`]).
    fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// Every message, oldest first, at most `limit` (see [`Store::outbox_rows`]).
    fn outbox_rows(&self, limit: usize) -> Result<Vec<OutboxRow>>;

    // --- digests -----------------------------------------------------------------------

    /// Closes the digest of `rule` for its scheduled time `slot`, queueing what `build` makes
    /// of the waiting entries; `None` when that digest had already gone out (see
    /// [`Store::close_digest`]). `build` is called at most once.
    fn close_digest(
        &self,
        rule: &str,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        build: &mut dyn FnMut(&[DigestEntry]) -> Option<NewOutbox>,
    ) -> Result<Option<usize>>;

    // --- media confirmed fake -------------------------------------------------------------

    /// Records media confirmed fake, with its audit entry (see [`Store::add_known_fake`]).
    fn add_known_fake(&self, fake: &NewKnownFake, actor: &str) -> Result<(KnownFakeRecord, bool)>;
    /// Every confirmed fake, oldest first (see [`Store::known_fakes`]).
    fn known_fakes(&self) -> Result<Vec<KnownFakeRecord>>;
    /// The list's version, cheap to poll (see [`Store::known_fakes_version`]).
    fn known_fakes_version(&self) -> Result<i64>;
    /// Removes a confirmation, with its audit entry (see [`Store::remove_known_fake`]).
    fn remove_known_fake(&self, id: i64, actor: &str) -> Result<bool>;

    // --- report matching ---------------------------------------------------------------

    /// Records a report key for an item (see [`Store::add_report_key`]).
    fn add_report_key(&self, key: &str, item_id: &str) -> Result<bool>;
    /// The item a report key names (see [`Store::report_key_item`]).
    fn report_key_item(&self, key: &str) -> Result<Option<String>>;
    /// Records a reported picture's hash (see [`Store::add_report_hash`]).
    fn add_report_hash(&self, item_id: &str, hash: &Hash256) -> Result<bool>;
    /// The nearest reported picture, through the index (see [`Store::nearest_report_hash`]).
    fn nearest_report_hash(&self, hash: &Hash256, max_distance: u32) -> Result<Option<HashMatch>>;
    /// The same by a linear scan (see [`Store::report_hashes_scan`]).
    fn report_hashes_scan(&self, hash: &Hash256, max_distance: u32) -> Result<Option<HashMatch>>;

    // --- the audit log -----------------------------------------------------------------

    /// Appends to the audit log (see [`Store::audit`]).
    fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value) -> Result<()>;

    // --- reports -------------------------------------------------------------------------

    /// Records the report inbox's reports, once per item (see [`Store::record_inbox_reports`]).
    fn record_inbox_reports(
        &self,
        source: &str,
        reports: &[InboxReport],
        acknowledge: Acknowledger<'_>,
    ) -> Result<Vec<i64>>;
    /// Removes the reporters older than `days` (see [`Store::remove_old_reporters`]).
    fn remove_old_reporters(&self, days: u32, now: DateTime<Utc>) -> Result<u64>;
    /// The reports that became item `item_id` (see [`Store::reports_of_item`]).
    fn reports_of_item(&self, item_id: &str) -> Result<Vec<ReportRecord>>;
    /// Records a report's arrival, audited, and returns its number (see
    /// [`Store::open_report`]).
    fn open_report(&self, reporter: &str, public: bool, detail: &serde_json::Value) -> Result<i64>;
    /// Records what report `id` became (see [`Store::close_report`]).
    fn close_report(&self, id: i64, item_id: &str, detail: &serde_json::Value) -> Result<()>;
    /// Records a report burst on an incident and queues what `plan` decides (see
    /// [`Store::record_report_burst`]).
    fn record_report_burst(
        &self,
        incident_id: i64,
        item_id: &str,
        count: u32,
        within: std::time::Duration,
        plan: &mut dyn FnMut(&IncidentContext, &Burst) -> AlertPlan,
    ) -> Result<Option<(IncidentContext, Burst, AlertPlan)>>;
    /// The newest audit entries, newest first (see [`Store::audit_entries`]).
    fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>>;

    // --- batched reads -----------------------------------------------------------------

    /// The latest version of each of `ids` that is stored, in the order of `ids`, in one read
    /// (see [`Store::get_items`]).
    fn get_items(&self, ids: &[String]) -> Result<Vec<StoredItem>>;

    // --- mutual exclusion ---------------------------------------------------------------

    /// Runs `f` while no other caller with the same `key` runs, across every process sharing
    /// this store: on PostgreSQL under a session advisory lock on `key` (released when `f`
    /// returns, or by the server if this process dies), on SQLite (one process owns the store)
    /// under a lock in this process. Either also serializes the callers in this process first,
    /// so at most one connection per process waits. For a check-then-record that spans calls
    /// (the report desk's lookup of earlier reports and recording of the new one's keys).
    fn exclusively(&self, key: &str, f: &mut dyn FnMut() -> Result<()>) -> Result<()>;

    // --- evidence: screenshots, derived copies, custody ---------------------------------

    /// Records a screenshot attempt, logging a screenshot taken (see
    /// [`Store::record_screenshot`]).
    fn record_screenshot(&self, shot: &NewScreenshot) -> Result<i64>;
    /// Every screenshot attempt for an item, oldest first (see [`Store::screenshots_of`]).
    fn screenshots_of(&self, item_id: &str) -> Result<Vec<ScreenshotRecord>>;
    /// Flagged items with a web page and no screenshot attempt yet (see
    /// [`Store::flagged_items_without_screenshot`]).
    fn flagged_items_without_screenshot(&self, limit: usize) -> Result<Vec<StoredItem>>;
    /// Stores a copy made from a blob (see [`Store::put_derived`]).
    fn put_derived(&self, kind: &str, source: &str, bytes: &[u8]) -> Result<String>;
    /// The copy of `kind` made from a blob, if stored (see [`Store::read_derived`]).
    fn read_derived(&self, kind: &str, source: &str) -> Result<Option<Vec<u8>>>;
    /// The capture-log segment covering items, with its tokens (see
    /// [`Store::capture_log_segment`]).
    fn capture_log_segment(&self, item_ids: &[&str]) -> Result<ChainSegment>;
    /// The audit entries about incidents or items (see [`Store::custody_log`]).
    fn custody_log(
        &self,
        incidents: &[i64],
        items: &[String],
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, bool)>;
    /// The capture a medium's stored bytes came from (see [`Store::media_capture_id`]).
    fn media_capture_id(&self, url: &str, sha256: &str) -> Result<Option<i64>>;
    /// An incident's history, oldest first (see [`Store::incident_history`]).
    fn incident_history(&self, incident_id: i64) -> Result<Vec<IncidentChange>>;
}

/// Implements trait methods by calling the back end's inherent methods of the same names with
/// the same arguments: `delegate! { Type; fn name(&self, arg: T) -> R; ... }` inside an `impl`.
/// What [`pipeline_store_impl!`] and the web store's impls are made of.
macro_rules! delegate {
    ($ty:ty; $( fn $name:ident(&self $(, $arg:ident: $argty:ty)* $(,)?) -> $ret:ty; )*) => {
        $(
            fn $name(&self $(, $arg: $argty)*) -> $ret {
                <$ty>::$name(self $(, $arg)*)
            }
        )*
    };
}
pub(crate) use delegate;

/// Implements [`PipelineStore`] for a back end by calling its inherent methods of the same
/// names: adding a method to the trait is one line here (for both back ends) plus each back
/// end's inherent method. `$extra` holds what a back end implements differently (`backend`,
/// `set_index_queued_hook`). The signatures' types must be in scope where it is called.
macro_rules! pipeline_store_impl {
    ($ty:ty { $($extra:tt)* }) => {
        impl $crate::backend::PipelineStore for $ty {
            $($extra)*
            $crate::backend::delegate! { $ty;
                // capture bytes and records
                fn put_blob(&self, bytes: &[u8]) -> Result<String>;
                fn read_blob(&self, sha256: &str) -> Result<Vec<u8>>;
                fn record_capture(&self, source: &str, new: NewCapture) -> Result<i64>;
                fn get_capture(&self, id: i64) -> Result<Option<(i64, String, Capture)>>;
                fn capture_log_head(&self) -> Result<Option<LogEntry>>;
                fn untimestamped_heads(&self, limit: usize) -> Result<Vec<LogEntry>>;
                fn oldest_untimestamped(&self) -> Result<Option<LogEntry>>;
                fn record_timestamp_token(&self, token: &NewTimestampToken) -> Result<i64>;
                // sources
                fn record_poll_as(&self, state_name: &str, source: &str, poll: PollRecord)
                    -> Result<PollOutcome>;
                fn record_poll_error(&self, source: &str, url: &str, error: &str,
                    attempted_at: DateTime<Utc>, next_attempt_at: DateTime<Utc>) -> Result<()>;
                fn record_dropped(&self, source: &str, dropped: &[String],
                    attempted_at: DateTime<Utc>) -> Result<()>;
                fn source_state(&self, source: &str) -> Result<Option<SourceState>>;
                // items and the stage queues
                fn pending_classification(&self, limit: usize) -> Result<Vec<StoredItem>>;
                fn save_results(&self, results: &[(i64, ClassifyResult)]) -> Result<()>;
                fn pending_index(&self, limit: usize) -> Result<Vec<StoredItem>>;
                fn mark_indexed(&self, marks: &[IndexMark]) -> Result<()>;
                fn get_item(&self, id: &str) -> Result<Option<StoredItem>>;
                fn item_versions(&self, id: &str) -> Result<Vec<StoredItem>>;
                fn count_items(&self) -> Result<u64>;
                fn latest_items_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredItem>>;
                fn count_latest_items(&self) -> Result<u64>;
                // the alert decision
                fn pending_alerts(&self, limit: usize) -> Result<Vec<StoredItem>>;
                fn mark_alerted(&self, seqs: &[i64]) -> Result<()>;
                fn record_sighting(&self, sighting: &Sighting,
                    plan: &mut dyn FnMut(&IncidentContext) -> AlertPlan)
                    -> Result<Option<(IncidentContext, AlertPlan)>>;
                fn get_incident(&self, id: i64) -> Result<Option<Incident>>;
                fn incident_item_ids(&self, incident_id: i64) -> Result<Vec<String>>;
                // the outbox
                fn outbox_enqueue(&self, messages: &[NewOutbox]) -> Result<()>;
                fn outbox_claim(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>>;
                fn outbox_sent(&self, id: i64, accepted_at: DateTime<Utc>) -> Result<()>;
                fn outbox_retry(&self, id: i64, error: &str, next: DateTime<Utc>) -> Result<()>;
                fn outbox_dead(&self, id: i64, error: &str) -> Result<()>;
                fn outbox_recover(&self) -> Result<Vec<OutboxRow>>;
                fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>>;
                fn outbox_rows(&self, limit: usize) -> Result<Vec<OutboxRow>>;
                // digests
                fn close_digest(&self, rule: &str, slot: DateTime<Utc>, now: DateTime<Utc>,
                    build: &mut dyn FnMut(&[DigestEntry]) -> Option<NewOutbox>)
                    -> Result<Option<usize>>;
                // media confirmed fake
                fn add_known_fake(&self, fake: &NewKnownFake, actor: &str)
                    -> Result<(KnownFakeRecord, bool)>;
                fn known_fakes(&self) -> Result<Vec<KnownFakeRecord>>;
                fn known_fakes_version(&self) -> Result<i64>;
                fn remove_known_fake(&self, id: i64, actor: &str) -> Result<bool>;
                // reports: who sent them (kept apart, expired) and what they match
                fn record_inbox_reports(
                    &self,
                    source: &str,
                    reports: &[InboxReport],
                    acknowledge: crate::Acknowledger<'_>,
                ) -> Result<Vec<i64>>;
                fn remove_old_reporters(&self, days: u32, now: DateTime<Utc>) -> Result<u64>;
                fn reports_of_item(&self, item_id: &str) -> Result<Vec<ReportRecord>>;
                fn open_report(&self, reporter: &str, public: bool, detail: &serde_json::Value)
                    -> Result<i64>;
                fn close_report(&self, id: i64, item_id: &str, detail: &serde_json::Value)
                    -> Result<()>;
                fn record_report_burst(
                    &self,
                    incident_id: i64,
                    item_id: &str,
                    count: u32,
                    within: std::time::Duration,
                    plan: &mut dyn FnMut(&IncidentContext, &Burst) -> AlertPlan,
                ) -> Result<Option<(IncidentContext, Burst, AlertPlan)>>;
                fn add_report_key(&self, key: &str, item_id: &str) -> Result<bool>;
                fn report_key_item(&self, key: &str) -> Result<Option<String>>;
                fn add_report_hash(&self, item_id: &str, hash: &Hash256) -> Result<bool>;
                fn nearest_report_hash(&self, hash: &Hash256, max_distance: u32)
                    -> Result<Option<HashMatch>>;
                fn report_hashes_scan(&self, hash: &Hash256, max_distance: u32)
                    -> Result<Option<HashMatch>>;
                // the audit log
                fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value) -> Result<()>;
                fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>>;
                // batched reads
                fn get_items(&self, ids: &[String]) -> Result<Vec<StoredItem>>;
                // evidence
                fn record_screenshot(&self, shot: &NewScreenshot) -> Result<i64>;
                fn screenshots_of(&self, item_id: &str) -> Result<Vec<ScreenshotRecord>>;
                fn flagged_items_without_screenshot(&self, limit: usize)
                    -> Result<Vec<StoredItem>>;
                fn put_derived(&self, kind: &str, source: &str, bytes: &[u8]) -> Result<String>;
                fn read_derived(&self, kind: &str, source: &str) -> Result<Option<Vec<u8>>>;
                fn capture_log_segment(&self, item_ids: &[&str]) -> Result<ChainSegment>;
                fn custody_log(&self, incidents: &[i64], items: &[String], limit: usize)
                    -> Result<(Vec<AuditEntry>, bool)>;
                fn media_capture_id(&self, url: &str, sha256: &str) -> Result<Option<i64>>;
                fn incident_history(&self, incident_id: i64) -> Result<Vec<IncidentChange>>;
            }
        }
    };
}
pub(crate) use pipeline_store_impl;

/// The lock [`PipelineStore::exclusively`] takes in this process first (one for every key: the
/// callers are rare and short).
pub(crate) fn process_exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pipeline_store_impl!(Store {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    fn exclusively(&self, _key: &str, f: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        let _one = process_exclusive();
        f()
    }
    fn set_index_queued_hook(&self, hook: IndexQueuedHook) {
        self.on_index_queued(move || hook());
    }
});
