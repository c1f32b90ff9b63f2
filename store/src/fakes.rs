//! Media officers have confirmed fake: their perceptual (PDQ) and exact (SHA-256) hashes, the
//! incident they were confirmed in, who confirmed them and when. The known-fake detector matches
//! new media against this list; every confirmation and removal is in the audit log, in the same
//! transaction as the change. The store keeps the hashes as given (64 hex digits); computing them
//! is the caller's job.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, Row, TransactionBehavior};

use crate::audit;
use crate::error::{Result, SqlContext, StoreError};
use crate::row::{col, query_all, query_opt, FromRow};
use crate::{now_ms, parse_ts, ts, Store, DB_FILE};

/// A confirmation to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewKnownFake {
    /// PDQ hash, 64 hex digits.
    pub pdq: String,
    /// PDQ quality, 0–100.
    pub pdq_quality: u8,
    /// SHA-256 of the media file, 64 hex digits.
    pub sha256: String,
    /// The incident it is confirmed in (must exist).
    pub incident_id: i64,
    /// The item it was attached to, when known.
    pub item_id: Option<String>,
    /// Where it was published, when known.
    pub media_url: Option<String>,
    /// Why the officer confirmed it.
    pub note: String,
}

/// A confirmed fake as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KnownFakeRecord {
    /// Its id (`fakes remove ID`).
    pub id: i64,
    /// PDQ hash, 64 hex digits.
    pub pdq: String,
    /// PDQ quality, 0–100.
    pub pdq_quality: u8,
    /// SHA-256 of the media file.
    pub sha256: String,
    /// The incident it was confirmed in.
    pub incident_id: i64,
    /// The item it was attached to, when known.
    pub item_id: Option<String>,
    /// Where it was published, when known.
    pub media_url: Option<String>,
    /// Who confirmed it.
    pub added_by: String,
    /// When (UTC).
    pub added_at: DateTime<Utc>,
    /// Why.
    pub note: String,
}

impl KnownFakeRecord {
    pub(crate) const COLUMNS: &'static str =
        "id, pdq, pdq_quality, sha256, incident_id, item_id, media_url, added_by, added_at, note";
}

impl FromRow for KnownFakeRecord {
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let id: i64 = col(r, 0)?;
        let quality: i64 = col(r, 2)?;
        let added_at: String = col(r, 8)?;
        Ok(KnownFakeRecord {
            id,
            pdq: col(r, 1)?,
            pdq_quality: u8::try_from(quality.clamp(0, 100)).unwrap_or(0),
            sha256: col(r, 3)?,
            incident_id: col(r, 4)?,
            item_id: col(r, 5)?,
            media_url: col(r, 6)?,
            added_by: col(r, 7)?,
            added_at: parse_ts(&added_at, || format!("added_at of known fake {id}"))?,
            note: col(r, 9)?,
        })
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl NewKnownFake {
    /// Refuses hashes that are not 64 hex digits and a quality over 100 (both back ends).
    pub(crate) fn check(&self) -> Result<()> {
        if !is_hex64(&self.pdq) || !is_hex64(&self.sha256) || self.pdq_quality > 100 {
            return Err(StoreError::InvalidInput(format!(
                "a confirmed fake needs a 64-hex-digit PDQ hash, a 64-hex-digit SHA-256 and a quality of 0-100 (got `{}`, `{}`, {})",
                self.pdq, self.sha256, self.pdq_quality
            )));
        }
        Ok(())
    }
}

/// The error for confirming media fake in an incident that does not exist (both back ends).
pub(crate) fn no_incident(incident_id: i64) -> StoreError {
    StoreError::InvalidInput(format!(
        "there is no incident {incident_id} to confirm media fake in"
    ))
}

/// The list's version from its highest id and its length: it changes whenever a fake is
/// confirmed (the highest id grows) or removed (the length falls). Both back ends.
pub(crate) fn version_of(max_id: i64, count: i64) -> i64 {
    (max_id << 24) | (count & 0xFF_FFFF)
}

impl KnownFakeRecord {
    /// The audit detail of its confirmation (`fake.confirm`).
    pub(crate) fn confirm_detail(&self) -> serde_json::Value {
        serde_json::json!({
            "known_fake_id": self.id,
            "incident_id": self.incident_id,
            "item_id": self.item_id,
            "sha256": self.sha256,
            "pdq": self.pdq,
            "media_url": self.media_url,
            "note": self.note,
        })
    }

    /// The audit detail of its removal (`fake.remove`).
    pub(crate) fn remove_detail(&self) -> serde_json::Value {
        serde_json::json!({
            "known_fake_id": self.id,
            "incident_id": self.incident_id,
            "sha256": self.sha256,
            "pdq": self.pdq,
        })
    }
}

fn list(conn: &Connection) -> Result<Vec<KnownFakeRecord>> {
    query_all(
        conn,
        &format!(
            "SELECT {} FROM known_fakes ORDER BY id",
            KnownFakeRecord::COLUMNS
        ),
        [],
        || "reading the confirmed fakes".into(),
    )
}

fn version(conn: &Connection) -> Result<i64> {
    let (max, n): (i64, i64) = query_opt(
        conn,
        "SELECT COALESCE(max(id), 0), count(*) FROM known_fakes",
        [],
        || "reading the confirmed-fake list's version".into(),
    )?
    .unwrap_or_default();
    Ok(version_of(max, n))
}

impl Store {
    /// Records media confirmed fake in an incident, with an audit entry (`fake.confirm`) in the
    /// same transaction. The same file confirmed again in the same incident is not duplicated:
    /// the existing record is returned with `false`.
    pub fn add_known_fake(
        &self,
        fake: &NewKnownFake,
        actor: &str,
    ) -> Result<(KnownFakeRecord, bool)> {
        fake.check()?;
        let sha = fake.sha256.to_ascii_lowercase();
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to record a confirmed fake")?;
            let incident_exists: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM incidents WHERE id = ?1)",
                    [fake.incident_id],
                    |r| r.get(0),
                )
                .with_ctx(|| format!("checking incident {}", fake.incident_id))?;
            if !incident_exists {
                return Err(no_incident(fake.incident_id));
            }
            let existing: Option<KnownFakeRecord> = query_opt(
                &tx,
                &format!(
                    "SELECT {} FROM known_fakes WHERE sha256 = ?1 AND incident_id = ?2",
                    KnownFakeRecord::COLUMNS
                ),
                params![sha, fake.incident_id],
                || "looking for an earlier confirmation".into(),
            )?;
            if let Some(rec) = existing {
                return Ok((rec, false));
            }
            let rec: KnownFakeRecord = query_opt(
                &tx,
                &format!(
                    "INSERT INTO known_fakes(pdq, pdq_quality, sha256, incident_id, item_id,
                     media_url, added_by, added_at, note)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING {}",
                    KnownFakeRecord::COLUMNS
                ),
                params![
                    fake.pdq.to_ascii_lowercase(),
                    fake.pdq_quality,
                    sha,
                    fake.incident_id,
                    fake.item_id,
                    fake.media_url,
                    actor,
                    at,
                    fake.note
                ],
                || format!("recording media {sha} as confirmed fake"),
            )?
            .ok_or_else(|| {
                StoreError::corrupt("known_fakes", "an insert returned no row".to_string())
            })?;
            audit::record(&tx, &at, actor, "fake.confirm", &rec.confirm_detail())?;
            tx.commit().ctx("committing a confirmed fake")?;
            Ok((rec, true))
        })
    }

    /// Every confirmed fake, oldest first.
    pub fn known_fakes(&self) -> Result<Vec<KnownFakeRecord>> {
        self.with_conn(|conn| list(conn))
    }

    /// A number that changes whenever a fake is confirmed or removed: cheap to poll before
    /// reloading the list.
    pub fn known_fakes_version(&self) -> Result<i64> {
        self.with_conn(|conn| version(conn))
    }

    /// Removes a confirmation (an officer's mistake), with an audit entry (`fake.remove`)
    /// holding what was removed. Returns `false` when there is no such id.
    pub fn remove_known_fake(&self, id: i64, actor: &str) -> Result<bool> {
        let at = ts(&now_ms());
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx("starting to remove a confirmed fake")?;
            let existing: Option<KnownFakeRecord> = query_opt(
                &tx,
                &format!(
                    "SELECT {} FROM known_fakes WHERE id = ?1",
                    KnownFakeRecord::COLUMNS
                ),
                [id],
                || format!("reading confirmed fake {id}"),
            )?;
            let Some(rec) = existing else {
                return Ok(false);
            };
            tx.execute("DELETE FROM known_fakes WHERE id = ?1", [id])
                .with_ctx(|| format!("removing confirmed fake {id}"))?;
            audit::record(&tx, &at, actor, "fake.remove", &rec.remove_detail())?;
            tx.commit()
                .ctx("committing the removal of a confirmed fake")?;
            Ok(true)
        })
    }
}

/// Reads the confirmed fakes from `data_dir`'s database without creating, migrating or writing
/// anything (for `ballotwatch classify`, which has no side effects). `Ok(None)` when there is no
/// database yet or it predates the confirmed-fake table.
pub fn read_known_fakes_readonly(data_dir: &Path) -> Result<Option<Vec<KnownFakeRecord>>> {
    let db = data_dir.join(DB_FILE);
    if !db.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx("opening the database read-only")
    .map_err(|e| e.in_db(&db))?;
    let has_table: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'known_fakes')",
            [],
            |r| r.get(0),
        )
        .ctx("looking for the confirmed-fake table")
        .map_err(|e| e.in_db(&db))?;
    if !has_table {
        return Ok(None);
    }
    list(&conn).map(Some).map_err(|e| e.in_db(&db))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballotwatch_core::{Severity, VerdictKind};

    fn fake(incident_id: i64, sha: char) -> NewKnownFake {
        NewKnownFake {
            pdq: "ab".repeat(32),
            pdq_quality: 80,
            sha256: sha.to_string().repeat(64),
            incident_id,
            item_id: Some("item-1".into()),
            media_url: Some("https://x.example/fake.jpg".into()),
            note: "AI picture of a flooded polling station".into(),
        }
    }

    #[test]
    fn add_list_remove_with_audit_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let inc = store
            .create_incident(
                "fake flood",
                VerdictKind::SyntheticMedia,
                Severity::High,
                "ana",
            )
            .unwrap();
        let v0 = store.known_fakes_version().unwrap();
        let (rec, created) = store.add_known_fake(&fake(inc.id, 'a'), "ana").unwrap();
        assert!(created);
        assert_eq!(rec.incident_id, inc.id);
        assert_eq!(rec.added_by, "ana");
        let v1 = store.known_fakes_version().unwrap();
        assert_ne!(v0, v1);
        let (again, created) = store.add_known_fake(&fake(inc.id, 'a'), "bob").unwrap();
        assert!(!created);
        assert_eq!(again.id, rec.id);
        assert_eq!(store.known_fakes_version().unwrap(), v1, "nothing changed");
        store.add_known_fake(&fake(inc.id, 'b'), "ana").unwrap();
        assert_eq!(store.known_fakes().unwrap().len(), 2);

        let audit = store.audit_entries(10).unwrap();
        let confirms: Vec<_> = audit
            .iter()
            .filter(|a| a.action == "fake.confirm")
            .collect();
        assert_eq!(confirms.len(), 2);
        assert_eq!(confirms[1].detail["incident_id"], inc.id);

        assert!(store.remove_known_fake(rec.id, "ana").unwrap());
        assert!(!store.remove_known_fake(rec.id, "ana").unwrap());
        assert_eq!(store.known_fakes().unwrap().len(), 1);
        assert_ne!(store.known_fakes_version().unwrap(), v1);
        let audit = store.audit_entries(10).unwrap();
        assert_eq!(audit[0].action, "fake.remove");
        assert_eq!(audit[0].detail["known_fake_id"], rec.id);

        let ro = read_known_fakes_readonly(dir.path()).unwrap().unwrap();
        assert_eq!(ro, store.known_fakes().unwrap());
    }

    #[test]
    fn refuses_bad_hashes_and_unknown_incidents() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = store.add_known_fake(&fake(99, 'a'), "ana").unwrap_err();
        assert!(e.to_string().contains("no incident 99"), "{e}");
        let inc = store
            .create_incident("x", VerdictKind::SyntheticMedia, Severity::High, "ana")
            .unwrap();
        let mut bad = fake(inc.id, 'a');
        bad.pdq = "xyz".into();
        assert!(store.add_known_fake(&bad, "ana").is_err());
        assert!(store.known_fakes().unwrap().is_empty());
    }

    #[test]
    fn readonly_read_of_a_missing_database_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_known_fakes_readonly(dir.path()).unwrap().is_none());
        assert!(!dir.path().join(DB_FILE).exists(), "nothing created");
    }
}
