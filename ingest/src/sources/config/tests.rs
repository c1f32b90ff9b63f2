//! Reading `[[source]]` tables: every kind with its keys and defaults, and every problem named
//! with its source, key and line.

use std::path::Path;
use std::time::Duration;

use ballotwatch_core::config::{read_list, ConfigText, FieldPath, Problems};

use super::*;

/// Reads every `[[source]]` of `text` as `ballotwatch.toml` does: the sources, or every
/// problem placed on its line of `bw.toml`.
fn read(text: &str) -> Result<Vec<SourceConfig>, Vec<String>> {
    let file = ConfigText::new(text, Path::new("bw.toml"));
    let mut table = file.parse().map_err(|e| vec![e.to_string()])?;
    let at = FieldPath::root().key("source");
    let mut problems = Problems::default();
    let read = read_list(
        table.remove("source"),
        &at,
        &mut problems,
        SourceConfig::read,
    )
    .unwrap_or_default();
    validate_sources(&read, &at, &mut problems);
    let sources = read.into_iter().flatten().collect();
    file.finish(sources, problems)
        .map_err(|e| e.problems().iter().map(ToString::to_string).collect())
}

fn problems(sources: &str) -> Vec<String> {
    read(&format!("data_dir = \"d\"\n{sources}"))
        .err()
        .unwrap_or_default()
}

#[test]
fn every_kind_reads_its_keys_with_platform_defaults() {
    let sources = read(
        "data_dir = \"d\"\n\
         [[source]]\nname = \"m\"\nkind = \"mastodon\"\ninstance = \"https://social.example\"\nhashtags = [\"AnytownVotes\"]\naccounts = [\"@anytown\", \"@okafor@mastodon.example\"]\ntoken_env = \"MASTODON_TOKEN\"\n\
         [[source]]\nname = \"b\"\nkind = \"bluesky\"\nqueries = [\"Anytown\"]\nactors = [\"anytown.gov.uk\"]\n\
         [[source]]\nname = \"b2\"\nkind = \"bluesky\"\nbase_url = \"http://127.0.0.1:9/\"\nactors = [\"did:plc:4anytownbc2gov3uk4abcdef\"]\njetstream = false\n\
         [[source]]\nname = \"r\"\nkind = \"reddit\"\nsubreddits = [\"r/AnytownUK\"]\n\
         [[source]]\nname = \"t\"\nkind = \"telegram\"\nchannel = \"anytown_votes\"\ninterval = \"2m\"\n\
         [[source]]\nname = \"y\"\nkind = \"youtube\"\nurl = \"https://www.youtube.com/channel/UCanytown\"\n\
         [[source]]\nname = \"w\"\nkind = \"web\"\nurl = \"https://anytown.gov.uk/vote\"\nenabled = false\n",
    )
    .unwrap();
    let kinds: Vec<&str> = sources.iter().map(|s| s.kind()).collect();
    assert_eq!(
        kinds,
        ["mastodon", "bluesky", "bluesky", "reddit", "telegram", "youtube", "web"]
    );
    let urls: Vec<String> = sources.iter().map(|s| s.url().to_string()).collect();
    assert_eq!(urls[1], "https://public.api.bsky.app/");
    assert_eq!(
        urls[2], "http://127.0.0.1:9/",
        "base_url is the AppView's other name"
    );
    assert_eq!(urls[3], "https://www.reddit.com/");
    assert_eq!(urls[4], "https://t.me/");
    assert!(!sources[6].enabled());
    assert_eq!(sources[4].own_interval(), Some(Duration::from_secs(120)));
}

#[test]
fn bad_keys_are_named_with_their_source() {
    let p = problems("[[source]]\nname = \"m\"\nkind = \"mastodon\"\ninstance = \"https://social.example\"\nhashtags = [\"Anytown Votes\"]\ntoken_env = \"1x\"\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].starts_with("bw.toml:6: `source[0].hashtags`: `Anytown Votes` is not a hashtag"),
        "{p:?}"
    );
    assert!(
        p[1].contains("`source[0].token_env`: `1x` is not an environment variable name"),
        "{p:?}"
    );

    let p = problems(
        "[[source]]\nname = \"m\"\nkind = \"mastodon\"\ninstance = \"https://social.example\"\n",
    );
    assert!(p[0].contains("`source[0].hashtags`: a Mastodon source needs at least one of `hashtags` or `accounts`"), "{p:?}");

    assert!(
        problems("[[source]]\nname = \"b\"\nkind = \"bluesky\"\njetstream = true\n").is_empty()
    );
    let p = problems("[[source]]\nname = \"b\"\nkind = \"bluesky\"\n");
    assert!(
        p[0].contains("needs at least one of `queries` or `actors`, or `jetstream = true`"),
        "{p:?}"
    );
    let p = problems("[[source]]\nname = \"b\"\nkind = \"bluesky\"\nactors = [\"not a handle\"]\njetstream = true\njetstream_url = \"https://jet.example/\"\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].contains("`source[0].actors`: `not a handle` is not a valid bluesky handle"),
        "{p:?}"
    );
    assert!(
        p[1].contains("`source[0].jetstream_url`: `https://jet.example/` is not a ws or wss URL"),
        "{p:?}"
    );

    let p = problems("[[source]]\nname = \"r\"\nkind = \"reddit\"\nsubreddits = [\"Anytown UK\"]\nbase_url = \"ftp://reddit.example/\"\n");
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].contains("`source[0].base_url`: `ftp://reddit.example/` is not an http or https URL"),
        "{p:?}"
    );
    assert!(
        p[1].contains("`source[0].subreddits`: `Anytown UK` is not a subreddit name"),
        "{p:?}"
    );

    let p =
        problems("[[source]]\nname = \"t\"\nkind = \"telegram\"\nchannel = \"@anytown_votes\"\n");
    assert!(
        p[0].contains(
            "`source[0].channel`: `@anytown_votes` is not a public Telegram channel name"
        ),
        "{p:?}"
    );

    let p = problems("[[source]]\nname = \"y\"\nkind = \"youtube\"\nurl = \"https://www.youtube.com/@anytown\"\n");
    assert!(
        p[0].contains(
            "`source[0].url`: `https://www.youtube.com/@anytown` is not a YouTube channel"
        ),
        "{p:?}"
    );

    let p = problems("[[source]]\nname = \"t\"\nkind = \"telegram\"\nchanel = \"anytown_votes\"\n");
    assert!(
        p[0].contains("unknown key `chanel`") && p[0].contains("did you mean `channel`?"),
        "{p:?}"
    );

    let p = problems(
        "[[source]]\nname = \"m\"\nkind = \"mastodn\"\ninstance = \"https://social.example\"\n",
    );
    assert!(p[0].contains("did you mean `mastodon`?"), "{p:?}");
}

#[test]
fn every_problem_of_every_source_is_reported_in_one_run() {
    // A wrong type, a missing key, an unknown kind, a missing kind and a broken rule, each in
    // its own source: all five come back together (what could not be read first, then the
    // rules of what could), each with its source's place in the file.
    let p = problems(
        "[[source]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/rss\"\ninterval = 5\n\
         [[source]]\nname = \"b\"\nkind = \"telegram\"\n\
         [[source]]\nname = \"c\"\nkind = \"gopher\"\nurl = \"https://c.example/\"\n\
         [[source]]\nname = \"d\"\nurl = \"https://d.example/\"\n\
         [[source]]\nname = \"e\"\nkind = \"reddit\"\n",
    );
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(
        p[0].starts_with("bw.toml:6: `source[0].interval`:"),
        "{p:#?}"
    );
    assert!(
        p[1].contains("`source[1]`: missing required key `channel`"),
        "{p:#?}"
    );
    assert!(
        p[2].contains("`source[2].kind`: unknown value `gopher`")
            && p[2].contains("expected one of: rss, mastodon"),
        "{p:#?}"
    );
    assert!(
        p[3].contains("`source[3]`: missing required key `kind`"),
        "{p:#?}"
    );
    assert!(
        p[4].starts_with("bw.toml:17: `source[4].subreddits`: a Reddit source needs"),
        "{p:#?}"
    );
}

#[test]
fn names_must_be_given_and_unique() {
    let p = problems(
        "[[source]]\nname = \"a\"\nkind = \"web\"\nurl = \"https://a.example/\"\n\
         [[source]]\nname = \"a\"\nkind = \"web\"\nurl = \"https://b.example/\"\n\
         [[source]]\nkind = \"web\"\nurl = \"https://c.example/\"\n",
    );
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].contains("`source[2]`: missing required key `name`"),
        "{p:#?}"
    );
    assert!(
        p[1].contains("`source[1].name`: `a` is used by another source"),
        "{p:#?}"
    );
}
