//! Poison-work quarantine: work a stage could not survive is set aside instead of retried for
//! ever.
//!
//! Before a stage starts on a piece of work (an item, or one poll's response) it records the
//! attempt here in its own committed transaction ([`Store::begin_work`]); when the work commits it
//! clears the record ([`Store::finish_work`]). A record that is still there at the next attempt
//! means the earlier attempt never finished: the process panicked, aborted (stack overflow), ran
//! out of memory or was killed. Work whose records reach `[limits] quarantine_after` is
//! quarantined: a `quarantine` row names the stage, what it was, why, and the captured bytes
//! (which the capture store keeps), an audit entry records it once, and the stage leaves it
//! alone until someone retries it (`ballotwatch quarantine retry`).
//!
//! A batch whose work has an unfinished earlier attempt is narrowed to that one piece of work, so
//! one poison item in a batch does not take its neighbours into quarantine with it.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde::Serialize;

use crate::audit;
use crate::error::{JsonContext, Result, SqlContext, StoreError};
use crate::row::{col, query_all, query_opt, FromRow};
use crate::{now_ms, parse_ts, ts, Store};

/// A pipeline stage whose work can be quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Fetching and parsing one response of a source's poll.
    Poll,
    /// Capturing an item's media (downloads, image decoding, video frames).
    Media,
    /// Classifying an item.
    Classify,
    /// Adding an item to the search index.
    Index,
}

impl Stage {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Poll => "poll",
            Stage::Media => "media",
            Stage::Classify => "classify",
            Stage::Index => "index",
        }
    }

    fn parse(s: &str) -> Result<Stage> {
        Ok(match s {
            "poll" => Stage::Poll,
            "media" => Stage::Media,
            "classify" => Stage::Classify,
            "index" => Stage::Index,
            other => {
                return Err(StoreError::corrupt(
                    "quarantine.stage",
                    format!("`{other}` is not a stage"),
                ))
            }
        })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of work a stage is about to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// Unique within the stage: an item's seq, or `source|sha256` of a response.
    pub key: String,
    /// The source it came from.
    pub source: String,
    /// What it is, for people: an item id, or a response's URL.
    pub what: String,
    /// The stored item, when the work is an item.
    pub item_seq: Option<i64>,
    /// The captured bytes (SHA-256 in the capture store), when known.
    pub sha256: Option<String>,
}

/// What [`Store::begin_work`] decided.
#[derive(Debug, Default)]
pub struct Begun {
    /// Keys to work on now (their attempts are recorded and committed).
    pub run: Vec<String>,
    /// Work quarantined just now (it had `quarantine_after` unfinished attempts).
    pub quarantined: Vec<QuarantineEntry>,
    /// Work already quarantined earlier, skipped.
    pub skipped: Vec<String>,
}

/// A quarantined piece of work.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineEntry {
    /// Its id (for `quarantine retry|drop`).
    pub id: i64,
    /// The stage that could not finish it.
    pub stage: Stage,
    /// The stage's key for it.
    pub key: String,
    /// The source it came from.
    pub source: String,
    /// What it is: an item id, or a response's URL.
    pub what: String,
    /// The stored item, when it is one.
    pub item_seq: Option<i64>,
    /// SHA-256 of the captured bytes kept in the capture store.
    pub sha256: Option<String>,
    /// Why it was quarantined.
    pub reason: String,
    /// Unfinished attempts.
    pub attempts: u32,
    /// When.
    pub quarantined_at: DateTime<Utc>,
    /// `held` (waiting for someone) or `dropped` (discarded; kept as a record).
    pub state: String,
}

impl QuarantineEntry {
    const COLUMNS: &'static str = "id, stage, key, source, what, item_seq, sha256, reason, \
         attempts, quarantined_at, state";
}

impl FromRow for QuarantineEntry {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let stage: String = col(r, 1)?;
        let attempts: i64 = col(r, 8)?;
        let at: String = col(r, 9)?;
        Ok(QuarantineEntry {
            id,
            stage: Stage::parse(&stage)?,
            key: col(r, 2)?,
            source: col(r, 3)?,
            what: col(r, 4)?,
            item_seq: col(r, 5)?,
            sha256: col(r, 6)?,
            reason: col(r, 7)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            quarantined_at: parse_ts(&at, || format!("quarantine.quarantined_at of id {id}"))?,
            state: col(r, 10)?,
        })
    }
}

/// Audits a quarantine action on `entry` (its details are the entry).
fn audit_entry(
    conn: &Connection,
    actor: &str,
    action: &str,
    entry: &QuarantineEntry,
) -> Result<()> {
    let detail = serde_json::to_value(entry)
        .json_ctx(|| format!("serializing the audit details of quarantine {}", entry.id))?;
    audit::record(conn, &ts(&now_ms()), actor, action, &detail)
}

fn get_entry(conn: &Connection, id: i64) -> Result<Option<QuarantineEntry>> {
    query_opt(
        conn,
        &format!(
            "SELECT {} FROM quarantine WHERE id = ?1",
            QuarantineEntry::COLUMNS
        ),
        [id],
        || format!("reading quarantine entry {id}"),
    )
}

impl Store {
    /// Records, in one committed transaction, that `stage` starts on some of `works`, and
    /// quarantines those that already had `quarantine_after` unfinished attempts.
    ///
    /// Already-quarantined work is skipped. When some of the remaining work had an unfinished
    /// attempt, only the first such piece runs (alone, so that if it kills the process again
    /// only its own count grows); otherwise all of it runs. `reason` describes what the stage
    /// could not finish; the attempt count is added to it.
    pub fn begin_work(
        &self,
        stage: Stage,
        works: &[Work],
        quarantine_after: u32,
        reason: &str,
    ) -> Result<Begun> {
        let now = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_ctx(|| format!("starting to record {stage} attempts"))?;
            let mut begun = Begun::default();
            let mut retried = Vec::new();
            let mut fresh = Vec::new();
            for w in works {
                let held: bool = tx
                    .prepare_cached("SELECT count(*) FROM quarantine WHERE stage = ?1 AND key = ?2")
                    .and_then(|mut st| {
                        st.query_row(params![stage.as_str(), w.key], |r| r.get::<_, i64>(0))
                    })
                    .with_ctx(|| format!("looking up {stage} quarantine of {}", w.key))?
                    > 0;
                if held {
                    begun.skipped.push(w.key.clone());
                    continue;
                }
                let attempts: Option<i64> = tx
                    .prepare_cached(
                        "SELECT attempts FROM work_attempts WHERE stage = ?1 AND key = ?2",
                    )
                    .and_then(|mut st| {
                        st.query_row(params![stage.as_str(), w.key], |r| r.get(0))
                            .optional()
                    })
                    .with_ctx(|| format!("reading {stage} attempts of {}", w.key))?;
                match attempts {
                    Some(n) if n >= i64::from(quarantine_after) => {
                        let why = format!(
                            "{reason}: {n} attempts did not finish (the process crashed, \
                             aborted or was killed while working on it)"
                        );
                        tx.prepare_cached(
                            "INSERT INTO quarantine(stage, key, source, what, item_seq, sha256,
                                 reason, attempts, quarantined_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        )
                        .and_then(|mut st| {
                            st.execute(params![
                                stage.as_str(),
                                w.key,
                                w.source,
                                w.what,
                                w.item_seq,
                                w.sha256,
                                why,
                                n,
                                now
                            ])
                        })
                        .with_ctx(|| format!("quarantining {stage} work {}", w.what))?;
                        let id = tx.last_insert_rowid();
                        tx.prepare_cached(
                            "DELETE FROM work_attempts WHERE stage = ?1 AND key = ?2",
                        )
                        .and_then(|mut st| st.execute(params![stage.as_str(), w.key]))
                        .with_ctx(|| format!("clearing {stage} attempts of {}", w.key))?;
                        let entry = get_entry(&tx, id)?.ok_or_else(|| {
                            StoreError::corrupt(
                                "quarantine",
                                format!("entry {id} vanished inside its transaction"),
                            )
                        })?;
                        audit_entry(&tx, "ballotwatch", "quarantine", &entry)?;
                        begun.quarantined.push(entry);
                    }
                    Some(_) => retried.push(w.key.clone()),
                    None => fresh.push(w.key.clone()),
                }
            }
            begun.run = match retried.into_iter().next() {
                Some(first) => vec![first],
                None => fresh,
            };
            for key in &begun.run {
                tx.prepare_cached(
                    "INSERT INTO work_attempts(stage, key, attempts, first_at, last_at)
                     VALUES (?1, ?2, 1, ?3, ?3)
                     ON CONFLICT(stage, key) DO UPDATE SET attempts = attempts + 1, last_at = ?3",
                )
                .and_then(|mut st| st.execute(params![stage.as_str(), key, now]))
                .with_ctx(|| format!("recording a {stage} attempt of {key}"))?;
            }
            tx.commit()
                .with_ctx(|| format!("committing {stage} attempts"))?;
            Ok(begun)
        })
    }

    /// Clears the attempt records of finished work (whatever its outcome, it did not kill the
    /// process).
    pub fn finish_work(&self, stage: Stage, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .with_ctx(|| format!("starting to clear {stage} attempts"))?;
            for key in keys {
                tx.prepare_cached("DELETE FROM work_attempts WHERE stage = ?1 AND key = ?2")
                    .and_then(|mut st| st.execute(params![stage.as_str(), key]))
                    .with_ctx(|| format!("clearing the {stage} attempt of {key}"))?;
            }
            tx.commit()
                .with_ctx(|| format!("committing cleared {stage} attempts"))
        })
    }

    /// Whether some work of `stage` whose key starts with `prefix` has an unfinished attempt:
    /// an earlier run died while it was in progress. The pipeline runs such work alone, so that
    /// if it kills the process again, work that merely ran beside it is not blamed with it.
    pub fn has_unfinished_work(&self, stage: Stage, prefix: &str) -> Result<bool> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM work_attempts
                 WHERE stage = ?1 AND substr(key, 1, length(?2)) = ?2)",
            )
            .and_then(|mut st| st.query_row(params![stage.as_str(), prefix], |r| r.get(0)))
            .with_ctx(|| format!("looking for unfinished {stage} work of {prefix}"))
        })
    }

    /// Unfinished attempts per key of `stage` (for status pages and tests).
    pub fn work_attempts(&self, stage: Stage) -> Result<HashMap<String, u32>> {
        let rows: Vec<(String, i64)> = self.with_conn(|conn| {
            query_all(
                conn,
                "SELECT key, attempts FROM work_attempts WHERE stage = ?1",
                [stage.as_str()],
                || format!("reading {stage} attempts"),
            )
        })?;
        Ok(rows
            .into_iter()
            .map(|(k, n)| (k, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }

    /// Quarantined work, newest first; `dropped` entries only with `include_dropped`.
    pub fn quarantine_list(&self, include_dropped: bool) -> Result<Vec<QuarantineEntry>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {} FROM quarantine WHERE state = 'held' OR ?1 ORDER BY id DESC",
                    QuarantineEntry::COLUMNS
                ),
                [include_dropped],
                || "reading the quarantine".into(),
            )
        })
    }

    /// How many pieces of work are held in quarantine (not dropped).
    pub fn quarantine_count(&self) -> Result<u64> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT count(*) FROM quarantine WHERE state = 'held'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .ctx("counting quarantined work")
            .map(|n| u64::try_from(n).unwrap_or(0))
        })
    }

    /// Takes work out of quarantine so its stage tries it again (from a clean attempt count);
    /// audited. `None` when there is no such entry.
    pub fn quarantine_retry(&self, id: i64, actor: &str) -> Result<Option<QuarantineEntry>> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting a quarantine retry")?;
            let Some(entry) = get_entry(&tx, id)? else {
                return Ok(None);
            };
            tx.execute("DELETE FROM quarantine WHERE id = ?1", [id])
                .with_ctx(|| format!("releasing quarantine entry {id}"))?;
            tx.execute(
                "DELETE FROM work_attempts WHERE stage = ?1 AND key = ?2",
                params![entry.stage.as_str(), entry.key],
            )
            .with_ctx(|| format!("clearing the attempts of quarantine entry {id}"))?;
            audit_entry(&tx, actor, "quarantine.retry", &entry)?;
            tx.commit().ctx("committing a quarantine retry")?;
            Ok(Some(entry))
        })
    }

    /// Discards quarantined work: it is never tried again and leaves the list; the record, the
    /// item and the captured bytes stay (evidence is never deleted); audited. `None` when there
    /// is no such entry.
    pub fn quarantine_drop(&self, id: i64, actor: &str) -> Result<Option<QuarantineEntry>> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting a quarantine drop")?;
            tx.execute(
                "UPDATE quarantine SET state = 'dropped' WHERE id = ?1",
                [id],
            )
            .with_ctx(|| format!("dropping quarantine entry {id}"))?;
            let Some(entry) = get_entry(&tx, id)? else {
                return Ok(None);
            };
            audit_entry(&tx, actor, "quarantine.drop", &entry)?;
            tx.commit().ctx("committing a quarantine drop")?;
            Ok(Some(entry))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn work(key: &str) -> Work {
        Work {
            key: key.into(),
            source: "Echo".into(),
            what: format!("item {key}"),
            item_seq: None,
            sha256: Some("ab".repeat(32)),
        }
    }

    #[test]
    fn finished_work_is_never_quarantined() {
        let (_dir, store) = store();
        let works = [work("1"), work("2")];
        for _ in 0..5 {
            let b = store.begin_work(Stage::Classify, &works, 2, "x").unwrap();
            assert_eq!(b.run, ["1", "2"]);
            store.finish_work(Stage::Classify, &b.run).unwrap();
        }
        assert!(store.quarantine_list(true).unwrap().is_empty());
        assert!(store.work_attempts(Stage::Classify).unwrap().is_empty());
    }

    #[test]
    fn unfinished_work_runs_alone_then_is_quarantined_once_with_an_audit_entry() {
        let (_dir, store) = store();
        let works = [work("1"), work("2"), work("3")];
        // A batch dies: every piece has one unfinished attempt.
        let b = store
            .begin_work(Stage::Classify, &works, 2, "classifying")
            .unwrap();
        assert_eq!(b.run.len(), 3);
        // Next time the first suspect runs alone, and finishes.
        let b = store
            .begin_work(Stage::Classify, &works, 2, "classifying")
            .unwrap();
        assert_eq!(b.run, ["1"]);
        store.finish_work(Stage::Classify, &b.run).unwrap();
        // "2" is the poison: it runs alone and dies.
        let b = store
            .begin_work(Stage::Classify, &works[1..], 2, "classifying")
            .unwrap();
        assert_eq!(b.run, ["2"]);
        // Now it is quarantined and the rest runs.
        let b = store
            .begin_work(Stage::Classify, &works[1..], 2, "classifying")
            .unwrap();
        assert_eq!(b.quarantined.len(), 1);
        let q = &b.quarantined[0];
        assert_eq!(
            (q.key.as_str(), q.attempts, q.stage),
            ("2", 2, Stage::Classify)
        );
        assert!(
            q.reason
                .starts_with("classifying: 2 attempts did not finish"),
            "{}",
            q.reason
        );
        assert_eq!(b.run, ["3"]);
        store.finish_work(Stage::Classify, &b.run).unwrap();
        // Once: later batches skip it without a second entry or audit line.
        let b = store
            .begin_work(Stage::Classify, &works, 2, "classifying")
            .unwrap();
        assert_eq!(b.skipped, ["2"]);
        assert!(b.quarantined.is_empty());
        assert_eq!(store.quarantine_count().unwrap(), 1);
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM audit_log WHERE action = 'quarantine'"
            ),
            1
        );
        // Other stages are independent.
        let b = store
            .begin_work(Stage::Index, &works[1..2], 2, "indexing")
            .unwrap();
        assert_eq!(b.run, ["2"]);
    }

    #[test]
    fn unfinished_work_is_found_by_key_prefix_only() {
        let (_dir, store) = store();
        store
            .begin_work(Stage::Poll, &[work("Castle 100%|abc")], 2, "parsing")
            .unwrap();
        assert!(store
            .has_unfinished_work(Stage::Poll, "Castle 100%|")
            .unwrap());
        assert!(!store
            .has_unfinished_work(Stage::Poll, "Castle 1%|")
            .unwrap());
        assert!(!store.has_unfinished_work(Stage::Poll, "Castle|").unwrap());
        assert!(!store
            .has_unfinished_work(Stage::Classify, "Castle 100%|")
            .unwrap());
        store
            .finish_work(Stage::Poll, &["Castle 100%|abc".to_string()])
            .unwrap();
        assert!(!store
            .has_unfinished_work(Stage::Poll, "Castle 100%|")
            .unwrap());
    }

    #[test]
    fn retry_releases_and_drop_discards_both_audited() {
        let (_dir, store) = store();
        let w = [work("k")];
        for _ in 0..2 {
            store.begin_work(Stage::Poll, &w, 2, "parsing").unwrap();
        }
        let q = store
            .begin_work(Stage::Poll, &w, 2, "parsing")
            .unwrap()
            .quarantined;
        let id = q[0].id;
        assert_eq!(store.quarantine_list(false).unwrap(), q);

        let released = store.quarantine_retry(id, "alice").unwrap().unwrap();
        assert_eq!(released.id, id);
        assert_eq!(store.quarantine_count().unwrap(), 0);
        let b = store.begin_work(Stage::Poll, &w, 2, "parsing").unwrap();
        assert_eq!(b.run, ["k"], "tried again from a clean count");
        store.begin_work(Stage::Poll, &w, 2, "parsing").unwrap();
        let q = store
            .begin_work(Stage::Poll, &w, 2, "parsing")
            .unwrap()
            .quarantined;
        let dropped = store.quarantine_drop(q[0].id, "bob").unwrap().unwrap();
        assert_eq!(dropped.state, "dropped");
        assert!(store.quarantine_list(false).unwrap().is_empty());
        assert_eq!(store.quarantine_list(true).unwrap().len(), 1);
        let b = store.begin_work(Stage::Poll, &w, 2, "parsing").unwrap();
        assert_eq!(b.skipped, ["k"], "a dropped response is never parsed again");
        assert!(store.quarantine_retry(999, "x").unwrap().is_none());
        assert!(store.quarantine_drop(999, "x").unwrap().is_none());
        assert_eq!(
            count(&store, "SELECT count(*) FROM audit_log WHERE action IN ('quarantine.retry', 'quarantine.drop')"),
            2
        );
    }

    #[test]
    fn quarantined_items_leave_the_classify_and_index_queues_until_retried() {
        let (_dir, store) = store();
        store
            .record_poll("Echo", poll(&store, &[("a", "one"), ("b", "two")], 0))
            .unwrap();
        let pending = store.pending_classification(10).unwrap();
        let b_seq = pending[1].seq;
        let item = |s: &crate::StoredItem| Work {
            key: s.seq.to_string(),
            source: "Echo".into(),
            what: s.item.id.clone(),
            item_seq: Some(s.seq),
            sha256: None,
        };
        let works: Vec<Work> = pending.iter().map(item).collect();
        for _ in 0..2 {
            store
                .begin_work(Stage::Classify, &works[1..], 2, "classifying")
                .unwrap();
        }
        let b = store
            .begin_work(Stage::Classify, &works, 2, "classifying")
            .unwrap();
        assert_eq!(b.quarantined[0].item_seq, Some(b_seq));
        let left: Vec<i64> = store
            .pending_classification(10)
            .unwrap()
            .iter()
            .map(|s| s.seq)
            .collect();
        assert_eq!(left, [pending[0].seq]);
        store
            .quarantine_retry(b.quarantined[0].id, "tester")
            .unwrap();
        assert_eq!(store.pending_classification(10).unwrap().len(), 2);
    }
}
