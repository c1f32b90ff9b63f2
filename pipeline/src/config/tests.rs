//! Tests of loading and validating `ballotwatch.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ballotwatch_core::config::{check_domain, ConfigProblem, MAX_HTML_DEPTH_CEILING};
use ballotwatch_core::Severity;
use ballotwatch_ingest::sources::handles::check_handle;
use bytesize::ByteSize;

use super::*;

const CONTRACT_EXAMPLE: &str = r#"
data_dir = "/var/lib/ballotwatch"
[server]
bind = "127.0.0.1:8080"
public_url = "https://ballotwatch.example.gov.uk"
[watch]
terms = ["Anytown", "Riverside ward", "Jane Okafor", "polling station"]
[[source]]
name = "Anytown Echo"
kind = "rss"
url = "https://news.example/rss"
interval = "5m"
[[identity]]
name = "Anytown Borough Council"
kind = "organisation"
domains = ["anytown.gov.uk"]
handles = { bluesky = ["anytown.gov.uk"], mastodon = ["@anytown@social.example"], x = ["@AnytownBC"] }
logos = ["/etc/ballotwatch/logo.png"]
[[narrative]]
id = "bridge-closed"
claim = "The Riverside polling station is closed because the bridge is shut"
examples = ["Riverside polling station shut, bridge closed, don't go"]
rebuttal = "All polling stations are open 7am-10pm; check your poll card or anytown.gov.uk/vote"
source = "https://anytown.gov.uk/elections"
[detectors]
threshold = 0.5
models_dir = "./models"
[alerts.smtp]
host = "smtp.example.gov.uk"
port = 587
tls = "starttls"
username = "ballotwatch"
password_env = "BALLOTWATCH_SMTP_PASSWORD"
from = "Ballotwatch <ballotwatch@example.gov.uk>"
[[alerts.rule]]
name = "comms-high"
kinds = ["impersonation", "synthetic_media", "misinformation"]
min_severity = "medium"
to = ["comms@example.gov.uk"]
mode = "immediate"
[evidence]
signing_key = "/var/lib/ballotwatch/evidence.key"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("bw.toml"))
}

fn one_problem(text: &str) -> ConfigProblem {
    let err = parse(text).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    problems[0].clone()
}

#[test]
fn the_contract_example_is_valid() {
    let c = parse(CONTRACT_EXAMPLE).unwrap();
    assert_eq!(c.sources.len(), 1);
    assert_eq!(c.sources[0].interval(&c.ingest), Duration::from_secs(300));
    assert_eq!(
        c.identities[0].handles["mastodon"],
        ["@anytown@social.example"]
    );
    assert_eq!(c.alerts.rules[0].min_severity, Severity::Medium);
    assert_eq!(c.ingest.max_response_size, ByteSize::mib(10));
}

#[test]
fn limits_have_defaults_and_refuse_zero() {
    let c = parse("data_dir = \"d\"\n").unwrap();
    assert_eq!(c.limits.max_query_depth, 16);
    assert_eq!(c.limits.quarantine_after, 2);
    assert_eq!(c.limits.verify_max_unpacked, ByteSize::gib(8));
    let c =
        parse("data_dir = \"d\"\n[limits]\ndiff_timeout = \"500ms\"\nmax_item_text = \"64 KiB\"\n")
            .unwrap();
    assert_eq!(c.limits.diff_timeout, Duration::from_millis(500));
    assert_eq!(c.limits.max_item_text, ByteSize::kib(64));
    let p = one_problem("data_dir = \"d\"\n[limits]\nmax_html_depth = 0\n");
    assert_eq!(p.field, "limits.max_html_depth", "{p}");
    let p = one_problem("data_dir = \"d\"\n[limits]\nmax_html_dept = 10\n");
    assert!(p.to_string().contains("max_html_depth"), "{p}");
}

#[test]
fn max_html_depth_above_the_ceiling_is_a_problem() {
    let c = parse("data_dir = \"d\"\n[limits]\nmax_html_depth = 1024\n").unwrap();
    assert_eq!(c.limits.max_html_depth, MAX_HTML_DEPTH_CEILING);
    let p = one_problem("data_dir = \"d\"\n[limits]\nmax_html_depth = 1025\n");
    assert_eq!(p.field, "limits.max_html_depth", "{p}");
    assert_eq!(p.line, Some(3), "{p}");
    assert!(p.message.contains("at most 1024"), "{p}");
}

#[test]
fn known_fake_distance_defaults_to_31_and_is_bounded() {
    let c = parse("data_dir = \"d\"\n").unwrap();
    assert_eq!(c.detectors.known_fake_distance, 31);
    let p = one_problem("data_dir = \"d\"\n[detectors]\nknown_fake_distance = 100\n");
    assert_eq!(p.field, "detectors.known_fake_distance", "{p}");
}

#[test]
fn ocr_and_pixel_model_keys_are_checked() {
    let p = one_problem("data_dir = \"d\"\n[detectors.ocr]\nmax_side = 8\n");
    assert_eq!(p.field, "detectors.ocr.max_side", "{p}");
    let p = one_problem("data_dir = \"d\"\n[detectors.pixel_model]\nmax_text_fraction = 2.0\n");
    assert_eq!(p.field, "detectors.pixel_model.max_text_fraction", "{p}");
    let p = one_problem("data_dir = \"d\"\n[detectors.pixel_model]\nalone_threshold = 1.5\n");
    assert_eq!(p.field, "detectors.pixel_model.alone_threshold", "{p}");
    assert_eq!(
        parse("data_dir = \"d\"\n")
            .unwrap()
            .detectors
            .pixel_model
            .alone_threshold,
        0.99
    );
    let p = one_problem("data_dir = \"d\"\n[detectors.pixel_model]\nmodel = \"x\"\n");
    assert!(p.to_string().contains("model"), "{p}");
    let c = parse(
        "data_dir = \"d\"\n[detectors.pixel_model]\nmanifest = \"mine/manifest.toml\"\n[detectors.ocr]\nenabled = false\n",
    )
    .unwrap();
    assert_eq!(
        c.detectors.pixel_model.manifest.as_deref(),
        Some(std::path::Path::new("mine/manifest.toml"))
    );
    assert!(!c.detectors.ocr.enabled && c.detectors.pixel_model.enabled);
    assert_eq!(c.detectors.ocr.max_side, 960);
}

#[test]
fn detector_threads_and_batch_size_must_be_positive() {
    let p = one_problem("data_dir = \"d\"\n[detectors]\nthreads = 0\n");
    assert_eq!(p.field, "detectors.threads", "{p}");
    assert_eq!(p.line, Some(3), "{p}");
    let p = one_problem("data_dir = \"d\"\n[detectors]\nbatch_size = 0\n");
    assert_eq!(p.field, "detectors.batch_size", "{p}");
    let c = parse("data_dir = \"d\"\n[detectors]\nthreads = 2\n").unwrap();
    assert_eq!((c.detectors.threads, c.detectors.batch_size), (Some(2), 32));
}

#[test]
fn unknown_source_key_names_line_field_and_suggestion() {
    let text = "data_dir = \"d\"\n[[source]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/\"\nintervl = \"5m\"\n";
    let p = one_problem(text);
    assert_eq!(p.line, Some(6), "{p}");
    assert_eq!(p.field, "source[0].intervl");
    assert_eq!(p.help.as_deref(), Some("did you mean `interval`?"));
    assert!(
        p.to_string()
            .starts_with("bw.toml:6: `source[0].intervl`: unknown key"),
        "{p}"
    );
}

#[test]
fn unknown_top_level_key_and_table() {
    let p = one_problem("data_dir = \"d\"\n\n[watc]\nterms = []\n");
    assert_eq!(p.line, Some(3));
    assert_eq!(p.help.as_deref(), Some("did you mean `watch`?"));
}

#[test]
fn unknown_source_kind_suggests() {
    let p = one_problem(
        "data_dir = \"d\"\n[[source]]\nname = \"a\"\nkind = \"rs\"\nurl = \"https://a.example/\"\n",
    );
    assert!(p.message.contains("unknown value `rs`"), "{p}");
    assert_eq!(p.help.as_deref(), Some("did you mean `rss`?"));
    assert_eq!(p.line, Some(4), "{p}");
}

#[test]
fn bad_duration_and_bad_url_name_their_field() {
    let p = one_problem("data_dir = \"d\"\n[ingest]\ntimeout = \"soon\"\n");
    assert_eq!(p.field, "ingest.timeout");
    assert_eq!(p.line, Some(3));
    let p = one_problem(
        "data_dir = \"d\"\n[[source]]\nname = \"a\"\nkind = \"rss\"\nurl = \"not a url\"\n",
    );
    assert!(p.field.starts_with("source[0]"), "{p}");
    assert!(p.line.is_some());
}

#[test]
fn missing_required_key() {
    let p = one_problem("[watch]\nterms = []\n");
    assert!(p.message.contains("missing required key `data_dir`"), "{p}");
}

#[test]
fn syntax_error_has_a_line() {
    let p = one_problem("data_dir = \"d\"\n[watch\nterms = []\n");
    assert!(p.message.starts_with("not valid TOML"), "{p}");
    assert_eq!(p.line, Some(2));
}

#[test]
fn validation_reports_every_problem_with_lines() {
    let text = r#"data_dir = "d"
[[source]]
name = "a"
kind = "rss"
url = "ftp://a.example/"
[[source]]
name = "a"
kind = "rss"
url = "https://b.example/"
interval = "1s"
[[identity]]
name = "Council"
kind = "organisation"
domains = ["https://anytown.gov.uk"]
handles = { mastodn = ["@a@b.example"], bluesky = ["not a handle"] }
"#;
    let err = parse(text).unwrap_err();
    let by_field: BTreeMap<_, _> = err
        .problems()
        .iter()
        .map(|p| (p.field.as_str(), p))
        .collect();
    assert_eq!(by_field["source[0].url"].line, Some(5));
    assert_eq!(by_field["source[1].name"].line, Some(7));
    assert_eq!(by_field["source[1].interval"].line, Some(10));
    assert_eq!(by_field["identity[0].domains[0]"].line, Some(14));
    assert_eq!(
        by_field["identity[0].handles.mastodn"].help.as_deref(),
        Some("did you mean `mastodon`?")
    );
    assert!(by_field.contains_key("identity[0].handles.bluesky[0]"));
    assert_eq!(err.problems().len(), 6, "{err}");
}

#[test]
fn admin_notice_recipients_are_validated() {
    let text = "data_dir = \"d\"\n[alerts]\nadmin_to = [\"it@anytown.gov.uk\", \"ops\"]\n\
                admin_webhooks = [\"tems\"]\n[[alerts.webhook]]\nname = \"teams\"\n\
                kind = \"teams\"\nurl = \"https://hooks.example/x\"\n";
    let err = parse(text).unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "alerts.admin_to[1]",
            "alerts.admin_to",
            "alerts.admin_webhooks[0]"
        ],
        "{err}"
    );
    assert!(err.to_string().contains("did you mean `teams`"), "{err}");
    let ok = parse(
        "data_dir = \"d\"\n[alerts]\nadmin_to = [\"it@anytown.gov.uk\"]\n\
         [alerts.smtp]\nhost = \"smtp.example\"\nfrom = \"bw@anytown.gov.uk\"\n",
    )
    .unwrap();
    assert_eq!(ok.alerts.admin_to, ["it@anytown.gov.uk"]);
}

#[test]
fn rules_need_smtp_and_valid_recipients() {
    let text = "data_dir = \"d\"\n[[alerts.rule]]\nname = \"r\"\nto = [\"comms\"]\n";
    let err = parse(text).unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"alerts.rule[0].to[0]"), "{fields:?}");
    assert!(fields.contains(&"alerts.rule"), "{fields:?}");
}

#[test]
fn load_resolves_relative_paths_and_names_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bw.toml");
    std::fs::write(&path, "data_dir = \"data\"\n").unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.data_dir, dir.path().join("data"));
    assert!(c.evidence.trusted_keys.is_empty());
    std::fs::write(
        &path,
        "data_dir = \"data\"\n[evidence]\ntrusted_keys = [\"keys/council.pub\", \"/etc/ro.pub\"]\n",
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(
        c.evidence.trusted_keys,
        [
            dir.path().join("keys/council.pub"),
            PathBuf::from("/etc/ro.pub")
        ]
    );
    let err = Config::load(&dir.path().join("nope.toml")).unwrap_err();
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn tsa_keys_are_validated_and_roots_resolved() {
    let c = parse("data_dir = \"d\"\n").unwrap();
    assert!(!c.evidence.timestamps_enabled());
    assert_eq!(c.evidence.timestamp_interval, Duration::from_secs(600));
    let p = one_problem("data_dir = \"d\"\n[evidence]\ntsa_urls = [\"https://tsa.example/\"]\n");
    assert_eq!(p.field, "evidence.tsa_roots");
    let p = one_problem(
        "data_dir = \"d\"\n[evidence]\ntsa_urls = [\"https://tsa.example/\", \"ftp://x/\"]\n\
         tsa_roots = [\"r.pem\"]\n",
    );
    assert_eq!(p.field, "evidence.tsa_urls[1]", "{p}");
    let p = one_problem("data_dir = \"d\"\n[evidence]\ntimestamp_interval = \"5s\"\n");
    assert_eq!(p.field, "evidence.timestamp_interval");
    assert_eq!(p.line, Some(3));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bw.toml");
    std::fs::write(
        &path,
        "data_dir = \"data\"\n[evidence]\ntsa_urls = [\"http://tsa.example/tsr\"]\n\
         tsa_roots = [\"roots/tsa.pem\"]\ntimestamp_interval = \"30s\"\n",
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.evidence.tsa_roots, [dir.path().join("roots/tsa.pem")]);
    assert_eq!(c.evidence.timestamp_interval, Duration::from_secs(30));
}

#[test]
fn handles_and_domains() {
    assert!(check_handle("mastodon", "@anytown@social.example").is_ok());
    assert!(check_handle("mastodon", "anytown").is_err());
    assert!(check_handle("bluesky", "anytown.gov.uk").is_ok());
    assert!(check_handle("bluesky", "did:plc:abcdefghijklmnopqrstuvwx").is_ok());
    assert!(check_handle("x", "@AnytownBC").is_ok());
    assert!(check_handle("x", "@Anytown BC").is_err());
    assert!(check_handle("x", "@AnytownBoroughCouncil").is_err());
    assert!(check_handle("x", "@Anytown.BC").is_err());
    assert!(check_handle("instagram", "@anytown.council").is_ok());
    assert!(check_handle("telegram", "@anytown_elections").is_ok());
    assert!(check_handle("facebook", "AnytownCouncil").is_ok());
    assert!(check_handle("facebook", "https://facebook.com/x").is_err());
    assert!(check_domain("anytown.gov.uk").is_ok());
    assert!(check_domain("anytown").is_err());
    assert!(check_domain("-a.example").is_err());
}

proptest::proptest! {
    #[test]
    fn loading_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn every_problem_line_is_inside_the_file(extra in "[a-z_]{1,12}") {
        let text = format!("data_dir = \"d\"\n[ingest]\n{extra} = 1\n");
        if let Err(e) = parse(&text) {
            for p in e.problems() {
                let line = p.line.unwrap_or(1);
                proptest::prop_assert!((1..=3).contains(&line));
            }
        }
    }
}

#[test]
fn alert_rules_and_webhooks_are_validated() {
    let text = "data_dir = \"d\"\n[alerts]\nretry_initial = \"10m\"\nretry_max = \"1m\"\n\
        [[alerts.webhook]]\nname = \"t\"\nkind = \"teams\"\nurl = \"ftp://x.example/\"\nsecret_env = \"S\"\n\
        [[alerts.rule]]\nname = \"r\"\nwebhooks = [\"teams\"]\nsources = [\"Nope\"]\n\
        min_score = 2.0\n";
    let Err(ConfigError::Invalid(problems)) = Config::from_toml(text, Path::new("c.toml")) else {
        panic!("should be invalid");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for f in [
        "alerts.retry_max",
        "alerts.webhook[0].url",
        "alerts.webhook[0].secret_env",
        "alerts.rule[0].webhooks[0]",
        "alerts.rule[0].sources[0]",
        "alerts.rule[0].min_score",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    // Times are read as times: a mistake in each of two rules, both reported, each on its line.
    let text = "data_dir = \"d\"\n[[alerts.webhook]]\nname = \"t\"\nkind = \"slack\"\nurl = \"https://h.example/x\"\n\
        [[alerts.rule]]\nname = \"a\"\nwebhooks = [\"t\"]\ndigest_at = \"8am\"\n\
        [[alerts.rule]]\nname = \"b\"\nwebhooks = [\"t\"]\nquiet_hours = \"22:00\"\n";
    let err = Config::from_toml(text, Path::new("c.toml")).unwrap_err();
    let got: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with("c.toml:9: `alerts.rule[0].digest_at`: `8am` is not a time of day"),
        "{got:#?}"
    );
    assert!(
        got[1]
            .starts_with("c.toml:13: `alerts.rule[1].quiet_hours`: `22:00` is not a span of hours"),
        "{got:#?}"
    );
    // A webhook-only rule needs no mail server.
    let ok = "data_dir = \"d\"\n[[alerts.webhook]]\nname = \"t\"\nkind = \"slack\"\nurl = \"https://h.example/x\"\n\
        [[alerts.rule]]\nname = \"r\"\nwebhooks = [\"t\"]\n";
    assert!(Config::from_toml(ok, Path::new("c.toml")).is_ok());
}

#[test]
fn server_web_keys_are_read_and_validated() {
    let ok = "data_dir = \"d\"\n[server]\nmetrics_bind = \"127.0.0.1:9090\"\n\
        session_ttl = \"8h\"\nlogin_max_failures = 3\nlogin_lockout = \"30m\"\n";
    let c = Config::from_toml(ok, Path::new("c.toml")).unwrap();
    assert_eq!(
        c.server.metrics_bind,
        Some(SocketAddr::from(([127, 0, 0, 1], 9090)))
    );
    assert_eq!(c.server.session_ttl, Duration::from_secs(8 * 3600));
    assert_eq!(c.server.login_max_failures, 3);
    assert_eq!(c.server.login_lockout, Duration::from_secs(1800));
    let d = Config::from_toml("data_dir = \"d\"\n", Path::new("c.toml")).unwrap();
    assert_eq!(d.server.login_max_failures, 5);
    assert_eq!(
        c.server.attempts_per_address(),
        2,
        "one fewer than the failures"
    );
    assert_eq!(d.server.attempts_per_address(), 4);
    assert_eq!(d.server.login_window, Duration::from_secs(900));
    assert_eq!(d.server.login_max_lockout, Duration::from_secs(86400));
    for (toml, field) in [
        (
            "login_attempts_per_address = 5",
            "server.login_attempts_per_address",
        ),
        (
            "login_attempts_per_address = 0",
            "server.login_attempts_per_address",
        ),
        ("login_max_failures = 1", "server.login_max_failures"),
        ("login_window = \"0s\"", "server.login_window"),
        ("login_max_lockout = \"1m\"", "server.login_max_lockout"),
    ] {
        let bad = format!("data_dir = \"d\"\n[server]\n{toml}\n");
        let Err(ConfigError::Invalid(problems)) = Config::from_toml(&bad, Path::new("c.toml"))
        else {
            panic!("{toml} should be invalid");
        };
        assert!(
            problems.iter().any(|p| p.field == field),
            "{toml}: {problems:?}"
        );
    }
    let bad = "data_dir = \"d\"\n[server]\nlogin_max_failures = 0\nsession_ttl = \"0s\"\n";
    let Err(ConfigError::Invalid(problems)) = Config::from_toml(bad, Path::new("c.toml")) else {
        panic!("should be invalid");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"server.login_max_failures"), "{fields:?}");
    assert!(fields.contains(&"server.session_ttl"), "{fields:?}");
}

#[test]
fn trusted_proxies_take_addresses_and_ranges_and_name_a_bad_one() {
    let ok = "data_dir = \"d\"\n[server]\ntrusted_proxies = [\"127.0.0.1\", \
              \"10.0.0.0/24\", \"::1\"]\n";
    let c = Config::from_toml(ok, Path::new("c.toml")).unwrap();
    let got: Vec<String> = c
        .server
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(got, ["127.0.0.1/32", "10.0.0.0/24", "::1/128"]);
    let bad = "data_dir = \"d\"\n[server]\ntrusted_proxies = [\"proxy.local\"]\n";
    let e = Config::from_toml(bad, Path::new("c.toml"))
        .expect_err("a host name is not an address")
        .to_string();
    assert!(
        e.contains("trusted_proxies") && e.contains("`proxy.local` is not an IP address"),
        "{e}"
    );
}

#[test]
fn the_cluster_table_is_optional_and_checked_with_its_place_in_the_file() {
    let base = "data_dir = \"d\"\n";
    assert!(
        parse(base).unwrap().cluster.is_none(),
        "absent = embedded mode"
    );
    let ok = format!(
        "{base}[cluster]\nnats_url = [\"nats://10.0.0.5:4222\"]\npostgres_url_env = \"BW_PG\"\nnode_name = \"node-a\"\n"
    );
    let c = parse(&ok).unwrap().cluster.unwrap();
    assert_eq!(c.node(), "node-a");
    let bad = format!(
        "{base}[server]\nbind = 8080\n[cluster]\nnats_url = \"http://x\"\npostgres_url_env = \"BW_PG\"\nnode_nme = \"a\"\n"
    );
    let err = parse(&bad).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bw.toml:7: `cluster.node_nme`"), "{text}");
    assert!(text.contains("did you mean `node_name`?"), "{text}");
    let bad = format!("{base}[cluster]\nnats_url = \"http://x\"\npostgres_url_env = \"BW_PG\"\n");
    let text = parse(&bad).unwrap_err().to_string();
    assert!(
        text.contains("bw.toml:3: `cluster.nats_url[0]`: `http` is not a NATS URL scheme"),
        "{text}"
    );
}

#[test]
fn the_reports_table_is_read_and_validated_with_its_line() {
    let d = Config::from_toml("data_dir = \"d\"\n", Path::new("c.toml")).unwrap();
    assert!(!d.reports.public_form, "the public form is off by default");
    assert_eq!(d.reports.public_max_files, 3);
    assert_eq!(d.reports.public_max_file_size.as_u64(), 10_000_000);
    assert_eq!(d.reports.reporter_retention_days, 90);
    let kept = "data_dir = \"d\"\n[reports]\nreporter_retention_days = 365\n";
    let c = Config::from_toml(kept, Path::new("c.toml")).unwrap();
    assert_eq!(c.reports.reporter_retention_days, 365);
    let never = "data_dir = \"d\"\n[reports]\nreporter_retention_days = 0\n";
    let Err(ConfigError::Invalid(problems)) = Config::from_toml(never, Path::new("c.toml")) else {
        panic!("0 days should be invalid");
    };
    assert!(
        problems
            .iter()
            .any(|p| p.field == "reports.reporter_retention_days" && p.line == Some(3)),
        "{problems:?}"
    );
    let ok = "data_dir = \"d\"\n[reports]\npublic_form = true\npublic_max_file_size = \"2MB\"\n\
        public_window = \"10m\"\n";
    let c = Config::from_toml(ok, Path::new("c.toml")).unwrap();
    assert!(c.reports.public_form);
    assert_eq!(c.reports.public_max_file_size.as_u64(), 2_000_000);
    assert_eq!(c.reports.public_window, Duration::from_secs(600));
    let bad = "data_dir = \"d\"\n[reports]\npublic_form = true\nmax_files = 9\n";
    let Err(ConfigError::Invalid(problems)) = Config::from_toml(bad, Path::new("c.toml")) else {
        panic!("should be invalid");
    };
    assert!(
        problems.iter().any(|p| p.field == "reports.max_files"),
        "{problems:?}"
    );
    let typo = "data_dir = \"d\"\n[reports]\npublic_form = true\npublic_formm = 1\n";
    let Err(ConfigError::Invalid(problems)) = Config::from_toml(typo, Path::new("c.toml")) else {
        panic!("should be invalid");
    };
    assert!(
        problems.iter().any(|p| p.field == "reports.public_formm"
            && p.line == Some(4)
            && p.help.as_deref() == Some("did you mean `public_form`?")),
        "{problems:?}"
    );
}

#[test]
fn report_acknowledgements_need_a_mail_server_and_a_reference() {
    let inbox = |ack: &str| {
        format!(
            "data_dir = \"d\"\n[[source]]\nname = \"Reports\"\nkind = \"imap\"\n\
             host = \"imap.anytown.gov.uk\"\nusername = \"reports\"\n\
             password_env = \"REPORTS_IMAP_PASSWORD\"\n{ack}\n"
        )
    };
    let smtp = "[alerts.smtp]\nhost = \"smtp.example\"\nfrom = \"elections@anytown.gov.uk\"\n";
    // Off by default: no mail server needed, nothing sent.
    let off = parse(&inbox("")).unwrap();
    assert!(!off.sends_messages());
    // On without a mail server: named, with what to do.
    let err = parse(&inbox("acknowledge = {}")).unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["source[0].acknowledge"], "{err}");
    assert!(
        err.to_string().contains("add an [alerts.smtp] table"),
        "{err}"
    );
    // The defaults, with a mail server.
    let on = parse(&format!("{}{smtp}", inbox("acknowledge = {}"))).unwrap();
    assert!(on.sends_messages());
    assert_eq!(on.acknowledging_inboxes().collect::<Vec<_>>(), [0]);
    // A text without the reference, a subject over two lines.
    let err = parse(&format!(
        "{}{smtp}",
        inbox("acknowledge = { subject = \"a\\nb\", text = \"Thanks.\" }")
    ))
    .unwrap_err();
    let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "source[0].acknowledge.subject",
            "source[0].acknowledge.text"
        ],
        "{err}"
    );
    assert!(err.to_string().contains("{reference}"), "{err}");
    // The hourly cap: 60 by default, 1 to 10,000.
    let capped = parse(&format!(
        "{}{smtp}",
        inbox("acknowledge = { per_hour = 5 }")
    ))
    .unwrap();
    let ack = |c: &Config| match &c.sources[0].settings {
        SourceSettings::Imap(i) => i.acknowledge.as_ref().map(|a| a.per_hour),
        _ => None,
    };
    assert_eq!((ack(&on), ack(&capped)), (Some(60), Some(5)));
    for bad in ["0", "10001"] {
        let err = parse(&format!(
            "{}{smtp}",
            inbox(&format!("acknowledge = {{ per_hour = {bad} }}"))
        ))
        .unwrap_err();
        let fields: Vec<_> = err.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["source[0].acknowledge.per_hour"], "{err}");
    }
    // A disabled inbox sends nothing.
    let disabled = parse(&format!(
        "{}{smtp}",
        inbox("acknowledge = {}\nenabled = false")
    ))
    .unwrap();
    assert!(!disabled.sends_messages());
}
