//! The connection to the mail server, with a byte budget per IMAP answer: what bounds the IMAP
//! client's buffer whatever the server sends.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll as TaskPoll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::fetcher::BoxedConnection;

/// How many more bytes the server may send before the next command refills it: what bounds
/// the IMAP client's buffer (it would otherwise grow to 512 MiB for one answer).
#[derive(Debug, Clone, Default)]
pub(super) struct Budget(Arc<AtomicU64>);

impl Budget {
    /// Allows `bytes` more from now on (replacing what was left).
    pub(super) fn refill(&self, bytes: u64) {
        self.0.store(bytes, Ordering::Relaxed);
    }
}

/// The connection to the mail server, counting what it reads against a [`Budget`].
pub(super) struct Wire {
    inner: BoxedConnection,
    budget: Budget,
}

impl Wire {
    pub(super) fn new(inner: BoxedConnection, budget: &Budget) -> Wire {
        Wire {
            inner,
            budget: budget.clone(),
        }
    }

    pub(super) fn into_inner(self) -> BoxedConnection {
        self.inner
    }
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("budget", &self.budget.0.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> TaskPoll<std::io::Result<()>> {
        let left = self.budget.0.load(Ordering::Relaxed);
        if left == 0 {
            return TaskPoll::Ready(Err(std::io::Error::other(
                "the server sent more than Ballotwatch reads for one answer (one message: \
                 [ingest] max_response_size and 64 KiB; one UID list: 4 MiB)",
            )));
        }
        // One read may go past what is left by at most the free room of the client's buffer
        // (itself grown within earlier budgets); the next read then fails.
        let before = buf.filled().len();
        let result = self.inner.as_mut().poll_read(cx, buf);
        let got = (buf.filled().len() - before) as u64;
        self.budget
            .0
            .store(left.saturating_sub(got), Ordering::Relaxed);
        result
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> TaskPoll<std::io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> TaskPoll<std::io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> TaskPoll<std::io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}
