//! What the platform sources share: one guarded GET recorded as a capture, JSON decoding with
//! errors that name the source and URL, the per-source cursor state, and small helpers.

use ballotwatch_core::{Capture, Media};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use super::{Cursor, Poll, PollContext, SourceError};
use crate::fetcher::{FetchRequest, Fetched};

/// `Accept` for JSON APIs.
pub(crate) const JSON_ACCEPT: &str = "application/json, */*;q=0.1";
/// `Accept` for web pages.
pub(crate) const HTML_ACCEPT: &str =
    "text/html, application/xhtml+xml;q=0.9, text/plain;q=0.5, */*;q=0.1";

/// Most pages one poll follows for one query/feed before leaving the rest for the next poll.
pub(crate) const MAX_PAGES: usize = 10;

/// One poll in progress: captures fetched so far and the items found in them.
#[derive(Default)]
pub(crate) struct Collected {
    pub captures: Vec<(Capture, Vec<u8>)>,
    pub items: Vec<(usize, ballotwatch_core::Item)>,
}

impl Collected {
    /// Fetches `url` (unconditionally), keeps the capture and returns its index and body.
    ///
    /// A 304 cannot answer an unconditional GET; if a server sends one anyway it is reported as
    /// a payload error rather than silently treated as "nothing new".
    pub async fn get(
        &mut self,
        ctx: &PollContext,
        source_name: &str,
        url: Url,
        accept: &'static str,
        bearer: Option<&str>,
        what: &'static str,
    ) -> Result<(usize, Vec<u8>), SourceError> {
        let req = FetchRequest::new(url.clone(), accept);
        let fetched = ctx
            .fetcher
            .get_with_bearer(&req, bearer)
            .await
            .map_err(|error| SourceError::Fetch {
                source_name: source_name.to_string(),
                error,
            })?;
        match fetched {
            Fetched::Body { capture, body, .. } => {
                self.captures.push((capture, body.clone()));
                Ok((self.captures.len() - 1, body))
            }
            Fetched::NotModified { url, .. } => Err(SourceError::Payload {
                source_name: source_name.to_string(),
                url,
                what,
                message: "it answered 304 Not Modified to a request that was not conditional"
                    .into(),
            }),
        }
    }

    /// The poll, with `state` to keep for next time.
    pub fn into_poll<S: Serialize>(self, state: &S) -> Poll {
        Poll {
            captures: self.captures,
            items: self.items,
            state: serde_json::to_value(state).ok(),
            ..Poll::default()
        }
    }
}

/// The access token in the environment variable `var` (a source's `token_env`), or a setup
/// error naming the source, the URL and the variable.
pub(crate) fn token_from_env(
    source_name: &str,
    url: &str,
    var: &str,
) -> Result<String, SourceError> {
    match std::env::var(var) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => Err(SourceError::Setup {
            source_name: source_name.to_string(),
            url: url.to_string(),
            message: format!(
                "token_env names the environment variable `{var}`, which is not set or empty; set it to the access token"
            ),
        }),
    }
}

/// A server's own words (e.g. an API's error message) on one line and cut to 300
/// characters, for quoting in a message.
pub(crate) fn quote(text: &str) -> String {
    const MAX_QUOTE: usize = 300;
    let line = crate::html::single_line(text);
    match line.char_indices().nth(MAX_QUOTE) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// True when the rate-limit header `name` (`x-rate-limit-remaining` on X,
/// `x-ratelimit-remaining` on Reddit) of a response says no request is left in this window.
pub(crate) fn rate_limit_spent(headers: &[(String, String)], name: &str) -> bool {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .is_some_and(|left| left < 1.0)
}

/// A single-document source's response that changed since the cursor's validators.
pub(crate) struct Changed {
    /// The capture record of the response.
    pub capture: Capture,
    /// Its body.
    pub body: Vec<u8>,
    /// The new `ETag`.
    pub etag: Option<String>,
    /// The new `Last-Modified`.
    pub last_modified: Option<String>,
    /// The response's `Content-Type`, if any.
    pub content_type: Option<String>,
}

/// One conditional GET of a single-document source (a feed, a page) with the cursor's
/// validators: `None` when the server answered 304 Not Modified (see [`unchanged`]).
pub(crate) async fn get_if_changed(
    ctx: &PollContext,
    source_name: &str,
    url: &Url,
    cursor: &Cursor,
    accept: &'static str,
) -> Result<Option<Changed>, SourceError> {
    let req = FetchRequest {
        url: url.clone(),
        etag: cursor.etag.clone(),
        last_modified: cursor.last_modified.clone(),
        accept,
    };
    let fetched = ctx
        .fetcher
        .get(&req)
        .await
        .map_err(|error| SourceError::Fetch {
            source_name: source_name.to_string(),
            error,
        })?;
    Ok(match fetched {
        Fetched::NotModified { .. } => None,
        Fetched::Body {
            capture,
            body,
            etag,
            last_modified,
        } => {
            let content_type = capture
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone());
            Some(Changed {
                capture,
                body,
                etag,
                last_modified,
                content_type,
            })
        }
    })
}

/// The poll of a source whose server answered 304: validators and state kept, nothing new.
pub(crate) fn unchanged(cursor: &Cursor) -> Poll {
    Poll {
        etag: cursor.etag.clone(),
        last_modified: cursor.last_modified.clone(),
        state: cursor.state.clone(),
        not_modified: true,
        ..Poll::default()
    }
}

/// Decodes a JSON body, or a payload error naming source, URL and the path that is wrong.
pub(crate) fn decode_json<T: DeserializeOwned>(
    source_name: &str,
    url: &Url,
    body: &[u8],
    what: &'static str,
) -> Result<T, SourceError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path.is_empty() || path == "." {
            inner.to_string()
        } else {
            format!("at `{path}`: {inner}")
        };
        SourceError::Payload {
            source_name: source_name.to_string(),
            url: url.to_string(),
            what,
            message,
        }
    })
}

/// The source's saved state, or the default when there is none or it no longer reads (a
/// cursor written by another version: starting afresh re-reads one page, and the store
/// ignores what it already holds).
pub(crate) fn load_state<S: DeserializeOwned + Default>(
    source_name: &str,
    state: Option<&serde_json::Value>,
) -> S {
    match state {
        None => S::default(),
        Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|e| {
            tracing::warn!(source = source_name, error = %e, "ignoring an unreadable cursor; starting from the newest page");
            S::default()
        }),
    }
}

/// `base` with `path` appended (keeping any path prefix `base` has).
pub(crate) fn join_path(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    let prefix = base.path().trim_end_matches('/');
    u.set_path(&format!("{prefix}/{}", path.trim_start_matches('/')));
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// A media entry for `url`, with a MIME type guessed from the file extension when it is a
/// common image or video type.
pub(crate) fn media(url: &str, mime: Option<&str>) -> Media {
    Media {
        url: Some(url.to_string()),
        mime: mime.map(str::to_string).or_else(|| mime_from_url(url)),
        ..Media::default()
    }
}

fn mime_from_url(url: &str) -> Option<String> {
    let path = Url::parse(url).ok()?.path().to_ascii_lowercase();
    let ext = path.rsplit('.').next()?;
    let mime = match ext {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => return None,
    };
    Some(mime.to_string())
}

/// Keeps the first media entry for each URL.
pub(crate) fn dedup_media(media: Vec<Media>) -> Vec<Media> {
    let mut out: Vec<Media> = Vec::with_capacity(media.len());
    for m in media {
        if !out.iter().any(|o| o.url == m.url) {
            out.push(m);
        }
    }
    out
}

/// Parses an RFC 3339 time as UTC.
pub(crate) fn rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_path_keeps_a_prefix() {
        let base = Url::parse("http://127.0.0.1:9/mastodon/").unwrap();
        assert_eq!(
            join_path(&base, "/api/v1/timelines/tag/x").as_str(),
            "http://127.0.0.1:9/mastodon/api/v1/timelines/tag/x"
        );
        let bare = Url::parse("https://social.example").unwrap();
        assert_eq!(
            join_path(&bare, "api/v1/x").as_str(),
            "https://social.example/api/v1/x"
        );
    }

    #[test]
    fn media_types_are_guessed_from_extensions() {
        assert_eq!(
            media("https://a.example/x/photo.JPG?x=1", None)
                .mime
                .as_deref(),
            Some("image/jpeg")
        );
        assert_eq!(media("https://a.example/x", None).mime, None);
        assert_eq!(
            media("https://a.example/x", Some("image/png"))
                .mime
                .as_deref(),
            Some("image/png")
        );
    }

    #[test]
    fn deeply_nested_json_is_refused_with_an_error_not_a_crash() {
        // Every platform answer goes through serde_json with its nesting limit (128) on: one
        // answer nesting 100,000 arrays or objects is an error naming the URL, on the 2 MiB
        // stack of a tokio worker. Nothing here may turn the limit off.
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let url = Url::parse("https://x.example/a").unwrap();
                for deep in [
                    format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
                    format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
                    format!("{{\"posts\": {}{}", "[".repeat(100_000), "]".repeat(100_000)),
                ] {
                    let e = decode_json::<serde_json::Value>("Src", &url, deep.as_bytes(), "thing")
                        .unwrap_err()
                        .to_string();
                    assert!(e.contains("https://x.example/a") && e.contains("recursion limit"), "{e}");
                    // A Jetstream event's record is free-form JSON too.
                    let event = format!(
                        "{{\"did\":\"did:plc:x\",\"time_us\":1,\"kind\":\"commit\",\"commit\":{{\"record\":{deep}}}}}"
                    );
                    let e = serde_json::from_str::<crate::sources::bluesky::jetstream::Event>(&event)
                        .unwrap_err();
                    assert!(e.to_string().contains("recursion limit"), "{e}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn json_errors_name_the_path() {
        #[derive(Debug, serde::Deserialize)]
        struct S {
            #[allow(dead_code)]
            posts: Vec<u32>,
        }
        let url = Url::parse("https://x.example/a").unwrap();
        let e = decode_json::<S>("Src", &url, br#"{"posts": [1, "two"]}"#, "thing").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "source `Src`: https://x.example/a is not a valid thing: at `posts[1]`"
            ),
            "{msg}"
        );
    }
}
