//! The demo's mail catcher: a real SMTP server (`mailin-embedded`) on an ephemeral 127.0.0.1
//! port that the demo's `[alerts.smtp]` points at. Alert emails go through the product's real
//! SMTP delivery (lettre, the outbox, retries) and end up on the web UI's Demo mail page instead
//! of in anyone's inbox.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use ballotwatch_web::demo::{CapturedMail, DemoMailbox};
use mailin_embedded::response::{INTERNAL_ERROR, OK};
use mailin_embedded::{Handler, Response, Server, SslConfig};

/// Largest message kept, in bytes (alert emails are a few KiB).
const MAX_MESSAGE: usize = 2 * 1024 * 1024;

/// One SMTP connection's state.
#[derive(Clone)]
struct Catcher {
    mailbox: DemoMailbox,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Catcher {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.data.len() + buf.len() > MAX_MESSAGE {
            return Err(std::io::Error::other(
                "message too large for the demo mail catcher",
            ));
        }
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        match parse(&self.data, &self.from, &self.to) {
            Some(mail) => {
                tracing::info!(subject = %mail.subject, to = ?mail.to, "demo mail catcher received an alert");
                self.mailbox.push(mail);
                OK
            }
            None => INTERNAL_ERROR,
        }
    }
}

/// A received message as the Demo mail page shows it.
fn parse(raw: &[u8], from: &str, to: &[String]) -> Option<CapturedMail> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    Some(CapturedMail {
        received_at: chrono::Utc::now(),
        from: from.to_string(),
        to: to.to_vec(),
        subject: msg.subject().unwrap_or("(no subject)").to_string(),
        message_id: msg.message_id().unwrap_or_default().to_string(),
        text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
    })
}

/// Starts the catcher on an ephemeral 127.0.0.1 port, delivering into `mailbox`; returns its
/// address. It runs on its own threads for the life of the process.
pub fn start(mailbox: DemoMailbox) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .context("cannot open a port on 127.0.0.1 for the demo's mail catcher")?;
    let addr = listener.local_addr()?;
    let mut server = Server::new(Catcher {
        mailbox,
        from: String::new(),
        to: Vec::new(),
        data: Vec::new(),
    });
    server
        .with_name("ballotwatch-demo-mail")
        .with_ssl(SslConfig::None)
        .map_err(|e| anyhow::anyhow!("cannot set up the demo's mail catcher: {e}"))?
        .with_tcp_listener(listener);
    std::thread::Builder::new()
        .name("demo-mail".into())
        .spawn(move || {
            if let Err(e) = server.serve() {
                tracing::error!(error = %e, "the demo's mail catcher stopped");
            }
        })
        .context("cannot start the demo's mail catcher")?;
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_lettre_sends() {
        let raw = b"From: Ballotwatch <bw@anytown.example>\r\nTo: comms@anytown.example\r\n\
Subject: =?utf-8?q?=5BHIGH=5D_Incident_=231?=\r\nMessage-ID: <1.abc@ballotwatch>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nA lookalike domain.\r\n";
        let m = parse(raw, "bw@anytown.example", &["comms@anytown.example".into()]).unwrap();
        assert_eq!(m.subject, "[HIGH] Incident #1");
        assert_eq!(m.message_id, "1.abc@ballotwatch");
        assert!(m.text.contains("A lookalike domain."), "{}", m.text);
    }
}
