//! Waiting for new reports with IMAP `IDLE` (RFC 2177) between polls: the server tells the
//! source as soon as a message arrives, so a report is read within seconds instead of at the
//! next poll.
//!
//! One connection, logged in like a poll's, opens the folder read-only (`EXAMINE`), checks that
//! nothing arrived since the poll that left the cursor, and sends `IDLE`. Any `EXISTS` or
//! `RECENT` the server sends ends the wait ([`Wait::News`]); other news (flags changed by
//! someone reading the inbox, a keep-alive) is let pass. `IDLE` is ended and sent again every
//! [`RENEW`], well inside the 29 minutes after which a server may log an idle client off. A
//! server that does not advertise `IDLE` is remembered, and the source only polls from then on
//! ([`Wait::Unsupported`]). The caller may drop the wait at any point (shutdown): the
//! connection is then simply closed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response};
use tokio::time::Instant;

use super::source::{batch, resume, ImapSource, ImapState, FRAMING, LIST_BUDGET};
use super::wire::{Budget, Wire};
use crate::sources::common::load_state;
use crate::sources::{Cursor, PollContext, SourceError, Wait};

/// How long one `IDLE` runs before it is ended and sent again (servers may log a client off
/// after 29 minutes of `IDLE`, RFC 2177).
pub const RENEW: Duration = Duration::from_secs(25 * 60);

/// Whether one answer received during `IDLE` says that a message arrived.
pub fn is_arrival(response: &Response<'_>) -> bool {
    matches!(
        response,
        Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
    )
}

impl ImapSource {
    /// Waits in `IDLE` up to `max` for a message after the cursor's.
    pub(super) async fn idle(
        &self,
        ctx: &PollContext,
        cursor: &Cursor,
        max: Duration,
    ) -> Result<Wait, SourceError> {
        if self.no_idle.load(Ordering::Relaxed) {
            return Ok(Wait::Unsupported);
        }
        let deadline = Instant::now() + max;
        let budget = Budget::default();
        let session = self.open(ctx, &budget).await?;
        let (wait, session) = self
            .idle_session(ctx, session, &budget, cursor, deadline)
            .await?;
        logout(session, &budget).await;
        Ok(wait)
    }

    /// The wait on a logged-in session, and the session back to log out.
    async fn idle_session(
        &self,
        ctx: &PollContext,
        mut session: async_imap::Session<Wire>,
        budget: &Budget,
        cursor: &Cursor,
        deadline: Instant,
    ) -> Result<(Wait, async_imap::Session<Wire>), SourceError> {
        budget.refill(LIST_BUDGET);
        let capabilities = self.step(ctx, "CAPABILITY", session.capabilities()).await?;
        if !capabilities.has_str("IDLE") {
            tracing::info!(
                source = %self.name,
                "the server does not offer IDLE; reading the inbox at each poll only"
            );
            self.no_idle.store(true, Ordering::Relaxed);
            return Ok((Wait::Unsupported, session));
        }
        let folder = self.cfg.folder.as_str();
        budget.refill(LIST_BUDGET);
        let mailbox = self
            .step(
                ctx,
                &format!("opening folder `{folder}`"),
                session.examine(folder),
            )
            .await?;
        // A message that arrived after the last poll's search and before this EXAMINE is
        // announced by no EXISTS: look for it first (a renumbered folder is news too).
        let state: ImapState = load_state(&self.name, cursor.state.as_ref());
        let Some(uid_validity) = mailbox.uid_validity else {
            return Ok((Wait::News, session));
        };
        let start = resume(&state, folder, uid_validity);
        if start.note.is_some() {
            return Ok((Wait::News, session));
        }
        if let Some(first) = start.after.checked_add(1) {
            budget.refill(LIST_BUDGET);
            let found = self
                .step(
                    ctx,
                    "UID SEARCH",
                    session.uid_search(format!("UID {first}:*")),
                )
                .await?;
            if !batch(found, start.after, 1).is_empty() {
                return Ok((Wait::News, session));
            }
        }
        tracing::info!(source = %self.name, folder, "waiting in IDLE for new reports");
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok((Wait::Quiet, session));
            }
            let slice = (deadline - now).min(RENEW);
            budget.refill(FRAMING);
            let mut handle = session.idle();
            self.step(ctx, "IDLE", handle.init()).await?;
            let arrived = {
                let (answers, _interrupt) = handle.wait_with_timeout(slice);
                // The handle's own timeout restarts at every keep-alive: this one does not.
                match tokio::time::timeout(slice, answers).await {
                    Err(_) | Ok(Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt)) => false,
                    Ok(Ok(IdleResponse::NewData(data))) => is_arrival(data.parsed()),
                    Ok(Err(e)) => return Err(self.imap_error("IDLE", e)),
                }
            };
            budget.refill(FRAMING);
            session = self.step(ctx, "ending IDLE", handle.done()).await?;
            if arrived {
                tracing::debug!(source = %self.name, "a message arrived during IDLE");
                return Ok((Wait::News, session));
            }
        }
    }
}

/// Logs out within a few seconds, or gives up (the connection is closed either way).
async fn logout(mut session: async_imap::Session<Wire>, budget: &Budget) {
    budget.refill(FRAMING);
    let bye = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
    if !matches!(bye, Ok(Ok(()))) {
        tracing::debug!("LOGOUT after IDLE was not answered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &[u8]) -> Response<'_> {
        match Response::parse(line) {
            Ok((_, r)) => r,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn only_an_arrival_ends_the_wait() {
        assert!(is_arrival(&parsed(b"* 4 EXISTS\r\n")));
        assert!(is_arrival(&parsed(b"* 1 RECENT\r\n")));
        // Someone read a message in the inbox, a keep-alive, a message removed.
        assert!(!is_arrival(&parsed(b"* 3 FETCH (FLAGS (\\Seen))\r\n")));
        assert!(!is_arrival(&parsed(b"* OK Still here\r\n")));
        assert!(!is_arrival(&parsed(b"* 2 EXPUNGE\r\n")));
    }

    #[test]
    fn idle_is_renewed_inside_the_servers_29_minutes() {
        assert!(RENEW < Duration::from_secs(29 * 60));
    }
}
