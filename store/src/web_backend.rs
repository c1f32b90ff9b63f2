//! The web UI's store interface: accounts, login sessions, API tokens and the incident
//! workflow, with one implementation per back end — [`Store`] (SQLite) and [`PgStore`]
//! (PostgreSQL). Same pattern as [`PipelineStore`] (its supertrait, so one `Arc<dyn WebStore>`
//! serves a web node): every method behaves as the [`Store`] method of the same name documents,
//! and the store conformance suite (`store/tests/conformance/web.rs`) holds both back ends to the
//! same rows, ordering and errors.

use ballotwatch_core::{Incident, IncidentStatus, Severity, VerdictKind};
use chrono::{DateTime, Utc};

use crate::{
    Account, ApiToken, Ended, IncidentChange, IncidentDetail, LoginPolicy, PgStore, PipelineStore,
    Result, Role, Session, Store, TokenCheck, User, UserLogin,
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
    /// An incident's history, oldest first (see [`Store::incident_history`]).
    fn incident_history(&self, incident_id: i64) -> Result<Vec<IncidentChange>>;
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

impl WebStore for Store {
    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        Store::create_user(self, name, role, password_hash)
    }
    fn set_password(&self, name: &str, password_hash: &str, actor: &str) -> Result<Ended> {
        Store::set_password(self, name, password_hash, actor)
    }
    fn users(&self) -> Result<Vec<User>> {
        Store::users(self)
    }
    fn user_login(&self, name: &str) -> Result<Option<UserLogin>> {
        Store::user_login(self, name)
    }
    fn accounts(&self) -> Result<Vec<Account>> {
        Store::accounts(self)
    }
    fn disable_user(&self, name: &str, actor: &str) -> Result<Ended> {
        Store::disable_user(self, name, actor)
    }
    fn enable_user(&self, name: &str, actor: &str) -> Result<()> {
        Store::enable_user(self, name, actor)
    }
    fn delete_user(&self, name: &str, actor: &str) -> Result<Ended> {
        Store::delete_user(self, name, actor)
    }
    fn record_login_failure_at(
        &self,
        user_id: i64,
        policy: &LoginPolicy,
        detail: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        Store::record_login_failure_at(self, user_id, policy, detail, now)
    }
    fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        csrf: &str,
        ttl: std::time::Duration,
        detail: &serde_json::Value,
    ) -> Result<Session> {
        Store::create_session(self, user, token_hash, csrf, ttl, detail)
    }
    fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        Store::session(self, token_hash)
    }
    fn end_session(&self, token_hash: &str) -> Result<()> {
        Store::end_session(self, token_hash)
    }
    fn create_api_token(
        &self,
        user: &User,
        token_hash: &str,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
        actor: &str,
    ) -> Result<i64> {
        Store::create_api_token(self, user, token_hash, label, expires_at, actor)
    }
    fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>> {
        Store::api_tokens(self, user)
    }
    fn revoke_api_token(&self, id: i64, actor: &str) -> Result<ApiToken> {
        Store::revoke_api_token(self, id, actor)
    }
    fn check_api_token(&self, token_hash: &str) -> Result<TokenCheck> {
        Store::check_api_token(self, token_hash)
    }
    fn create_incident(
        &self,
        title: &str,
        kind: VerdictKind,
        severity: Severity,
        actor: &str,
    ) -> Result<Incident> {
        Store::create_incident(self, title, kind, severity, actor)
    }
    fn add_incident_item(&self, incident_id: i64, item_id: &str, actor: &str) -> Result<bool> {
        Store::add_incident_item(self, incident_id, item_id, actor)
    }
    fn incident_detail(&self, id: i64) -> Result<Option<IncidentDetail>> {
        Store::incident_detail(self, id)
    }
    fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
        limit: usize,
    ) -> Result<Vec<IncidentDetail>> {
        Store::list_incidents(self, status, limit)
    }
    fn newest_incidents(&self, min: Severity, limit: usize) -> Result<Vec<IncidentDetail>> {
        Store::newest_incidents(self, min, limit)
    }
    fn incident_history(&self, incident_id: i64) -> Result<Vec<IncidentChange>> {
        Store::incident_history(self, incident_id)
    }
    fn set_incident_status(
        &self,
        id: i64,
        status: IncidentStatus,
        actor: &str,
    ) -> Result<Incident> {
        Store::set_incident_status(self, id, status, actor)
    }
    fn set_incident_assignee(
        &self,
        id: i64,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<Incident> {
        Store::set_incident_assignee(self, id, assignee, actor)
    }
    fn add_incident_note(&self, id: i64, note: &str, actor: &str) -> Result<Incident> {
        Store::add_incident_note(self, id, note, actor)
    }
}

impl WebStore for PgStore {
    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        PgStore::create_user(self, name, role, password_hash)
    }
    fn set_password(&self, name: &str, password_hash: &str, actor: &str) -> Result<Ended> {
        PgStore::set_password(self, name, password_hash, actor)
    }
    fn users(&self) -> Result<Vec<User>> {
        PgStore::users(self)
    }
    fn user_login(&self, name: &str) -> Result<Option<UserLogin>> {
        PgStore::user_login(self, name)
    }
    fn accounts(&self) -> Result<Vec<Account>> {
        PgStore::accounts(self)
    }
    fn disable_user(&self, name: &str, actor: &str) -> Result<Ended> {
        PgStore::disable_user(self, name, actor)
    }
    fn enable_user(&self, name: &str, actor: &str) -> Result<()> {
        PgStore::enable_user(self, name, actor)
    }
    fn delete_user(&self, name: &str, actor: &str) -> Result<Ended> {
        PgStore::delete_user(self, name, actor)
    }
    fn record_login_failure_at(
        &self,
        user_id: i64,
        policy: &LoginPolicy,
        detail: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        PgStore::record_login_failure_at(self, user_id, policy, detail, now)
    }
    fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        csrf: &str,
        ttl: std::time::Duration,
        detail: &serde_json::Value,
    ) -> Result<Session> {
        PgStore::create_session(self, user, token_hash, csrf, ttl, detail)
    }
    fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        PgStore::session(self, token_hash)
    }
    fn end_session(&self, token_hash: &str) -> Result<()> {
        PgStore::end_session(self, token_hash)
    }
    fn create_api_token(
        &self,
        user: &User,
        token_hash: &str,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
        actor: &str,
    ) -> Result<i64> {
        PgStore::create_api_token(self, user, token_hash, label, expires_at, actor)
    }
    fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>> {
        PgStore::api_tokens(self, user)
    }
    fn revoke_api_token(&self, id: i64, actor: &str) -> Result<ApiToken> {
        PgStore::revoke_api_token(self, id, actor)
    }
    fn check_api_token(&self, token_hash: &str) -> Result<TokenCheck> {
        PgStore::check_api_token(self, token_hash)
    }
    fn create_incident(
        &self,
        title: &str,
        kind: VerdictKind,
        severity: Severity,
        actor: &str,
    ) -> Result<Incident> {
        PgStore::create_incident(self, title, kind, severity, actor)
    }
    fn add_incident_item(&self, incident_id: i64, item_id: &str, actor: &str) -> Result<bool> {
        PgStore::add_incident_item(self, incident_id, item_id, actor)
    }
    fn incident_detail(&self, id: i64) -> Result<Option<IncidentDetail>> {
        PgStore::incident_detail(self, id)
    }
    fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
        limit: usize,
    ) -> Result<Vec<IncidentDetail>> {
        PgStore::list_incidents(self, status, limit)
    }
    fn newest_incidents(&self, min: Severity, limit: usize) -> Result<Vec<IncidentDetail>> {
        PgStore::newest_incidents(self, min, limit)
    }
    fn incident_history(&self, incident_id: i64) -> Result<Vec<IncidentChange>> {
        PgStore::incident_history(self, incident_id)
    }
    fn set_incident_status(
        &self,
        id: i64,
        status: IncidentStatus,
        actor: &str,
    ) -> Result<Incident> {
        PgStore::set_incident_status(self, id, status, actor)
    }
    fn set_incident_assignee(
        &self,
        id: i64,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<Incident> {
        PgStore::set_incident_assignee(self, id, assignee, actor)
    }
    fn add_incident_note(&self, id: i64, note: &str, actor: &str) -> Result<Incident> {
        PgStore::add_incident_note(self, id, note, actor)
    }
}
