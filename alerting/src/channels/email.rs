//! Email through SMTP (lettre): STARTTLS, implicit TLS or none, AUTH, and a multipart message
//! of plain text and Outlook-safe HTML (table layout, inline CSS, no scripts or remote
//! resources). Every string in the HTML part goes through `html_escape`, URLs only into `href`
//! when [`link_target`] accepts them; subjects and one-line fields lose line breaks and control
//! characters, so no header can be injected. Each message's `Message-ID` is derived from its
//! idempotency key, and updates name the first alert in `In-Reply-To` and `References`.

use crate::config::{SmtpConfig, SmtpTls};
use html_escape::encode_text as esc;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};

use super::{env_secret, Channel, ChannelError, Outgoing};
use crate::decide::{AlertView, Payload};
use crate::escape::{clean, link_target, one_line};
use crate::render::{colour, subject};
use crate::AlertError;

/// A rendered email.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

/// The `Message-ID` of the message with this idempotency key: stable, so a resend after a crash
/// carries the same id (receivers that deduplicate by it drop the copy), and updates can name
/// the first alert in `In-Reply-To`.
pub fn message_id(idempotency_key: &str, domain: &str) -> String {
    let h = hex::encode(Sha256::digest(idempotency_key.as_bytes()));
    format!("<{}@{domain}>", &h[..32])
}

fn text_block(view: &AlertView, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "Incident #{}: {} (severity {}, {} sighting{})",
        view.incident_id,
        one_line(&view.incident_title),
        view.severity.as_str(),
        view.sightings,
        if view.sightings == 1 { "" } else { "s" }
    );
    if let Some(t) = &view.item_title {
        let _ = writeln!(out, "Title: {}", one_line(t));
    }
    let _ = writeln!(out, "Source: {}", one_line(&view.source));
    if let Some(a) = &view.author {
        let _ = writeln!(out, "Author: {}", one_line(a));
    }
    if let Some(u) = &view.url {
        let _ = writeln!(out, "Link: {}", one_line(u));
    }
    let _ = writeln!(out, "\n{}\n", clean(&view.excerpt));
    for v in &view.verdicts {
        let _ = writeln!(
            out,
            "- {} ({}, score {:.2}): {}",
            one_line(&v.label),
            one_line(&v.kind),
            v.score,
            one_line(&v.explanation)
        );
        if let Some(r) = &v.rebuttal {
            let _ = writeln!(out, "  Rebuttal: {}", one_line(r));
        }
    }
    if let Some(u) = &view.incident_url {
        let _ = writeln!(out, "\nIncident page: {u}");
    }
}

fn html_block(view: &AlertView, out: &mut String) {
    let td = "style=\"padding:4px 8px;font-family:Arial,sans-serif;font-size:14px;color:#1f2933;vertical-align:top\"";
    let th = "style=\"padding:4px 8px;font-family:Arial,sans-serif;font-size:14px;color:#5f6b7a;text-align:left;vertical-align:top;width:110px\"";
    out.push_str(&format!(
        "<tr><td colspan=\"2\" style=\"padding:8px;background:{};color:#ffffff;font-family:Arial,sans-serif;font-size:16px;font-weight:bold\">Incident #{} &middot; {} &middot; {}</td></tr>",
        colour(view.severity),
        view.incident_id,
        esc(&view.severity.as_str().to_uppercase()),
        esc(&one_line(&view.incident_title))
    ));
    let mut row = |k: &str, v: String| {
        out.push_str(&format!(
            "<tr><th {th}>{}</th><td {td}>{v}</td></tr>",
            esc(k)
        ));
    };
    if let Some(t) = &view.item_title {
        row("Title", esc(t).to_string());
    }
    row("Source", esc(&view.source).to_string());
    if let Some(a) = &view.author {
        row("Author", esc(a).to_string());
    }
    if let Some(u) = &view.url {
        let shown = esc(&one_line(u)).to_string();
        row(
            "Link",
            match link_target(u) {
                Some(target) => format!(
                    "<a href=\"{}\" style=\"color:#0b5cad\">{shown}</a>",
                    html_escape::encode_double_quoted_attribute(&target)
                ),
                // Not http(s): shown, never linked.
                None => shown,
            },
        );
    }
    row("Sightings", view.sightings.to_string());
    row(
        "Excerpt",
        format!(
            "<div style=\"border-left:3px solid #c9d2dc;padding-left:8px\">{}</div>",
            esc(&clean(&view.excerpt))
        ),
    );
    for v in &view.verdicts {
        let mut cell = format!(
            "<b>{}</b> ({}, score {:.2})<br>{}",
            esc(&v.label),
            esc(&v.kind),
            v.score,
            esc(&v.explanation)
        );
        if let Some(r) = &v.rebuttal {
            cell.push_str(&format!("<br><i>Rebuttal:</i> {}", esc(r)));
        }
        row("Finding", cell);
    }
    if let Some(u) = &view.incident_url {
        row(
            "Incident",
            format!(
                "<a href=\"{}\" style=\"color:#0b5cad\">Open the incident page</a>",
                html_escape::encode_double_quoted_attribute(u)
            ),
        );
    }
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"margin:0;padding:0;background:#f4f6f8\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:#f4f6f8\"><tr><td align=\"center\" style=\"padding:16px\">\
         <table role=\"presentation\" width=\"640\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:#ffffff;border:1px solid #c9d2dc\">{body}\
         <tr><td colspan=\"2\" style=\"padding:8px;font-family:Arial,sans-serif;font-size:12px;color:#5f6b7a\">Sent by Ballotwatch.</td></tr>\
         </table></td></tr></table></body></html>",
        esc(title)
    )
}

/// Renders an outbox payload as an email.
pub fn mail(payload: &Payload) -> Mail {
    let subject = subject(payload);
    let mut text = String::new();
    let mut body = String::new();
    match payload {
        Payload::Sighting { view, .. } => {
            text_block(view, &mut text);
            html_block(view, &mut body);
        }
        Payload::Digest { views, .. } => {
            text = format!("{subject}\n\n");
            for v in views {
                text_block(v, &mut text);
                text.push_str("\n----\n\n");
                html_block(v, &mut body);
                body.push_str("<tr><td colspan=\"2\" style=\"height:12px\"></td></tr>");
            }
        }
        Payload::Notice { text: notice, .. } => {
            text = clean(notice);
            body = format!(
                "<tr><td style=\"padding:8px;font-family:Arial,sans-serif;font-size:14px;color:#1f2933;white-space:pre-wrap\">{}</td></tr>",
                esc(&text)
            );
        }
    }
    Mail {
        html: html_page(&subject, &body),
        subject,
        text,
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834) on every message Ballotwatch sends: mail
/// robots (out-of-office replies, ticket systems, a report inbox's acknowledgements) do not
/// answer it, so no two of them write to each other for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if s.trim().eq_ignore_ascii_case("auto-generated") {
            Ok(AutoSubmitted)
        } else {
            Err(format!("Auto-Submitted `{s}` is not auto-generated").into())
        }
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// The `[alerts.smtp]` channel.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Email {
    /// The mail server of `[alerts.smtp]`: reads `password_env` and the CA file now, so a
    /// mistake stops start-up rather than an alert.
    pub fn new(c: &SmtpConfig) -> Result<Email, AlertError> {
        let setup = |m: String| AlertError::Setup(format!("[alerts.smtp]: {m}"));
        let from: Mailbox = c
            .from
            .parse()
            .map_err(|e| setup(format!("from `{}` is not a mailbox: {e}", c.from)))?;
        let domain = from.email.domain().to_string();
        let tls_params = || -> Result<TlsParameters, AlertError> {
            let mut b = TlsParameters::builder(c.host.clone());
            if let Some(ca) = &c.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| setup(format!("cannot read ca_file {}: {e}", ca.display())))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    setup(format!(
                        "ca_file {} is not a PEM certificate: {e}",
                        ca.display()
                    ))
                })?;
                b = b
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(cert);
            }
            b.build_rustls()
                .map_err(|e| setup(format!("cannot set up TLS for {}: {e}", c.host)))
        };
        let tls = match c.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.clone())
            .port(c.port)
            .tls(tls)
            .timeout(Some(c.timeout));
        if let Some(user) = &c.username {
            let pass = match &c.password_env {
                Some(var) => env_secret(var, "[alerts.smtp] password_env")?,
                None => String::new(),
            };
            b = b.credentials(Credentials::new(user.clone(), pass));
        }
        Ok(Email {
            transport: b.build(),
            from,
            domain,
        })
    }
}

impl Channel for Email {
    type Body = Message;

    fn render(&self, message: &Outgoing<'_>) -> Result<Message, ChannelError> {
        let mail = mail(message.payload);
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject)
            .header(AutoSubmitted)
            .message_id(Some(message_id(message.idempotency_key, &self.domain)));
        for to in message.recipients {
            let mb: Mailbox = to.parse().map_err(|e| {
                ChannelError::Permanent(format!("recipient `{to}` is not a mailbox: {e}"))
            })?;
            b = b.to(mb);
        }
        if let Payload::Sighting {
            thread: Some(first),
            ..
        } = message.payload
        {
            let first_id = message_id(first, &self.domain);
            b = b.in_reply_to(first_id.clone()).references(first_id);
        }
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(mail.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(mail.html),
                ),
        )
        .map_err(|e| ChannelError::Permanent(format!("cannot build the email: {e}")))
    }

    async fn deliver(&self, _: &Outgoing<'_>, body: Message) -> Result<(), ChannelError> {
        match self.transport.send(body).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(ChannelError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(ChannelError::Transient(format!("SMTP: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::test_support::{hostile, view};
    use std::time::Duration;

    fn channel() -> Email {
        Email::new(&SmtpConfig {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: SmtpTls::None,
            username: None,
            password_env: None,
            from: "Ballotwatch <alerts@anytown.gov.uk>".into(),
            ca_file: None,
            timeout: Duration::from_secs(1),
        })
        .unwrap()
    }

    #[test]
    fn emails_carry_everything_and_escape_html() {
        let m = mail(&Payload::Sighting {
            view: Box::new(view()),
            thread: None,
        });
        assert_eq!(
            m.subject,
            "[HIGH] misinformation: fake notice: polls-closed — incident #7"
        );
        for part in [&m.text, &m.html] {
            assert!(part.contains("says polling stations are closed"), "{part}");
            assert!(part.contains("All polling stations are open 7am-10pm"));
            assert!(part.contains("https://bw.example/incidents/7"));
        }
        assert!(m.text.contains("Polls are closed <script>"));
        assert!(!m.html.contains("<script"), "{}", m.html);
        assert!(m.html.contains("&lt;b&gt;Polls closed"));
        assert!(m.html.contains("<table role=\"presentation\""));
        assert!(!m.html.contains("src="), "no remote resources");
        let u = mail(&Payload::Sighting {
            view: Box::new(view()),
            thread: Some("k".into()),
        });
        assert!(u.subject.starts_with("Update: "));
    }

    #[test]
    fn hostile_item_text_cannot_inject_headers_markup_or_links_in_an_email() {
        let p = Payload::Sighting {
            view: Box::new(hostile()),
            thread: None,
        };
        // Escaped HTML, one-line subject, no header injection, http(s) links only.
        let m = mail(&p);
        assert!(
            !m.subject.contains('\n') && !m.subject.contains('\r'),
            "{}",
            m.subject
        );
        assert!(!m.html.contains("<at>") && !m.html.contains("<!here>"));
        assert!(m.html.contains("&lt;!here&gt;"));
        assert!(m
            .text
            .contains("Title: <@U024BE7LH> **Polls closed** Bcc: x@evil.example\n"));
        let mut js = hostile();
        js.url = Some("javascript:alert(document.cookie)".into());
        let m = mail(&Payload::Sighting {
            view: Box::new(js),
            thread: None,
        });
        assert!(!m.html.contains("href=\"javascript"), "{}", m.html);
        assert!(m.html.contains("javascript:alert(document.cookie)"));
        // The rendered message has exactly the headers Ballotwatch sets.
        let raw = String::from_utf8(
            channel()
                .render(&Outgoing {
                    idempotency_key: "k",
                    recipients: &["ro@anytown.gov.uk".into()],
                    payload: &p,
                })
                .unwrap()
                .formatted(),
        )
        .unwrap();
        let head = raw.split("\r\n\r\n").next().unwrap();
        assert!(
            !head
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{head}"
        );
        // Marked automatic (RFC 3834), so auto-responders leave it alone.
        assert!(
            head.lines().any(|l| l == "Auto-Submitted: auto-generated"),
            "{head}"
        );
    }

    #[test]
    fn message_ids_are_stable_per_key() {
        assert_eq!(message_id("a", "x.example"), message_id("a", "x.example"));
        assert_ne!(message_id("a", "x.example"), message_id("b", "x.example"));
        assert!(message_id("a", "x.example").ends_with("@x.example>"));
    }

    #[test]
    fn updates_thread_under_the_first_alert_and_bad_recipients_are_permanent() {
        let email = channel();
        let p = Payload::Sighting {
            view: Box::new(view()),
            thread: Some("alert:7:r:email".into()),
        };
        let to = ["ro@anytown.gov.uk".to_string()];
        let m = Outgoing {
            idempotency_key: "alert:7:r:email:item:i",
            recipients: &to,
            payload: &p,
        };
        let raw = String::from_utf8(email.render(&m).unwrap().formatted()).unwrap();
        let first = message_id("alert:7:r:email", "anytown.gov.uk");
        let own = message_id("alert:7:r:email:item:i", "anytown.gov.uk");
        assert!(raw.contains(&format!("Message-ID: {own}")), "{raw}");
        assert!(raw.contains(&format!("In-Reply-To: {first}")), "{raw}");
        assert!(raw.contains(&format!("References: {first}")), "{raw}");
        assert!(raw.contains("To: ro@anytown.gov.uk"), "{raw}");
        let bad = ["not an address\r\nBcc: x@evil.example".to_string()];
        let e = email
            .render(&Outgoing {
                recipients: &bad,
                ..m
            })
            .unwrap_err();
        assert!(!e.retry_can_help(), "{e}");
        assert!(e.to_string().contains("is not a mailbox"), "{e}");
    }

    #[test]
    fn set_up_mistakes_stop_start_up_naming_them() {
        let base = SmtpConfig {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: SmtpTls::Starttls,
            username: Some("bw".into()),
            password_env: Some("BW_ALERTING_TEST_UNSET_PASSWORD".into()),
            from: "alerts@anytown.gov.uk".into(),
            ca_file: None,
            timeout: Duration::from_secs(1),
        };
        let e = Email::new(&base).unwrap_err().to_string();
        assert!(e.contains("BW_ALERTING_TEST_UNSET_PASSWORD"), "{e}");
        let e = Email::new(&SmtpConfig {
            from: "no at sign".into(),
            ..base.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("from `no at sign`"), "{e}");
        let e = Email::new(&SmtpConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            username: None,
            ..base
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
