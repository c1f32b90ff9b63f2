//! Items in PostgreSQL: every version, classification results and verdicts, and the stage
//! queues (`new` → `classified` → `indexed`), as in the SQLite store (`crate::items`).
//!
//! One difference: the SQLite store's `pending_classification` and `pending_index` leave out
//! quarantined items; in cluster mode poison work is JetStream's (`max_deliver` and a dead-letter
//! subject), so the PostgreSQL store has no quarantine table.

use std::collections::HashMap;

use ballotwatch_core::{ClassifyResult, Item};
use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};

use super::{col, pg_limit, PgStore};
use crate::error::{JsonContext, PgContext, Result, StoreError};
use crate::items::{parse_incidents, prepare, Change};
use crate::{IndexMark, StoredItem};

/// `SELECT` of the columns [`stored_item`] reads, from `items i`, followed by `$rest`.
macro_rules! pg_item_query {
    ($rest:literal) => {
        concat!(
            "SELECT i.seq, i.item_json, i.result_json, i.capture_id,
                (SELECT string_agg(ii.incident_id::text || ':' || n.status, ','
                                   ORDER BY ii.added_at DESC, ii.incident_id DESC)
                 FROM incident_items ii JOIN incidents n ON n.id = ii.incident_id
                 WHERE ii.item_id = i.id),
                i.index_gen
             FROM items i ",
            $rest
        )
    };
}
pub(crate) use pg_item_query;

/// Reads the columns [`pg_item_query`] selects.
pub(crate) fn stored_item(r: &Row) -> Result<StoredItem> {
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

/// Every row of an item query, mapped.
pub(crate) fn items_of(rows: &[Row]) -> Result<Vec<StoredItem>> {
    rows.iter().map(stored_item).collect()
}

/// The latest stored `(version, content_hash)` of each of `ids`, in one query.
pub(crate) fn latest_hashes(
    c: &mut impl GenericClient,
    ids: &[&str],
) -> Result<HashMap<String, (i32, String)>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = c
        .query(
            "SELECT DISTINCT ON (id) id, version, content_hash FROM items
             WHERE id = ANY($1) ORDER BY id, version DESC",
            &[&ids],
        )
        .pg("reading the latest versions of a poll's items")?;
    rows.iter()
        .map(|r| Ok((col(r, 0)?, (col(r, 1)?, col(r, 2)?))))
        .collect()
}

/// One new item version, ready to insert.
pub(crate) struct NewVersion {
    id: String,
    version: i32,
    source_kind: String,
    url: Option<String>,
    published_at: Option<DateTime<Utc>>,
    hash: String,
    json: String,
    capture_id: Option<i64>,
}

/// How `item` compares with its latest stored version, and the row to insert when it is new or
/// changed (`version` and `ingested_at` set).
pub(crate) fn plan_item_version(
    item: &Item,
    capture_id: Option<i64>,
    ingested_at: DateTime<Utc>,
    latest: Option<&(i32, String)>,
) -> Result<(Change, Option<NewVersion>)> {
    let hash = item.content_hash();
    let (version, change) = match latest {
        None => (1, Change::New),
        Some((_, h)) if *h == hash => return Ok((Change::Unchanged, None)),
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
    Ok((
        change,
        Some(NewVersion {
            id: stored.id,
            version,
            source_kind: stored.source.kind,
            url: stored.url,
            published_at: stored.published_at.map(super::ms),
            hash,
            json,
            capture_id,
        }),
    ))
}

/// Inserts new item versions (stage `new`) in one statement, in the order given (so `seq`
/// follows it), inside the caller's transaction (which holds the items' advisory locks).
pub(crate) fn insert_item_versions(
    c: &mut impl GenericClient,
    source: &str,
    ingested_at: DateTime<Utc>,
    rows: &[NewVersion],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let col_of = |f: fn(&NewVersion) -> &String| rows.iter().map(f).collect::<Vec<_>>();
    let ids = col_of(|r| &r.id);
    let kinds = col_of(|r| &r.source_kind);
    let hashes = col_of(|r| &r.hash);
    let jsons = col_of(|r| &r.json);
    let versions: Vec<i32> = rows.iter().map(|r| r.version).collect();
    let urls: Vec<Option<&str>> = rows.iter().map(|r| r.url.as_deref()).collect();
    let published: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.published_at).collect();
    let captures: Vec<Option<i64>> = rows.iter().map(|r| r.capture_id).collect();
    c.execute(
        "INSERT INTO items(id, version, source, source_kind, url, published_at, ingested_at,
             content_hash, item_json, capture_id, stage)
         SELECT u.id, u.version, $9, u.kind, u.url, u.published, $10, u.hash, u.json,
                u.capture, 'new'
         FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::text[], $7::text[], $8::bigint[])
              WITH ORDINALITY AS u(id, version, kind, url, published, hash, json, capture, n)
         ORDER BY u.n",
        &[
            &ids,
            &versions,
            &kinds,
            &urls,
            &published,
            &hashes,
            &jsons,
            &captures,
            &source,
            &ingested_at,
        ],
    )
    .pg_with(|| {
        format!(
            "storing {} new item versions of source `{source}` (the first is `{}`)",
            rows.len(),
            rows[0].id
        )
    })?;
    Ok(())
}

/// Queues the latest version of item `item_id` to be indexed again (its incidents changed),
/// inside the caller's transaction (see `crate::items::queue_reindex`).
pub(crate) fn queue_reindex(c: &mut impl GenericClient, item_id: &str) -> Result<u64> {
    c.execute(
        "UPDATE items SET index_gen = index_gen + 1,
             stage = CASE stage WHEN 'new' THEN 'new' ELSE 'classified' END
         WHERE seq = (SELECT max(seq) FROM items WHERE id = $1)",
        &[&item_id],
    )
    .pg_with(|| format!("queueing item `{item_id}` to be indexed again"))
}

impl PgStore {
    /// Items waiting for classification (stage `new`), oldest first, at most `limit`.
    pub fn pending_classification(&self, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_client("reading items pending classification", |c| {
            let rows = c
                .query(
                    pg_item_query!("WHERE i.stage = 'new' ORDER BY i.seq LIMIT $1"),
                    &[&pg_limit(limit)],
                )
                .pg("reading items pending classification")?;
            items_of(&rows)
        })
    }

    /// Stores classification results in one transaction and moves the items to `classified`
    /// (see [`crate::Store::save_results`]). Each item row is locked while it is checked, so two
    /// nodes saving the same result save it once.
    pub fn save_results(&self, results: &[(i64, ClassifyResult)]) -> Result<()> {
        let prepared = results
            .iter()
            .map(|(seq, r)| prepare(*seq, r))
            .collect::<Result<Vec<_>>>()?;
        self.with_client("saving classification results", |c| {
            let mut tx = c
                .transaction()
                .pg("starting to save classification results")?;
            let mut moved = 0usize;
            for p in &prepared {
                let row = tx
                    .query_opt(
                        "SELECT id, stage FROM items WHERE seq = $1 FOR UPDATE",
                        &[&p.seq],
                    )
                    .pg_with(|| format!("reading item seq {}", p.seq))?;
                let Some(row) = row else {
                    tracing::warn!(seq = p.seq, id = %p.result.id, "no stored item with this seq; result not saved");
                    continue;
                };
                let id: String = col(&row, 0)?;
                let stage: String = col(&row, 1)?;
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
                tx.execute(
                    "UPDATE items SET stage = 'classified', flagged = $1, severity = $2,
                         max_score = $3, result_json = $4
                     WHERE seq = $5 AND stage = 'new'",
                    &[
                        &p.result.flagged,
                        &i16::from(p.result.severity.rank()),
                        &p.max_score,
                        &p.json,
                        &p.seq,
                    ],
                )
                .pg_with(|| format!("saving the result of item `{id}` (seq {})", p.seq))?;
                for (idx, (v, evidence)) in p.result.verdicts.iter().zip(&p.evidence).enumerate()
                {
                    tx.execute(
                        "INSERT INTO verdicts(item_seq, idx, kind, label, score, detector,
                             explanation, evidence, rebuttal)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        &[
                            &p.seq,
                            &i32::try_from(idx).unwrap_or(i32::MAX),
                            &v.kind.as_str(),
                            &v.label,
                            &f64::from(v.score),
                            &v.detector,
                            &v.explanation,
                            evidence,
                            &v.rebuttal,
                        ],
                    )
                    .pg_with(|| {
                        format!(
                            "saving verdict {idx} ({}) of item `{id}` (seq {})",
                            v.label, p.seq
                        )
                    })?;
                }
                moved += 1;
            }
            tx.commit().pg("committing classification results")?;
            tracing::debug!(given = results.len(), moved, "saved classification results");
            Ok(())
        })
    }

    /// Items waiting for indexing, oldest first, at most `limit` (see
    /// [`crate::Store::pending_index`]).
    pub fn pending_index(&self, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_client("reading items pending indexing", |c| {
            let rows = c
                .query(
                    pg_item_query!(
                        "WHERE i.seq IN (SELECT max(l.seq) FROM items c JOIN items l ON l.id = c.id
                                         WHERE c.stage = 'classified' GROUP BY c.id)
                           AND i.stage <> 'new'
                         ORDER BY i.seq LIMIT $1"
                    ),
                    &[&pg_limit(limit)],
                )
                .pg("reading items pending indexing")?;
            items_of(&rows)
        })
    }

    /// Marks items indexed, in one transaction (see [`crate::Store::mark_indexed`]). The marked
    /// version's row is locked and re-read first, so a request to index it again committed
    /// meanwhile (its `index_gen` bumped) is never lost.
    pub fn mark_indexed(&self, marks: &[IndexMark]) -> Result<()> {
        self.with_client("marking items indexed", |c| {
            let mut tx = c.transaction().pg("starting to mark items indexed")?;
            let mut marked = 0u64;
            for &IndexMark { seq, gen } in marks {
                let row = tx
                    .query_opt(
                        "SELECT id, version, stage, index_gen FROM items WHERE seq = $1 FOR UPDATE",
                        &[&seq],
                    )
                    .pg_with(|| format!("reading item seq {seq}"))?;
                let Some(row) = row else { continue };
                let id: String = col(&row, 0)?;
                let version: i32 = col(&row, 1)?;
                let stage: String = col(&row, 2)?;
                let now_gen: i64 = col(&row, 3)?;
                if stage == "new" || now_gen != gen {
                    continue;
                }
                marked += tx
                    .execute(
                        "UPDATE items SET stage = 'indexed'
                         WHERE stage = 'classified' AND id = $1 AND version <= $2",
                        &[&id, &version],
                    )
                    .pg_with(|| format!("marking item seq {seq} indexed"))?;
            }
            tx.commit().pg("committing indexed marks")?;
            tracing::debug!(given = marks.len(), marked, "marked items indexed");
            Ok(())
        })
    }

    /// The latest version of an item, if stored.
    pub fn get_item(&self, id: &str) -> Result<Option<StoredItem>> {
        self.with_client("reading an item", |c| {
            c.query_opt(
                pg_item_query!("WHERE i.id = $1 ORDER BY i.version DESC LIMIT 1"),
                &[&id],
            )
            .pg_with(|| format!("reading item `{id}`"))?
            .map(|r| stored_item(&r))
            .transpose()
        })
    }

    /// The latest version of each of `ids` that is stored, in the order of `ids` (an id given
    /// twice is returned twice; unknown ids are skipped), in one query.
    pub fn get_items(&self, ids: &[String]) -> Result<Vec<StoredItem>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.with_client("reading items", |c| {
            let rows = c
                .query(
                    pg_item_query!(
                        "WHERE i.seq IN (SELECT DISTINCT ON (id) seq FROM items
                                         WHERE id = ANY($1) ORDER BY id, version DESC)"
                    ),
                    &[&ids],
                )
                .pg_with(|| format!("reading the latest versions of {} items", ids.len()))?;
            let latest: HashMap<String, StoredItem> = items_of(&rows)?
                .into_iter()
                .map(|s| (s.item.id.clone(), s))
                .collect();
            Ok(ids
                .iter()
                .filter_map(|id| latest.get(id).cloned())
                .collect())
        })
    }

    /// Every stored version of an item, oldest first (empty if unknown).
    pub fn item_versions(&self, id: &str) -> Result<Vec<StoredItem>> {
        self.with_client("reading an item's versions", |c| {
            let rows = c
                .query(pg_item_query!("WHERE i.id = $1 ORDER BY i.version"), &[&id])
                .pg_with(|| format!("reading the versions of item `{id}`"))?;
            items_of(&rows)
        })
    }

    /// The latest version of every item whose latest version has `seq > after_seq`, ascending by
    /// seq, at most `limit`, in any stage: pages for rebuilding a search index (see
    /// [`crate::Store::latest_items_after`]). Seqs are handed out before commit, so a page read
    /// while other nodes write may miss a version committed later with a lower seq: rebuild from
    /// a quiet moment's snapshot and follow changes from the stream, as cluster mode does.
    pub fn latest_items_after(&self, after_seq: i64, limit: usize) -> Result<Vec<StoredItem>> {
        self.with_client("reading latest items", |c| {
            let rows = c
                .query(
                    pg_item_query!(
                        "WHERE i.seq > $1
                           AND NOT EXISTS (SELECT 1 FROM items n WHERE n.id = i.id
                                           AND n.version > i.version)
                         ORDER BY i.seq LIMIT $2"
                    ),
                    &[&after_seq, &pg_limit(limit)],
                )
                .pg_with(|| format!("reading latest items after seq {after_seq}"))?;
            items_of(&rows)
        })
    }

    /// How many distinct items are stored.
    pub fn count_latest_items(&self) -> Result<u64> {
        self.with_client("counting items", |c| {
            let r = c
                .query_one("SELECT count(DISTINCT id) FROM items", &[])
                .pg("counting items")?;
            super::count_col(&r, 0, || "count of distinct items".into())
        })
    }

    /// How many item versions are stored.
    pub fn count_items(&self) -> Result<u64> {
        self.with_client("counting item versions", |c| {
            let r = c
                .query_one("SELECT count(*) FROM items", &[])
                .pg("counting item versions")?;
            super::count_col(&r, 0, || "count of items".into())
        })
    }
}
