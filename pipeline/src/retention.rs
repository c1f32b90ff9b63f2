//! The reporter retention sweep: who sent a report in (a resident's mail address, a user's
//! name) is personal data, kept `[reports] reporter_retention_days` and then replaced by
//! "(removed after N days)" ([`ballotwatch_store::Store::remove_old_reporters`], audited). It
//! runs once in every `ingest --once` and daily in `serve`.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::{Pipeline, Result};

/// How often `serve` sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

impl Pipeline {
    /// Removes the reporters past retention; returns how many.
    pub async fn sweep_reporters(&self) -> Result<u64> {
        let days = self.config.reports.reporter_retention_days;
        let removed = self
            .blocking(move |s| Ok(s.remove_old_reporters(days, Utc::now())?))
            .await?;
        if removed > 0 {
            tracing::info!(
                removed,
                days,
                "removed the reporters of reports older than [reports] reporter_retention_days"
            );
        }
        Ok(removed)
    }

    /// Sweeps at start and then daily until `stop`; a failed sweep is logged and tried again
    /// at the next.
    pub(crate) async fn retention_loop(&self, stop: CancellationToken) {
        loop {
            let swept = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.sweep_reporters() => r,
            };
            if let Err(e) = swept {
                tracing::warn!(error = %crate::full_message(&e), "the reporter retention sweep failed; it runs again tomorrow");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
            }
        }
    }
}
