//! The demo's elections inbox: a small, read-only IMAP4rev1 server on 127.0.0.1 holding the
//! recorded reports residents and councillors forwarded (`demo/inbox/*.eml`), which the demo
//! configuration's report inbox source (`kind = "imap"`) reads as it would a council's real
//! mailbox: implicit TLS, `LOGIN`, `EXAMINE INBOX`, `UID SEARCH`, `UID FETCH`. Commands are
//! parsed and answers written by `imap-codec`. The TLS certificate is signed by a CA made at
//! start (rcgen), written into the data folder for the source's `ca_file`; the password is the
//! stand-in in [`PASSWORD_VARIABLE`].
//!
//! It answers only what that source asks (and CAPABILITY, NOOP, LOGOUT); anything else is a
//! tagged `BAD`, a command it cannot parse an untagged `BAD`. Each connection's input is bounded.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{IString, Literal, NString, NonEmptyVec, Tag};
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName,
};
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Capability, Code, Data, Greeting, Response, Status};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{Sequence, SequenceSet};
use imap_codec::{CommandCodec, GreetingCodec, ResponseCodec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// The mailbox's user name (the demo configuration's `username`).
pub const USER: &str = "elections@anytown.gov.uk";
/// The environment variable the demo configuration's `password_env` names.
pub const PASSWORD_VARIABLE: &str = "BALLOTWATCH_DEMO_IMAP_PASSWORD";
/// The stand-in password `main` puts in [`PASSWORD_VARIABLE`] when it is unset.
pub const PASSWORD: &str = "demo-inbox-password";
/// The file in the data folder holding the inbox's CA certificate.
pub const CA_FILE: &str = "demo-inbox-ca.pem";

/// The mailbox's UIDVALIDITY (fixed: the recorded messages never change).
const UID_VALIDITY: u32 = 20_260_430;
/// Unparsed input one connection may hold (a command with its literals).
const MAX_INPUT: usize = 64 * 1024;
/// A connection idle this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Starts the server on a free 127.0.0.1 port; returns its address and the CA file to trust.
pub async fn start(data_dir: &Path) -> anyhow::Result<(SocketAddr, PathBuf)> {
    let messages = Arc::new(messages()?);
    let (tls, ca_pem) = tls_config()?;
    let ca_file = data_dir.join(CA_FILE);
    std::fs::write(&ca_file, ca_pem)
        .with_context(|| format!("cannot write {}", ca_file.display()))?;
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot start the demo's elections inbox (IMAP) on 127.0.0.1")?;
    let addr = listener.local_addr()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, messages) = (acceptor.clone(), messages.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        if let Err(e) = serve(stream, &messages).await {
                            tracing::debug!(error = %e, "demo inbox connection ended");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "demo inbox TLS handshake failed"),
                }
            });
        }
    });
    Ok((addr, ca_file))
}

/// How many recorded messages the inbox holds.
pub fn message_count() -> usize {
    messages().map_or(0, |m| m.len())
}

/// The recorded messages, in file-name order (UID 1, 2, …).
fn messages() -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = super::replay::DEMO
        .get_dir("inbox")
        .context("the demo's inbox is missing from this build")?;
    let mut files: Vec<_> = dir
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort_by_key(|f| f.path());
    Ok(files.into_iter().map(|f| f.contents().to_vec()).collect())
}

/// A CA made now and a certificate for 127.0.0.1 signed by it; returns the server's TLS
/// configuration and the CA's PEM.
fn tls_config() -> anyhow::Result<(rustls::ServerConfig, String)> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Ballotwatch demo inbox CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
    let key = rcgen::KeyPair::generate()?;
    let leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&key, &ca)?;
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| anyhow::anyhow!("the demo inbox's key: {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key_der)?;
    Ok((config, ca.pem()))
}

/// What one connection has done so far.
#[derive(Default)]
struct Session {
    logged_in: bool,
    selected: bool,
}

/// Serves one connection until LOGOUT, EOF, an idle timeout or too much input.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    messages: &[Vec<u8>],
) -> std::io::Result<()> {
    let greeting = Greeting::ok(
        Some(Code::Capability(capabilities())),
        "Anytown elections inbox (Ballotwatch demo) ready",
    )
    .map_err(invalid)?;
    stream
        .write_all(&GreetingCodec::default().encode(&greeting).dump())
        .await?;
    let mut session = Session::default();
    let mut input: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        let (consumed, out, done) = match CommandCodec::default().decode(&input) {
            Ok((rest, command)) => {
                let (out, done) = answer(&mut session, &command, messages)?;
                (input.len() - rest.len(), out, done)
            }
            Err(CommandDecodeError::LiteralFound { .. }) => (0, b"+ go ahead\r\n".to_vec(), false),
            // The line is dropped; the commands after it are read.
            Err(CommandDecodeError::Failed) => (
                input
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(input.len(), |i| i + 1),
                b"* BAD the demo inbox cannot read that command\r\n".to_vec(),
                false,
            ),
            Err(CommandDecodeError::Incomplete) => (0, Vec::new(), false),
        };
        if !out.is_empty() {
            stream.write_all(&out).await?;
            stream.flush().await?;
        }
        if done {
            return Ok(());
        }
        if consumed > 0 {
            input.drain(..consumed);
            if !input.is_empty() {
                continue;
            }
        }
        if input.len() >= MAX_INPUT {
            stream
                .write_all(b"* BYE a command longer than the demo inbox takes\r\n")
                .await?;
            return Ok(());
        }
        let n = tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&chunk[..n]);
    }
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

fn capabilities() -> NonEmptyVec<Capability<'static>> {
    NonEmptyVec::from(Capability::Imap4Rev1)
}

/// The bytes answering `command`, and whether the connection ends after them.
fn answer(
    session: &mut Session,
    command: &Command<'_>,
    messages: &[Vec<u8>],
) -> std::io::Result<(Vec<u8>, bool)> {
    let tag = &command.tag;
    let mut data: Vec<Data<'_>> = Vec::new();
    let status = match &command.body {
        CommandBody::Capability => {
            data.push(Data::Capability(capabilities()));
            ok(tag, None, "CAPABILITY completed")
        }
        CommandBody::Noop => ok(tag, None, "NOOP completed"),
        CommandBody::Logout => {
            let mut out = encode(&Response::Status(
                Status::bye(None, "the demo inbox says goodbye").map_err(invalid)?,
            ));
            out.extend(encode(&Response::Status(ok(
                tag,
                None,
                "LOGOUT completed",
            )?)));
            return Ok((out, true));
        }
        CommandBody::Login { username, password } => {
            let user_ok = username.as_ref() == USER.as_bytes();
            let password_ok = password.declassify().as_ref() == PASSWORD.as_bytes();
            if user_ok && password_ok {
                session.logged_in = true;
                ok(tag, None, "LOGIN completed")
            } else {
                no(tag, "wrong user name or password")
            }
        }
        CommandBody::Select { mailbox } | CommandBody::Examine { mailbox } => {
            if !session.logged_in {
                no(tag, "log in first")
            } else if !matches!(mailbox, Mailbox::Inbox) {
                no(tag, "the demo inbox has only INBOX")
            } else {
                session.selected = true;
                let n = u32::try_from(messages.len()).unwrap_or(u32::MAX);
                data.push(Data::Flags(vec![Flag::Seen]));
                data.push(Data::Exists(n));
                data.push(Data::Recent(0));
                let mut out = Vec::new();
                for (code, text) in [
                    (
                        Code::uidvalidity(UID_VALIDITY).map_err(invalid)?,
                        "UIDs valid",
                    ),
                    (
                        Code::uidnext(n.saturating_add(1)).map_err(invalid)?,
                        "predicted next UID",
                    ),
                ] {
                    out.extend(encode(&Response::Status(
                        Status::ok(None, Some(code), text).map_err(invalid)?,
                    )));
                }
                let mut all: Vec<u8> = data
                    .into_iter()
                    .flat_map(|d| encode(&Response::Data(d)))
                    .collect();
                all.extend(out);
                all.extend(encode_status(ok(
                    tag,
                    Some(Code::ReadOnly),
                    "EXAMINE completed",
                )?));
                return Ok((all, false));
            }
        }
        CommandBody::Search { criteria, .. } if session.selected => {
            let found: Vec<NonZeroU32> = match criteria {
                SearchKey::All => uids(messages).collect(),
                SearchKey::Uid(set) | SearchKey::SequenceSet(set) => in_set(set, messages),
                _ => {
                    return Ok((
                        encode_status(bad(tag, "the demo inbox searches by UID only")?),
                        false,
                    ))
                }
            };
            data.push(Data::Search(found));
            ok(tag, None, "SEARCH completed")
        }
        CommandBody::Fetch {
            sequence_set,
            macro_or_item_names,
            ..
        } if session.selected => {
            let names = match macro_or_item_names {
                MacroOrMessageDataItemNames::MessageDataItemNames(names) => names.clone(),
                MacroOrMessageDataItemNames::Macro(m) => m.expand(),
            };
            // UIDs are the messages' sequence numbers (1, 2, …; nothing is ever expunged).
            for uid in in_set(sequence_set, messages) {
                let Some(body) = usize::try_from(uid.get() - 1)
                    .ok()
                    .and_then(|i| messages.get(i))
                else {
                    continue;
                };
                let mut items = vec![MessageDataItem::Uid(uid)];
                for name in &names {
                    match name {
                        MessageDataItemName::Rfc822Size => items.push(MessageDataItem::Rfc822Size(
                            u32::try_from(body.len()).unwrap_or(u32::MAX),
                        )),
                        MessageDataItemName::BodyExt { section: None, .. } => {
                            let literal = Literal::try_from(body.as_slice()).map_err(invalid)?;
                            items.push(MessageDataItem::BodyExt {
                                section: None,
                                origin: None,
                                data: NString(Some(IString::Literal(literal))),
                            });
                        }
                        _ => {}
                    }
                }
                data.push(Data::Fetch {
                    seq: uid,
                    items: NonEmptyVec::try_from(items).map_err(invalid)?,
                });
            }
            ok(tag, None, "FETCH completed")
        }
        CommandBody::Search { .. } | CommandBody::Fetch { .. } => no(tag, "select INBOX first"),
        _ => bad(tag, "the demo inbox does not do that"),
    }?;
    let mut out: Vec<u8> = data
        .into_iter()
        .flat_map(|d| encode(&Response::Data(d)))
        .collect();
    out.extend(encode_status(status));
    Ok((out, false))
}

/// The messages' UIDs.
fn uids(messages: &[Vec<u8>]) -> impl Iterator<Item = NonZeroU32> + '_ {
    (1..=messages.len()).filter_map(|n| u32::try_from(n).ok().and_then(NonZeroU32::new))
}

/// The UIDs in `set` that exist, ascending (`n:*` with `n` past the last one means the last
/// one, as RFC 3501 has it). Computed from the ranges' ends, so a huge range costs nothing.
fn in_set(set: &SequenceSet, messages: &[Vec<u8>]) -> Vec<NonZeroU32> {
    let Some(largest) = u32::try_from(messages.len()).ok().and_then(NonZeroU32::new) else {
        return Vec::new();
    };
    let mut found: Vec<NonZeroU32> = Vec::new();
    for sequence in set.0.as_ref() {
        let (a, b) = match sequence {
            Sequence::Single(x) => (x.expand(largest), x.expand(largest)),
            Sequence::Range(x, y) => (x.expand(largest), y.expand(largest)),
        };
        let (lo, hi) = (a.min(b).get(), a.max(b).get().min(largest.get()));
        found.extend((lo..=hi).filter_map(NonZeroU32::new));
    }
    found.sort();
    found.dedup();
    found
}

fn encode(response: &Response<'_>) -> Vec<u8> {
    ResponseCodec::default().encode(response).dump()
}

fn encode_status(status: Status<'_>) -> Vec<u8> {
    encode(&Response::Status(status))
}

fn ok<'a>(tag: &Tag<'a>, code: Option<Code<'a>>, text: &'a str) -> std::io::Result<Status<'a>> {
    Status::ok(Some(tag.clone()), code, text).map_err(invalid)
}

fn no<'a>(tag: &Tag<'a>, text: &'a str) -> std::io::Result<Status<'a>> {
    Status::no(Some(tag.clone()), None, text).map_err(invalid)
}

fn bad<'a>(tag: &Tag<'a>, text: &'a str) -> std::io::Result<Status<'a>> {
    Status::bad(Some(tag.clone()), None, text).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `commands` (one per line) through a session over an in-memory stream; returns
    /// everything the server wrote.
    async fn talk(commands: &[&str]) -> String {
        let messages = vec![
            b"Subject: one\r\n\r\nfirst\r\n".to_vec(),
            b"Subject: two\r\n\r\nsecond\r\n".to_vec(),
        ];
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(async move { serve(server, &messages).await });
        for c in commands {
            client.write_all(c.as_bytes()).await.unwrap();
            client.write_all(b"\r\n").await.unwrap();
        }
        client.shutdown().await.unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        task.await.unwrap().unwrap();
        out
    }

    #[tokio::test]
    async fn the_report_sources_commands_are_answered() {
        let out = talk(&[
            "a1 CAPABILITY",
            &format!("a2 LOGIN \"{USER}\" \"{PASSWORD}\""),
            "a3 EXAMINE INBOX",
            "a4 UID SEARCH UID 2:*",
            "a5 UID FETCH 1:* (UID RFC822.SIZE)",
            "a6 UID FETCH 2 (UID BODY.PEEK[])",
            "a7 UID SEARCH UID 9:*",
            "a8 LOGOUT",
        ])
        .await;
        assert!(out.starts_with("* OK [CAPABILITY IMAP4REV1] "), "{out}");
        for expected in [
            "a1 OK",
            "a2 OK",
            "* 2 EXISTS\r\n",
            "[UIDVALIDITY 20260430]",
            "[UIDNEXT 3]",
            "a3 OK [READ-ONLY]",
            "* SEARCH 2\r\na4 OK",
            "* 1 FETCH (UID 1 RFC822.SIZE 23)",
            "* 2 FETCH (UID 2 RFC822.SIZE 24)",
            "* 2 FETCH (UID 2 BODY[] {24}\r\nSubject: two\r\n\r\nsecond\r\n)",
            // Past the last UID, `n:*` is the last message (RFC 3501).
            "* SEARCH 2\r\na7 OK",
            "* BYE",
            "a8 OK",
        ] {
            assert!(out.contains(expected), "{expected:?} not in {out}");
        }
    }

    #[tokio::test]
    async fn a_wrong_password_unselected_fetches_and_garbage_are_refused() {
        let out = talk(&[
            &format!("b1 LOGIN \"{USER}\" \"guess\""),
            "b2 EXAMINE INBOX",
            "b3 UID FETCH 1 (BODY.PEEK[])",
            "\u{1}\u{2} nonsense",
            "b4 DELETE INBOX",
            &format!("b5 LOGIN \"{USER}\" \"{PASSWORD}\""),
            "b6 EXAMINE Sent",
            "b7 UID FETCH 1:4294967295 (UID)",
        ])
        .await;
        for expected in [
            "b1 NO", "b2 NO", "b3 NO", "* BAD", "b4 BAD", "b5 OK", "b6 NO", "b7 NO",
        ] {
            assert!(out.contains(expected), "{expected:?} not in {out}");
        }
        assert!(!out.contains("Subject:"), "nothing was read: {out}");
    }

    #[test]
    fn huge_ranges_cost_nothing_and_stop_at_the_last_message() {
        let messages = vec![Vec::new(); 3];
        let (_, cmd) = CommandCodec::default()
            .decode(b"t UID FETCH 2:4294967295,1 (UID)\r\n")
            .unwrap();
        let CommandBody::Fetch { sequence_set, .. } = cmd.body else {
            panic!("{cmd:?}");
        };
        let found: Vec<u32> = in_set(&sequence_set, &messages)
            .iter()
            .map(|u| u.get())
            .collect();
        assert_eq!(found, [1, 2, 3]);
        assert!(in_set(&sequence_set, &[]).is_empty());
    }

    #[test]
    fn the_recorded_messages_are_in_the_build() {
        let messages = messages().unwrap();
        assert_eq!(messages.len(), message_count());
        assert!(messages.len() >= 2);
        for m in &messages {
            let parsed = mail_parser::MessageParser::default().parse(m).unwrap();
            assert!(parsed.subject().is_some());
        }
    }

    #[test]
    fn a_certificate_is_made_for_127_0_0_1() {
        let (_, ca) = tls_config().unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    }
}
