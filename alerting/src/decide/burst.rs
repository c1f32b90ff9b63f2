//! What to queue when a burst of reports raised an incident's severity (issue 19; the store's
//! `record_report_burst` records the burst and queues this plan in the same transaction).

use ballotwatch_store::{Burst, StoredItem};

use super::*;

impl Decider {
    /// The messages and digest entries for burst `burst` of incident `ctx` (reported through
    /// item `s`): the configured rules are applied as for a sighting of `s` at the raised
    /// severity, so a rule whose `min_severity` the incident now reaches alerts for the first
    /// time, and a rule that already alerted sends one update keyed by the burst
    /// (`alert:{incident}:{rule}:{channel}:burst:{n}`), so the burst is announced once.
    pub fn plan_burst(
        &self,
        s: &StoredItem,
        ctx: &IncidentContext,
        burst: &Burst,
        within: Duration,
    ) -> AlertPlan {
        let Some(result) = s.result.as_ref() else {
            return AlertPlan::default();
        };
        let mut raised = result.clone();
        raised.severity = raised.severity.max(burst.to);
        let stored = StoredItem {
            result: Some(raised.clone()),
            ..s.clone()
        };
        let Some((_, mut base)) = self.sighting(&stored) else {
            return AlertPlan::default();
        };
        base.excerpt = format!(
            "Reported {} times within {} minutes: severity raised from {} to {}.\n\n{}",
            burst.reports,
            within.as_secs().div_ceil(60),
            burst.from,
            burst.to,
            base.excerpt
        );
        let mut plan = self.plan(&s.item, Some(&raised), ctx, &base, Utc::now());
        let id = ctx.incident.id;
        for m in &mut plan.outbox {
            if m.kind == OutboxKind::Update {
                m.idempotency_key =
                    format!("alert:{id}:{}:{}:burst:{}", m.rule, m.channel, burst.number);
            }
        }
        plan
    }
}
