//! Polling the report inbox over IMAP: connect (implicit TLS or `STARTTLS`, never a plain
//! login), log in (`LOGIN` with a password, or `AUTHENTICATE XOAUTH2` with an OAuth 2.0
//! client-credentials token), open the folder, read the messages after the cursor's UID (at most
//! `max_messages`, each at most `[ingest] max_response_size` by its `RFC822.SIZE`), and keep
//! `UIDVALIDITY` and the last UID read as the cursor.
//!
//! Messages are fetched with `BODY.PEEK[]`, so their `\Seen` flag is left to the people who read
//! the inbox. With `move_to`, the messages a previous poll read are moved at the start of the
//! next poll: by then their items are stored (the caller keeps the cursor only once the poll is
//! recorded), so a crash can never move a message that was not stored.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_imap::error::Error as ImapError;
use ballotwatch_core::{sha256_hex, Capture, Media};
use chrono::Utc;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use url::Url;

use super::config::{Acknowledge, ImapConfig, Tls};
use super::login::{Secret, XOAuth2};
use super::wire::{Budget, Wire};
use super::{read_message, redact_reporter, MessageError};
use crate::fetcher::FetchError;
use crate::sources::common::{load_state, quote};
use crate::sources::{Cursor, Poll, PollContext, Source, SourceError, Wait};

/// Room for the IMAP framing around one message's bytes in a `FETCH` answer.
pub(super) const FRAMING: u64 = 64 * 1024;
/// What one `UID SEARCH` or size `FETCH` answer may hold: about 500,000 UIDs, so a first poll
/// of a folder holding more fails, saying so, rather than buffering without bound.
pub(super) const LIST_BUDGET: u64 = 4 << 20;

/// A report inbox source (`kind = "imap"`).
pub struct ImapSource {
    pub(super) name: String,
    pub(super) cfg: ImapConfig,
    pub(super) url: Url,
    /// The XOAUTH2 access token and when to stop using it (`token_url` only).
    pub(super) token: Mutex<Option<(String, Instant)>>,
    /// Set once the server was seen without `IDLE`: the source then only polls.
    pub(super) no_idle: std::sync::atomic::AtomicBool,
}

/// What the cursor keeps: the folder's `UIDVALIDITY` and the highest UID read under it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImapState {
    /// The folder's `UIDVALIDITY` when `last_uid` was read; `None` before the first poll.
    pub uid_validity: Option<u32>,
    /// The highest UID read (stored, or skipped with a reason); 0 before the first message.
    pub last_uid: u32,
}

/// Where a poll starts, from the cursor and the folder's `UIDVALIDITY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Read the messages with a UID above this.
    pub after: u32,
    /// The UIDs up to this were read by earlier polls (and stored): with `move_to`, they are
    /// moved now. `None` when there are none, or when the folder was renumbered.
    pub read_up_to: Option<u32>,
    /// Why the poll starts over, for the source's health (the folder was renumbered).
    pub note: Option<String>,
}

/// Where to start reading `folder`, whose `UIDVALIDITY` is now `uid_validity`, after `state`.
/// A changed `UIDVALIDITY` means the server renumbered the folder: the old UIDs mean nothing
/// any more, so the folder's current messages are read from the start (their items keep their
/// ids, so those already stored are not stored twice).
pub fn resume(state: &ImapState, folder: &str, uid_validity: u32) -> Resume {
    match state.uid_validity {
        Some(old) if old != uid_validity => Resume {
            after: 0,
            read_up_to: None,
            note: Some(format!(
                "the server renumbered folder `{folder}` (UIDVALIDITY {old} → {uid_validity}); \
                 reading its current messages again from the first (a report already stored is \
                 not stored twice when it has a Message-ID)"
            )),
        },
        _ => Resume {
            after: state.last_uid,
            read_up_to: (state.uid_validity.is_some() && state.last_uid > 0)
                .then_some(state.last_uid),
            note: None,
        },
    }
}

/// The UIDs of this poll: those in `found` above `after`, lowest first, at most `max`.
pub fn batch(found: impl IntoIterator<Item = u32>, after: u32, max: u32) -> Vec<u32> {
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > after).collect();
    uids.sort_unstable();
    uids.dedup();
    uids.truncate(max as usize);
    uids
}

impl ImapSource {
    /// The source for the `[[source]]` entry `name` with keys `cfg`.
    pub fn new(name: &str, cfg: &ImapConfig) -> ImapSource {
        use crate::sources::config::KindConfig;
        ImapSource {
            name: name.to_string(),
            url: cfg.url().clone(),
            cfg: cfg.clone(),
            token: Mutex::new(None),
            no_idle: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A setup error of this source.
    pub(super) fn setup(&self, message: String) -> SourceError {
        SourceError::Setup {
            source_name: self.name.clone(),
            url: self.url.to_string(),
            message,
        }
    }

    fn connect_error(&self, message: String) -> SourceError {
        SourceError::Fetch {
            source_name: self.name.clone(),
            error: FetchError::Connect {
                url: self.url.to_string(),
                message,
            },
        }
    }

    /// An IMAP failure during `what`, with what to check.
    pub(super) fn imap_error(&self, what: &str, e: ImapError) -> SourceError {
        let address = self.cfg.address();
        match e {
            ImapError::Io(_) | ImapError::ConnectionLost => self.connect_error(format!(
                "the connection to {address} broke during {what} ({e}); check that the mail \
                 server is up and reachable"
            )),
            ImapError::No(text) | ImapError::Bad(text) => SourceError::Payload {
                source_name: self.name.clone(),
                url: self.url.to_string(),
                what: "IMAP answer",
                message: format!("the server refused {what}: {}", server_words(&text)),
            },
            other => SourceError::Payload {
                source_name: self.name.clone(),
                url: self.url.to_string(),
                what: "IMAP answer",
                message: format!("{what}: {other}"),
            },
        }
    }

    /// Runs one IMAP step within `[ingest] timeout`.
    pub(super) async fn step<T>(
        &self,
        ctx: &PollContext,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, ImapError>>,
    ) -> Result<T, SourceError> {
        let after = ctx.fetcher.timeout();
        match tokio::time::timeout(after, fut).await {
            Ok(r) => r.map_err(|e| self.imap_error(what, e)),
            Err(_) => Err(SourceError::Fetch {
                source_name: self.name.clone(),
                error: FetchError::Timeout {
                    url: self.url.to_string(),
                    after,
                },
            }),
        }
    }

    /// Connects, secures the connection and logs in.
    pub(super) async fn open(
        &self,
        ctx: &PollContext,
        budget: &Budget,
    ) -> Result<async_imap::Session<Wire>, SourceError> {
        let secret = self.secret(ctx).await?;
        let roots = self.roots()?;
        let address = self.cfg.address();
        let hint = match self.cfg.tls {
            Tls::Implicit => "tls = \"implicit\" (IMAPS) is usually port 993",
            Tls::Starttls => "tls = \"starttls\" is usually port 143",
        };
        let fetch_error = |error: FetchError| match error {
            FetchError::Connect { url, message } => SourceError::Fetch {
                source_name: self.name.clone(),
                error: FetchError::Connect {
                    url,
                    message: format!(
                        "cannot reach {address}: {message}; check host and port ({hint}), and \
                         that the mail server is up"
                    ),
                },
            },
            error => SourceError::Fetch {
                source_name: self.name.clone(),
                error,
            },
        };
        let tcp = ctx
            .fetcher
            .connect_tcp(&self.url, self.cfg.port())
            .await
            .map_err(fetch_error)?;
        budget.refill(FRAMING);
        let client = match self.cfg.tls {
            Tls::Implicit => {
                let tls = ctx
                    .fetcher
                    .start_tls(&self.url, tcp, roots)
                    .await
                    .map_err(fetch_error)?;
                let mut client = async_imap::Client::new(Wire::new(Box::pin(tls), budget));
                self.greeting(ctx, &mut client).await?;
                client
            }
            Tls::Starttls => {
                let mut plain = async_imap::Client::new(Wire::new(Box::pin(tcp), budget));
                self.greeting(ctx, &mut plain).await?;
                self.step(
                    ctx,
                    "STARTTLS",
                    plain.run_command_and_check_ok("STARTTLS", None),
                )
                .await
                .map_err(|e| {
                    self.setup(format!(
                        "{address} did not start TLS ({e}); check tls: a server that only \
                         speaks IMAPS wants tls = \"implicit\" (usually port 993)"
                    ))
                })?;
                // Whatever the server sent before the handshake is dropped with the plain
                // client: only what arrives over TLS is read.
                let stream = plain.into_inner().into_inner();
                let tls = ctx
                    .fetcher
                    .start_tls(&self.url, stream, roots)
                    .await
                    .map_err(fetch_error)?;
                async_imap::Client::new(Wire::new(Box::pin(tls), budget))
            }
        };
        let after = ctx.fetcher.timeout();
        let user = self.cfg.username.as_str();
        let (how, login) = match &secret {
            Secret::Password(password) => (
                "LOGIN",
                tokio::time::timeout(after, client.login(user, password.as_str())).await,
            ),
            Secret::Token(token) => (
                "XOAUTH2",
                tokio::time::timeout(
                    after,
                    client.authenticate("XOAUTH2", XOAuth2::new(user, token)),
                )
                .await,
            ),
        };
        let login = login.map_err(|_| SourceError::Fetch {
            source_name: self.name.clone(),
            error: FetchError::Timeout {
                url: self.url.to_string(),
                after,
            },
        })?;
        login.map_err(|(e, _)| match e {
            ImapError::No(text) | ImapError::Bad(text) => {
                let check = match &secret {
                    Secret::Password(_) => format!(
                        "check username and the password in `{}`",
                        self.cfg.password_env.as_deref().unwrap_or_default()
                    ),
                    Secret::Token(_) => {
                        // A refused token is fetched again next time.
                        if let Ok(mut cached) = self.token.lock() {
                            *cached = None;
                        }
                        "check username and that the OAuth 2.0 app may open this mailbox over \
                         IMAP (Microsoft 365: the IMAP.AccessAsApp permission and the mailbox \
                         granted to the app's service principal)"
                            .to_string()
                    }
                };
                self.setup(format!(
                    "{address} refused the {how} of `{user}` ({}); {check}",
                    server_words(&text)
                ))
            }
            other => self.imap_error(how, other),
        })
    }

    /// Reads the server's greeting.
    async fn greeting(
        &self,
        ctx: &PollContext,
        client: &mut async_imap::Client<Wire>,
    ) -> Result<(), SourceError> {
        let greeting = self
            .step(ctx, "the greeting", async {
                client.read_response().await.map_err(ImapError::Io)
            })
            .await?;
        match greeting {
            Some(_) => Ok(()),
            None => Err(self.connect_error(format!(
                "{} closed the connection before greeting; check that it is an IMAP server and \
                 that tls matches the port",
                self.cfg.address()
            ))),
        }
    }

    async fn poll_session(
        &self,
        ctx: &PollContext,
        session: &mut async_imap::Session<Wire>,
        budget: &Budget,
        state: &ImapState,
    ) -> Result<Poll, SourceError> {
        let folder = self.cfg.folder.as_str();
        budget.refill(LIST_BUDGET);
        let what = format!("opening folder `{folder}`");
        let mailbox = if self.cfg.move_to.is_some() {
            self.step(ctx, &what, session.select(folder)).await?
        } else {
            self.step(ctx, &what, session.examine(folder)).await?
        };
        let Some(uid_validity) = mailbox.uid_validity else {
            return Err(SourceError::Payload {
                source_name: self.name.clone(),
                url: self.url.to_string(),
                what: "IMAP answer",
                message: format!(
                    "the server gave no UIDVALIDITY for `{folder}`, so messages cannot be \
                     followed by UID"
                ),
            });
        };
        let start = resume(state, folder, uid_validity);
        let mut poll = Poll::default();
        if let Some(note) = &start.note {
            tracing::warn!(source = %self.name, "{note}");
            poll.dropped.push(note.clone());
        }
        if let (Some(to), Some(up_to)) = (&self.cfg.move_to, start.read_up_to) {
            budget.refill(LIST_BUDGET);
            let what = format!("moving the messages read to `{to}`");
            if let Err(e) = self
                .step(ctx, &what, session.uid_mv(format!("1:{up_to}"), to))
                .await
            {
                if matches!(e, SourceError::Fetch { .. }) {
                    return Err(e);
                }
                poll.dropped.push(format!(
                    "{e}; check that move_to names an existing folder and that the server \
                     supports MOVE (the messages stay in `{folder}` and are not read twice)"
                ));
            }
        }
        let mut next = ImapState {
            uid_validity: Some(uid_validity),
            last_uid: start.after,
        };
        let Some(first) = start.after.checked_add(1) else {
            poll.state = serde_json::to_value(&next).ok();
            return Ok(poll);
        };
        budget.refill(LIST_BUDGET);
        let found = self
            .step(
                ctx,
                "UID SEARCH",
                session.uid_search(format!("UID {first}:*")),
            )
            .await?;
        let uids = batch(found, start.after, self.cfg.max_messages);
        if !uids.is_empty() {
            let sizes = self.sizes(ctx, session, budget, &uids).await?;
            let max_size = ctx.fetcher.max_size();
            for uid in uids {
                let key = format!("{uid_validity}/{uid}");
                match sizes.iter().find(|(u, _)| *u == uid).map(|(_, s)| *s) {
                    None => {
                        // Gone since the search (moved or deleted by someone else).
                        poll.dropped.push(format!(
                            "UID {uid}: the message was removed from `{folder}` before it could \
                             be read"
                        ));
                    }
                    Some(size) if u64::from(size) > max_size => {
                        poll.dropped.push(format!(
                            "UID {uid}: the message is {size} bytes, over [ingest] \
                             max_response_size ({max_size} bytes); it was not fetched (read it in \
                             the mailbox)"
                        ));
                    }
                    Some(_) => {
                        let raw = self.message(ctx, session, budget, uid, max_size).await?;
                        self.record(ctx, &mut poll, uid_validity, uid, &key, raw)
                            .await;
                    }
                }
                next.last_uid = uid;
            }
        }
        poll.state = serde_json::to_value(&next).ok();
        Ok(poll)
    }

    /// The `RFC822.SIZE` of each message in `uids`.
    async fn sizes(
        &self,
        ctx: &PollContext,
        session: &mut async_imap::Session<Wire>,
        budget: &Budget,
        uids: &[u32],
    ) -> Result<Vec<(u32, u32)>, SourceError> {
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        budget.refill(LIST_BUDGET);
        self.step(ctx, "reading message sizes", async {
            let mut out = Vec::with_capacity(uids.len());
            let mut answers = session.uid_fetch(&set, "(UID RFC822.SIZE)").await?;
            while let Some(f) = answers.try_next().await? {
                if let (Some(uid), Some(size)) = (f.uid, f.size) {
                    if uids.contains(&uid) && out.len() < uids.len() {
                        out.push((uid, size));
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// The raw bytes of message `uid` (at most `max_size`, with `BODY.PEEK[]`: not marked seen).
    async fn message(
        &self,
        ctx: &PollContext,
        session: &mut async_imap::Session<Wire>,
        budget: &Budget,
        uid: u32,
        max_size: u64,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        budget.refill(max_size.saturating_add(FRAMING));
        self.step(ctx, &format!("fetching UID {uid}"), async {
            let mut raw = None;
            let mut answers = session
                .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                .await?;
            while let Some(f) = answers.try_next().await? {
                if raw.is_none() && f.uid == Some(uid) {
                    raw = f.body().map(<[u8]>::to_vec);
                }
            }
            Ok(raw)
        })
        .await
    }

    /// One poll: log in, read what is new, log out.
    async fn poll_once(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let state: ImapState = load_state(&self.name, cursor.state.as_ref());
        let budget = Budget::default();
        let mut session = self.open(ctx, &budget).await?;
        let result = self.poll_session(ctx, &mut session, &budget, &state).await;
        budget.refill(FRAMING);
        let bye = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
        if !matches!(bye, Ok(Ok(()))) {
            tracing::debug!(source = %self.name, "LOGOUT was not answered");
        }
        result
    }

    /// Captures the pages the message links to, as a reported link is captured
    /// ([`crate::sources::report::capture_page`]: the fetcher's SSRF guard and caps; a login
    /// or cookie wall recorded as such): the first [`super::MAX_LINKED_PAGES`] links, each
    /// answer a capture of this poll, each page's text joining the report's, and the first
    /// captured page the item's `url` (so a flagged report's page is screenshotted like any
    /// flagged item's). A link that cannot be captured is named in the poll's dropped list.
    async fn capture_linked_pages(
        &self,
        ctx: &PollContext,
        poll: &mut Poll,
        uid: u32,
        item: &mut ballotwatch_core::Item,
    ) {
        let links: Vec<Url> = item
            .links
            .iter()
            .filter_map(|l| Url::parse(l).ok())
            .take(super::MAX_LINKED_PAGES)
            .collect();
        for link in links {
            let mut page = crate::sources::report::capture_page(&ctx.fetcher, &link).await;
            if let Some((capture, body)) = page.fetched.take() {
                poll.captures.push((capture, body));
            }
            match (&page.page, page.not_captured()) {
                (Some(text), _) => {
                    let body = item.text.get_or_insert_with(String::new);
                    if !body.is_empty() {
                        body.push_str("\n\n");
                    }
                    body.push_str(&format!("Linked page {link}: {}", text.text.trim()));
                    if item.url.is_none() {
                        item.url = Some(link.to_string());
                    }
                }
                (None, Some(why)) => poll.dropped.push(format!(
                    "UID {uid}: the linked page was not captured: {why}; the report is kept"
                )),
                // A picture or video linked directly: the link stays in `links`.
                (None, None) => {}
            }
        }
    }

    /// Records message `uid` (its bytes `raw`, if the server sent them): the capture, and the
    /// report item or the reason it was skipped.
    async fn record(
        &self,
        ctx: &PollContext,
        poll: &mut Poll,
        uid_validity: u32,
        uid: u32,
        key: &str,
        raw: Option<Vec<u8>>,
    ) {
        let Some(raw) = raw else {
            poll.dropped.push(format!(
                "UID {uid}: the server answered without the message's bytes"
            ));
            return;
        };
        let url = format!("{};UIDVALIDITY={uid_validity}/;UID={uid}", self.url);
        let index = poll.captures.len();
        let admitted = ctx.fetcher.admit_message(&raw);
        let read = match admitted {
            Ok(()) => {
                let read = read_message(&self.name, key, &raw, &ctx.watch);
                ctx.fetcher.parsed_message(&raw);
                Some(read)
            }
            Err(reason) => {
                poll.dropped.push(format!("UID {uid}: {reason}"));
                None
            }
        };
        poll.captures
            .push((capture_of(&url, "message/rfc822", &raw), raw));
        match read {
            None => {}
            Some(Ok(report)) => {
                tracing::debug!(
                    source = %self.name,
                    uid,
                    attachments = report.attachments.len(),
                    media = report.media.len(),
                    "read a report"
                );
                let mut item = report.item;
                // Each picture or video attached is a medium of the report, its decoded bytes
                // a capture of this poll that media capture takes instead of downloading.
                for part in report.media {
                    let part_url = format!("{url}#attachment-{}", part.number);
                    item.media.push(Media {
                        url: Some(part_url.clone()),
                        mime: Some(part.mime.clone()),
                        ..Media::default()
                    });
                    poll.captures
                        .push((capture_of(&part_url, &part.mime, &part.bytes), part.bytes));
                }
                // Each PDF attached is kept as a capture of the poll, and its text (read out
                // of process) is part of the report's, so the detectors read it.
                for doc in report.documents {
                    let part_url = format!("{url}#attachment-{}", doc.number);
                    let name = report
                        .attachments
                        .get(doc.number.saturating_sub(1))
                        .and_then(|(n, _)| n.as_deref())
                        .map(crate::html::single_line)
                        .unwrap_or_else(|| format!("attachment {}", doc.number));
                    let reporter = &report.reporter;
                    if let Err(e) =
                        crate::pdf::read_into(&mut item, &name, doc.bytes.clone(), |t| {
                            redact_reporter(t, reporter)
                        })
                        .await
                    {
                        tracing::warn!(source = %self.name, uid, pdf = %name, error = %e, "PDF text not read");
                        poll.dropped.push(format!(
                            "UID {uid}: the text of the attached PDF `{name}` was not read \
                             ({e}); the report is kept, and the PDF as a capture"
                        ));
                    }
                    poll.captures.push((
                        capture_of(&part_url, "application/pdf", &doc.bytes),
                        doc.bytes,
                    ));
                }
                self.capture_linked_pages(ctx, poll, uid, &mut item).await;
                item.matched_terms = ctx.watch.matches(&item.full_text());
                // Who forwarded it is kept apart, in the store's report record.
                poll.reports.push(crate::sources::PollReport {
                    item_id: item.id.clone(),
                    reporter: report.reporter.describe(),
                    detail: serde_json::json!({
                        "source": self.name,
                        "message": key,
                        "subject": item.title,
                        "attachments": report
                            .attachments
                            .iter()
                            .map(|(name, mime)| serde_json::json!({"name": name, "mime": mime}))
                            .collect::<Vec<_>>(),
                    }),
                    acknowledgement: self.cfg.acknowledge.as_ref().and_then(|template| {
                        Some(crate::sources::Acknowledgement {
                            to: report.reply_to.clone()?,
                            template: Acknowledge::clone(template),
                        })
                    }),
                });
                poll.items.push((index, item));
            }
            Some(Err(MessageError::Malformed { reason, .. })) => {
                poll.dropped.push(format!(
                    "UID {uid}: not an RFC 822 message ({reason}); skipped, its bytes are kept \
                     as the capture"
                ));
            }
        }
    }
}

/// The server's own words in a refusal as async-imap reports it
/// (`code: Some(…), info: Some("[AUTHENTICATIONFAILED] Authentication failed.")`): the `info`
/// text when there is one, else all of it; on one line and cut for quoting.
pub fn server_words(text: &str) -> String {
    const INFO: &str = "info: Some(\"";
    let info = text
        .find(INFO)
        .map(|at| &text[at + INFO.len()..])
        .and_then(|rest| rest.rfind("\")").map(|end| &rest[..end]));
    quote(info.unwrap_or(text))
}

/// The capture record of `bytes` read at `url` (a message, or one of its attachments, or a
/// file uploaded with a report) now.
pub fn capture_of(url: &str, mime: &str, bytes: &[u8]) -> Capture {
    let now = Utc::now();
    Capture {
        url: url.to_string(),
        final_url: url.to_string(),
        // IMAP has no status; 200 records that the whole message was fetched.
        status: 200,
        headers: vec![("content-type".into(), mime.to_string())],
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
        started_at: now,
        finished_at: now,
    }
}

#[async_trait::async_trait]
impl Source for ImapSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        super::KIND
    }

    fn url(&self) -> &str {
        self.url.as_str()
    }

    async fn poll(&self, ctx: &PollContext, cursor: &Cursor) -> Result<Poll, SourceError> {
        let span =
            tracing::info_span!("imap_poll", source = %self.name, server = %self.cfg.address());
        tracing::Instrument::instrument(self.poll_once(ctx, cursor), span).await
    }

    async fn wait_for_news(
        &self,
        ctx: &PollContext,
        cursor: &Cursor,
        max: Duration,
    ) -> Result<Wait, SourceError> {
        let span =
            tracing::info_span!("imap_idle", source = %self.name, server = %self.cfg.address());
        tracing::Instrument::instrument(self.idle(ctx, cursor, max), span).await
    }
}
