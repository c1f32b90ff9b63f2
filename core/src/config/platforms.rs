//! Keys of the social-platform and web-page sources (`kind = "mastodon"`, `"bluesky"`,
//! `"reddit"`, `"youtube"`, `"telegram"`, `"web"`) and their validation.
//!
//! Every platform kind has a `base_url` (for Mastodon it is the `instance`, for Bluesky the
//! `appview`): the platform's public endpoint by default, and what tests point at 127.0.0.1.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{check_handle, yes};

/// Keys of a Mastodon source (`kind = "mastodon"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonSourceConfig {
    /// Unique name, shown in search results and alerts.
    pub name: String,
    /// The Mastodon server, e.g. `https://social.example` (also accepted as `base_url`).
    #[serde(alias = "base_url")]
    pub instance: Url,
    /// Hashtags whose public timelines are read (with or without the `#`).
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// Accounts whose public posts are read: `@user` (on `instance`) or `@user@server`.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Environment variable holding an access token, for servers that require one.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Poll interval (default: `[ingest] default_interval`).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Set to false to keep the source configured but not polled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// Keys of a Bluesky source (`kind = "bluesky"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueskySourceConfig {
    /// Unique name, shown in search results and alerts.
    pub name: String,
    /// Search terms for `app.bsky.feed.searchPosts`.
    #[serde(default)]
    pub queries: Vec<String>,
    /// Accounts (handles or DIDs) whose posts are read with `app.bsky.feed.getAuthorFeed`.
    #[serde(default)]
    pub actors: Vec<String>,
    /// Real-time ingest from Jetstream (a websocket of new posts), beside the polled queries
    /// and feeds: posts by the `actors` and posts matching the `[watch] terms`.
    #[serde(default)]
    pub jetstream: bool,
    /// The AppView serving the XRPC API (also accepted as `base_url`).
    #[serde(default = "default_appview", alias = "base_url")]
    pub appview: Url,
    /// The Jetstream `subscribe` websocket endpoint (`ws`/`wss`), used when `jetstream` is true.
    #[serde(default = "default_jetstream_url")]
    pub jetstream_url: Url,
    /// Poll interval (default: `[ingest] default_interval`).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Set to false to keep the source configured but not polled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// Keys of a Reddit source (`kind = "reddit"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedditSourceConfig {
    /// Unique name, shown in search results and alerts.
    pub name: String,
    /// Subreddits whose `new` listing is read (`AnytownUK` or `r/AnytownUK`).
    #[serde(default)]
    pub subreddits: Vec<String>,
    /// Search terms, newest first across all of Reddit.
    #[serde(default)]
    pub queries: Vec<String>,
    /// The Reddit endpoint serving the public JSON listings.
    #[serde(default = "default_reddit")]
    pub base_url: Url,
    /// Poll interval (default: `[ingest] default_interval`).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Set to false to keep the source configured but not polled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// Keys of a Telegram public channel source (`kind = "telegram"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSourceConfig {
    /// Unique name, shown in search results and alerts.
    pub name: String,
    /// The channel's public user name (as in `t.me/NAME`).
    pub channel: String,
    /// Where the public web preview (`/s/NAME`) is served.
    #[serde(default = "default_telegram")]
    pub base_url: Url,
    /// Poll interval (default: `[ingest] default_interval`).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Set to false to keep the source configured but not polled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// Keys of a source with one URL: YouTube channel or playlist feeds (`kind = "youtube"`) and
/// watched web pages (`kind = "web"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlSourceConfig {
    /// Unique name, shown in search results and alerts.
    pub name: String,
    /// YouTube: the channel or playlist URL, or its `/feeds/videos.xml?...` feed. Web: the page.
    pub url: Url,
    /// Poll interval (default: `[ingest] default_interval`).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Set to false to keep the source configured but not polled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// The public Bluesky AppView.
pub fn default_appview() -> Url {
    fixed_url("https://public.api.bsky.app/")
}

/// The public Jetstream instance.
pub fn default_jetstream_url() -> Url {
    fixed_url("wss://jetstream2.us-east.bsky.network/subscribe")
}

/// Reddit's public endpoint.
pub fn default_reddit() -> Url {
    fixed_url("https://www.reddit.com/")
}

/// Telegram's public web preview.
pub fn default_telegram() -> Url {
    fixed_url("https://t.me/")
}

fn fixed_url(s: &str) -> Url {
    // Only ever called with the literals above, which are valid URLs.
    #[allow(clippy::expect_used)]
    Url::parse(s).expect("a built-in default URL parses")
}

/// The YouTube feed of a channel, playlist or feed URL:
/// `https://host/feeds/videos.xml?channel_id=…` (or `playlist_id=…`), else a sentence saying
/// which forms are understood.
pub fn youtube_feed_url(url: &Url) -> Result<Url, String> {
    let param = |k: &str| {
        url.query_pairs()
            .find(|(key, v)| key == k && !v.is_empty())
            .map(|(_, v)| v.into_owned())
    };
    // Paths may sit under a prefix (a test server or a mirror): keep it.
    let path = url.path().trim_end_matches('/');
    let (prefix, key, id) = if let Some(prefix) = path.strip_suffix("/feeds/videos.xml") {
        if let Some(c) = param("channel_id") {
            (prefix, "channel_id", c)
        } else if let Some(p) = param("playlist_id") {
            (prefix, "playlist_id", p)
        } else {
            return Err(format!(
                "`{url}` is a YouTube feed URL without `channel_id=` or `playlist_id=`"
            ));
        }
    } else if let Some((prefix, c)) = path.rsplit_once("/channel/") {
        (prefix, "channel_id", c.to_string())
    } else if let Some(prefix) = path.strip_suffix("/playlist") {
        match param("list") {
            Some(p) => (prefix, "playlist_id", p),
            None => return Err(format!("`{url}` is a playlist URL without `list=`")),
        }
    } else {
        return Err(format!(
            "`{url}` is not a YouTube channel, playlist or feed URL"
        ));
    };
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!("`{url}` has an invalid {key} `{id}`"));
    }
    let mut feed = url.clone();
    feed.set_path(&format!("{prefix}/feeds/videos.xml"));
    feed.set_fragment(None);
    feed.query_pairs_mut().clear().append_pair(key, &id);
    Ok(feed)
}

/// A hashtag without its `#`, if it is one: letters, digits and underscores.
pub fn hashtag(tag: &str) -> Option<&str> {
    let t = tag.trim().strip_prefix('#').unwrap_or(tag.trim());
    (!t.is_empty() && t.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(t)
}

/// A subreddit name without `r/`, if it is one (3–21 letters, digits or underscores).
pub fn subreddit(name: &str) -> Option<&str> {
    let n = name.trim();
    let n = n
        .strip_prefix("/r/")
        .or_else(|| n.strip_prefix("r/"))
        .unwrap_or(n)
        .trim_end_matches('/');
    let len = n.chars().count();
    ((2..=21).contains(&len) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(n)
}

/// Whether `name` is a public Telegram user name (5–32 letters, digits or underscores).
pub fn telegram_channel_ok(name: &str) -> bool {
    let len = name.chars().count();
    (5..=32).contains(&len)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// Whether `name` can be an environment variable name.
fn env_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A problem with one key of a source: (key, message, help).
pub(super) type KeyProblem = (&'static str, String, Option<String>);

impl MastodonSourceConfig {
    pub(super) fn problems(&self) -> Vec<KeyProblem> {
        let mut out = Vec::new();
        if self.hashtags.is_empty() && self.accounts.is_empty() {
            out.push((
                "hashtags",
                "a Mastodon source needs at least one of `hashtags` or `accounts`".into(),
                Some("e.g. hashtags = [\"AnytownVotes\"]".into()),
            ));
        }
        for tag in &self.hashtags {
            if hashtag(tag).is_none() {
                out.push((
                    "hashtags",
                    format!("`{tag}` is not a hashtag"),
                    Some("letters, digits and underscores, with or without the #".into()),
                ));
            }
        }
        let word =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_.-".contains(c));
        for acct in &self.accounts {
            let a = acct.trim().trim_start_matches('@');
            let ok = match a.split_once('@') {
                Some((user, server)) => word(user) && super::check_domain(server).is_ok(),
                None => word(a),
            };
            if !ok {
                out.push((
                    "accounts",
                    format!("`{acct}` is not a Mastodon account"),
                    Some("write @user for an account on the instance, or @user@server".into()),
                ));
            }
        }
        if let Some(env) = &self.token_env {
            if !env_name_ok(env) {
                out.push((
                    "token_env",
                    format!("`{env}` is not an environment variable name"),
                    Some("name the variable that holds the token, e.g. \"MASTODON_TOKEN\"".into()),
                ));
            }
        }
        out
    }
}

impl BlueskySourceConfig {
    pub(super) fn problems(&self) -> Vec<KeyProblem> {
        let mut out = Vec::new();
        // With Jetstream, the `[watch] terms` alone choose the posts.
        if self.queries.is_empty() && self.actors.is_empty() && !self.jetstream {
            out.push((
                "queries",
                "a Bluesky source needs at least one of `queries` or `actors`, or `jetstream = true`".into(),
                Some("e.g. queries = [\"Anytown election\"], actors = [\"anytown.gov.uk\"]".into()),
            ));
        }
        for q in &self.queries {
            if q.trim().is_empty() {
                out.push(("queries", "a query must not be empty".into(), None));
            }
        }
        for a in &self.actors {
            if let Err((msg, help)) = check_handle("bluesky", a) {
                out.push(("actors", msg, Some(help.into())));
            }
        }
        if !matches!(self.jetstream_url.scheme(), "ws" | "wss")
            || self.jetstream_url.host_str().is_none_or(str::is_empty)
        {
            out.push((
                "jetstream_url",
                format!(
                    "`{}` is not a ws or wss URL with a host",
                    self.jetstream_url
                ),
                None,
            ));
        }
        out
    }
}

impl RedditSourceConfig {
    pub(super) fn problems(&self) -> Vec<KeyProblem> {
        let mut out = Vec::new();
        if self.subreddits.is_empty() && self.queries.is_empty() {
            out.push((
                "subreddits",
                "a Reddit source needs at least one of `subreddits` or `queries`".into(),
                Some("e.g. subreddits = [\"AnytownUK\"]".into()),
            ));
        }
        for s in &self.subreddits {
            if subreddit(s).is_none() {
                out.push((
                    "subreddits",
                    format!("`{s}` is not a subreddit name"),
                    Some(
                        "write the name as in reddit.com/r/NAME: 2-21 letters, digits or _".into(),
                    ),
                ));
            }
        }
        for q in &self.queries {
            if q.trim().is_empty() {
                out.push(("queries", "a query must not be empty".into(), None));
            }
        }
        out
    }
}

impl TelegramSourceConfig {
    pub(super) fn problems(&self) -> Vec<KeyProblem> {
        let mut out = Vec::new();
        if !telegram_channel_ok(&self.channel) {
            out.push((
                "channel",
                format!("`{}` is not a public Telegram channel name", self.channel),
                Some("write the name as in t.me/NAME (5-32 letters, digits or _, no @)".into()),
            ));
        }
        out
    }
}

impl UrlSourceConfig {
    pub(super) fn youtube_problems(&self) -> Vec<KeyProblem> {
        match youtube_feed_url(&self.url) {
            Ok(_) => Vec::new(),
            Err(msg) => vec![(
                "url",
                msg,
                Some(
                    "use https://www.youtube.com/channel/UC…, https://www.youtube.com/playlist?list=… or https://www.youtube.com/feeds/videos.xml?channel_id=…"
                        .into(),
                ),
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn youtube_urls_become_feeds() {
        let f = |s: &str| youtube_feed_url(&Url::parse(s).unwrap());
        assert_eq!(
            f("https://www.youtube.com/channel/UCanytown0000000000000a")
                .unwrap()
                .as_str(),
            "https://www.youtube.com/feeds/videos.xml?channel_id=UCanytown0000000000000a"
        );
        assert_eq!(
            f("https://www.youtube.com/playlist?list=PLanytown&si=x")
                .unwrap()
                .as_str(),
            "https://www.youtube.com/feeds/videos.xml?playlist_id=PLanytown"
        );
        assert_eq!(
            f("http://127.0.0.1:9/feeds/videos.xml?channel_id=UCa")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/feeds/videos.xml?channel_id=UCa"
        );
        assert_eq!(
            f("http://127.0.0.1:9/youtube/channel/UCa/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/youtube/feeds/videos.xml?channel_id=UCa"
        );
        assert!(f("https://www.youtube.com/@anytown")
            .unwrap_err()
            .contains("not a YouTube"));
        assert!(f("https://www.youtube.com/feeds/videos.xml").is_err());
        assert!(f("https://www.youtube.com/channel/UC%20x").is_err());
    }

    fn problems(sources: &str) -> Vec<String> {
        match crate::Config::from_toml(
            &format!("data_dir = \"d\"\n{sources}"),
            std::path::Path::new("bw.toml"),
        ) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn every_kind_reads_its_keys_with_platform_defaults() {
        let cfg = crate::Config::from_toml(
            "data_dir = \"d\"\n\
             [[source]]\nname = \"m\"\nkind = \"mastodon\"\ninstance = \"https://social.example\"\nhashtags = [\"AnytownVotes\"]\naccounts = [\"@anytown\", \"@okafor@mastodon.example\"]\ntoken_env = \"MASTODON_TOKEN\"\n\
             [[source]]\nname = \"b\"\nkind = \"bluesky\"\nqueries = [\"Anytown\"]\nactors = [\"anytown.gov.uk\"]\n\
             [[source]]\nname = \"b2\"\nkind = \"bluesky\"\nbase_url = \"http://127.0.0.1:9/\"\nactors = [\"did:plc:4anytownbc2gov3uk4abcdef\"]\njetstream = false\n\
             [[source]]\nname = \"r\"\nkind = \"reddit\"\nsubreddits = [\"r/AnytownUK\"]\n\
             [[source]]\nname = \"t\"\nkind = \"telegram\"\nchannel = \"anytown_votes\"\ninterval = \"2m\"\n\
             [[source]]\nname = \"y\"\nkind = \"youtube\"\nurl = \"https://www.youtube.com/channel/UCanytown\"\n\
             [[source]]\nname = \"w\"\nkind = \"web\"\nurl = \"https://anytown.gov.uk/vote\"\nenabled = false\n",
            std::path::Path::new("bw.toml"),
        )
        .unwrap();
        let kinds: Vec<&str> = cfg.sources.iter().map(|s| s.kind()).collect();
        assert_eq!(
            kinds,
            ["mastodon", "bluesky", "bluesky", "reddit", "telegram", "youtube", "web"]
        );
        let urls: Vec<String> = cfg.sources.iter().map(|s| s.url().to_string()).collect();
        assert_eq!(urls[1], "https://public.api.bsky.app/");
        assert_eq!(
            urls[2], "http://127.0.0.1:9/",
            "base_url is the AppView's other name"
        );
        assert_eq!(urls[3], "https://www.reddit.com/");
        assert_eq!(urls[4], "https://t.me/");
        assert!(!cfg.sources[6].enabled());
        assert_eq!(
            cfg.sources[4].own_interval(),
            Some(Duration::from_secs(120))
        );
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

        let p = problems("[[source]]\nname = \"m\"\nkind = \"mastodon\"\ninstance = \"https://social.example\"\n");
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
            p[1].contains(
                "`source[0].jetstream_url`: `https://jet.example/` is not a ws or wss URL"
            ),
            "{p:?}"
        );

        let p = problems("[[source]]\nname = \"r\"\nkind = \"reddit\"\nsubreddits = [\"Anytown UK\"]\nbase_url = \"ftp://reddit.example/\"\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains(
                "`source[0].base_url`: `ftp://reddit.example/` is not an http or https URL"
            ),
            "{p:?}"
        );
        assert!(
            p[1].contains("`source[0].subreddits`: `Anytown UK` is not a subreddit name"),
            "{p:?}"
        );

        let p = problems(
            "[[source]]\nname = \"t\"\nkind = \"telegram\"\nchannel = \"@anytown_votes\"\n",
        );
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

        let p =
            problems("[[source]]\nname = \"t\"\nkind = \"telegram\"\nchanel = \"anytown_votes\"\n");
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
    fn names_are_checked() {
        assert_eq!(hashtag("#AnytownVotes"), Some("AnytownVotes"));
        assert_eq!(hashtag("Anytown Votes"), None);
        assert_eq!(subreddit("r/AnytownUK"), Some("AnytownUK"));
        assert_eq!(subreddit("/r/AnytownUK/"), Some("AnytownUK"));
        assert_eq!(subreddit("Anytown UK"), None);
        assert!(telegram_channel_ok("anytown_votes"));
        assert!(!telegram_channel_ok("@anytown_votes"));
        assert!(!telegram_channel_ok("abc"));
        assert!(env_name_ok("MASTODON_TOKEN"));
        assert!(!env_name_ok("1TOKEN"));
    }

    proptest::proptest! {
        #[test]
        fn youtube_urls_never_panic_and_feeds_are_fixed_points(path in "[a-zA-Z0-9/_?=&.-]{0,40}") {
            if let Ok(u) = Url::parse(&format!("https://www.youtube.com/{path}")) {
                if let Ok(feed) = youtube_feed_url(&u) {
                    proptest::prop_assert_eq!(youtube_feed_url(&feed), Ok(feed.clone()));
                    proptest::prop_assert!(feed.path().ends_with("/feeds/videos.xml"));
                }
            }
        }

        #[test]
        fn names_never_panic(s in "\\PC{0,40}") {
            let _ = (hashtag(&s), subreddit(&s), telegram_channel_ok(&s));
        }
    }
}
