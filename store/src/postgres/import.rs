//! Copying an embedded (SQLite) store into PostgreSQL, for `ballotwatch migrate --to-cluster`:
//! every table row by row with its ids kept, capture bytes by SHA-256, and a check that the two
//! hold the same rows.
//!
//! Each table is read from SQLite in pages in key order (bounded memory whatever its size); for
//! each page the PostgreSQL rows with the same keys are read back and compared column by column
//! (times as instants, JSON as values), and in [`Pass::Copy`] the missing ones are inserted with
//! `ON CONFLICT DO NOTHING`. So a copy is idempotent and resumable: a second run, or one after
//! an interruption, inserts only what is missing. [`Pass::Check`] writes nothing and reports the
//! first row that differs — what the verification runs after copying, and what a run checks
//! first when the target already holds data (it must be an earlier copy of this store).
//!
//! Rows keep their ids (items' `seq`, incidents' ids, the capture log's `seq` and heads, so the
//! chain still verifies); identity sequences are moved past the copied ids afterwards. An
//! outbox message that was being sent (`sending`) is copied as `pending`, as the embedded store
//! would recover it on start; `sent` stays `sent`, so nothing is sent twice. Not copied: the
//! quarantine and attempts in progress (in cluster mode poison work is JetStream's).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use postgres::types::ToSql;
use postgres::Row;
use rusqlite::types::ValueRef;

use super::{col, PgStore};
use crate::blobs::normalise_sha;
use crate::error::{PgContext, Result, SqlContext, StoreError};
use crate::{parse_ts, Store};

mod tables;

use tables::{Table, Ty, TABLES};
use Ty::*;

/// The names of the tables a migration copies, in the order it copies them (then `blobs`).
pub fn import_tables() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}

/// A column value, read from either back end and compared as the same thing.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Ts(DateTime<Utc>),
    Json(serde_json::Value),
    Bytes(Vec<u8>),
}

/// What a pass over one table does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Compares, writes nothing.
    Check,
    /// Compares and inserts the rows the target is missing.
    Copy,
}

/// What one pass found in one table (or in the blobs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableReport {
    /// The table (`blobs` for capture bytes).
    pub table: String,
    /// Rows (or blobs) in the embedded store.
    pub source: u64,
    /// Rows (or blobs) in PostgreSQL after the pass.
    pub target: u64,
    /// Rows (or blobs) the pass inserted.
    pub copied: u64,
    /// Bytes of the blobs the pass inserted (blobs only).
    pub bytes: u64,
    /// Source rows the target lacks (after a [`Pass::Copy`]: that it could not insert).
    pub missing: u64,
    /// Rows in both stores that differ (blobs: that failed their check).
    pub differing: u64,
    /// Rows (or blobs) only PostgreSQL holds.
    pub extra: u64,
    /// The first problem found: a row that differs or is missing, extra target rows, a damaged
    /// blob; naming the table, key and column or the blob's SHA-256.
    pub first_problem: Option<String>,
    /// The first difference or extra row: what makes the target not a (maybe partial) copy.
    pub first_conflict: Option<String>,
}

impl TableReport {
    fn problem(&mut self, p: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(p());
        }
    }

    fn conflict(&mut self, p: impl FnOnce() -> String) {
        if self.first_conflict.is_none() {
            let p = p();
            self.first_conflict = Some(p.clone());
            self.problem(|| p);
        }
    }

    /// Whether the target holds rows that differ from the embedded store's or that it lacks:
    /// it is not a (maybe partial) copy of it.
    pub fn conflicts(&self) -> bool {
        self.differing > 0 || self.extra > 0
    }

    /// Whether the two sides hold the same rows.
    pub fn matches(&self) -> bool {
        self.first_problem.is_none()
            && self.source == self.target
            && self.missing == 0
            && self.differing == 0
    }
}

/// Rows read per page from each side.
const PAGE: usize = 500;

fn key_text(vals: &[Val]) -> String {
    vals.iter()
        .map(|v| match v {
            Val::Int(i) => i.to_string(),
            Val::Text(s) => format!("{s:?}"),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads column `i` of a SQLite row as `ty`.
fn sqlite_val(r: &rusqlite::Row<'_>, i: usize, ty: Ty, what: impl Fn() -> String) -> Result<Val> {
    let v = r.get_ref(i).ctx("reading a column")?;
    let bad = |found: &str| StoreError::corrupt(what(), format!("expected {ty:?}, found {found}"));
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| StoreError::corrupt(what(), "text is not UTF-8"))
    };
    Ok(match (v, ty) {
        (ValueRef::Null, _) => Val::Null,
        (ValueRef::Integer(n), Int2 | Int4 | Int8) => Val::Int(n),
        (ValueRef::Integer(n), Float) => Val::Float(n as f64),
        (ValueRef::Real(f), Float) => Val::Float(f),
        (ValueRef::Integer(n), Bool) => Val::Bool(n != 0),
        (ValueRef::Text(b), Text) => Val::Text(text(b)?),
        (ValueRef::Text(b), Ts) => Val::Ts(parse_ts(&text(b)?, &what)?),
        (ValueRef::Text(b), Json) => Val::Json(
            serde_json::from_slice(b)
                .map_err(|e| StoreError::corrupt(what(), format!("not JSON: {e}")))?,
        ),
        (ValueRef::Blob(b), Bytes) => Val::Bytes(b.to_vec()),
        (ValueRef::Integer(_), _) => return Err(bad("an integer")),
        (ValueRef::Real(_), _) => return Err(bad("a real")),
        (ValueRef::Text(_), _) => return Err(bad("text")),
        (ValueRef::Blob(_), _) => return Err(bad("a blob")),
    })
}

/// Reads column `i` of a PostgreSQL row as `ty`.
fn pg_val(r: &Row, i: usize, ty: Ty) -> Result<Val> {
    fn or_null<T>(v: Option<T>, f: impl FnOnce(T) -> Val) -> Val {
        v.map_or(Val::Null, f)
    }
    Ok(match ty {
        Int2 => or_null(col::<Option<i16>>(r, i)?, |n| Val::Int(n.into())),
        Int4 => or_null(col::<Option<i32>>(r, i)?, |n| Val::Int(n.into())),
        Int8 => or_null(col::<Option<i64>>(r, i)?, Val::Int),
        Float => or_null(col::<Option<f64>>(r, i)?, Val::Float),
        Text => or_null(col::<Option<String>>(r, i)?, Val::Text),
        Bool => or_null(col::<Option<bool>>(r, i)?, Val::Bool),
        Ts => or_null(col::<Option<DateTime<Utc>>>(r, i)?, Val::Ts),
        Json => or_null(col::<Option<serde_json::Value>>(r, i)?, Val::Json),
        Bytes => or_null(col::<Option<Vec<u8>>>(r, i)?, Val::Bytes),
    })
}

/// A value as a PostgreSQL parameter of type `ty`.
fn pg_param(v: &Val, ty: Ty, what: impl Fn() -> String) -> Result<Box<dyn ToSql + Sync>> {
    let range = |n: i64| StoreError::corrupt(what(), format!("{n} is out of range for {ty:?}"));
    Ok(match (v, ty) {
        (Val::Null, Int2) => Box::new(None::<i16>),
        (Val::Null, Int4) => Box::new(None::<i32>),
        (Val::Null, Int8) => Box::new(None::<i64>),
        (Val::Null, Float) => Box::new(None::<f64>),
        (Val::Null, Text) => Box::new(None::<String>),
        (Val::Null, Bool) => Box::new(None::<bool>),
        (Val::Null, Ts) => Box::new(None::<DateTime<Utc>>),
        (Val::Null, Json) => Box::new(None::<serde_json::Value>),
        (Val::Null, Bytes) => Box::new(None::<Vec<u8>>),
        (Val::Int(n), Int2) => Box::new(i16::try_from(*n).map_err(|_| range(*n))?),
        (Val::Int(n), Int4) => Box::new(i32::try_from(*n).map_err(|_| range(*n))?),
        (Val::Int(n), Int8) => Box::new(*n),
        (Val::Float(f), Float) => Box::new(*f),
        (Val::Text(s), Text) => Box::new(s.clone()),
        (Val::Bool(b), Bool) => Box::new(*b),
        (Val::Ts(t), Ts) => Box::new(*t),
        (Val::Json(j), Json) => Box::new(j.clone()),
        (Val::Bytes(b), Bytes) => Box::new(b.clone()),
        (other, _) => {
            return Err(StoreError::corrupt(
                what(),
                format!("{other:?} cannot be stored as {ty:?}"),
            ))
        }
    })
}

/// The PostgreSQL type name of an array of key column type `ty`.
fn array_type(ty: Ty) -> &'static str {
    match ty {
        Int2 | Int4 => "int4[]",
        Int8 => "int8[]",
        _ => "text[]",
    }
}

/// Column `k` of every key in `keys`, as an array parameter.
fn key_array(keys: &[Vec<Val>], k: usize, ty: Ty) -> Box<dyn ToSql + Sync> {
    match ty {
        Int2 | Int4 => Box::new(
            keys.iter()
                .map(|key| match key[k] {
                    Val::Int(n) => i32::try_from(n).unwrap_or(i32::MAX),
                    _ => i32::MAX,
                })
                .collect::<Vec<i32>>(),
        ),
        Int8 => Box::new(
            keys.iter()
                .map(|key| match key[k] {
                    Val::Int(n) => n,
                    _ => i64::MAX,
                })
                .collect::<Vec<i64>>(),
        ),
        _ => Box::new(
            keys.iter()
                .map(|key| match &key[k] {
                    Val::Text(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<String>>(),
        ),
    }
}

/// Adjusts a source row to what the cluster keeps: an interrupted send is pending again.
fn adjust(table: &Table, row: &mut [Val]) {
    if table.name == "outbox" {
        if let Some(state) = row.get_mut(8) {
            if *state == Val::Text("sending".into()) {
                *state = Val::Text("pending".into());
            }
        }
    }
}

impl Store {
    /// One page of `table`'s rows after `after` (a key), in key order.
    fn import_page(&self, table: &Table, after: Option<&[Val]>) -> Result<Vec<Vec<Val>>> {
        let cols: Vec<&str> = table.cols.iter().map(|c| c.0).collect();
        let keys = cols[..table.keys].join(", ");
        let marks = (1..=table.keys)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {} FROM {} {} ORDER BY {keys} LIMIT {PAGE}",
            cols.join(", "),
            table.name,
            if after.is_some() {
                format!("WHERE ({keys}) > ({marks})")
            } else {
                String::new()
            }
        );
        let params: Vec<rusqlite::types::Value> = after
            .unwrap_or_default()
            .iter()
            .map(|v| match v {
                Val::Int(n) => rusqlite::types::Value::Integer(*n),
                Val::Text(s) => rusqlite::types::Value::Text(s.clone()),
                _ => rusqlite::types::Value::Null,
            })
            .collect();
        self.with_conn(|conn| {
            let mut st = conn
                .prepare_cached(&sql)
                .with_ctx(|| format!("reading table {}", table.name))?;
            let mut rows = st
                .query(rusqlite::params_from_iter(params.iter()))
                .with_ctx(|| format!("reading table {}", table.name))?;
            let mut out = Vec::with_capacity(PAGE);
            while let Some(r) = rows
                .next()
                .with_ctx(|| format!("reading table {}", table.name))?
            {
                let mut row = Vec::with_capacity(table.cols.len());
                for (i, (name, ty)) in table.cols.iter().enumerate() {
                    let key = key_text(&row[..table.keys.min(row.len())]);
                    row.push(sqlite_val(r, i, *ty, || {
                        format!("{}.{name} of the row keyed ({key})", table.name)
                    })?);
                }
                adjust(table, &mut row);
                out.push(row);
            }
            Ok(out)
        })
    }

    /// How many rows `table` holds.
    fn import_count(&self, table: &str) -> Result<u64> {
        self.count(
            &format!("SELECT count(*) FROM {table}"),
            &format!("counting table {table}"),
        )
    }

    /// Every blob in the capture folder, one folder's worth at a time, in name order.
    fn for_each_blob_name(&self, f: &mut dyn FnMut(Vec<String>) -> Result<()>) -> Result<()> {
        let root = &self.inner.captures_dir;
        let sorted_dirs = |dir: &Path| -> Result<Vec<std::path::PathBuf>> {
            let mut v: Vec<_> = match std::fs::read_dir(dir) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.is_dir()
                            && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                                n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit())
                            })
                    })
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
                Err(e) => return Err(StoreError::io("list the capture folder", dir, e)),
            };
            v.sort();
            Ok(v)
        };
        for a in sorted_dirs(root)? {
            for b in sorted_dirs(&a)? {
                let rd = std::fs::read_dir(&b)
                    .map_err(|e| StoreError::io("list the capture folder", &b, e))?;
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().and_then(normalise_sha))
                    .collect();
                names.sort();
                if !names.is_empty() {
                    f(names)?;
                }
            }
        }
        Ok(())
    }
}

impl PgStore {
    /// Whether any table a migration copies, or `blobs`, holds a row.
    pub fn holds_data(&self) -> Result<bool> {
        let union = TABLES
            .iter()
            .map(|t| t.name)
            .chain(["blobs"])
            .map(|t| format!("EXISTS(SELECT 1 FROM {t})"))
            .collect::<Vec<_>>()
            .join(" OR ");
        self.with_client("checking whether the database is empty", |c| {
            c.query_one(&format!("SELECT {union}"), &[])
                .pg("checking whether the database is empty")
                .and_then(|r| col(&r, 0))
        })
    }

    /// Drops every Ballotwatch table and function and creates the schema afresh: what
    /// `migrate --to-cluster --force` does to a target that holds other data. Destroys it all.
    pub fn reset_schema(&self) -> Result<()> {
        let drop = TABLES
            .iter()
            .rev()
            .map(|t| format!("DROP TABLE IF EXISTS {} CASCADE;", t.name))
            .chain([
                "DROP TABLE IF EXISTS blobs CASCADE;".into(),
                "DROP TABLE IF EXISTS ballotwatch_schema CASCADE;".into(),
                "DROP FUNCTION IF EXISTS ballotwatch_append_only() CASCADE;".into(),
            ])
            .collect::<String>();
        self.with_client("emptying the database", |c| {
            let mut tx = c.transaction().pg("starting to empty the database")?;
            tx.batch_execute(&drop)
                .pg("dropping the Ballotwatch tables")?;
            super::migrations::migrate(&mut tx, &self.inner.server)?;
            tx.commit().pg("committing the emptied database")
        })?;
        tracing::warn!(server = %self.inner.server, "dropped every Ballotwatch table and made the schema afresh");
        Ok(())
    }

    /// One pass over every table, in order; `progress(table, rows done)` after each page.
    pub fn import_tables(
        &self,
        from: &Store,
        pass: Pass,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<Vec<TableReport>> {
        let mut out = Vec::with_capacity(TABLES.len());
        for t in TABLES {
            out.push(self.import_table(from, t, pass, progress)?);
        }
        if pass == Pass::Copy {
            self.advance_identities()?;
        }
        Ok(out)
    }

    fn import_table(
        &self,
        from: &Store,
        table: &Table,
        pass: Pass,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<TableReport> {
        let name = table.name;
        let _span = tracing::info_span!("import_table", table = name, ?pass).entered();
        let mut report = TableReport {
            table: name.to_string(),
            ..TableReport::default()
        };
        let cols: Vec<&str> = table.cols.iter().map(|c| c.0).collect();
        let key_cols = cols[..table.keys].join(", ");
        let unnest = (0..table.keys)
            .map(|k| format!("${}::{}", k + 1, array_type(table.cols[k].1)))
            .collect::<Vec<_>>()
            .join(", ");
        let lookup = format!(
            "SELECT {} FROM {name} WHERE ({key_cols}) IN (SELECT * FROM unnest({unnest}))",
            cols.join(", ")
        );
        let mut after: Option<Vec<Val>> = None;
        loop {
            let page = from.import_page(table, after.as_deref())?;
            let Some(last) = page.last() else { break };
            after = Some(last[..table.keys].to_vec());
            report.source += page.len() as u64;
            let keys: Vec<Vec<Val>> = page.iter().map(|r| r[..table.keys].to_vec()).collect();
            let arrays: Vec<Box<dyn ToSql + Sync>> = (0..table.keys)
                .map(|k| key_array(&keys, k, table.cols[k].1))
                .collect();
            let params: Vec<&(dyn ToSql + Sync)> = arrays.iter().map(|b| &**b).collect();
            let existing: HashMap<String, Vec<Val>> = self.with_client("reading rows", |c| {
                c.query(&lookup, &params)
                    .pg_with(|| format!("reading table {name}"))?
                    .iter()
                    .map(|r| {
                        let row = table
                            .cols
                            .iter()
                            .enumerate()
                            .map(|(i, (_, ty))| pg_val(r, i, *ty))
                            .collect::<Result<Vec<Val>>>()?;
                        Ok((key_text(&row[..table.keys]), row))
                    })
                    .collect()
            })?;
            let mut absent = Vec::new();
            for row in &page {
                let key = key_text(&row[..table.keys]);
                match existing.get(&key) {
                    None => absent.push(row),
                    Some(there) => {
                        if let Some(i) = (0..row.len()).find(|&i| row[i] != there[i]) {
                            report.differing += 1;
                            report.conflict(|| {
                                format!(
                                    "{name} ({key}): {} is {} in the embedded store but {} in \
                                     PostgreSQL",
                                    cols[i],
                                    show(&row[i]),
                                    show(&there[i])
                                )
                            });
                        }
                    }
                }
            }
            if pass == Pass::Copy && !absent.is_empty() {
                report.copied += self.insert_rows(table, &absent)?;
            }
            let not_copied = match pass {
                Pass::Copy => 0,
                Pass::Check => absent.len() as u64,
            };
            if not_copied > 0 {
                report.problem(|| {
                    format!(
                        "{name} ({}): in the embedded store but not in PostgreSQL",
                        key_text(&absent[0][..table.keys])
                    )
                });
            }
            report.missing += not_copied;
            progress(name, report.source);
        }
        report.target = self.with_client("counting rows", |c| {
            c.query_one(&format!("SELECT count(*) FROM {name}"), &[])
                .pg_with(|| format!("counting table {name}"))
                .and_then(|r| super::count_col(&r, 0, || format!("count of {name}")))
        })?;
        let source_now = from.import_count(name)?;
        if report.target > source_now {
            let extra = report.target - source_now;
            report.extra = extra;
            report.conflict(|| {
                format!("{name}: PostgreSQL holds {extra} rows the embedded store does not")
            });
        }
        Ok(report)
    }

    /// Inserts rows (skipping keys already there); returns how many went in.
    fn insert_rows(&self, table: &Table, rows: &[&Vec<Val>]) -> Result<u64> {
        let name = table.name;
        let n = table.cols.len();
        let mut boxed: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(rows.len() * n);
        let mut tuples = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter().enumerate() {
            let key = key_text(&row[..table.keys]);
            for (v, (c, ty)) in row.iter().zip(table.cols) {
                boxed.push(pg_param(v, *ty, || {
                    format!("{name}.{c} of the row keyed ({key})")
                })?);
            }
            tuples.push(format!(
                "({})",
                (1..=n)
                    .map(|i| format!("${}", r * n + i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let cols: Vec<&str> = table.cols.iter().map(|c| c.0).collect();
        let sql = format!(
            "INSERT INTO {name} ({}) {} VALUES {} ON CONFLICT DO NOTHING",
            cols.join(", "),
            if table.identity.is_some() {
                "OVERRIDING SYSTEM VALUE"
            } else {
                ""
            },
            tuples.join(", ")
        );
        let params: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| &**b).collect();
        self.with_client("copying rows", |c| {
            c.execute(&sql, &params)
                .pg_with(|| format!("copying {} rows into {name}", rows.len()))
        })
    }

    /// Moves every identity sequence past the largest id copied.
    fn advance_identities(&self) -> Result<()> {
        self.with_client("advancing the id sequences", |c| {
            for t in TABLES {
                if let Some(id) = t.identity {
                    c.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{0}', '{id}'),
                                    coalesce((SELECT max({id}) FROM {0}), 0) + 1, false)",
                            t.name
                        ),
                        &[],
                    )
                    .pg_with(|| format!("advancing the id sequence of {}", t.name))?;
                }
            }
            Ok(())
        })
    }

    /// One pass over every capture blob of `from`: in [`Pass::Copy`] the ones PostgreSQL lacks
    /// are read (their SHA-256 checked) and stored; in [`Pass::Check`] each is read from both
    /// sides and both SHA-256s checked. A blob that fails its check is named in the report and
    /// the pass goes on.
    pub fn import_blobs(
        &self,
        from: &Store,
        pass: Pass,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<TableReport> {
        let _span = tracing::info_span!("import_blobs", ?pass).entered();
        let mut report = TableReport {
            table: "blobs".into(),
            ..TableReport::default()
        };
        let mut seen = 0u64;
        from.for_each_blob_name(&mut |names| {
            report.source += names.len() as u64;
            let there: HashSet<String> = self.with_client("listing blobs", |c| {
                c.query("SELECT sha256 FROM blobs WHERE sha256 = ANY($1)", &[&names])
                    .pg("listing blobs")?
                    .iter()
                    .map(|r| col(r, 0))
                    .collect()
            })?;
            for sha in &names {
                let present = there.contains(sha);
                if pass == Pass::Copy && present {
                    continue;
                }
                let bytes = match from.read_blob(sha) {
                    Ok(b) => b,
                    Err(e) => {
                        report.differing += 1;
                        report.problem(|| format!("blob {sha}: {e}"));
                        if !present {
                            report.missing += 1;
                        }
                        continue;
                    }
                };
                match pass {
                    Pass::Copy => {
                        self.put_blob(&bytes)?;
                        report.copied += 1;
                        report.bytes += bytes.len() as u64;
                    }
                    Pass::Check if !present => {
                        report.missing += 1;
                        report.problem(|| {
                            format!("blob {sha}: in the embedded store but not in PostgreSQL")
                        });
                    }
                    Pass::Check => match self.read_blob(sha) {
                        Ok(b) if b.len() == bytes.len() => {}
                        Ok(b) => {
                            report.differing += 1;
                            report.conflict(|| {
                                format!(
                                    "blob {sha}: {} bytes in PostgreSQL, {} in the embedded store",
                                    b.len(),
                                    bytes.len()
                                )
                            });
                        }
                        Err(e) => {
                            report.differing += 1;
                            report.conflict(|| format!("blob {sha}: {e}"));
                        }
                    },
                }
            }
            seen += names.len() as u64;
            progress("blobs", seen);
            Ok(())
        })?;
        report.target = self.with_client("counting blobs", |c| {
            c.query_one("SELECT count(*) FROM blobs", &[])
                .pg("counting blobs")
                .and_then(|r| super::count_col(&r, 0, || "count of blobs".into()))
        })?;
        if report.target > report.source {
            let extra = report.target - report.source;
            report.extra = extra;
            report.conflict(|| {
                format!("blobs: PostgreSQL holds {extra} blobs the embedded store does not")
            });
        }
        Ok(report)
    }
}

/// A value for a message (long text cut short).
fn show(v: &Val) -> String {
    let s = match v {
        Val::Null => "NULL".to_string(),
        Val::Int(n) => n.to_string(),
        Val::Float(f) => f.to_string(),
        Val::Text(s) => format!("{s:?}"),
        Val::Bool(b) => b.to_string(),
        Val::Ts(t) => crate::ts(t),
        Val::Json(j) => j.to_string(),
        Val::Bytes(b) => format!("{} bytes", b.len()),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}
