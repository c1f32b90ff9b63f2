//! Certificate Transparency search sources (`kind = "ct_search"`): the cheap way to watch CT for
//! a small deployment. Instead of following whole logs (see [`super::ct`]), ask a CT search
//! service with a crt.sh-style JSON API for the certificates whose names contain the council's
//! own labels, and keep those with a name the lookalike-domain detector accepts.
//!
//! Each poll, per label: `GET <url>?q=%<label>%&output=json[&exclude=expired]`, an array of
//! rows (one per certificate or precertificate: `id`, `issuer_ca_id`, `issuer_name`,
//! `common_name`, `name_value` with the names one per line, `entry_timestamp`, `not_before`,
//! `not_after`, `serial_number`, `result_count`). Rows with an `id` above the label's cursor
//! are new; of those, the ones with a name [`PollContext::lookalikes`] accepts become items of
//! the same shape as a `ct` source's, with the answer as their capture.
//!
//! **What it misses**: a lookalike whose names do not contain a label literally — typos
//! (`anytwon-gov.uk`), homoglyphs and IDNs (`аnytown.gov.uk` is `xn--nytown-…` in the
//! certificate) — and anything the service has not indexed yet (minutes to hours behind the
//! logs). Following logs with `kind = "ct"` catches those.
//!
//! **Cursor**: per label, the highest row `id` seen. The first poll only records it (nothing
//! older is kept) unless `backfill` is set. A label whose request fails keeps its cursor and
//! is reported in `Poll::dropped`; a rate limit (429, `Retry-After`) stops the poll's other
//! requests and is kept so the service is not asked again before then.

mod config;

use std::collections::BTreeMap;

use ballotwatch_core::{Item, SourceRef};
use chrono::{DateTime, NaiveDateTime, Utc};
pub use config::{is_label, CtSearchConfig, MAX_LABELS};
use serde::{Deserialize, Serialize};
use url::Url;

use super::common::{self, Collected, JSON_ACCEPT};
use super::ct::leaf::{dns_name, CertInfo, Entry, EntryKind, MAX_NAMES};
use super::ct::{certificate_item_logged, point_at_home_page, Found};
use super::{Cursor, KindConfig, Poll, PollContext, Source, SourceError};

const WHAT: &str = "CT search answer";

/// A CT search source.
#[derive(Debug, Clone)]
pub struct CtSearchSource {
    name: String,
    url: Url,
    labels: Vec<String>,
    backfill: Option<std::time::Duration>,
    exclude_expired: bool,
    home_page: bool,
}

/// One row of a crt.sh-style JSON answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The service's certificate id (grows as certificates are added).
    pub id: u64,
    /// The service's id for the issuing CA.
    #[serde(default)]
    pub issuer_ca_id: Option<u64>,
    /// The issuer's distinguished name.
    #[serde(default)]
    pub issuer_name: Option<String>,
    /// The subject CN.
    #[serde(default)]
    pub common_name: Option<String>,
    /// The names (CN and SAN entries), one per line.
    #[serde(default)]
    pub name_value: Option<String>,
    /// When the first log took it (UTC, no zone: `2026-12-01T09:14:22.123`).
    #[serde(default)]
    pub entry_timestamp: Option<String>,
    /// Start of validity (UTC, no zone).
    #[serde(default)]
    pub not_before: Option<String>,
    /// End of validity (UTC, no zone).
    #[serde(default)]
    pub not_after: Option<String>,
    /// Serial number, hex.
    #[serde(default)]
    pub serial_number: Option<String>,
    /// Rows in the whole answer.
    #[serde(default)]
    pub result_count: Option<u64>,
}

/// What the cursor keeps.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtSearchState {
    /// Per label, the highest row id seen.
    pub seen: BTreeMap<String, u64>,
    /// The service asked (with `Retry-After`) not to be asked again before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_until: Option<DateTime<Utc>>,
}

/// Reads a search answer: the rows, in the order sent.
pub fn parse_answer(body: &[u8]) -> Result<Vec<Row>, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, Vec<Row>>(&mut de)
        .map_err(|e| format!("{} (at {})", e.inner(), e.path()))
}

/// A service time (`2026-12-01T09:14:22.123`, UTC without a zone; RFC 3339 also read).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// The certificate a row describes, when one of its names is kept by `keep`.
pub fn row_found(row: &Row, base: &Url, keep: &dyn Fn(&str) -> bool) -> Option<Found> {
    let mut names: Vec<String> = Vec::new();
    let raw = row
        .common_name
        .iter()
        .flat_map(|cn| std::iter::once(cn.as_str()))
        .chain(row.name_value.iter().flat_map(|v| v.split('\n')));
    for n in raw.take(MAX_NAMES * 2) {
        if names.len() >= MAX_NAMES {
            break;
        }
        if let Some(n) = dns_name(n) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let matched: Vec<String> = names.iter().filter(|n| keep(n)).cloned().collect();
    if matched.is_empty() {
        return None;
    }
    let mut lookup = base.clone();
    lookup.set_query(None);
    lookup
        .query_pairs_mut()
        .append_pair("id", &row.id.to_string());
    let time = |t: &Option<String>| t.as_deref().and_then(parse_time);
    Some(Found {
        entry: Entry {
            kind: EntryKind::Certificate,
            logged_at: time(&row.entry_timestamp),
            der: Vec::new(),
            cert: CertInfo {
                names,
                issuer: row.issuer_name.clone().unwrap_or_default(),
                not_before: time(&row.not_before),
                not_after: time(&row.not_after),
                serial: row
                    .serial_number
                    .clone()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
            },
        },
        matched,
        lookup: lookup.to_string(),
    })
}

/// The item for a kept row: a `ct` source's item shape, found through the service at `base`.
pub fn search_item(source_name: &str, base: &Url, row: &Row, found: &Found) -> Item {
    let host = base.host_str().unwrap_or("the CT search service");
    let mut item = certificate_item_logged(
        source_name,
        &format!("a CT log (found through {host}, certificate id {})", row.id),
        found,
    );
    // The precertificate and the certificate are two rows with one issuer and serial: one item.
    let key = match &row.serial_number {
        Some(serial) if !serial.is_empty() => format!(
            "ct_search:{}:{}",
            row.issuer_name.as_deref().unwrap_or_default(),
            serial.to_ascii_lowercase()
        ),
        _ => format!("ct_search:{host}:{}", row.id),
    };
    item.id = Item::derive_id(source_name, &key);
    item.source = SourceRef {
        kind: "ct_search".into(),
        name: source_name.into(),
    };
    if let Some(title) = &mut item.title {
        *title = title.replacen("TLS certificate", "TLS certificate or precertificate", 1);
    }
    item
}

impl CtSearchSource {
    /// The source for a `[[source]]` of kind `ct_search`.
    pub fn new(name: &str, cfg: &CtSearchConfig) -> CtSearchSource {
        CtSearchSource {
            name: name.to_string(),
            url: cfg.url().clone(),
            labels: cfg.labels.clone(),
            backfill: cfg.backfill,
            exclude_expired: cfg.exclude_expired,
            home_page: cfg.home_page,
        }
    }

    /// The search URL for `label`.
    fn query(&self, label: &str) -> Url {
        let mut url = self.url.clone();
        url.set_query(None);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("q", &format!("%{label}%"));
            q.append_pair("output", "json");
            if self.exclude_expired {
                q.append_pair("exclude", "expired");
            }
        }
        url
    }
}

#[async_trait::async_trait]
impl Source for CtSearchSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "ct_search"
    }

    fn url(&self) -> &str {
        self.url.as_str()
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let old: CtSearchState = common::load_state(&self.name, cursor.state.as_ref());
        let now = Utc::now();
        if old.wait_until.is_some_and(|w| w > now) {
            return Ok(Poll {
                state: serde_json::to_value(&old).ok(),
                ..Poll::default()
            });
        }
        let mut state = CtSearchState {
            seen: old.seen.clone(),
            wait_until: None,
        };
        let since = self
            .backfill
            .and_then(|b| chrono::Duration::from_std(b).ok())
            .and_then(|b| now.checked_sub_signed(b));
        let keep = |name: &str| ctx.lookalikes.as_ref().is_some_and(|f| f.matches(name));
        let mut got = Collected::default();
        let mut dropped = Vec::new();
        let mut first_error = None;
        let mut answered = 0;
        for label in &self.labels {
            let url = self.query(label);
            let (at, body) = match got
                .get(ctx, &self.name, url.clone(), JSON_ACCEPT, None, WHAT)
                .await
            {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::warn!(source = %self.name, label, error = %e, "CT search failed");
                    dropped.push(format!("label `{label}`: {e}"));
                    let wait = e.retry_after();
                    first_error.get_or_insert(e);
                    if let Some(wait) = wait {
                        state.wait_until = chrono::Duration::from_std(wait).ok().map(|w| now + w);
                        break;
                    }
                    continue;
                }
            };
            let rows = match parse_answer(&body) {
                Ok(rows) => rows,
                Err(message) => {
                    let e = SourceError::Payload {
                        source_name: self.name.clone(),
                        url: url.to_string(),
                        what: WHAT,
                        message,
                    };
                    dropped.push(format!("label `{label}`: {e}"));
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            answered += 1;
            let max = rows.iter().map(|r| r.id).max();
            let seen = old.seen.get(label).copied();
            for row in &rows {
                let new = match seen {
                    Some(seen) => row.id > seen,
                    // First poll: only what is inside the back-fill window.
                    None => since.is_some_and(|since| {
                        row.entry_timestamp
                            .as_deref()
                            .and_then(parse_time)
                            .is_some_and(|t| t >= since)
                    }),
                };
                if !new {
                    continue;
                }
                if let Some(found) = row_found(row, &self.url, &keep) {
                    let mut item = search_item(&self.name, &self.url, row, &found);
                    if self.home_page {
                        point_at_home_page(&mut item, &found);
                    }
                    item.matched_terms = ctx.watch.matches(&item.full_text());
                    got.items.push((at, item));
                }
            }
            if let Some(max) = max.max(seen) {
                state.seen.insert(label.clone(), max);
            }
        }
        // No answer at all: the poll fails (and the scheduler backs off, honouring a
        // `Retry-After`); otherwise the failed labels are in `dropped`.
        if answered == 0 {
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        // Several labels can find one certificate: one item.
        let mut ids = std::collections::HashSet::new();
        got.items.retain(|(_, i)| ids.insert(i.id.clone()));
        let mut poll = got.into_poll(&state);
        poll.dropped = dropped;
        Ok(poll)
    }
}

#[cfg(test)]
mod tests;
