//! Dead letters: what a stage gave up on, handed to the pipeline for quarantine, and the
//! monitor that turns JetStream's MAX_DELIVERIES advisories (a worker that died on every
//! attempt) into dead letters.

use super::*;

/// The dead letters of every stage, for the pipeline to turn into quarantine entries.
#[derive(Debug)]
pub struct DeadLetters {
    pub(super) consumer: PullConsumer,
}

/// A dead letter handed out: acknowledge it once its quarantine entry is committed.
#[derive(Debug)]
pub struct DeadLetterDelivery {
    letter: DeadLetter,
    message: Message,
}

impl DeadLetterDelivery {
    /// The dead letter.
    pub fn letter(&self) -> &DeadLetter {
        &self.letter
    }

    /// The quarantine entry is committed: the letter is removed.
    pub async fn ack(self) -> Result<(), ClusterError> {
        self.message
            .double_ack()
            .await
            .map_err(|e| ClusterError::nats("ack dead letter", e))
    }
}

impl DeadLetters {
    /// Up to `max` dead letters, waiting up to `wait` for the first.
    pub async fn next_batch(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<DeadLetterDelivery>, ClusterError> {
        let mut out = Vec::new();
        for message in fetch(&self.consumer, max, wait).await? {
            match serde_json::from_slice::<DeadLetter>(&message.payload) {
                Ok(letter) => out.push(DeadLetterDelivery { letter, message }),
                Err(e) => {
                    warn!(error = %e, "an unreadable dead letter; dropped");
                    message
                        .double_ack()
                        .await
                        .map_err(|e| ClusterError::nats("ack dead letter", e))?;
                }
            }
        }
        Ok(out)
    }
}

/// A JetStream MAX_DELIVERIES advisory.
#[derive(Debug, Deserialize)]
struct MaxDeliveries {
    stream: String,
    stream_seq: u64,
    deliveries: u64,
}

/// Turns JetStream's MAX_DELIVERIES advisories (a message delivered `max_deliver` times and
/// never acknowledged: a worker that dies or hangs on it every time) into dead letters.
#[derive(Debug)]
pub struct DeadLetterMonitor {
    pub(super) cluster: Cluster,
    pub(super) consumer: PullConsumer,
}

impl DeadLetterMonitor {
    /// Handles the advisories that arrive within `wait`; returns how many dead letters it filed.
    pub async fn run_once(&self, wait: Duration) -> Result<usize, ClusterError> {
        let mut filed = 0;
        for message in fetch(&self.consumer, 64, wait).await? {
            if self.handle(&message.payload).await? {
                filed += 1;
            }
            message
                .double_ack()
                .await
                .map_err(|e| ClusterError::nats("ack advisory", e))?;
        }
        Ok(filed)
    }

    /// Runs until the task is dropped or aborted.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.run_once(Duration::from_secs(5)).await {
                warn!(error = %e, "dead-letter monitor");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn handle(&self, payload: &[u8]) -> Result<bool, ClusterError> {
        let advisory: MaxDeliveries = match serde_json::from_slice(payload) {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "an unreadable advisory; dropped");
                return Ok(false);
            }
        };
        let Some(stage) = Stage::ALL
            .into_iter()
            .find(|s| self.cluster.names(*s).stream == advisory.stream)
        else {
            return Ok(false);
        };
        let names = self.cluster.names(stage);
        let stream = get_stream(&self.cluster.js, &names.stream).await?;
        let original = match stream.get_raw_message(advisory.stream_seq).await {
            Ok(m) => m,
            Err(e) => {
                // Already acknowledged late, or dead-lettered by the worker itself.
                debug!(error = %e, seq = advisory.stream_seq, "advised message is gone");
                return Ok(false);
            }
        };
        let settings = self.cluster.settings(stage);
        let shared = Shared {
            cluster: self.cluster.clone(),
            stage,
            names,
            settings,
            work_queue: stage != Stage::IndexFeed,
        };
        let letter = DeadLetter {
            stage: stage.name().to_string(),
            stream_sequence: advisory.stream_seq,
            deliveries: advisory.deliveries,
            reason: format!(
                "delivered {} times and never acknowledged (max_deliver {}): the worker died, hung \
                 or timed out on every attempt",
                advisory.deliveries, settings.max_deliver
            ),
            message: payload_value(&original.payload),
            node: None,
            at_unix_ms: now_ms(),
        };
        shared.dead_letter(&letter).await?;
        if shared.work_queue {
            stream
                .delete_message(advisory.stream_seq)
                .await
                .map_err(|e| ClusterError::nats("remove dead-lettered message", e))?;
        }
        info!(stage = %stage, seq = advisory.stream_seq, "dead-lettered after max deliveries");
        Ok(true)
    }
}
