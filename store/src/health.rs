//! Source health: how many item versions each source stored recently, next to the polling
//! state kept in `source_state` (see [`Store::source_states`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::{Result, SqlContext};
use crate::{ts, Store};

impl Store {
    /// Item versions (new items and new versions of known ones) stored per source since
    /// `since`, by source name. Sources with none are absent.
    pub fn items_stored_since(&self, since: DateTime<Utc>) -> Result<BTreeMap<String, u64>> {
        let since = ts(&since);
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT source, COUNT(*) FROM items WHERE ingested_at >= ?1 GROUP BY source",
            )
            .and_then(|mut st| {
                st.query_map([since.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })?
                .map(|row| row.map(|(s, n)| (s, u64::try_from(n).unwrap_or(0))))
                .collect::<rusqlite::Result<BTreeMap<_, _>>>()
            })
            .ctx("counting the items each source stored")
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{poll, store};

    #[test]
    fn counts_item_versions_per_source_since_a_time() {
        let (_dir, s) = store();
        let before = chrono::Utc::now() - chrono::Duration::seconds(5);
        s.record_poll("Echo", poll(&s, &[("a", "one"), ("b", "two")], 100))
            .unwrap();
        s.record_poll("Gazette", poll(&s, &[("c", "three")], 100))
            .unwrap();
        // A new version of `a` counts; an unchanged `b` does not.
        s.record_poll("Echo", poll(&s, &[("a", "one, edited"), ("b", "two")], 200))
            .unwrap();
        let counts = s.items_stored_since(before).unwrap();
        assert_eq!(counts.get("Echo"), Some(&3));
        assert_eq!(counts.get("Gazette"), Some(&1));
        let later = chrono::Utc::now() + chrono::Duration::seconds(5);
        assert!(s.items_stored_since(later).unwrap().is_empty());
    }
}
