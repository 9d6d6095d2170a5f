//! [`Database::rekey`]: re-encrypting the database under a new key while the pool is open.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use sqlvault_crypto::Key;
use sqlvault_vfs::DatabaseKey;
use sqlvault_vfs::rekey::{crash_point, reencrypt_copy, sync_parent_directory};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::{Conn, Database, Inner, Which};
use crate::call::block_on;
use crate::worker::ConnHandle;
use crate::{Error, Result, connect};

/// How far a rekey got: which key the file at the path opens with now.
enum Outcome {
    /// The file was replaced: the new key, and an error if making that durable failed.
    Replaced(DatabaseKey, Option<Error>),
    /// Nothing changed: the old key still opens the file.
    Unchanged(Error),
}

impl Database {
    /// Re-encrypts the database under `new_key`, with the crash safety of `sqlvault rekey`.
    ///
    /// Waits until every open transaction has ended and holds back new ones (they wait, then
    /// run under the new key); closes the readers; leaves WAL mode (checkpointing everything
    /// into the file) and takes the file exclusively, so that no other connection can commit
    /// meanwhile; copies every page into a new file in the same directory under the new key
    /// and a fresh salt (a passphrase is stretched with the pool's [`Argon2Params`]), checks
    /// it (`integrity_check`), flushes it, renames it over the database and flushes the
    /// directory; then reopens the writer and the readers under the new key and lets the
    /// waiting callers in. Killed at any point, the path holds the old database (and perhaps
    /// a stray `.NAME.*.sqlvault-tmp` file) or the new one, each opening with its own key,
    /// never a mix. It takes about as long as copying the file.
    ///
    /// Call it with no transaction of this pool open in the calling task: it waits for them.
    /// Dropping the future while it waits for them cancels the rekey; once every transaction
    /// has ended the rekey runs to its end on a thread of its own, whether or not the future
    /// is still awaited (stopped half way, it would leave the pool unusable).
    ///
    /// # Errors
    /// [`Error::DatabaseInUse`] if another connection (another process or pool) has the
    /// database open; [`Error::Closed`] after [`Database::close`]; the source's typed errors
    /// (a tampered page…) while copying; [`Error::Io`] from writing or renaming the copy.
    /// Unless the error says the rename happened, the database is unchanged and the pool
    /// keeps the old key. If only the final flush of the directory fails, the pool runs under
    /// the new key and the error says so.
    ///
    /// [`Argon2Params`]: sqlvault_crypto::Argon2Params
    ///
    /// ## Example
    /// ```
    /// # async fn demo() -> Result<(), sqlvault_driver::Error> {
    /// use sqlvault_driver::{Argon2Params, Database, Key, Options, Passphrase};
    /// let dir = std::env::temp_dir().join(format!("sqlvault-rekey-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("app.db");
    /// let options = Options::new().argon2(Argon2Params::INSECURE_FOR_TESTS);
    /// let db = Database::open(&path, Key::Passphrase(Passphrase::from("old")), options.clone()).await?;
    /// db.write_with(|tx| Ok(tx.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")?)).await?;
    ///
    /// db.rekey(Key::Passphrase(Passphrase::from("new"))).await?;
    /// let n: i64 = db.query_row("SELECT count(*) FROM t", (), |r| r.get(0)).await?;
    /// assert_eq!(n, 1);
    /// db.close().await?;
    ///
    /// let db = Database::open(&path, Key::Passphrase(Passphrase::from("new")), options).await?;
    /// db.close().await?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn rekey(&self, new_key: Key) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        inner.check_not_reentrant()?;
        let span = tracing::info_span!("sqlvault.rekey", path = %inner.path.display());
        let on_thread = span.clone();
        async move {
            if inner.closed.load(Ordering::SeqCst) {
                return Err(Error::Closed);
            }
            let readers = u32::try_from(inner.reader_count).map_err(|_| Error::InvalidOptions("readers"))?;
            // Every transaction holds a permit: holding them all waits for the open ones and
            // keeps new ones waiting. Dropping this future while it waits changes nothing.
            let writer_permit = Arc::clone(&inner.write_permits)
                .acquire_many_owned(1)
                .await
                .map_err(|_| Error::Closed)?;
            let reader_permits = Arc::clone(&inner.read_permits)
                .acquire_many_owned(readers)
                .await
                .map_err(|_| Error::Closed)?;
            if inner.closed.load(Ordering::SeqCst) {
                return Err(Error::Closed);
            }
            // From here the rekey runs to its end on a thread of its own, even if this future
            // is dropped: stopped half way it would leave the pool paused, its readers closed.
            let (done, result) = oneshot::channel();
            std::thread::Builder::new()
                .name("sqlvault-rekey".to_owned())
                .spawn(move || {
                    let _entered = on_thread.enter();
                    let outcome = block_on(rekey_paused(&inner, new_key));
                    drop((writer_permit, reader_permits));
                    let _ = done.send(outcome);
                })?;
            result.await.unwrap_or(Err(Error::ConnectionLost))
        }
        .instrument(span)
        .await
    }
}

/// The rekey once every permit is held: pause, copy, rename, reopen, resume.
async fn rekey_paused(inner: &Inner, new_key: Key) -> Result<()> {
    let (writer, closing) = {
        let mut conns = inner.conns.lock().unwrap_or_else(PoisonError::into_inner);
        if conns.shut_down {
            return Err(Error::Closed);
        }
        conns.replace_if_dead(Which::Writer, inner)?;
        conns.paused = true;
        // Closed after the commands already queued on them; a reader's shared lock would
        // keep the writer from leaving WAL mode.
        let closing: Vec<_> = conns.readers.iter().map(|r| close_conn(&r.handle)).collect();
        (conns.writer.handle.clone(), closing)
    };
    for done in closing {
        let _ = done.await;
    }
    let outcome = reencrypt_on(&writer, inner, new_key).await;
    let failure = match outcome {
        Outcome::Replaced(key, failure) => {
            *inner.opener.key.lock().unwrap_or_else(PoisonError::into_inner) = key;
            failure
        }
        Outcome::Unchanged(e) => Some(e),
    };
    // The writer closes its old connection (in rollback mode, holding the old file
    // exclusively) before the pool reopens on the path.
    let _ = close_conn(&writer).await;
    let reopened = reopen(inner).await;
    crash_point("rekey-reopened");
    match (failure, reopened) {
        (Some(e), _) | (None, Err(e)) => Err(e),
        (None, Ok(())) => Ok(()),
    }
}

/// Sends `conn` its shutdown (after what is queued) and returns the acknowledgement.
fn close_conn(conn: &ConnHandle) -> oneshot::Receiver<Result<()>> {
    let (ack, done) = oneshot::channel();
    conn.shutdown(Vec::new(), Some(ack));
    done
}

/// The copy, check and rename, on the writer's thread (file I/O and key derivation stay off
/// the async runtime).
async fn reencrypt_on(writer: &ConnHandle, inner: &Inner, new_key: Key) -> Outcome {
    let path = inner.path.clone();
    let (params, limits) = (inner.opener.options.argon2, inner.opener.options.kdf_limits);
    let span = tracing::debug_span!("sqlvault.rekey.copy");
    let copied = writer
        .call(false, span, move |state| {
            let conn = &state.conn;
            crash_point("rekey-paused");
            // Rollback-journal mode: the WAL is checkpointed into the file and deleted, so no
            // log of the old database is left beside the new one. Only a connection that has
            // the database to itself can leave WAL mode.
            let mode: String = conn
                .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
                .map_err(|e| match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                        Error::DatabaseInUse
                    }
                    _ => connect::classify_error(conn, e),
                })?;
            if !mode.eq_ignore_ascii_case("delete") {
                return Err(Error::DatabaseInUse);
            }
            // The shared lock this read takes is kept until the connection closes: nobody
            // commits to the old file while it is copied.
            conn.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |_| Ok(()))
                .and_then(|()| conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())))
                .map_err(|e| connect::classify_error(conn, e))?;
            crash_point("rekey-exclusive");
            let copy = reencrypt_copy(conn, &path, &new_key, params, limits, Some("WAL"), &mut |_, _| {})?;
            Ok((copy.rename()?, path))
        })
        .await;
    match copied {
        Ok((key, path)) => {
            let synced = sync_parent_directory(&path).map_err(|e| {
                Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("the database was re-encrypted under the new key, but {e}"),
                ))
            });
            Outcome::Replaced(key, synced.err())
        }
        Err(e) => Outcome::Unchanged(e),
    }
}

/// Starts the writer, then the readers, under the pool's (new) key, and resumes the pool.
async fn reopen(inner: &Inner) -> Result<()> {
    let writer = inner.opener.respawn_ready(Which::Writer, inner.pool);
    let writer = match writer {
        Ok((conn, ready)) => {
            let opened = ready.await.unwrap_or(Err(Error::ConnectionLost));
            (conn, opened)
        }
        Err(e) => {
            resume(inner, None, Vec::new());
            return Err(e);
        }
    };
    let mut readers = Vec::with_capacity(inner.reader_count);
    let mut first_error = writer.1.err();
    let mut waiting = Vec::with_capacity(inner.reader_count);
    for i in 0..inner.reader_count {
        match inner.opener.respawn_ready(Which::Reader(i), inner.pool) {
            Ok((conn, ready)) => {
                readers.push(Some(conn));
                waiting.push(ready);
            }
            Err(e) => {
                readers.push(None);
                first_error.get_or_insert(e);
            }
        }
    }
    for ready in waiting {
        if let Err(e) = ready.await.unwrap_or(Err(Error::ConnectionLost)) {
            first_error.get_or_insert(e);
        }
    }
    resume(inner, Some(writer.0), readers);
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Puts the new connections in place and lets callers queue on them again. A connection
/// that could not be started is left dead, to be started again on next use.
fn resume(inner: &Inner, writer: Option<Conn>, readers: Vec<Option<Conn>>) {
    let mut conns = inner.conns.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(writer) = writer {
        drop(std::mem::replace(&mut conns.writer, writer));
    }
    for (slot, conn) in conns.readers.iter_mut().zip(readers) {
        if let Some(conn) = conn {
            drop(std::mem::replace(slot, conn));
        }
    }
    conns.paused = false;
}
