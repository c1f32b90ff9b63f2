//! The gate a [`Fetcher`](super::Fetcher) passes every response body and real-time message
//! through before a source parses it (the pipeline's quarantine), and why it may refuse one.

use ballotwatch_core::Capture;

/// Why a [`ResponseGate`] refused a response or a real-time message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateRefusal {
    /// Parsing these bytes did not finish in `attempts` tries (each ended the process), so
    /// they are quarantined rather than parsed again; their bytes are kept.
    #[error(
        "this {what} (sha256 {sha256}) is quarantined: parsing it did not finish in {attempts} \
         attempts; its bytes are kept; see `ballotwatch quarantine list`, then `retry` or `drop`"
    )]
    Quarantined {
        /// What was refused: "response" or "message".
        what: &'static str,
        /// The SHA-256 of its bytes, as `quarantine list` shows it.
        sha256: String,
        /// `[limits] quarantine_after`.
        attempts: u32,
    },
    /// The gate could not record that these bytes were about to be parsed, so it would not be
    /// able to quarantine them if parsing them ended the process.
    #[error("recording the parse of this {what} failed: {message}")]
    NotRecorded {
        /// What was refused: "response" or "message".
        what: &'static str,
        /// The store's error.
        message: String,
    },
}

/// Sees every feed or API response body ([`Fetcher::get`](super::Fetcher::get), [`Fetcher::get_with_bearer`](super::Fetcher::get_with_bearer); not
/// media) after it is fetched and before the source parses it, and may refuse it; and every
/// message of a real-time stream ([`Fetcher::admit_message`](super::Fetcher::admit_message)) before its source parses it. The
/// pipeline uses it to record that a response or message is about to be parsed, so that one
/// whose parsing kills the process is quarantined instead of fetched and parsed again for ever.
#[async_trait::async_trait]
pub trait ResponseGate: Send + Sync {
    /// `Ok` lets the source parse `body`; `Err(reason)` makes the fetch fail with
    /// [`FetchError::Refused`](super::FetchError::Refused).
    async fn admit(&self, capture: &Capture, body: &[u8]) -> Result<(), GateRefusal>;

    /// A real-time message about to be parsed: `Ok` lets the source parse it, `Err(reason)`
    /// makes it skip the message (keeping its bytes with its batch and reporting the reason).
    /// Called for every message, so it must be cheap. The default lets every message through.
    fn admit_message(&self, _message: &[u8]) -> Result<(), GateRefusal> {
        Ok(())
    }

    /// The source finished parsing a message [`ResponseGate::admit_message`] let through.
    fn parsed_message(&self, _message: &[u8]) {}
}
