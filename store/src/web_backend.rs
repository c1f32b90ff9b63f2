//! The web UI's store interface: accounts, login sessions, API tokens and the incident
//! workflow, with one implementation per back end — [`Store`] (SQLite) and [`PgStore`]
//! (PostgreSQL). Same pattern as [`PipelineStore`] (its supertrait, so one `Arc<dyn WebStore>`
//! serves a web node): every method behaves as the [`Store`] method of the same name documents,
//! and the store conformance suite (`store/tests/conformance/web.rs`) holds both back ends to the
//! same rows, ordering and errors.

use ballotwatch_core::{Incident, IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};

use crate::{
    Account, ApiToken, Burst, DayCount, Ended, IncidentDetail, LoginPolicy, MetricCounts, PgStore,
    PipelineStore, ReportCount, Result, Role, Session, SourceState, Store, TokenCheck, User,
    UserLogin,
};

/// What the web UI and API need from a store, on either back end. Object safe.
pub trait WebStore: PipelineStore {
    // --- accounts -------------------------------------------------------------------------------

    /// Creates a web account (see [`Store::create_user`]).
    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User>;
    /// Replaces a password and ends the account's sessions and tokens (see [`Store::set_password`]).
    fn set_password(&self, name: &str, password_hash: &str, actor: &str) -> Result<Ended>;
    /// Every account that is not deleted, by name (see [`Store::users`]).
    fn users(&self) -> Result<Vec<User>>;
    /// An account with what the login check needs (see [`Store::user_login`]).
    fn user_login(&self, name: &str) -> Result<Option<UserLogin>>;
    /// Every account that is not deleted, by name, with its state (see [`Store::accounts`]).
    fn accounts(&self) -> Result<Vec<Account>>;
    /// Disables an account (see [`Store::disable_user`]).
    fn disable_user(&self, name: &str, actor: &str) -> Result<Ended>;
    /// Enables an account and lifts its lockout (see [`Store::enable_user`]).
    fn enable_user(&self, name: &str, actor: &str) -> Result<()>;
    /// Deletes an account, keeping a tombstone (see [`Store::delete_user`]).
    fn delete_user(&self, name: &str, actor: &str) -> Result<Ended>;
    /// Records a failed login at `now` under `policy` (see [`Store::record_login_failure_at`]).
    fn record_login_failure_at(
        &self,
        user_id: i64,
        policy: &LoginPolicy,
        detail: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>>;

    // --- login sessions -------------------------------------------------------------------------

    /// Opens a session after a successful login (see [`Store::create_session`]).
    fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        csrf: &str,
        ttl: std::time::Duration,
        detail: &serde_json::Value,
    ) -> Result<Session>;
    /// The live session whose token hashes to `token_hash` (see [`Store::session`]).
    fn session(&self, token_hash: &str) -> Result<Option<Session>>;
    /// Ends a session at logout (see [`Store::end_session`]).
    fn end_session(&self, token_hash: &str) -> Result<()>;

    // --- API tokens -----------------------------------------------------------------------------

    /// Stores a new API token by its hash (see [`Store::create_api_token`]).
    fn create_api_token(
        &self,
        user: &User,
        token_hash: &str,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
        actor: &str,
    ) -> Result<i64>;
    /// API tokens, oldest first, of every account or one (see [`Store::api_tokens`]).
    fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>>;
    /// Revokes an API token (see [`Store::revoke_api_token`]).
    fn revoke_api_token(&self, id: i64, actor: &str) -> Result<ApiToken>;
    /// What a presented API token is; records the use of a live one (see [`Store::check_api_token`]).
    fn check_api_token(&self, token_hash: &str) -> Result<TokenCheck>;

    // --- the incident workflow ------------------------------------------------------------------

    /// Opens an incident by hand (see [`Store::create_incident`]).
    fn create_incident(
        &self,
        title: &str,
        kind: VerdictKind,
        severity: Severity,
        actor: &str,
    ) -> Result<Incident>;
    /// Attaches an item to an incident (see [`Store::add_incident_item`]).
    fn add_incident_item(&self, incident_id: i64, item_id: &str, actor: &str) -> Result<bool>;
    /// An incident with its sightings and notes (see [`Store::incident_detail`]).
    fn incident_detail(&self, id: i64) -> Result<Option<IncidentDetail>>;
    /// Incidents, most recently changed first (see [`Store::list_incidents`]).
    fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
        limit: usize,
    ) -> Result<Vec<IncidentDetail>>;
    /// The newest incidents of at least `min` severity (see [`Store::newest_incidents`]).
    fn newest_incidents(&self, min: Severity, limit: usize) -> Result<Vec<IncidentDetail>>;
    /// Moves an incident to `status` (see [`Store::set_incident_status`]).
    fn set_incident_status(&self, id: i64, status: IncidentStatus, actor: &str)
        -> Result<Incident>;
    /// Assigns or unassigns an incident (see [`Store::set_incident_assignee`]).
    fn set_incident_assignee(
        &self,
        id: i64,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<Incident>;
    /// Adds a note to an incident (see [`Store::add_incident_note`]).
    fn add_incident_note(&self, id: i64, note: &str, actor: &str) -> Result<Incident>;

    // --- the dashboard, sources page and /metrics (the web role) --------------------------------

    /// Incidents opened per day since `since`, by kind or severity (see
    /// [`Store::incidents_per_day`]).
    fn incidents_per_day(&self, since: DateTime<Utc>, by_severity: bool) -> Result<Vec<DayCount>>;
    /// How many incidents have each status, zeros included (see
    /// [`Store::incident_status_counts`]).
    fn incident_status_counts(&self) -> Result<Vec<(IncidentStatus, u64)>>;
    /// The false narratives most seen since `since` (see [`Store::top_narratives`]).
    fn top_narratives(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<(String, u64)>>;
    /// Item versions stored per source since `since` (see [`Store::items_per_source_since`]).
    fn items_per_source_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, u64)>>;
    /// The counters `/metrics` exports (see [`Store::metric_counts`]).
    fn metric_counts(&self) -> Result<MetricCounts>;
    /// Every source's polling state, by name (see [`Store::source_states`]).
    fn source_states(&self) -> Result<Vec<SourceState>>;
    /// Work held back as poison (see [`Store::quarantine_count`]; on PostgreSQL, the dead
    /// letters the cluster recorded: see [`PgStore::quarantine_count`]).
    fn quarantine_count(&self) -> Result<u64>;
    /// How many reports became some items, first and last (see [`Store::report_count`]).
    fn report_count(&self, item_ids: &[String]) -> Result<ReportCount>;
    // (the reports that became an item: `PipelineStore::reports_of_item`)
    /// For each of `incident_ids` that reports became items of: how many, first and last (see
    /// [`Store::incident_report_counts`]).
    fn incident_report_counts(
        &self,
        incident_ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, ReportCount>>;
    /// The report bursts that raised an incident's severity (see [`Store::report_bursts`]).
    fn report_bursts(&self, incident_id: i64) -> Result<Vec<Burst>>;

    // --- health (the web role's /healthz and /readyz) --------------------------------------------

    /// Runs a trivial query: `Ok` when the database answers (see [`Store::ping`]).
    fn ping(&self) -> Result<()>;

    // --- what only this process knows, and the embedded-only features ---------------------------

    /// Why ingest is paused (the data folder's disk is full), if it is (see
    /// [`Store::ingest_paused`]). PostgreSQL's disk is the database server's: never paused here.
    fn ingest_paused(&self) -> Option<String> {
        None
    }
    /// Why trusted timestamping is behind, if it is: this process's timestamp task's last
    /// failure ([`Store::timestamp_gap`]), or on PostgreSQL an entry waiting longer than the
    /// cluster allows ([`PgStore::timestamp_gap`]). May query the store: call it from a blocking
    /// thread.
    fn timestamp_gap(&self) -> Option<String>;

    /// Records a failed login now (see [`Store::record_login_failure`]).
    fn record_login_failure(
        &self,
        user_id: i64,
        policy: &LoginPolicy,
        detail: &serde_json::Value,
    ) -> Result<Option<DateTime<Utc>>> {
        self.record_login_failure_at(user_id, policy, detail, crate::now_ms())
    }
}

/// Implements [`WebStore`] for a back end by calling its inherent methods of the same names:
/// adding a method to the trait is one line here (for both back ends) plus each back end's
/// inherent method. `$extra` holds what a back end implements differently.
macro_rules! web_store_impl {
    ($ty:ty { $($extra:tt)* }) => {
        impl WebStore for $ty {
            $($extra)*
            $crate::backend::delegate! { $ty;
                // accounts
                fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User>;
                fn set_password(&self, name: &str, password_hash: &str, actor: &str) -> Result<Ended>;
                fn users(&self) -> Result<Vec<User>>;
                fn user_login(&self, name: &str) -> Result<Option<UserLogin>>;
                fn accounts(&self) -> Result<Vec<Account>>;
                fn disable_user(&self, name: &str, actor: &str) -> Result<Ended>;
                fn enable_user(&self, name: &str, actor: &str) -> Result<()>;
                fn delete_user(&self, name: &str, actor: &str) -> Result<Ended>;
                fn record_login_failure_at(&self, user_id: i64, policy: &LoginPolicy,
                    detail: &serde_json::Value, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;
                // login sessions
                fn create_session(&self, user: &User, token_hash: &str, csrf: &str,
                    ttl: std::time::Duration, detail: &serde_json::Value) -> Result<Session>;
                fn session(&self, token_hash: &str) -> Result<Option<Session>>;
                fn end_session(&self, token_hash: &str) -> Result<()>;
                // API tokens
                fn create_api_token(&self, user: &User, token_hash: &str, label: &str,
                    expires_at: Option<DateTime<Utc>>, actor: &str) -> Result<i64>;
                fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>>;
                fn revoke_api_token(&self, id: i64, actor: &str) -> Result<ApiToken>;
                fn check_api_token(&self, token_hash: &str) -> Result<TokenCheck>;
                // the incident workflow
                fn create_incident(&self, title: &str, kind: VerdictKind, severity: Severity,
                    actor: &str) -> Result<Incident>;
                fn add_incident_item(&self, incident_id: i64, item_id: &str, actor: &str) -> Result<bool>;
                fn incident_detail(&self, id: i64) -> Result<Option<IncidentDetail>>;
                fn list_incidents(&self, status: Option<IncidentStatus>, limit: usize)
                    -> Result<Vec<IncidentDetail>>;
                fn newest_incidents(&self, min: Severity, limit: usize) -> Result<Vec<IncidentDetail>>;
                fn set_incident_status(&self, id: i64, status: IncidentStatus, actor: &str)
                    -> Result<Incident>;
                fn set_incident_assignee(&self, id: i64, assignee: Option<&str>, actor: &str)
                    -> Result<Incident>;
                fn add_incident_note(&self, id: i64, note: &str, actor: &str) -> Result<Incident>;
                // the dashboard, sources page and /metrics (the web role)
                fn incidents_per_day(&self, since: DateTime<Utc>, by_severity: bool)
                    -> Result<Vec<DayCount>>;
                fn incident_status_counts(&self) -> Result<Vec<(IncidentStatus, u64)>>;
                fn top_narratives(&self, since: DateTime<Utc>, limit: usize)
                    -> Result<Vec<(String, u64)>>;
                fn items_per_source_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, u64)>>;
                fn metric_counts(&self) -> Result<MetricCounts>;
                fn source_states(&self) -> Result<Vec<SourceState>>;
                fn quarantine_count(&self) -> Result<u64>;
                fn report_count(&self, item_ids: &[String]) -> Result<ReportCount>;
                fn incident_report_counts(&self, incident_ids: &[i64])
                    -> Result<std::collections::HashMap<i64, ReportCount>>;
                fn report_bursts(&self, incident_id: i64) -> Result<Vec<Burst>>;
                // health
                fn ping(&self) -> Result<()>;
            }
        }
    };
}

web_store_impl!(Store {
    fn ingest_paused(&self) -> Option<String> {
        Store::ingest_paused(self)
    }
    fn timestamp_gap(&self) -> Option<String> {
        Store::timestamp_gap(self)
    }
});

web_store_impl!(PgStore {
    fn timestamp_gap(&self) -> Option<String> {
        PgStore::timestamp_gap(self)
    }
});
