//! Media officers confirmed fake, in PostgreSQL: the same records, checks and audit entries as
//! the SQLite store (`crate::fakes`), shared by every node, so a fake confirmed on any web node
//! or with `ballotwatch fakes add` is matched by every classify node's next batch.

use postgres::Row;

use super::audit;
use super::{col, PgStore};
use crate::error::{PgContext, Result, StoreError};
use crate::fakes::{no_incident, version_of};
use crate::{now_ms, KnownFakeRecord, NewKnownFake};

fn known_fake(r: &Row) -> Result<KnownFakeRecord> {
    let quality: i16 = col(r, 2)?;
    Ok(KnownFakeRecord {
        id: col(r, 0)?,
        pdq: col(r, 1)?,
        pdq_quality: u8::try_from(quality.clamp(0, 100)).unwrap_or(0),
        sha256: col(r, 3)?,
        incident_id: col(r, 4)?,
        item_id: col(r, 5)?,
        media_url: col(r, 6)?,
        added_by: col(r, 7)?,
        added_at: col(r, 8)?,
        note: col(r, 9)?,
    })
}

impl PgStore {
    /// Records media confirmed fake in an incident, with an audit entry (`fake.confirm`) in the
    /// same transaction (see [`crate::Store::add_known_fake`]). Two nodes confirming the same
    /// file in the same incident at once record it once (the unique index on both).
    pub fn add_known_fake(
        &self,
        fake: &NewKnownFake,
        actor: &str,
    ) -> Result<(KnownFakeRecord, bool)> {
        fake.check()?;
        let sha = fake.sha256.to_ascii_lowercase();
        let at = now_ms();
        let columns = KnownFakeRecord::COLUMNS;
        self.with_client("recording a confirmed fake", |c| {
            let mut tx = c.transaction().pg("starting to record a confirmed fake")?;
            let exists: bool = col(
                &tx.query_one(
                    "SELECT EXISTS(SELECT 1 FROM incidents WHERE id = $1)",
                    &[&fake.incident_id],
                )
                .pg_with(|| format!("checking incident {}", fake.incident_id))?,
                0,
            )?;
            if !exists {
                return Err(no_incident(fake.incident_id));
            }
            let quality = i16::from(fake.pdq_quality);
            let inserted = tx
                .query_opt(
                    &format!(
                        "INSERT INTO known_fakes(pdq, pdq_quality, sha256, incident_id, item_id,
                             media_url, added_by, added_at, note)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (sha256, incident_id) DO NOTHING
                         RETURNING {columns}"
                    ),
                    &[
                        &fake.pdq.to_ascii_lowercase(),
                        &quality,
                        &sha,
                        &fake.incident_id,
                        &fake.item_id,
                        &fake.media_url,
                        &actor,
                        &at,
                        &fake.note,
                    ],
                )
                .pg_with(|| format!("recording media {sha} as confirmed fake"))?;
            let Some(row) = inserted else {
                let existing = tx
                    .query_opt(
                        &format!(
                            "SELECT {columns} FROM known_fakes
                             WHERE sha256 = $1 AND incident_id = $2"
                        ),
                        &[&sha, &fake.incident_id],
                    )
                    .pg("looking for an earlier confirmation")?
                    .ok_or_else(|| {
                        StoreError::corrupt(
                            "known_fakes",
                            format!("media {sha} is neither new nor recorded"),
                        )
                    })?;
                return Ok((known_fake(&existing)?, false));
            };
            let rec = known_fake(&row)?;
            audit::record(&mut tx, at, actor, "fake.confirm", &rec.confirm_detail())?;
            tx.commit().pg("committing a confirmed fake")?;
            Ok((rec, true))
        })
    }

    /// Every confirmed fake, oldest first.
    pub fn known_fakes(&self) -> Result<Vec<KnownFakeRecord>> {
        self.with_client("reading the confirmed fakes", |c| {
            c.query(
                &format!(
                    "SELECT {} FROM known_fakes ORDER BY id",
                    KnownFakeRecord::COLUMNS
                ),
                &[],
            )
            .pg("reading the confirmed fakes")?
            .iter()
            .map(known_fake)
            .collect()
        })
    }

    /// A number that changes whenever a fake is confirmed or removed (see
    /// [`crate::Store::known_fakes_version`]).
    pub fn known_fakes_version(&self) -> Result<i64> {
        self.with_client("reading the confirmed-fake list's version", |c| {
            let r = c
                .query_one(
                    "SELECT COALESCE(max(id), 0), count(*) FROM known_fakes",
                    &[],
                )
                .pg("reading the confirmed-fake list's version")?;
            Ok(version_of(col(&r, 0)?, col(&r, 1)?))
        })
    }

    /// Removes a confirmation, with an audit entry (`fake.remove`) holding what was removed;
    /// `false` when there is no such id (see [`crate::Store::remove_known_fake`]).
    pub fn remove_known_fake(&self, id: i64, actor: &str) -> Result<bool> {
        let at = now_ms();
        self.with_client("removing a confirmed fake", |c| {
            let mut tx = c.transaction().pg("starting to remove a confirmed fake")?;
            let removed = tx
                .query_opt(
                    &format!(
                        "DELETE FROM known_fakes WHERE id = $1 RETURNING {}",
                        KnownFakeRecord::COLUMNS
                    ),
                    &[&id],
                )
                .pg_with(|| format!("removing confirmed fake {id}"))?
                .map(|r| known_fake(&r))
                .transpose()?;
            let Some(rec) = removed else {
                return Ok(false);
            };
            audit::record(&mut tx, at, actor, "fake.remove", &rec.remove_detail())?;
            tx.commit()
                .pg("committing the removal of a confirmed fake")?;
            Ok(true)
        })
    }
}
