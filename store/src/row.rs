//! The one way rows become values.
//!
//! Every query that reads more than one column maps its rows with [`FromRow`]: an entity type
//! (an item, an incident, an outbox message…) implements it next to its definition, with the
//! columns it reads in a `COLUMNS` constant beside it, and checks what it reads there (times,
//! JSON, enum names), naming the table, column and row when something is damaged. Small ad-hoc
//! reads (a name and a count) use a tuple of plain SQL values, which implements [`FromRow`]
//! too. Rows are read through [`query_all`] and [`query_opt`]; single values through
//! rusqlite's `query_row(…, |r| r.get(0))`.

use rusqlite::types::FromSql;
use rusqlite::{Connection, Params, Row};

use crate::error::{Result, SqlContext};

/// A value read from one result row.
pub(crate) trait FromRow: Sized {
    /// Reads and checks the row's columns (in the order the query selects them).
    fn from_row(r: &Row<'_>) -> Result<Self>;
}

/// Column `i` of a row; an error names the column.
pub(crate) fn col<T: FromSql>(r: &Row<'_>, i: usize) -> Result<T> {
    r.get(i).with_ctx(|| {
        let name = r
            .as_ref()
            .column_name(i)
            .map_or_else(|_| i.to_string(), str::to_string);
        format!("reading column `{name}`")
    })
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: FromSql),+> FromRow for ($($t,)+) {
            fn from_row(r: &Row<'_>) -> Result<Self> {
                Ok(($(col::<$t>(r, $i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);

/// Every row of `sql`, mapped; `what` says what was being read, for errors.
pub(crate) fn query_all<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    what: impl Fn() -> String,
) -> Result<Vec<T>> {
    let mut st = conn.prepare_cached(sql).with_ctx(&what)?;
    let mut rows = st.query(params).with_ctx(&what)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().with_ctx(&what)? {
        out.push(T::from_row(r)?);
    }
    Ok(out)
}

/// The first row of `sql`, mapped, if there is one.
pub(crate) fn query_opt<T: FromRow>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    what: impl Fn() -> String,
) -> Result<Option<T>> {
    let mut st = conn.prepare_cached(sql).with_ctx(&what)?;
    let mut rows = st.query(params).with_ctx(&what)?;
    match rows.next().with_ctx(&what)? {
        Some(r) => T::from_row(r).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_and_errors_name_the_column() {
        let conn = Connection::open_in_memory().unwrap();
        let rows: Vec<(String, i64)> =
            query_all(&conn, "SELECT 'a', 1 UNION ALL SELECT 'b', 2", [], || {
                "test".into()
            })
            .unwrap();
        assert_eq!(rows, [("a".to_string(), 1), ("b".to_string(), 2)]);
        let none: Option<(i64, i64)> =
            query_opt(&conn, "SELECT 1, 2 WHERE 0", [], || "test".into()).unwrap();
        assert!(none.is_none());
        let err = query_opt::<(i64, i64)>(&conn, "SELECT 1, 'x' AS label", [], || "t".into())
            .unwrap_err();
        assert!(err.to_string().contains("column `label`"), "{err}");
        let err = query_all::<(i64, i64)>(&conn, "SELECT * FROM nowhere", [], || {
            "reading nowhere".into()
        })
        .unwrap_err();
        assert!(err.to_string().contains("reading nowhere"), "{err}");
    }
}
