//! Items as stored (every version), their classification results and verdicts, and the stage
//! queues: `new` (awaiting classification) → `classified` (awaiting indexing) → `indexed`. An
//! item that joins an incident, or whose incident's status changes, goes back to `classified`
//! with its `index_gen` bumped, to be indexed again with its incidents.

use ballotwatch_core::{ClassifyResult, IncidentRef, IncidentStatus, Item};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row, TransactionBehavior};

use crate::error::{JsonContext, Result, SqlContext, StoreError};
use crate::row::{col, query_all, query_opt, FromRow};
use crate::{sql_limit, ts, Store};

/// An item as stored: its row number, the item (with `version`, `ingested_at` filled) and, once
/// classified, its result.
#[derive(Debug, Clone)]
pub struct StoredItem {
    /// Row number: increases with every stored version, so it orders items by arrival.
    pub seq: i64,
    /// The item exactly as recorded, with `version` and `ingested_at` set.
    pub item: Item,
    /// The classification of this version, once classified.
    pub result: Option<ClassifyResult>,
    /// The capture (HTTP response) this version was read from.
    pub capture_id: Option<i64>,
    /// Every incident it belongs to with its status, most recently joined first.
    pub incidents: Vec<IncidentRef>,
    /// How many times this version was queued for indexing again; [`Store::mark_indexed`]
    /// compares it, so a request made while the item was being indexed is not lost.
    pub index_gen: i64,
}

impl StoredItem {
    /// The incident this item belongs to (the one it was added to most recently), if any.
    pub fn incident_id(&self) -> Option<i64> {
        self.incidents.first().map(|i| i.id)
    }

    /// What to pass to [`Store::mark_indexed`] once this version is in the index.
    pub fn index_mark(&self) -> IndexMark {
        IndexMark {
            seq: self.seq,
            gen: self.index_gen,
        }
    }
}

/// An item version as the indexer read it: its seq and its `index_gen` then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexMark {
    /// The version's row number.
    pub seq: i64,
    /// Its [`StoredItem::index_gen`] when read.
    pub gen: i64,
}

/// `SELECT` of the columns [`StoredItem`]'s [`FromRow`] reads, from `items i`, followed by `$rest`.
macro_rules! item_query {
    ($rest:literal) => {
        concat!(
            "SELECT i.seq, i.item_json, i.result_json, i.capture_id,
                (SELECT group_concat(ii.incident_id || ':' || n.status, ','
                                     ORDER BY ii.added_at DESC, ii.incident_id DESC)
                 FROM incident_items ii JOIN incidents n ON n.id = ii.incident_id
                 WHERE ii.item_id = i.id),
                i.index_gen
             FROM items i ",
            $rest
        )
    };
}
pub(crate) use item_query;

impl FromRow for StoredItem {
    /// Reads the columns [`item_query`] selects.
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let seq: i64 = col(r, 0)?;
        let item_json: String = col(r, 1)?;
        let result_json: Option<String> = col(r, 2)?;
        Ok(StoredItem {
            seq,
            item: serde_json::from_str(&item_json)
                .json_ctx(|| format!("reading items.item_json of seq {seq}"))?,
            result: result_json
                .map(|j| serde_json::from_str(&j))
                .transpose()
                .json_ctx(|| format!("reading items.result_json of seq {seq}"))?,
            capture_id: col(r, 3)?,
            incidents: parse_incidents(col(r, 4)?, seq)?,
            index_gen: col(r, 5)?,
        })
    }
}

/// Reads the `id:status,…` list [`item_query`] builds of an item's incidents.
pub(crate) fn parse_incidents(list: Option<String>, seq: i64) -> Result<Vec<IncidentRef>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(|pair| {
            let bad =
                |why: String| StoreError::corrupt(format!("the incidents of item seq {seq}"), why);
            let (id, status) = pair
                .split_once(':')
                .ok_or_else(|| bad(format!("`{pair}` is not id:status")))?;
            Ok(IncidentRef {
                id: id
                    .parse()
                    .map_err(|_| bad(format!("`{id}` is not an incident id")))?,
                status: status.parse::<IncidentStatus>().map_err(bad)?,
            })
        })
        .collect()
}

/// Queues the latest version of item `item_id` to be indexed again (its incidents changed),
/// inside the caller's transaction: back to `classified` unless still `new` (it is indexed
/// once classified anyway), and `index_gen` bumped either way.
pub(crate) fn queue_reindex(conn: &Connection, item_id: &str) -> Result<usize> {
    conn.prepare_cached(
        "UPDATE items SET index_gen = index_gen + 1,
             stage = CASE stage WHEN 'new' THEN 'new' ELSE 'classified' END
         WHERE seq = (SELECT max(seq) FROM items WHERE id = ?1)",
    )
    .and_then(|mut st| st.execute([item_id]))
    .with_ctx(|| format!("queueing item `{item_id}` to be indexed again"))
}

/// [`queue_reindex`] for every item of incident `incident_id`.
pub(crate) fn queue_incident_reindex(conn: &Connection, incident_id: i64) -> Result<usize> {
    conn.prepare_cached(
        "UPDATE items SET index_gen = index_gen + 1,
             stage = CASE stage WHEN 'new' THEN 'new' ELSE 'classified' END
         WHERE seq IN (SELECT max(l.seq) FROM incident_items ii JOIN items l ON l.id = ii.item_id
                       WHERE ii.incident_id = ?1 GROUP BY l.id)",
    )
    .and_then(|mut st| st.execute([incident_id]))
    .with_ctx(|| format!("queueing the items of incident {incident_id} to be indexed again"))
}

/// The latest version of one item, if stored.
fn latest(conn: &Connection, id: &str) -> Result<Option<StoredItem>> {
    query_opt(
        conn,
        item_query!("WHERE i.id = ?1 ORDER BY i.version DESC LIMIT 1"),
        [id],
        || format!("reading item `{id}`"),
    )
}

/// How a poll's item compared with its latest stored version.
pub(crate) enum Change {
    New,
    Updated,
    Unchanged,
}

/// Stores `item` as a new version (stage `new`) if its content differs from the latest stored
/// version, inside the caller's transaction.
pub(crate) fn insert_item_version(
    conn: &Connection,
    source: &str,
    item: &Item,
    capture_id: Option<i64>,
    ingested_at: DateTime<Utc>,
) -> Result<Change> {
    let hash = item.content_hash();
    let latest: Option<(i64, String)> = query_opt(
        conn,
        "SELECT version, content_hash FROM items WHERE id = ?1 ORDER BY version DESC LIMIT 1",
        [&item.id],
        || format!("reading the latest version of item `{}`", item.id),
    )?;
    let (version, change) = match latest {
        None => (1, Change::New),
        Some((_, h)) if h == hash => return Ok(Change::Unchanged),
        Some((v, _)) => (v.saturating_add(1), Change::Updated),
    };
    let mut stored = item.clone();
    stored.version = u32::try_from(version).map_err(|_| {
        StoreError::corrupt(
            format!("items.version of item `{}`", item.id),
            format!("{version} is out of range"),
        )
    })?;
    stored.ingested_at = Some(ingested_at);
    let json =
        serde_json::to_string(&stored).json_ctx(|| format!("serializing item `{}`", item.id))?;
    conn.prepare_cached(
        "INSERT INTO items(id, version, source, source_kind, url, published_at, ingested_at,
             content_hash, item_json, capture_id, stage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'new')",
    )
    .and_then(|mut st| {
        st.execute(params![
            stored.id,
            version,
            source,
            stored.source.kind,
            stored.url,
            stored.published_at.as_ref().map(ts),
            ts(&ingested_at),
            hash,
            json,
            capture_id,
        ])
    })
    .with_ctx(|| format!("storing version {version} of item `{}`", item.id))?;
    Ok(change)
}

/// A result ready to write: the checked input and its JSON.
pub(crate) struct PreparedResult<'a> {
    pub(crate) seq: i64,
    pub(crate) result: &'a ClassifyResult,
    pub(crate) json: String,
    pub(crate) evidence: Vec<String>,
    pub(crate) max_score: f64,
}

pub(crate) fn prepare(seq: i64, result: &ClassifyResult) -> Result<PreparedResult<'_>> {
    if let Some(v) = result.verdicts.iter().find(|v| !v.score.is_finite()) {
        return Err(StoreError::InvalidInput(format!(
            "the result for item `{}` (seq {seq}) has a {} verdict from detector `{}` with score \
             {}: scores must be finite numbers",
            result.id, v.label, v.detector, v.score
        )));
    }
    let json = serde_json::to_string(result)
        .json_ctx(|| format!("serializing the result for item `{}`", result.id))?;
    let evidence = result
        .verdicts
        .iter()
        .map(|v| serde_json::to_string(&v.evidence))
        .collect::<serde_json::Result<Vec<_>>>()
        .json_ctx(|| format!("serializing verdict evidence for item `{}`", result.id))?;
    let max_score = result
        .verdicts
        .iter()
        .map(|v| f64::from(v.score))
        .fold(0.0, f64::max);
    Ok(PreparedResult {
        seq,
        result,
        json,
        evidence,
        max_score,
    })
}

impl Store {
    /// Items waiting for classification (stage `new`), oldest first, at most `limit`.
    pub fn pending_classification(&self, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                item_query!(
                    "WHERE i.stage = 'new'
                       AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.item_seq = i.seq)
                     ORDER BY i.seq LIMIT ?1"
                ),
                [sql_limit(limit)],
                || "reading items pending classification".into(),
            )
        })
    }

    /// Stores classification results in one transaction: `result_json`, one `verdicts` row per
    /// verdict, `flagged`/`severity`/`max_score`, and stage `classified`.
    ///
    /// Only items still in stage `new` move: saving a result again is a no-op, and so is a seq
    /// that no longer exists (logged). A result whose `id` is not the item's id, or with a
    /// non-finite score, fails the whole call without writing anything.
    pub fn save_results(&self, results: &[(i64, ClassifyResult)]) -> Result<()> {
        let prepared = results
            .iter()
            .map(|(seq, r)| prepare(*seq, r))
            .collect::<Result<Vec<_>>>()?;
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to save classification results")?;
            let mut moved = 0usize;
            for p in &prepared {
                let row: Option<(String, String)> = query_opt(
                    &tx,
                    "SELECT id, stage FROM items WHERE seq = ?1",
                    [p.seq],
                    || format!("reading item seq {}", p.seq),
                )?;
                let Some((id, stage)) = row else {
                    tracing::warn!(
                        seq = p.seq,
                        id = %p.result.id,
                        "no stored item with this seq; result not saved"
                    );
                    continue;
                };
                if id != p.result.id {
                    return Err(StoreError::InvalidInput(format!(
                        "the result for item `{}` was given for seq {}, which is item `{id}`",
                        p.result.id, p.seq
                    )));
                }
                if stage != "new" {
                    tracing::debug!(seq = p.seq, %id, %stage, "already classified; result not saved again");
                    continue;
                }
                tx.prepare_cached(
                    "UPDATE items SET stage = 'classified', flagged = ?1, severity = ?2,
                         max_score = ?3, result_json = ?4
                     WHERE seq = ?5 AND stage = 'new'",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        p.result.flagged,
                        p.result.severity.rank(),
                        p.max_score,
                        p.json,
                        p.seq
                    ])
                })
                .with_ctx(|| format!("saving the result of item `{id}` (seq {})", p.seq))?;
                for (idx, (v, evidence)) in p.result.verdicts.iter().zip(&p.evidence).enumerate()
                {
                    tx.prepare_cached(
                        "INSERT INTO verdicts(item_seq, idx, kind, label, score, detector,
                             explanation, evidence, rebuttal)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            p.seq,
                            i64::try_from(idx).unwrap_or(i64::MAX),
                            v.kind.as_str(),
                            v.label,
                            f64::from(v.score),
                            v.detector,
                            v.explanation,
                            evidence,
                            v.rebuttal
                        ])
                    })
                    .with_ctx(|| {
                        format!(
                            "saving verdict {idx} ({}) of item `{id}` (seq {})",
                            v.label, p.seq
                        )
                    })?;
                }
                moved += 1;
            }
            tx.commit().ctx("committing classification results")?;
            tracing::debug!(
                given = results.len(),
                moved,
                "saved classification results"
            );
            Ok(())
        })
    }

    /// Items waiting for indexing, oldest first, at most `limit`: for every item id with a
    /// version in stage `classified`, its latest version (never an older one). Ids whose latest
    /// version is still `new` wait until it is classified.
    ///
    /// Pass their [`StoredItem::index_mark`]s to [`Store::mark_indexed`], which also marks the
    /// older versions.
    pub fn pending_index(&self, limit: usize) -> Result<Vec<StoredItem>> {
        // Within one id, the highest seq is the latest version (see the schema).
        self.with_conn(|conn| {
            query_all(
                conn,
                item_query!(
                    "WHERE i.seq IN (SELECT max(l.seq) FROM items c JOIN items l ON l.id = c.id
                                     WHERE c.stage = 'classified' GROUP BY c.id)
                       AND i.stage <> 'new'
                       AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.item_seq = i.seq)
                     ORDER BY i.seq LIMIT ?1"
                ),
                [sql_limit(limit)],
                || "reading items pending indexing".into(),
            )
        })
    }

    /// Marks items indexed, in one transaction. For each mark whose version is not `new` and
    /// whose `index_gen` is still the one read, that version and every older `classified`
    /// version of the same id move to `indexed`. A version queued again since it was read
    /// (its incidents changed) stays `classified` for the next pass. Unknown seqs and repeats
    /// are no-ops.
    pub fn mark_indexed(&self, marks: &[IndexMark]) -> Result<()> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to mark items indexed")?;
            let mut marked = 0usize;
            for &IndexMark { seq, gen } in marks {
                marked += tx
                    .prepare_cached(
                        "UPDATE items SET stage = 'indexed'
                         WHERE stage = 'classified'
                           AND id = (SELECT id FROM items WHERE seq = ?1)
                           AND version <= (SELECT version FROM items WHERE seq = ?1)
                           AND (SELECT stage FROM items WHERE seq = ?1) <> 'new'
                           AND (SELECT index_gen FROM items WHERE seq = ?1) = ?2",
                    )
                    .and_then(|mut st| st.execute([seq, gen]))
                    .with_ctx(|| format!("marking item seq {seq} indexed"))?;
            }
            tx.commit().ctx("committing indexed marks")?;
            tracing::debug!(given = marks.len(), marked, "marked items indexed");
            Ok(())
        })
    }

    /// The latest version of every item whose latest version has `seq > after_seq`, ascending by
    /// seq, at most `limit`, in any stage: pages for rebuilding the index (pass the last seq
    /// returned as the next `after_seq`; start from 0).
    pub fn latest_items_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                item_query!(
                    "WHERE i.seq > ?1
                       AND NOT EXISTS (SELECT 1 FROM items n WHERE n.id = i.id
                                       AND n.version > i.version)
                     ORDER BY i.seq LIMIT ?2"
                ),
                params![after_seq, sql_limit(limit)],
                || format!("reading latest items after seq {after_seq}"),
            )
        })
    }

    /// How many distinct items are stored (each counted once, whatever its number of versions).
    pub fn count_latest_items(&self) -> Result<u64> {
        self.count("SELECT count(DISTINCT id) FROM items", "counting items")
    }

    /// The latest version of an item, if stored.
    pub fn get_item(&self, id: &str) -> Result<Option<StoredItem>> {
        self.with_conn(|conn| latest(conn, id))
    }

    /// The latest version of each of `ids` that is stored, in the order of `ids` (an id given
    /// twice is returned twice; unknown ids are skipped).
    pub fn get_items(&self, ids: &[String]) -> Result<Vec<StoredItem>> {
        self.with_conn(|conn| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(latest(conn, id)?);
            }
            Ok(out)
        })
    }

    /// Every stored version of an item, oldest first (empty if unknown).
    pub fn item_versions(&self, id: &str) -> Result<Vec<StoredItem>> {
        self.with_conn(|conn| {
            query_all(
                conn,
                item_query!("WHERE i.id = ?1 ORDER BY i.version"),
                [id],
                || format!("reading the versions of item `{id}`"),
            )
        })
    }

    /// How many item versions are stored.
    pub fn count_items(&self) -> Result<u64> {
        self.count("SELECT count(*) FROM items", "counting item versions")
    }
}

#[cfg(test)]
mod tests;
