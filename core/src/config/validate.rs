//! Validation of a parsed configuration: every rule beyond its types, each table in turn.

use std::collections::HashSet;

use super::*;

impl Config {
    /// Every rule a loaded config must satisfy beyond its types: (path, message, help).
    pub(super) fn validate(&self) -> Vec<(Vec<Seg>, String, Option<String>)> {
        let mut out = Vec::new();
        let mut bad =
            |path: Vec<Seg>, msg: String, help: Option<String>| out.push((path, msg, help));

        if self.data_dir.as_os_str().is_empty() {
            bad(vec![key("data_dir")], "must not be empty".into(), None);
        }
        let srv = &self.server;
        if srv.login_max_failures == 0 {
            bad(
                vec![key("server"), key("login_max_failures")],
                "must be at least 1".into(),
                Some("5 locks an account after five wrong passwords in a row".into()),
            );
        }
        if srv.login_attempts_per_address == Some(0) {
            bad(
                vec![key("server"), key("login_attempts_per_address")],
                "must be at least 1".into(),
                Some("4 lets one address try four times per `login_window`".into()),
            );
        } else if srv.attempts_per_address() >= srv.login_max_failures && srv.login_max_failures > 0
        {
            let field = if srv.login_attempts_per_address.is_some() {
                "login_attempts_per_address"
            } else {
                "login_max_failures"
            };
            bad(
                vec![key("server"), key(field)],
                format!(
                    "must be below `login_max_failures` ({}), or one address could lock any \
                     account",
                    srv.login_max_failures
                ),
                Some(format!(
                    "set it to {} or less, or raise `login_max_failures`",
                    srv.login_max_failures.saturating_sub(1).max(1)
                )),
            );
        }
        if srv.login_window.is_zero() {
            bad(
                vec![key("server"), key("login_window")],
                "must be longer than zero".into(),
                Some("for example \"15m\"".into()),
            );
        }
        if srv.login_max_lockout < srv.login_lockout {
            bad(
                vec![key("server"), key("login_max_lockout")],
                "must not be shorter than `login_lockout`".into(),
                Some("for example \"24h\"".into()),
            );
        }
        if srv.session_ttl.is_zero() {
            bad(
                vec![key("server"), key("session_ttl")],
                "must be longer than zero".into(),
                Some("for example \"12h\"".into()),
            );
        }
        for (i, term) in self.watch.terms.iter().enumerate() {
            if term.trim().is_empty() {
                bad(
                    vec![key("watch"), key("terms"), Seg::Index(i)],
                    "a watch term must not be empty".into(),
                    None,
                );
            }
        }

        let lim = &self.limits;
        for (field, zero) in [
            ("max_html_depth", lim.max_html_depth == 0),
            ("max_item_text", lim.max_item_text.as_u64() == 0),
            ("max_query_length", lim.max_query_length == 0),
            ("max_query_depth", lim.max_query_depth == 0),
            ("diff_max_lines", lim.diff_max_lines == 0),
            ("diff_timeout", lim.diff_timeout.is_zero()),
            ("verify_max_entries", lim.verify_max_entries == 0),
            ("verify_max_unpacked", lim.verify_max_unpacked.as_u64() == 0),
            ("max_image_size", lim.max_image_size.as_u64() == 0),
            ("max_video_size", lim.max_video_size.as_u64() == 0),
            ("quarantine_after", lim.quarantine_after == 0),
        ] {
            if zero {
                bad(
                    vec![key("limits"), key(field)],
                    "must be more than zero".into(),
                    Some("leave the key out to use the default".into()),
                );
            }
        }

        if lim.max_html_depth > MAX_HTML_DEPTH_CEILING {
            bad(
                vec![key("limits"), key("max_html_depth")],
                format!(
                    "must be at most {MAX_HTML_DEPTH_CEILING}: deeper HTML is cut at the ceiling \
                     anyway, the deepest layout known to fit a worker's stack"
                ),
                Some(format!(
                    "use {MAX_HTML_DEPTH_CEILING} or less, or leave the key out for the default ({DEFAULT_MAX_HTML_DEPTH})"
                )),
            );
        }

        if self.evidence.screenshot_timeout.is_zero() {
            bad(
                vec![key("evidence"), key("screenshot_timeout")],
                "must be longer than zero".into(),
                Some("e.g. \"30s\"".into()),
            );
        }

        let ing = &self.ingest;
        let at = |k: &str| vec![key("ingest"), key(k)];
        if !(0.0..=0.5).contains(&ing.jitter) {
            bad(
                at("jitter"),
                format!("{} is out of range", ing.jitter),
                Some("use a fraction from 0 to 0.5".into()),
            );
        }
        if ing.max_response_size.as_u64() < 1024 {
            bad(
                at("max_response_size"),
                "must be at least 1 KiB".into(),
                None,
            );
        }
        if ing.per_host_concurrency == 0 {
            bad(
                at("per_host_concurrency"),
                "must be at least 1".into(),
                None,
            );
        }
        if ing.connect_timeout.is_zero() || ing.timeout.is_zero() {
            bad(
                at(if ing.timeout.is_zero() {
                    "timeout"
                } else {
                    "connect_timeout"
                }),
                "must be more than 0s".into(),
                None,
            );
        }
        if ing.max_redirects > 20 {
            bad(at("max_redirects"), "must be 20 or fewer".into(), None);
        }
        if let Some(u) = &ing.contact_url {
            if !matches!(u.scheme(), "http" | "https" | "mailto") {
                bad(
                    at("contact_url"),
                    format!("`{u}` must be an http(s) or mailto URL"),
                    None,
                );
            }
        }
        if ing.default_interval < Duration::from_secs(10) {
            bad(at("default_interval"), "must be at least 10s".into(), None);
        }
        if self.index.commit_interval.is_zero()
            || self.index.commit_interval > Duration::from_secs(60)
        {
            bad(
                vec![key("index"), key("commit_interval")],
                "must be between 1ms and 60s".into(),
                None,
            );
        }

        let mut names = HashSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let path = |k: &str| vec![key("source"), Seg::Index(i), key(k)];
            let name = source.name();
            if name.trim().is_empty() {
                bad(path("name"), "must not be empty".into(), None);
            } else if !names.insert(name.to_string()) {
                bad(
                    path("name"),
                    format!("`{name}` is used by another source"),
                    Some("give every source a unique name".into()),
                );
            }
            let url_key = source.url_key();
            if !matches!(source.url().scheme(), "http" | "https") {
                bad(
                    path(url_key),
                    format!("`{}` is not an http or https URL", source.url()),
                    None,
                );
            }
            if source.url().host_str().is_none_or(str::is_empty) {
                bad(
                    path(url_key),
                    format!("`{}` has no host", source.url()),
                    None,
                );
            }
            let own = match source {
                SourceConfig::Rss(_) | SourceConfig::Web(_) => Vec::new(),
                SourceConfig::Mastodon(c) => c.problems(),
                SourceConfig::Bluesky(c) => c.problems(),
                SourceConfig::Reddit(c) => c.problems(),
                SourceConfig::Youtube(c) => c.youtube_problems(),
                SourceConfig::Telegram(c) => c.problems(),
            };
            for (k, msg, help) in own {
                bad(path(k), msg, help);
            }
            if let Some(iv) = source.own_interval() {
                if iv < Duration::from_secs(10) {
                    bad(
                        path("interval"),
                        format!("{} is too short", humantime::format_duration(iv)),
                        Some("poll no more often than every 10s".into()),
                    );
                }
            }
        }

        for (i, id) in self.identities.iter().enumerate() {
            let path = |k: &str| vec![key("identity"), Seg::Index(i), key(k)];
            if id.name.trim().is_empty() {
                bad(path("name"), "must not be empty".into(), None);
            }
            for (j, d) in id.domains.iter().enumerate() {
                if let Err(msg) = check_domain(d) {
                    let mut p = path("domains");
                    p.push(Seg::Index(j));
                    bad(
                        p,
                        msg,
                        Some("write the bare domain, e.g. \"anytown.gov.uk\"".into()),
                    );
                }
            }
            for (platform, handles) in &id.handles {
                let mut p = path("handles");
                p.push(key(platform));
                if !HANDLE_PLATFORMS.contains(&platform.as_str()) {
                    let help = did_you_mean(platform, HANDLE_PLATFORMS.iter().copied())
                        .or_else(|| Some(format!("platforms: {}", HANDLE_PLATFORMS.join(", "))));
                    bad(p, format!("unknown platform `{platform}`"), help);
                    continue;
                }
                for (j, h) in handles.iter().enumerate() {
                    if let Err((msg, help)) = check_handle(platform, h) {
                        let mut p = p.clone();
                        p.push(Seg::Index(j));
                        bad(p, msg, Some(help.to_string()));
                    }
                }
            }
        }

        let mut ids = HashSet::new();
        for (i, n) in self.narratives.iter().enumerate() {
            let path = |k: &str| vec![key("narrative"), Seg::Index(i), key(k)];
            if n.id.trim().is_empty() {
                bad(path("id"), "must not be empty".into(), None);
            } else if !ids.insert(n.id.clone()) {
                bad(
                    path("id"),
                    format!("`{}` is used by another narrative", n.id),
                    None,
                );
            }
            if n.claim.trim().is_empty() {
                bad(path("claim"), "must not be empty".into(), None);
            }
            if n.rebuttal.trim().is_empty() {
                bad(
                    path("rebuttal"),
                    "must not be empty".into(),
                    Some("give the correct position a comms officer can paste as a reply".into()),
                );
            }
        }

        let d = &self.detectors;
        if !(0.0..=1.0).contains(&d.threshold) {
            bad(
                vec![key("detectors"), key("threshold")],
                format!("{} is out of range", d.threshold),
                Some("use a score from 0 to 1".into()),
            );
        }
        for (name, t) in &d.thresholds {
            if !(0.0..=1.0).contains(t) {
                bad(
                    vec![key("detectors"), key("thresholds"), key(name)],
                    format!("{t} is out of range"),
                    Some("use a score from 0 to 1".into()),
                );
            }
        }
        if d.threads == Some(0) {
            bad(
                vec![key("detectors"), key("threads")],
                "must be at least 1".into(),
                Some("leave it out to use every core".into()),
            );
        }
        if d.batch_size == 0 {
            bad(
                vec![key("detectors"), key("batch_size")],
                "must be at least 1".into(),
                None,
            );
        }
        if d.known_fake_distance > 64 {
            bad(
                vec![key("detectors"), key("known_fake_distance")],
                format!(
                    "{} of 256 bits would match unrelated pictures",
                    d.known_fake_distance
                ),
                Some("use 31 (the usual PDQ threshold) or less".into()),
            );
        }
        if d.ocr.max_side < 32 || d.ocr.max_side > 4096 {
            bad(
                vec![key("detectors"), key("ocr"), key("max_side")],
                format!("{} is out of range", d.ocr.max_side),
                Some("use 32 to 4096 pixels (default 960)".into()),
            );
        }
        if d.ocr.max_lines == 0 {
            bad(
                vec![key("detectors"), key("ocr"), key("max_lines")],
                "must be at least 1".into(),
                None,
            );
        }
        if !(0.0..=1.0).contains(&d.pixel_model.max_text_fraction) {
            bad(
                vec![
                    key("detectors"),
                    key("pixel_model"),
                    key("max_text_fraction"),
                ],
                format!("{} is out of range", d.pixel_model.max_text_fraction),
                Some("use a fraction from 0 to 1".into()),
            );
        }
        if !(0.0..=1.0).contains(&d.pixel_model.alone_threshold) {
            bad(
                vec![key("detectors"), key("pixel_model"), key("alone_threshold")],
                format!("{} is out of range", d.pixel_model.alone_threshold),
                Some("use a probability from 0 to 1 (default 0.99)".into()),
            );
        }

        if let Some(smtp) = &self.alerts.smtp {
            let path = |k: &str| vec![key("alerts"), key("smtp"), key(k)];
            if smtp.host.trim().is_empty() {
                bad(path("host"), "must not be empty".into(), None);
            }
            if !looks_like_mailbox(&smtp.from) {
                bad(
                    path("from"),
                    format!("`{}` is not an email address", smtp.from),
                    Some("e.g. \"Ballotwatch <ballotwatch@anytown.gov.uk>\"".into()),
                );
            }
            if smtp.password_env.is_some() && smtp.username.is_none() {
                bad(
                    path("username"),
                    "is needed when password_env is set".into(),
                    None,
                );
            }
        }
        let mut hook_names = HashSet::new();
        for (i, hook) in self.alerts.webhooks.iter().enumerate() {
            let path = |k: &str| vec![key("alerts"), key("webhook"), Seg::Index(i), key(k)];
            if hook.name.trim().is_empty() {
                bad(path("name"), "must not be empty".into(), None);
            } else if !hook_names.insert(hook.name.clone()) {
                bad(
                    path("name"),
                    format!("`{}` is used by another webhook", hook.name),
                    None,
                );
            }
            if !matches!(hook.url.scheme(), "http" | "https") {
                bad(
                    path("url"),
                    format!("`{}` is not an http or https URL", hook.url),
                    None,
                );
            }
            if hook.secret_env.is_some() && hook.kind != WebhookKind::Json {
                bad(
                    path("secret_env"),
                    "only `kind = \"json\"` webhooks are signed".into(),
                    None,
                );
            }
        }
        let a = &self.alerts;
        for (k, d) in [
            ("group_window", a.group_window),
            ("retry_initial", a.retry_initial),
            ("retry_max", a.retry_max),
            ("dead_letter_after", a.dead_letter_after),
        ] {
            if d.is_zero() {
                bad(
                    vec![key("alerts"), key(k)],
                    "must be more than 0s".into(),
                    None,
                );
            }
        }
        if a.retry_max < a.retry_initial {
            bad(
                vec![key("alerts"), key("retry_max")],
                "must not be shorter than retry_initial".into(),
                None,
            );
        }
        let mut rule_names = HashSet::new();
        for (i, rule) in self.alerts.rules.iter().enumerate() {
            let path = |k: &str| vec![key("alerts"), key("rule"), Seg::Index(i), key(k)];
            if !rule_names.insert(rule.name.clone()) {
                bad(
                    path("name"),
                    format!("`{}` is used by another rule", rule.name),
                    None,
                );
            }
            if rule.to.is_empty() && rule.webhooks.is_empty() {
                bad(
                    path("to"),
                    "names no recipient".into(),
                    Some("list email addresses in `to` or webhook names in `webhooks`".into()),
                );
            }
            for (j, to) in rule.to.iter().enumerate() {
                if !looks_like_mailbox(to) {
                    let mut p = path("to");
                    p.push(Seg::Index(j));
                    bad(p, format!("`{to}` is not an email address"), None);
                }
            }
            for (j, w) in rule.webhooks.iter().enumerate() {
                if !hook_names.contains(w) {
                    let mut p = path("webhooks");
                    p.push(Seg::Index(j));
                    let help = did_you_mean(w, hook_names.iter().map(String::as_str))
                        .or_else(|| Some("add an [[alerts.webhook]] with this name".into()));
                    bad(p, format!("there is no webhook named `{w}`"), help);
                }
            }
            for (j, s) in rule.sources.iter().enumerate() {
                if self.source(s).is_none() {
                    let mut p = path("sources");
                    p.push(Seg::Index(j));
                    let help = did_you_mean(s, self.sources.iter().map(|s| s.name()));
                    bad(p, format!("there is no source named `{s}`"), help);
                }
            }
            for (j, n) in rule.identities.iter().enumerate() {
                if !self.identities.iter().any(|id| &id.name == n) {
                    let mut p = path("identities");
                    p.push(Seg::Index(j));
                    let help = did_you_mean(n, self.identities.iter().map(|i| i.name.as_str()));
                    bad(p, format!("there is no identity named `{n}`"), help);
                }
            }
            if let Some(s) = rule.min_score {
                if !(0.0..=1.0).contains(&s) {
                    bad(
                        path("min_score"),
                        format!("{s} is out of range"),
                        Some("use a score from 0 to 1".into()),
                    );
                }
            }
            if parse_hhmm(&rule.digest_at).is_none() {
                bad(
                    path("digest_at"),
                    format!("`{}` is not a time of day", rule.digest_at),
                    Some("write it as HH:MM (UTC), e.g. \"08:00\"".into()),
                );
            }
            if let Some(q) = &rule.quiet_hours {
                if parse_quiet_hours(q).is_none() {
                    bad(
                        path("quiet_hours"),
                        format!("`{q}` is not a span of hours"),
                        Some("write it as HH:MM-HH:MM (UTC), e.g. \"22:00-07:00\"".into()),
                    );
                }
            }
        }
        if self.alerts.rules.iter().any(|r| !r.to.is_empty()) && self.alerts.smtp.is_none() {
            bad(
                vec![key("alerts"), key("rule")],
                "alert rules need a mail server".into(),
                Some("add an [alerts.smtp] table".into()),
            );
        }
        for (j, to) in self.alerts.admin_to.iter().enumerate() {
            if !looks_like_mailbox(to) {
                let p = vec![key("alerts"), key("admin_to"), Seg::Index(j)];
                bad(p, format!("`{to}` is not an email address"), None);
            }
        }
        if !self.alerts.admin_to.is_empty() && self.alerts.smtp.is_none() {
            bad(
                vec![key("alerts"), key("admin_to")],
                "admin notices by email need a mail server".into(),
                Some("add an [alerts.smtp] table".into()),
            );
        }
        for (j, w) in self.alerts.admin_webhooks.iter().enumerate() {
            if !hook_names.contains(w) {
                let p = vec![key("alerts"), key("admin_webhooks"), Seg::Index(j)];
                let help = did_you_mean(w, hook_names.iter().map(String::as_str))
                    .or_else(|| Some("add an [[alerts.webhook]] with this name".into()));
                bad(p, format!("there is no webhook named `{w}`"), help);
            }
        }
        out
    }
}
