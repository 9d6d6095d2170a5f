//! Values both ways (int, float, str, bytes, None) and statement parameters (`?` sequences or
//! `:name` mappings).

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use sqlvault::rusqlite::types::Value;

use crate::errors::ProgrammingError;

/// Rows as they come from the connection threads; turned into Python tuples only when fetched.
pub struct Rows(pub Vec<Vec<Value>>);

impl<'py> IntoPyObject<'py> for Rows {
    type Target = PyList;
    type Output = Bound<'py, PyList>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for row in self.0 {
            list.append(row_to_tuple(py, row)?)?;
        }
        Ok(list)
    }
}

/// One row as a Python tuple.
pub fn row_to_tuple(py: Python<'_>, row: Vec<Value>) -> PyResult<Bound<'_, PyTuple>> {
    let items: Vec<Bound<'_, PyAny>> = row.into_iter().map(|v| value_to_py(py, v)).collect();
    PyTuple::new(py, items)
}

fn value_to_py(py: Python<'_>, v: Value) -> Bound<'_, PyAny> {
    match v {
        Value::Null => py.None().into_bound(py),
        Value::Integer(i) => PyInt::new(py, i).into_any(),
        Value::Real(f) => PyFloat::new(py, f).into_any(),
        Value::Text(s) => PyString::new(py, &s).into_any(),
        Value::Blob(b) => PyBytes::new(py, &b).into_any(),
    }
}

/// One Python value as a SQLite value.
pub fn value_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Integer(i64::from(b.is_true())));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(Value::Integer)
            .map_err(|_| PyOverflowError::new_err("Python int too large to convert to SQLite INTEGER"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Real(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Text(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Blob(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Blob(b.to_vec()));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let bytes = obj.call_method0("tobytes")?;
        return Ok(Value::Blob(bytes.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    Err(ProgrammingError::new_err(format!(
        "type '{}' is not supported as a parameter (use int, float, str, bytes or None)",
        obj.get_type().name()?
    )))
}

/// The parameters of one statement, converted on the Python side.
pub enum Bind {
    /// `?` / `?NNN` parameters in order.
    Positional(Vec<Value>),
    /// `:name`, `@name` or `$name` parameters, by name (without the sigil).
    Named(Vec<(String, Value)>),
}

impl Bind {
    /// Reads `None`, a sequence (tuple or list) or a mapping (dict).
    pub fn from_py(params: Option<&Bound<'_, PyAny>>) -> PyResult<Bind> {
        let Some(params) = params.filter(|p| !p.is_none()) else {
            return Ok(Bind::Positional(Vec::new()));
        };
        if let Ok(d) = params.cast::<PyDict>() {
            let mut out = Vec::with_capacity(d.len());
            for (k, v) in d.iter() {
                let name: String = k
                    .extract()
                    .map_err(|_| ProgrammingError::new_err("parameter names must be str"))?;
                out.push((name, value_from_py(&v)?));
            }
            return Ok(Bind::Named(out));
        }
        if params.is_instance_of::<PyString>() || params.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(
                "parameters must be a sequence (tuple, list) or a dict, not a str or bytes",
            ));
        }
        let mut out = Vec::new();
        for item in params.try_iter()? {
            out.push(value_from_py(&item?)?);
        }
        Ok(Bind::Positional(out))
    }

    /// The values in SQLite's parameter order for `sql`: named parameters are placed at the
    /// indices SQLite gives them (see [`parameter_names`]).
    pub fn resolve(self, sql: &str) -> Result<Vec<Value>, String> {
        match self {
            Bind::Positional(v) => Ok(v),
            Bind::Named(mut named) => {
                let slots = parameter_names(sql);
                let mut out = Vec::with_capacity(slots.len());
                for slot in slots {
                    let Some(name) = slot else {
                        return Err("the statement has `?` parameters but a dict was given".to_owned());
                    };
                    let found = named.iter_mut().find(|(n, _)| *n == name[1..]);
                    match found {
                        Some((_, v)) => out.push(std::mem::replace(v, Value::Null)),
                        None => {
                            return Err(format!("you did not supply a value for binding parameter {name}"));
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

/// SQLite's default `SQLITE_MAX_VARIABLE_NUMBER`: the largest `?NNN`.
const MAX_VARIABLE_NUMBER: usize = 32766;

/// The parameters of the first statement in `sql`, in the order of SQLite's parameter indices:
/// `Some(":name")` (with its sigil) for a named one, `None` for `?`/`?NNN`.
///
/// SQLite numbers parameters as its tokenizer meets them: `?NNN` takes index NNN, `?` the
/// largest index so far plus one, and a name the next index the first time it is seen (later
/// uses share it). String literals, quoted identifiers and comments hold no parameters.
pub fn parameter_names(sql: &str) -> Vec<Option<String>> {
    let b = sql.as_bytes();
    let mut slots: Vec<Option<String>> = Vec::new();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'[' => {
                while i < b.len() && b[i] != b']' {
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b';' => break,
            b'?' => {
                let start = i + 1;
                i = start;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i > start {
                    // SQLite refuses ?NNN past its variable limit (32766 by default): such a
                    // statement fails to prepare, whatever is bound.
                    let n: usize = sql[start..i].parse().unwrap_or(usize::MAX);
                    if n > MAX_VARIABLE_NUMBER {
                        return slots;
                    }
                    if n > slots.len() {
                        slots.resize(n, None);
                    }
                } else {
                    slots.push(None);
                }
            }
            b':' | b'@' | b'$' if b.get(i + 1).is_some_and(|&c| ident(c)) => {
                let start = i;
                i += 1;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let name = &sql[start..i];
                if !slots.iter().any(|s| s.as_deref() == Some(name)) {
                    slots.push(Some(name.to_owned()));
                }
            }
            _ => i += 1,
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::parameter_names;

    fn names(sql: &str) -> Vec<Option<&'static str>> {
        parameter_names(sql)
            .into_iter()
            .map(|s| s.map(|s| &*Box::leak(s.into_boxed_str())))
            .collect()
    }

    #[test]
    fn named_parameters_take_indices_in_order_of_first_use() {
        assert_eq!(
            names("INSERT INTO t VALUES (:b, :a, :b, @c)"),
            vec![Some(":b"), Some(":a"), Some("@c")]
        );
    }

    #[test]
    fn literals_identifiers_and_comments_hold_no_parameters() {
        assert_eq!(
            names("SELECT ':x', \"a:y\", [b:z], `c:w` -- :v\n /* :u */ FROM t WHERE a = :real"),
            vec![Some(":real")]
        );
        assert_eq!(names("SELECT 'it''s :not' , :yes"), vec![Some(":yes")]);
    }

    #[test]
    fn numbered_and_anonymous_parameters() {
        assert_eq!(names("SELECT ?, ?3, ?"), vec![None, None, None, None]);
        assert_eq!(names("SELECT ?1 WHERE :x"), vec![None, Some(":x")]);
    }

    #[test]
    fn a_huge_parameter_number_allocates_nothing() {
        assert_eq!(
            names("SELECT ?99999999999999999999999, :a"),
            Vec::<Option<&str>>::new()
        );
        assert_eq!(parameter_names("SELECT ?32766").len(), 32766);
    }

    #[test]
    fn only_the_first_statement_counts() {
        assert_eq!(names("SELECT :a; SELECT :b"), vec![Some(":a")]);
    }
}
