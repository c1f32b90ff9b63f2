use std::time::Duration;

use ballotwatch_core::config::{deserialize_table, FieldPath, Problems, Validate};

use super::*;

fn read(text: &str) -> (Option<ClusterConfig>, Vec<String>) {
    let value: toml::Value = toml::from_str::<toml::Table>(text).unwrap().into();
    let at = FieldPath::root().key("cluster");
    let mut problems = Problems::default();
    let config = deserialize_table::<ClusterConfig>(value, &at, &mut problems);
    if let Some(c) = &config {
        c.validate(&at, &mut problems);
    }
    let found = problems
        .iter()
        .map(|p| {
            format!(
                "{}: {}{}",
                p.path,
                p.message,
                p.help
                    .as_ref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    (config, found)
}

#[test]
fn a_minimal_table_takes_the_defaults() {
    let (c, problems) = read("nats_url = \"nats://10.0.0.5:4222\"\npostgres_url_env = \"BW_PG\"\n");
    assert!(problems.is_empty(), "{problems:?}");
    let c = c.unwrap();
    assert_eq!(c.nats_url, ["nats://10.0.0.5:4222"]);
    assert_eq!(c.lease, Duration::from_secs(30));
    assert_eq!(c.prefix, "ballotwatch");
    assert_eq!(c.stage(Stage::Classify), Stage::Classify.defaults());
    assert!(name_ok(&c.node()), "{}", c.node());
}

#[test]
fn urls_lists_stage_tables_and_auth_are_read() {
    let text = r#"
nats_url = ["nats://a:4222", "tls://b:4222"]
nats_user_env = "BW_NATS_USER"
nats_password_env = "BW_NATS_PASSWORD"
postgres_url_env = "BW_PG"
node_name = "node-a"
lease = "10s"
[classify]
max_deliver = 3
ack_wait = "5m"
[decide]
max_ack_pending = 10
"#;
    let (c, problems) = read(text);
    assert!(problems.is_empty(), "{problems:?}");
    let c = c.unwrap();
    assert_eq!(c.nats_url.len(), 2);
    assert_eq!(c.node(), "node-a");
    let s = c.stage(Stage::Classify);
    assert_eq!((s.max_deliver, s.ack_wait), (3, Duration::from_secs(300)));
    assert_eq!(
        s.max_ack_pending,
        Stage::Classify.defaults().max_ack_pending
    );
    assert_eq!(c.stage(Stage::Decide).max_ack_pending, 10);
}

#[test]
fn every_mistake_is_named() {
    let text = r#"
nats_url = ["http://a:4222", "nats://user:pw@b:4222", "nats://c:4222"]
nats_user_env = "BW USER"
nats_token_env = "BW_TOKEN"
postgres_url_env = "postgres://u:p@h/db"
node_name = "node a"
lease = "1s"
replicas = 9
[classify]
max_deliver = 0
ack_wait = "0s"
max_ack_pending = 0
"#;
    let (_, problems) = read(text);
    let all = problems.join("\n");
    for want in [
        "cluster.nats_url[0]: `http` is not a NATS URL scheme",
        "cluster.nats_url[1]: credentials must not be written in the URL",
        "cluster.nats_user_env: `BW USER` is not an environment variable name",
        "cluster.postgres_url_env: `postgres://u:p@h/db` is not an environment variable name",
        "cluster.nats_password_env: nats_user_env is set but nats_password_env is not",
        "cluster.nats_token_env: choose one way to log in to NATS",
        "cluster.node_name: `node a` cannot name a node",
        "cluster.lease: must be between 3s and 1h",
        "cluster.replicas: must be between 1 and 5",
        "cluster.classify.max_deliver: must be between 1 and 100",
        "cluster.classify.ack_wait: must be between 1s and 1h",
        "cluster.classify.max_ack_pending: must be between 1 and 100000",
    ] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
    assert_eq!(problems.len(), 12, "{all}");
}

#[test]
fn unknown_keys_get_a_did_you_mean_and_inline_secrets_have_no_key() {
    let (_, problems) =
        read("nats_url = \"nats://a\"\npostgres_url_env = \"X\"\nnode_nme = \"a\"\n");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("node_nme") && p.contains("node_name")),
        "{problems:?}"
    );
    let (_, problems) = read("nats_url = \"nats://a\"\npostgres_url = \"postgres://u:p@h/db\"\n");
    assert!(
        problems.iter().any(|p| p.contains("postgres_url")),
        "{problems:?}"
    );
}

#[test]
fn a_scheme_typo_gets_a_hint() {
    let Err((msg, help)) = check_nats_url("nat://a:4222") else {
        panic!("accepted")
    };
    assert!(msg.contains("`nat`"));
    assert_eq!(help.as_deref(), Some("did you mean `nats`?"));
}

#[test]
fn the_postgres_url_comes_from_the_named_variable() {
    let mut c = ClusterConfig::new("nats://a:4222");
    c.postgres_url_env = "BW_TEST_PG_URL_UNSET_7f3a".to_string();
    let err = c.postgres_url().unwrap_err().to_string();
    assert_eq!(
        err,
        "environment variable BW_TEST_PG_URL_UNSET_7f3a (named by [cluster] postgres_url_env) is not set"
    );
    c.postgres_url_env = "PATH".to_string(); // set in every test environment
    assert_eq!(c.postgres_url().unwrap(), std::env::var("PATH").unwrap());
}
