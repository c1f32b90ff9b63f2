//! The alert decision: which rules a flagged item matches, which incident it joins, and what is
//! queued (immediate alerts, threaded updates, digest entries).

use std::time::Duration;

use crate::config::{AlertMode, AlertRule, AlertsConfig, DigestEvery, OnUpdate};
use crate::time::{QuietHours, Zone};
use ballotwatch_core::{ClassifyResult, Item, Severity, Verdict};
use ballotwatch_store::{
    AlertPlan, IncidentContext, NewDigestEntry, NewOutbox, OutboxKind, PipelineStore, Sighting,
    StoredItem,
};
use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::channels::{destinations, Destination};
use crate::AlertError;

/// Evidence keys that identify near-duplicates, most stable first: a lookalike domain, an
/// account handle or a picture's hash names the same thing in every near-duplicate, while a
/// narrative's score moves with the wording around it. The one order for all grouping: which
/// verdict an item's incident is about, and which key of a verdict names that incident
/// ([`group_key`] and its title).
pub const GROUP_KEYS: [&str; 4] = ["domain", "handle", "media_sha256", "narrative"];

/// Items read per decision batch.
const BATCH: usize = 256;

/// What deciding about one item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not flagged: marked decided, nothing queued.
    NotFlagged,
    /// Flagged: recorded in an incident, with what the rules queue.
    Recorded,
    /// Flagged, but already decided (by this node or another): nothing done.
    AlreadyDecided,
}

/// What a message says about one sighting: the channel-neutral content every template renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// The incident.
    pub incident_id: i64,
    /// The incident's title.
    pub incident_title: String,
    /// The incident's severity.
    pub severity: Severity,
    /// Threat kind of the top verdict.
    pub kind: String,
    /// Sightings so far.
    pub sightings: i64,
    /// The item's id.
    pub item_id: String,
    /// The item's title.
    pub item_title: Option<String>,
    /// The start of the item's text.
    pub excerpt: String,
    /// The item's link.
    pub url: Option<String>,
    /// The source's name.
    pub source: String,
    /// Who published it.
    pub author: Option<String>,
    /// The verdicts.
    pub verdicts: Vec<VerdictView>,
    /// The incident page, when `server.public_url` is set.
    pub incident_url: Option<String>,
}

/// One verdict as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictView {
    /// Kind.
    pub kind: String,
    /// Label.
    pub label: String,
    /// Score.
    pub score: f32,
    /// The detector's explanation.
    pub explanation: String,
    /// The correct position, where one exists.
    pub rebuttal: Option<String>,
}

/// An outbox payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Payload {
    /// A first alert or an update about one incident.
    Sighting {
        /// What to say.
        view: Box<AlertView>,
        /// Idempotency key of the first message of this thread (updates reply to it).
        thread: Option<String>,
    },
    /// Several sightings.
    Digest {
        /// The rule.
        rule: String,
        /// One view per sighting, oldest first.
        views: Vec<AlertView>,
    },
    /// A notice to the admins about Ballotwatch itself (see [`crate::admin`]).
    Notice {
        /// One line.
        subject: String,
        /// Plain text; every channel escapes it like item text.
        text: String,
    },
}

/// Decides about flagged items using the configured rules.
#[derive(Debug, Clone)]
pub struct Decider {
    rules: Vec<AlertRule>,
    window: Duration,
    public_url: Option<String>,
    zone: Zone,
}

impl Decider {
    /// Built from `[alerts]`; alerts link to items under `public_url` (`[server] public_url`).
    pub fn new(alerts: &AlertsConfig, public_url: Option<&url::Url>) -> Decider {
        Decider {
            rules: alerts.rules.clone(),
            window: alerts.group_window,
            zone: alerts.timezone,
            public_url: public_url.map(|u| u.as_str().trim_end_matches('/').to_string()),
        }
    }

    /// Decides about every item waiting in the store; returns how many sightings were recorded.
    /// Runs on either back end (embedded mode's SQLite store, or PostgreSQL).
    pub fn decide_pending(&self, store: &dyn PipelineStore) -> Result<usize, AlertError> {
        let mut sightings = 0;
        loop {
            let batch = store.pending_alerts(BATCH)?;
            if batch.is_empty() {
                return Ok(sightings);
            }
            let mut skipped = Vec::new();
            for s in &batch {
                match self.record(store, s)? {
                    Decision::NotFlagged => skipped.push(s.seq),
                    Decision::Recorded => sightings += 1,
                    Decision::AlreadyDecided => {}
                }
            }
            store.mark_alerted(&skipped)?;
        }
    }

    /// Decides about one stored item version, as [`Decider::decide_pending`] does for each:
    /// cluster mode's decide stage, which receives items one by one from its work queue. A
    /// flagged item is recorded in its incident (once: deciding again, on this node or
    /// another, does nothing); an item that is not flagged is marked decided.
    pub fn decide_one(
        &self,
        store: &dyn PipelineStore,
        s: &StoredItem,
    ) -> Result<Decision, AlertError> {
        let decision = self.record(store, s)?;
        if decision == Decision::NotFlagged {
            store.mark_alerted(&[s.seq])?;
        }
        Ok(decision)
    }

    fn record(&self, store: &dyn PipelineStore, s: &StoredItem) -> Result<Decision, AlertError> {
        let Some((sighting, view_base)) = self.sighting(s) else {
            return Ok(Decision::NotFlagged);
        };
        let now = Utc::now();
        let recorded = store.record_sighting(&sighting, &mut |ctx| {
            self.plan(&s.item, s.result.as_ref(), ctx, &view_base, now)
        })?;
        let Some((ctx, plan)) = recorded else {
            return Ok(Decision::AlreadyDecided);
        };
        tracing::info!(
            item = %s.item.id,
            incident = ctx.incident.id,
            new_incident = ctx.is_new,
            queued = plan.outbox.len(),
            digest = plan.digest.len(),
            "flagged item recorded"
        );
        Ok(Decision::Recorded)
    }

    /// The sighting a stored item makes, if it is flagged; with the view before the incident is
    /// known.
    fn sighting(&self, s: &StoredItem) -> Option<(Sighting, AlertView)> {
        let result = s.result.as_ref().filter(|r| r.flagged)?;
        let top = grouping_verdict(result)?;
        let title = incident_title(top);
        let view = AlertView {
            incident_id: 0,
            incident_title: title.clone(),
            severity: result.severity,
            kind: top.kind.as_str().to_string(),
            sightings: 0,
            item_id: s.item.id.clone(),
            item_title: s.item.title.clone(),
            excerpt: excerpt(&s.item, 600),
            url: s.item.url.clone(),
            source: s.item.source.name.clone(),
            author: s
                .item
                .author
                .as_ref()
                .and_then(|a| a.handle.clone().or(a.display_name.clone())),
            verdicts: result
                .verdicts
                .iter()
                .map(|v| VerdictView {
                    kind: v.kind.as_str().to_string(),
                    label: v.label.clone(),
                    score: v.score,
                    explanation: v.explanation.clone(),
                    rebuttal: v.rebuttal.clone(),
                })
                .collect(),
            incident_url: None,
        };
        Some((
            Sighting {
                seq: s.seq,
                group_key: group_key(top),
                title,
                kind: top.kind,
                severity: result.severity,
                window: self.window,
            },
            view,
        ))
    }

    fn plan(
        &self,
        item: &Item,
        result: Option<&ClassifyResult>,
        ctx: &IncidentContext,
        base: &AlertView,
        now: DateTime<Utc>,
    ) -> AlertPlan {
        let mut plan = AlertPlan::default();
        let Some(result) = result else {
            return plan;
        };
        let id = ctx.incident.id;
        let view = AlertView {
            incident_id: id,
            incident_title: ctx.incident.title.clone(),
            severity: ctx.incident.severity.max(result.severity),
            sightings: ctx.sightings,
            incident_url: self
                .public_url
                .as_ref()
                .map(|u| format!("{u}/incidents/{id}")),
            ..base.clone()
        };
        for rule in self.rules.iter().filter(|r| rule_matches(r, item, result)) {
            let first = ctx.alerted.iter().find(|(r, _)| r == &rule.name);
            let digest_entry = || NewDigestEntry {
                rule: rule.name.clone(),
                summary: serde_json::to_value(&view).unwrap_or_default(),
            };
            match (rule.mode, first, rule.on_update) {
                (AlertMode::Digest, _, _) | (AlertMode::Immediate, Some(_), OnUpdate::Digest) => {
                    plan.digest.push(digest_entry());
                }
                (AlertMode::Immediate, Some(_), OnUpdate::Ignore) => {}
                (AlertMode::Immediate, first, _) => {
                    let not_before = hold_until(rule, view.severity, ctx, now, self.zone);
                    let (kind, thread) = match first {
                        None => (OutboxKind::Alert, None),
                        Some(_) => (OutboxKind::Update, Some(())),
                    };
                    for Destination {
                        channel,
                        recipients,
                    } in destinations(&rule.to, &rule.webhooks)
                    {
                        let first_key = format!("alert:{id}:{}:{channel}", rule.name);
                        let key = match kind {
                            OutboxKind::Update => format!("{first_key}:item:{}", item.id),
                            _ => first_key.clone(),
                        };
                        let payload = Payload::Sighting {
                            view: Box::new(view.clone()),
                            thread: thread.map(|()| first_key),
                        };
                        plan.outbox.push(NewOutbox {
                            idempotency_key: key,
                            channel: channel.to_string(),
                            kind,
                            rule: rule.name.clone(),
                            incident_id: Some(id),
                            recipients,
                            payload: serde_json::to_value(&payload).unwrap_or_default(),
                            not_before,
                        });
                    }
                }
            }
        }
        plan
    }
}

/// When an immediate message of `rule` may go: quiet hours (on `zone`'s clock) and throttling
/// hold back anything below `high`; `high` always goes at once.
pub fn hold_until(
    rule: &AlertRule,
    severity: Severity,
    ctx: &IncidentContext,
    now: DateTime<Utc>,
    zone: Zone,
) -> DateTime<Utc> {
    if severity >= Severity::High {
        return now;
    }
    let mut at = now;
    if let Some(t) = rule.throttle {
        if let Some((_, last)) = ctx.last_immediate.iter().find(|(r, _)| r == &rule.name) {
            let earliest = *last + chrono::Duration::from_std(t).unwrap_or_default();
            at = at.max(earliest);
        }
    }
    if let Some(quiet) = rule.quiet_hours {
        at = quiet_end(at, quiet, zone);
    }
    at
}

/// If `t` falls inside the quiet span (on `zone`'s clock; it may wrap past midnight), the end of
/// that span; otherwise `t`. Across a clock change the span is as long as the wall clock says
/// (an hour shorter in spring, longer in autumn).
pub fn quiet_end(t: DateTime<Utc>, quiet: QuietHours, zone: Zone) -> DateTime<Utc> {
    let (date, minute) = zone.local(t);
    if !quiet.contains(minute) {
        return t;
    }
    let at = zone.at(date, quiet.end);
    if at > t {
        return at;
    }
    match date.succ_opt() {
        Some(next) => zone.at(next, quiet.end),
        None => t,
    }
}

/// The most recent digest time at or before `now` for a rule, on `zone`'s clock: `hourly` at
/// `digest_at`'s minute past each hour, `daily` at `digest_at`.
pub fn digest_slot(rule: &AlertRule, now: DateTime<Utc>, zone: Zone) -> DateTime<Utc> {
    let at = rule.digest_at;
    let (date, minute) = zone.local(now);
    match rule.digest {
        DigestEvery::Hourly => {
            // Moving within the local hour moves the instant by the same amount.
            let base = now
                .with_second(0)
                .and_then(|d| d.with_nanosecond(0))
                .unwrap_or(now);
            let slot =
                base + chrono::Duration::minutes(i64::from(at.minute()) - i64::from(minute % 60));
            if slot > now {
                slot - chrono::Duration::hours(1)
            } else {
                slot
            }
        }
        DigestEvery::Daily => {
            let slot = zone.at(date, at);
            if slot <= now {
                return slot;
            }
            match date.pred_opt() {
                Some(before) => zone.at(before, at),
                None => slot,
            }
        }
    }
}

/// Whether a rule matches a flagged item: severity, source and watch terms on the item, and at
/// least one verdict of a listed kind and label, scoring at least `min_score`, about a listed
/// identity.
pub fn rule_matches(rule: &AlertRule, item: &Item, result: &ClassifyResult) -> bool {
    if !result.flagged || result.severity < rule.min_severity {
        return false;
    }
    if !rule.sources.is_empty() && !rule.sources.iter().any(|s| s == &item.source.name) {
        return false;
    }
    if !rule.terms.is_empty() {
        let text = item.full_text().to_lowercase();
        let hit = rule.terms.iter().any(|t| {
            item.matched_terms.iter().any(|m| m.eq_ignore_ascii_case(t))
                || text.contains(&t.to_lowercase())
        });
        if !hit {
            return false;
        }
    }
    result
        .verdicts
        .iter()
        .filter(|v| !v.is_weak_only())
        .any(|v| {
            (rule.kinds.is_empty() || rule.kinds.contains(&v.kind))
                && (rule.labels.is_empty() || rule.labels.contains(&v.label))
                && rule.min_score.is_none_or(|m| v.score >= m)
                && (rule.identities.is_empty()
                    || v.evidence
                        .get("identity")
                        .and_then(|i| i.as_str())
                        .is_some_and(|i| rule.identities.iter().any(|r| r == i)))
        })
}

/// A verdict score from which it counts as strong enough to name the incident.
const GROUPING_FLOOR: f32 = 0.5;

/// The verdict an item's incident is about: among its strong verdicts (not a weak signal,
/// score at least [`GROUPING_FLOOR`]), the one carrying the most stable grouping evidence
/// ([`GROUP_KEYS`]; the higher score between equals), else the top verdict. So the
/// same page reported twice with different notes joins one incident even when a narrative
/// outscores its lookalike domain in one report and not in the other.
fn grouping_verdict(result: &ClassifyResult) -> Option<&Verdict> {
    let rank = |v: &Verdict| GROUP_KEYS.iter().position(|k| v.evidence.get(*k).is_some());
    result
        .verdicts
        .iter()
        .filter(|v| !v.is_weak_only() && v.score >= GROUPING_FLOOR)
        .filter_map(|v| Some((rank(v)?, v)))
        .min_by(|(ra, a), (rb, b)| ra.cmp(rb).then(b.score.total_cmp(&a.score)))
        .map(|(_, v)| v)
        .or_else(|| top_verdict(result))
}

/// The highest-scoring verdict.
fn top_verdict(result: &ClassifyResult) -> Option<&Verdict> {
    // A weak signal that did not flag the item by itself does not title its incident.
    result.verdicts.iter().max_by(|a, b| {
        (!a.is_weak_only())
            .cmp(&!b.is_weak_only())
            .then(a.score.total_cmp(&b.score))
    })
}

/// The near-duplicate key of a verdict: its label and the first grouping evidence it carries.
pub fn group_key(v: &Verdict) -> Option<String> {
    GROUP_KEYS.iter().find_map(|k| {
        let value = v.evidence.get(*k)?;
        let value = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        Some(format!("{}|{k}={value}", v.label))
    })
}

fn incident_title(v: &Verdict) -> String {
    let what = GROUP_KEYS
        .iter()
        .find_map(|k| v.evidence.get(*k).and_then(|x| x.as_str()))
        .map(|x| format!(": {x}"))
        .unwrap_or_default();
    format!("{}{what}", v.label.replace('_', " "))
}

/// The first `max` characters of an item's text (or title), cut at a word.
pub fn excerpt(item: &Item, max: usize) -> String {
    let text = item
        .text
        .as_deref()
        .or(item.title.as_deref())
        .unwrap_or("")
        .trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{cut}…")
}

mod burst;

#[cfg(test)]
mod tests;
