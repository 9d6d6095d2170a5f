//! `sqlvault.import_sqlcipher` and `sqlvault.import_sqlite`: [`sqlvault::import`] for Python.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use sqlvault::import::{Destination, ImportError, ImportReport, Progress, SourceImage, Stage};
use sqlvault::sqlcipher::{self, SqlcipherKey, SqlcipherParams};
use sqlvault::{Argon2Params, KdfLimits, Key};

use crate::db::key_from_py;
use crate::errors::{DatabaseError, OperationalError, ProgrammingError, WrongKey, tampered, to_py};

/// Turns an import error into the Python exception that names it.
fn import_to_py(e: ImportError) -> PyErr {
    let msg = e.to_string();
    match e {
        ImportError::Sqlcipher(e) => match e {
            sqlcipher::Error::WrongKeyOrNotSqlcipher { .. } => WrongKey::new_err(msg),
            sqlcipher::Error::TamperedPage { pgno } => tampered(msg, "database", u64::from(pgno)),
            sqlcipher::Error::TamperedWalFrame { pgno, .. } => tampered(msg, "WAL", u64::from(pgno)),
            sqlcipher::Error::BadParameters(_) => ProgrammingError::new_err(msg),
            sqlcipher::Error::Io(_) => OperationalError::new_err(msg),
            _ => DatabaseError::new_err(msg),
        },
        ImportError::Vfs(e) => to_py(sqlvault::Error::from(e)),
        ImportError::Corrupt(_) => DatabaseError::new_err(msg),
        _ => OperationalError::new_err(msg),
    }
}

/// Calls the Python progress callback as `progress(stage, done, total)`; an exception it
/// raises is reported as unraisable and does not stop the import.
fn reporter(progress: Option<Py<PyAny>>) -> impl FnMut(Progress<'_>) + Send {
    move |p| {
        let Some(cb) = &progress else { return };
        let stage = match p.stage {
            Stage::Decrypt => "decrypt",
            _ => "copy",
        };
        Python::attach(|py| {
            if let Err(e) = cb.call1(py, (stage, p.done, p.total)) {
                e.write_unraisable(py, Some(cb.bind(py)));
            }
        });
    }
}

/// The report as a dict: `source`, `tables` ({name: rows}), `other_objects`,
/// `user_version`, `application_id`.
fn report_to_py<'py>(py: Python<'py>, source: &str, r: &ImportReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("source", source)?;
    let tables = PyDict::new(py);
    for (name, rows) in &r.tables {
        tables.set_item(name, rows)?;
    }
    d.set_item("tables", tables)?;
    d.set_item("other_objects", r.other_objects)?;
    d.set_item("user_version", r.user_version)?;
    d.set_item("application_id", r.application_id)?;
    Ok(d)
}

struct Target {
    path: PathBuf,
    key: Key,
    argon2: Argon2Params,
    page_size: u32,
}

impl Target {
    fn new(
        dst: PathBuf,
        passphrase: Option<Vec<u8>>,
        raw: Option<Vec<u8>>,
        argon2: Option<(u32, u32, u32)>,
        page_size: u32,
    ) -> PyResult<Target> {
        let argon2 = argon2.map_or_else(Argon2Params::default, |(memory_kib, iterations, parallelism)| {
            Argon2Params {
                memory_kib,
                iterations,
                parallelism,
            }
        });
        Ok(Target {
            path: dst,
            key: key_from_py(passphrase, raw)?,
            argon2,
            page_size,
        })
    }

    fn write(
        &self,
        image: SourceImage,
        progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<ImportReport, ImportError> {
        let dest = Destination {
            path: &self.path,
            key: &self.key,
            argon2: self.argon2,
            limits: KdfLimits::default(),
            page_size: self.page_size,
        };
        image.write_to(&dest, progress)
    }
}

/// Imports a SQLCipher 2/3/4 database into a new sqlvault database.
#[pyfunction]
#[pyo3(signature = (src, dst, source_key, passphrase=None, raw=None, progress=None, kdf_iter=None, page_size=None, legacy=None, argon2=None, target_page_size=4096))]
// One argument per Python keyword: the signature is the Python API.
#[allow(clippy::too_many_arguments)]
pub fn import_sqlcipher<'py>(
    py: Python<'py>,
    src: PathBuf,
    dst: PathBuf,
    source_key: String,
    passphrase: Option<Vec<u8>>,
    raw: Option<Vec<u8>>,
    progress: Option<Py<PyAny>>,
    kdf_iter: Option<u32>,
    page_size: Option<u32>,
    legacy: Option<u8>,
    argon2: Option<(u32, u32, u32)>,
    target_page_size: u32,
) -> PyResult<Bound<'py, PyDict>> {
    let target = Target::new(dst, passphrase, raw, argon2, target_page_size)?;
    let bases = match legacy {
        Some(v) => vec![SqlcipherParams::legacy(v).map_err(|e| ProgrammingError::new_err(e.to_string()))?],
        None => SqlcipherParams::all_versions(),
    };
    let candidates: Vec<SqlcipherParams> = bases
        .into_iter()
        .map(|p| {
            let p = kdf_iter.map_or(p, |n| p.with_kdf_iter(n));
            page_size.map_or(p, |s| p.with_page_size(s))
        })
        .collect();
    let key = SqlcipherKey::parse(&source_key);
    let mut report = reporter(progress);
    let (source, done) = py
        .detach(|| {
            let image = SourceImage::sqlcipher(&src, &key, &candidates, &mut report)?;
            let source = image.description().to_owned();
            Ok((source, target.write(image, &mut report)?))
        })
        .map_err(import_to_py)?;
    report_to_py(py, &source, &done)
}

/// Imports a plaintext SQLite database into a new sqlvault database.
#[pyfunction]
#[pyo3(signature = (src, dst, passphrase=None, raw=None, progress=None, argon2=None, target_page_size=4096))]
// One argument per Python keyword: the signature is the Python API.
#[allow(clippy::too_many_arguments)]
pub fn import_sqlite<'py>(
    py: Python<'py>,
    src: PathBuf,
    dst: PathBuf,
    passphrase: Option<Vec<u8>>,
    raw: Option<Vec<u8>>,
    progress: Option<Py<PyAny>>,
    argon2: Option<(u32, u32, u32)>,
    target_page_size: u32,
) -> PyResult<Bound<'py, PyDict>> {
    let target = Target::new(dst, passphrase, raw, argon2, target_page_size)?;
    let mut report = reporter(progress);
    let (source, done) = py
        .detach(|| {
            let image = SourceImage::plaintext(&src)?;
            let source = image.description().to_owned();
            Ok((source, target.write(image, &mut report)?))
        })
        .map_err(import_to_py)?;
    report_to_py(py, &source, &done)
}
