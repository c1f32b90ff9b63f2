//! Finding the HTTP exchange that fetched a captured medium, for evidence packs (the media
//! captures themselves are recorded with [`Store::record_capture`]).

use rusqlite::OptionalExtension;

use crate::error::{Result, SqlContext};
use crate::Store;

impl Store {
    /// The id of the first recorded capture of `url` whose body has SHA-256 `sha256` (the
    /// download a medium's stored bytes came from), if one was recorded.
    pub fn media_capture_id(&self, url: &str, sha256: &str) -> Result<Option<i64>> {
        let sha = sha256.to_ascii_lowercase();
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id FROM captures WHERE sha256 = ?1 AND url = ?2 ORDER BY id LIMIT 1",
            )
            .and_then(|mut st| st.query_row([&sha, url], |r| r.get(0)).optional())
            .with_ctx(|| format!("finding the capture of medium {url}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{capture, store};
    use crate::NewCapture;

    #[test]
    fn finds_the_first_download_of_a_medium() {
        let (_dir, store) = store();
        let body = b"\x89PNG\r\n\x1a\n not really".to_vec();
        let url = "https://cdn.example/a.png";
        let first = capture(&store, url, &body, 0);
        let sha = first.sha256.clone();
        let id = store
            .record_capture("Echo", NewCapture { capture: first })
            .unwrap();
        let later = capture(&store, url, &body, 60);
        store
            .record_capture("Echo", NewCapture { capture: later })
            .unwrap();
        assert_eq!(store.media_capture_id(url, &sha).unwrap(), Some(id));
        assert_eq!(
            store
                .media_capture_id(url, &sha.to_ascii_uppercase())
                .unwrap(),
            Some(id)
        );
        assert_eq!(
            store
                .media_capture_id("https://cdn.example/b.png", &sha)
                .unwrap(),
            None
        );
        assert_eq!(store.media_capture_id(url, &"0".repeat(64)).unwrap(), None);
    }
}
