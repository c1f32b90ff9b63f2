//! Keys of a YouTube channel or playlist source (`kind = "youtube"`) and their rules.

use ballotwatch_core::config::{FieldPath, Problems, Validate};
use ballotwatch_core::LimitsConfig;
use serde::Deserialize;
use url::Url;

use crate::sources::config::KindConfig;
use crate::sources::Source;

/// Keys of a YouTube channel or playlist source (`kind = "youtube"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YoutubeConfig {
    /// The channel or playlist URL, or its `/feeds/videos.xml?...` feed.
    pub url: Url,
}

impl KindConfig for YoutubeConfig {
    const KIND: &'static str = "youtube";
    const URL_KEY: &'static str = "url";

    fn url(&self) -> &Url {
        &self.url
    }

    fn build(&self, name: &str, _limits: &LimitsConfig) -> Box<dyn Source> {
        Box::new(super::YoutubeSource::new(name, self))
    }
}

/// Why a URL does not name a YouTube feed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YoutubeUrlError {
    /// A feed URL naming neither a channel nor a playlist.
    #[error("`{0}` is a YouTube feed URL without `channel_id=` or `playlist_id=`")]
    FeedWithoutId(String),
    /// A playlist URL without its list.
    #[error("`{0}` is a playlist URL without `list=`")]
    PlaylistWithoutList(String),
    /// Not a form YouTube uses for a channel, playlist or feed.
    #[error("`{0}` is not a YouTube channel, playlist or feed URL")]
    NotYoutube(String),
    /// The channel or playlist id has characters ids never have.
    #[error("`{url}` has an invalid {key} `{id}`")]
    BadId {
        /// The URL.
        url: String,
        /// `channel_id` or `playlist_id`.
        key: &'static str,
        /// The id as written.
        id: String,
    },
}

/// The YouTube feed of a channel, playlist or feed URL:
/// `https://host/feeds/videos.xml?channel_id=…` (or `playlist_id=…`), else why not.
pub fn youtube_feed_url(url: &Url) -> Result<Url, YoutubeUrlError> {
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
            return Err(YoutubeUrlError::FeedWithoutId(url.to_string()));
        }
    } else if let Some((prefix, c)) = path.rsplit_once("/channel/") {
        (prefix, "channel_id", c.to_string())
    } else if let Some(prefix) = path.strip_suffix("/playlist") {
        match param("list") {
            Some(p) => (prefix, "playlist_id", p),
            None => return Err(YoutubeUrlError::PlaylistWithoutList(url.to_string())),
        }
    } else {
        return Err(YoutubeUrlError::NotYoutube(url.to_string()));
    };
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(YoutubeUrlError::BadId {
            url: url.to_string(),
            key,
            id,
        });
    }
    let mut feed = url.clone();
    feed.set_path(&format!("{prefix}/feeds/videos.xml"));
    feed.set_fragment(None);
    feed.query_pairs_mut().clear().append_pair(key, &id);
    Ok(feed)
}

impl Validate for YoutubeConfig {
    fn validate(&self, at: &FieldPath, problems: &mut Problems) {
        if let Err(e) = youtube_feed_url(&self.url) {
            problems.advise(
                at.key("url"),
                e.to_string(),
                "use https://www.youtube.com/channel/UC…, https://www.youtube.com/playlist?list=… or https://www.youtube.com/feeds/videos.xml?channel_id=…",
            );
        }
    }
}

#[cfg(test)]
mod config_tests {
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
            .to_string()
            .contains("not a YouTube"));
        assert!(f("https://www.youtube.com/feeds/videos.xml").is_err());
        assert!(f("https://www.youtube.com/channel/UC%20x").is_err());
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
    }
}
