//! Copying a whole database logically (schema, rows, pragmas) from an in-memory image into
//! the `main` database of a connection — the heart of [`crate::import`] and of
//! `sqlvault export`.
//!
//! A page-for-page copy (backup API, `VACUUM INTO`) would carry the source's page layout
//! and reserved bytes: SQLCipher's 48 or 80 reserved bytes per page into a sqlvault file,
//! or sqlvault's 32 into a plaintext export. Re-creating the schema and inserting the rows
//! lets SQLite lay out each page for the target.

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::import::{ImportError, Progress, Stage};

/// The schema name the image is attached under.
pub const SRC: &str = "src";

/// What was copied, for the report.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// Tables copied, with their row counts (checked equal in source and target).
    pub tables: Vec<(String, i64)>,
    /// Indexes, views and triggers created.
    pub other_objects: usize,
    /// `PRAGMA user_version` carried over.
    pub user_version: i64,
    /// `PRAGMA application_id` carried over.
    pub application_id: i64,
}

/// Attaches an in-memory database as [`SRC`] on `conn` and loads `image` into it.
///
/// Header bytes 18 and 19 (WAL mode) are switched to rollback mode, which
/// `sqlite3_deserialize` requires.
///
/// # Errors
/// SQLite's error attaching or loading the image.
pub fn load_image(conn: &mut Connection, image: &[u8]) -> Result<(), ImportError> {
    let mut image = Zeroizing::new(image.to_vec());
    if image.len() >= 20 && image[18] == 2 && image[19] == 2 {
        image[18] = 1;
        image[19] = 1;
    }
    conn.execute("ATTACH DATABASE ':memory:' AS src", [])?;
    let len = image.len();
    conn.deserialize_read_exact(SRC, &image[..], len, true)?;
    Ok(())
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Copies everything in [`SRC`] into `main` (which must be empty) in one transaction, then
/// checks that every table has as many rows in `main` as in [`SRC`]. `progress` hears of each
/// table copied ([`Stage::Copy`]); `classify` turns SQLite's errors into the caller's view
/// (for an encrypted target, [`sqlvault_vfs::classify_error`] names a wrong key or a tampered page).
///
/// # Errors
/// [`ImportError::Failed`] if `main` is not empty or the source has a virtual table;
/// [`ImportError::Corrupt`] if a row count differs; `classify`'s error for SQLite's.
pub fn copy_all(
    conn: &Connection,
    progress: &mut dyn FnMut(Progress<'_>),
    classify: &dyn Fn(rusqlite::Error) -> ImportError,
) -> Result<CopyReport, ImportError> {
    let objects: Vec<(String, String, Option<String>)> = {
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM src.sqlite_schema ORDER BY rowid")
            .map_err(classify)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(classify)?
            .collect::<Result<_, _>>()
            .map_err(classify)?
    };
    let objects_in_main: i64 = conn
        .query_row("SELECT count(*) FROM main.sqlite_schema", [], |r| r.get(0))
        .map_err(classify)?;
    if objects_in_main > 0 {
        return Err(ImportError::Failed("the target database is not empty".into()));
    }
    for (kind, name, sql) in &objects {
        if kind == "table"
            && sql
                .as_deref()
                .is_some_and(|s| s.to_ascii_uppercase().starts_with("CREATE VIRTUAL"))
        {
            return Err(ImportError::Failed(format!(
                "table {name} is a virtual table; virtual tables (FTS, R*Tree…) are not supported by this copy"
            )));
        }
    }

    let tables: Vec<&str> = objects
        .iter()
        .filter(|(kind, name, _)| kind == "table" && !name.starts_with("sqlite_"))
        .map(|(_, name, _)| name.as_str())
        .collect();
    let total = tables.len() as u64;
    progress(Progress {
        stage: Stage::Copy,
        done: 0,
        total,
        item: None,
    });

    let mut report = CopyReport::default();
    conn.execute_batch("BEGIN").map_err(classify)?;
    let result = (|| -> Result<(), ImportError> {
        // Tables first (in their original order), then rows, then indexes, views and
        // triggers — so that no trigger fires while rows are copied.
        for (kind, name, sql) in &objects {
            if kind == "table"
                && !name.starts_with("sqlite_")
                && let Some(sql) = sql
            {
                conn.execute_batch(sql).map_err(classify)?;
            }
        }
        for (i, name) in tables.iter().enumerate() {
            let q = quote(name);
            let columns = insert_columns(conn, name, classify)?;
            conn.execute(
                &format!("INSERT INTO main.{q}({columns}) SELECT {columns} FROM src.{q}"),
                [],
            )
            .map_err(classify)?;
            progress(Progress {
                stage: Stage::Copy,
                done: i as u64 + 1,
                total,
                item: Some(name),
            });
        }
        if objects.iter().any(|(_, name, _)| name == "sqlite_sequence") {
            conn.execute_batch("DELETE FROM main.sqlite_sequence; INSERT INTO main.sqlite_sequence SELECT * FROM src.sqlite_sequence;")
                .map_err(classify)?;
        }
        for (kind, name, sql) in &objects {
            if kind != "table"
                && !name.starts_with("sqlite_")
                && let Some(sql) = sql
            {
                conn.execute_batch(sql).map_err(classify)?;
                report.other_objects += 1;
            }
        }
        report.user_version = conn
            .query_row("PRAGMA src.user_version", [], |r| r.get(0))
            .map_err(classify)?;
        report.application_id = conn
            .query_row("PRAGMA src.application_id", [], |r| r.get(0))
            .map_err(classify)?;
        conn.pragma_update(Some("main"), "user_version", report.user_version)
            .map_err(classify)?;
        conn.pragma_update(Some("main"), "application_id", report.application_id)
            .map_err(classify)?;
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(classify)?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }

    for name in &tables {
        let q = quote(name);
        let count = |schema: &str| -> Result<i64, ImportError> {
            conn.query_row(&format!("SELECT count(*) FROM {schema}.{q}"), [], |r| r.get(0))
                .map_err(classify)
        };
        let (src, dst) = (count("src")?, count("main")?);
        if src != dst {
            return Err(ImportError::Corrupt(format!(
                "row count check failed for table {name}: {src} in the source, {dst} copied"
            )));
        }
        report.tables.push((name.to_string(), dst));
    }
    Ok(report)
}

/// The column list that copies `table` exactly: its stored columns (generated columns are
/// recomputed by the target, and cannot be inserted into), led by the rowid for a rowid
/// table, so that rowids survive even without an `INTEGER PRIMARY KEY` (a plain
/// `SELECT *` would renumber them).
fn insert_columns(
    conn: &Connection,
    table: &str,
    classify: &dyn Fn(rusqlite::Error) -> ImportError,
) -> Result<String, ImportError> {
    let mut stmt = conn
        .prepare("SELECT name, hidden FROM pragma_table_xinfo(?1, 'src') ORDER BY cid")
        .map_err(classify)?;
    let cols: Vec<(String, i64)> = stmt
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(classify)?
        .collect::<Result<_, _>>()
        .map_err(classify)?;
    let without_rowid: bool = conn
        .query_row(
            "SELECT wr FROM pragma_table_list WHERE schema = 'src' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .map_err(classify)?;
    let mut list: Vec<String> = Vec::new();
    if !without_rowid {
        // The first alias of the rowid that no column shadows.
        let taken = |alias: &str| cols.iter().any(|(c, _)| c.eq_ignore_ascii_case(alias));
        if let Some(alias) = ["rowid", "_rowid_", "oid"].into_iter().find(|a| !taken(a)) {
            list.push(alias.to_string());
        }
    }
    list.extend(
        cols.iter()
            .filter(|(_, hidden)| *hidden == 0)
            .map(|(c, _)| quote(c)),
    );
    Ok(list.join(", "))
}
