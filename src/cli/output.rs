//! Running SQL and printing its results as aligned tables, CSV or JSON.

use std::io::Write;

use clap::ValueEnum;
use fallible_iterator::FallibleIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Connection};
use serde_json::{Map, Value};

use super::error::CliError;

/// How `exec` and the shell print result rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns with a header.
    Table,
    /// RFC 4180 CSV with a header row (NULL is an empty field, blobs are hex).
    Csv,
    /// One JSON array of row objects per statement that returns rows.
    Json,
}

/// The rows of one statement, as text cells (for tables and CSV) or JSON values.
struct ResultSet {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// Runs every statement in `sql`, printing the rows of those that return any columns.
/// `classify` turns a SQLite error into the CLI error (it knows the connection's VFS).
pub fn run_sql(
    conn: &Connection,
    sql: &str,
    format: Format,
    out: &mut dyn Write,
    classify: &dyn Fn(rusqlite::Error) -> CliError,
) -> Result<(), CliError> {
    let mut batch = Batch::new(conn, sql);
    while let Some(mut stmt) = batch.next().map_err(classify)? {
        let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
        let n = columns.len();
        let mut rows_out = Vec::new();
        let mut rows = stmt.query([]).map_err(classify)?;
        while let Some(row) = rows.next().map_err(classify)? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(json_value(row.get_ref(i).map_err(classify)?));
            }
            rows_out.push(values);
        }
        if n > 0 {
            print(
                &ResultSet {
                    columns,
                    rows: rows_out,
                },
                format,
                out,
            )?;
        }
    }
    Ok(())
}

fn json_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(hex(b)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print(set: &ResultSet, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    match format {
        Format::Json => {
            let rows: Vec<Value> = set
                .rows
                .iter()
                .map(|r| {
                    let obj: Map<String, Value> =
                        set.columns.iter().cloned().zip(r.iter().cloned()).collect();
                    Value::Object(obj)
                })
                .collect();
            let text = serde_json::to_string_pretty(&Value::Array(rows))
                .map_err(|e| CliError::Failed(e.to_string()))?;
            writeln!(out, "{text}")?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let csv_err = |e: csv::Error| CliError::Io(e.to_string());
            w.write_record(&set.columns).map_err(csv_err)?;
            for r in &set.rows {
                w.write_record(r.iter().map(cell)).map_err(csv_err)?;
            }
            w.flush()?;
        }
        Format::Table => {
            let cells: Vec<Vec<String>> = set
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| if v.is_null() { "NULL".into() } else { cell(v) })
                        .collect()
                })
                .collect();
            let mut widths: Vec<usize> = set.columns.iter().map(|c| c.chars().count()).collect();
            for r in &cells {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |vals: &[String]| -> String {
                vals.iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v:<w$}"))
                    .collect::<Vec<_>>()
                    .join(" | ")
                    .trim_end()
                    .to_string()
            };
            writeln!(out, "{}", line(&set.columns))?;
            writeln!(
                out,
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("-+-")
            )?;
            for r in &cells {
                writeln!(out, "{}", line(r))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(sql: &str, format: Format) -> String {
        let conn = Connection::open_in_memory().unwrap();
        let mut out = Vec::new();
        run_sql(&conn, sql, format, &mut out, &|e| CliError::from(e)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_aligns_columns_and_shows_null() {
        let text = render(
            "SELECT 1 AS a, 'long text' AS b UNION ALL SELECT 22, NULL",
            Format::Table,
        );
        assert_eq!(text, "a  | b\n---+----------\n1  | long text\n22 | NULL\n");
    }

    #[test]
    fn csv_quotes_and_hexes_blobs() {
        let text = render("SELECT 'a,b' AS x, x'00ff' AS y, NULL AS z", Format::Csv);
        assert_eq!(text, "x,y,z\n\"a,b\",00ff,\n");
    }

    #[test]
    fn json_gives_typed_values_per_statement() {
        let text = render(
            "CREATE TABLE t(a); INSERT INTO t VALUES (1.5); SELECT a, 'x' AS b FROM t",
            Format::Json,
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, serde_json::json!([{"a": 1.5, "b": "x"}]));
    }
}
