//! The pool: one writer connection, N read-only readers, each on its own thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use sqlvault_crypto::Key;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tracing::Instrument;

use crate::blocking;
use crate::connect;
use crate::session::{Kind, Session};
use crate::transaction::{ReadTx, WriteTx};
use crate::worker::{ConnHandle, ConnState};
use crate::{Error, Options, Result};

/// An open sqlvault database: a pool of one writer and several readers.
///
/// Cheap to clone (all clones share the pool). Transactions borrow nothing from it, so they can
/// move between tasks. The connections close when [`Database::close`] is awaited, or, without
/// waiting, when the last clone and the last transaction are dropped.
///
/// ## Example
/// ```
/// # async fn demo() -> Result<(), sqlvault_driver::Error> {
/// use sqlvault_driver::{Argon2Params, Database, Key, Options, Passphrase};
/// let dir = std::env::temp_dir().join(format!("sqlvault-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let key = Key::Passphrase(Passphrase::from("correct horse"));
/// let db = Database::open(dir.join("app.db"), key, Options::new().argon2(Argon2Params::INSECURE_FOR_TESTS)).await?;
///
/// let mut tx = db.write().await?;
/// tx.execute("CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, body TEXT)", ()).await?;
/// tx.execute("INSERT INTO notes(body) VALUES (?1)", ("hello",)).await?;
/// tx.commit().await?;
///
/// let n: i64 = db.read_with(|conn| Ok(conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))?)).await?;
/// assert!(n >= 1);
/// db.close().await?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    path: PathBuf,
    writer: ConnHandle,
    readers: Vec<Reader>,
    write_permits: Arc<Semaphore>,
    read_permits: Arc<Semaphore>,
    /// Which readers guards hold. Closures are queued only on readers no guard holds, and the
    /// choice and the send happen under this lock, so a closure never lands inside a guard's
    /// transaction.
    reader_state: Mutex<ReaderState>,
    closed: AtomicBool,
    threads: Mutex<Option<Threads>>,
}

struct Reader {
    conn: ConnHandle,
    /// Closures queued on this reader and not yet finished.
    queued: Arc<AtomicUsize>,
}

struct ReaderState {
    /// Readers no guard holds; the last one returned is handed out first (its thread is the
    /// most likely to still be spinning, awake).
    idle: Vec<usize>,
    leased: Vec<bool>,
}

/// Counts a closure as queued on a reader until the job is done or dropped unrun.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Threads {
    writer: JoinHandle<Result<()>>,
    readers: Vec<JoinHandle<Result<()>>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .field("readers", &self.inner.readers.len())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens (or creates) the encrypted database at `path` with `key`.
    ///
    /// Key derivation (Argon2id for a passphrase) and every file operation run on the pool's own
    /// threads, never on the async runtime. The writer opens first (creating the database, in WAL
    /// mode, if allowed), then the readers open in parallel.
    ///
    /// # Errors
    /// [`Error::InvalidOptions`] for out-of-range options; a typed error if the file cannot be
    /// opened (missing directory, not a database, wrong key); [`Error::Io`] if a thread cannot
    /// be started.
    pub async fn open(path: impl AsRef<Path>, key: Key, options: Options) -> Result<Database> {
        options.validate()?;
        let path = path.as_ref().to_path_buf();
        let span = tracing::debug_span!("sqlvault.open", path = %path.display(), readers = options.readers);
        async move {
            let opts = options.clone();
            let wpath = path.clone();
            let (writer, writer_join, ready) = ConnHandle::spawn(
                "sqlvault-writer".to_owned(),
                options.spin,
                options.reply_spin,
                move || {
                    let db_key = connect::resolve_key(&wpath, &key, opts.argon2)?;
                    let conn = connect::open_writer(&wpath, &db_key, &opts)?;
                    Ok((conn, db_key))
                },
            )?;
            let db_key = ready.await.unwrap_or(Err(Error::ConnectionLost))?;

            let mut readers = Vec::with_capacity(options.readers);
            let mut reader_joins = Vec::with_capacity(options.readers);
            let mut pending = Vec::with_capacity(options.readers);
            let mut spawn_error = None;
            for i in 0..options.readers {
                let (opts, rpath, rkey) = (options.clone(), path.clone(), db_key.clone());
                match ConnHandle::spawn(
                    format!("sqlvault-reader-{i}"),
                    options.spin,
                    options.reply_spin,
                    move || Ok((connect::open_reader(&rpath, &rkey, &opts)?, ())),
                ) {
                    Ok((conn, join, ready)) => {
                        readers.push(Reader {
                            conn,
                            queued: Arc::new(AtomicUsize::new(0)),
                        });
                        reader_joins.push(join);
                        pending.push(ready);
                    }
                    Err(e) => {
                        spawn_error = Some(e);
                        break;
                    }
                }
            }
            drop(db_key);
            let mut first_error = spawn_error;
            for ready in pending {
                if let Err(e) = ready.await.unwrap_or(Err(Error::ConnectionLost)) {
                    first_error.get_or_insert(e);
                }
            }
            let inner = Inner {
                path,
                writer,
                reader_state: Mutex::new(ReaderState {
                    idle: (0..readers.len()).rev().collect(),
                    leased: vec![false; readers.len()],
                }),
                read_permits: Arc::new(Semaphore::new(readers.len())),
                write_permits: Arc::new(Semaphore::new(1)),
                readers,
                closed: AtomicBool::new(false),
                threads: Mutex::new(Some(Threads {
                    writer: writer_join,
                    readers: reader_joins,
                })),
            };
            if let Some(e) = first_error {
                // Dropping `inner` shuts down whatever threads did start.
                drop(inner);
                return Err(e);
            }
            Ok(Database {
                inner: Arc::new(inner),
            })
        }
        .instrument(span)
        .await
    }

    /// Starts a read transaction on one of the readers: a consistent snapshot of the database as
    /// of this call, unchanged by later commits, until the transaction ends. Waits (first come,
    /// first served) while every reader is in use.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`Database::close`]; an SQLite error if the snapshot cannot start.
    pub async fn read(&self) -> Result<ReadTx> {
        let span = tracing::debug_span!("sqlvault.checkout", kind = "read");
        async {
            let lease = self.inner.checkout(Kind::Read).await?;
            let session = Session::begin(lease, Kind::Read).await?;
            Ok(ReadTx::new(session))
        }
        .instrument(span)
        .await
    }

    /// Starts the write transaction (`BEGIN IMMEDIATE` on the writer). Writers are served one at
    /// a time, first come, first served; in-process writers never see `SQLITE_BUSY`.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`Database::close`]; `SQLITE_BUSY` only if another process holds
    /// the write lock past the busy timeout.
    pub async fn write(&self) -> Result<WriteTx> {
        let span = tracing::debug_span!("sqlvault.checkout", kind = "write");
        async {
            let lease = self.inner.checkout(Kind::Write).await?;
            let session = Session::begin(lease, Kind::Write).await?;
            Ok(WriteTx::new(session))
        }
        .instrument(span)
        .await
    }

    /// Runs `f` in a read transaction on a reader thread: the whole unit of work in one trip.
    /// Errors from `f` are returned as they are; rusqlite errors convert with `?`.
    ///
    /// ```
    /// # async fn demo(db: &sqlvault_driver::Database) -> Result<(), sqlvault_driver::Error> {
    /// let total: i64 = db
    ///     .read_with(|conn| Ok(conn.query_row("SELECT total(balance) FROM accounts", [], |r| r.get(0))?))
    ///     .await?;
    /// # let _ = total; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Whatever `f` returns, [`Error::Panicked`] if it panics, [`Error::Closed`] after close.
    pub async fn read_with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let span = tracing::debug_span!("sqlvault.read_with");
        let unit = move |state: &mut ConnState| {
            state.conn.prepare_cached("BEGIN")?.execute([])?;
            let result = f(&state.conn);
            end_unit(state, result.is_ok())?;
            result
        };
        self.run_on_reader(span, unit).await
    }

    /// Runs one query on a reader and converts its first row with `map`: the shortest path for
    /// a point select. A single statement reads one consistent snapshot by itself, so this
    /// skips the `BEGIN`/`COMMIT` that [`Database::read_with`] wraps around its closure.
    ///
    /// ```
    /// # async fn demo(db: &sqlvault_driver::Database) -> Result<(), sqlvault_driver::Error> {
    /// let balance: i64 = db.query_row("SELECT balance FROM accounts WHERE id = ?1", (7,), |r| r.get(0)).await?;
    /// # let _ = balance; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `QueryReturnedNoRows` (inside [`Error::Sqlite`]) if there is no row; SQLite's error or
    /// `map`'s; [`Error::Closed`] after close.
    pub async fn query_row<T, P, F>(
        &self,
        sql: impl Into<std::borrow::Cow<'static, str>>,
        params: P,
        map: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        P: rusqlite::Params + Send + 'static,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let sql = sql.into();
        let span = tracing::debug_span!("sqlvault.statement", op = "query_row", sql = %sql);
        self.run_on_reader(span, move |state: &mut ConnState| {
            Ok(state.conn.prepare_cached(&sql)?.query_row(params, map)?)
        })
        .await
    }

    /// Runs a self-contained command (one that leaves no transaction open) on a reader.
    ///
    /// Such a command needs no exclusive lease: it is queued on the least busy reader that no
    /// guard holds, behind whatever else is queued there. Only when guards hold every reader
    /// does it wait for one.
    async fn run_on_reader<T, F>(&self, span: tracing::Span, unit: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut ConnState) -> Result<T> + Send + 'static,
    {
        let queued = {
            let state = self
                .inner
                .reader_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if self.inner.closed.load(Ordering::SeqCst) {
                return Err(Error::Closed);
            }
            let pick = (0..self.inner.readers.len())
                .filter(|&i| !state.leased[i])
                .min_by_key(|&i| self.inner.readers[i].queued.load(Ordering::Relaxed));
            match pick {
                Some(i) => {
                    let reader = &self.inner.readers[i];
                    reader.queued.fetch_add(1, Ordering::Relaxed);
                    let count = Queued(Arc::clone(&reader.queued));
                    Ok(reader.conn.call(true, span, move |state: &mut ConnState| {
                        let _count = count;
                        unit(state)
                    }))
                }
                None => Err((unit, span)),
            }
        };
        match queued {
            Ok(call) => call.await,
            Err((unit, span)) => {
                let lease = self
                    .inner
                    .checkout(Kind::Read)
                    .instrument(tracing::debug_span!(parent: &span, "sqlvault.checkout", kind = "read"))
                    .await?;
                lease.conn().call(true, span, unit).await
            }
        }
    }

    /// Runs `f` in a write transaction on the writer thread, in one trip: `BEGIN IMMEDIATE`,
    /// `f`, then `COMMIT` if `f` returned `Ok`, `ROLLBACK` otherwise. `f` gets a rusqlite
    /// [`Transaction`], so it can make savepoints of its own.
    ///
    /// # Errors
    /// Whatever `f` returns, an error from `COMMIT` (then nothing was committed),
    /// [`Error::Panicked`] if `f` panics, [`Error::Closed`] after close.
    pub async fn write_with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let span = tracing::debug_span!("sqlvault.write_with");
        let lease = self
            .inner
            .checkout(Kind::Write)
            .instrument(tracing::debug_span!(parent: &span, "sqlvault.checkout", kind = "write"))
            .await?;
        lease
            .conn()
            .call(true, span, move |state: &mut ConnState| {
                let mut tx = Transaction::new_unchecked(&state.conn, TransactionBehavior::Immediate)?;
                let value = f(&mut tx)?;
                tx.commit()?;
                Ok(value)
            })
            .await
    }

    /// A blocking handle on the same pool, for synchronous code.
    pub fn blocking(&self) -> blocking::Database {
        blocking::Database::from_async(self.clone())
    }

    /// The path the database was opened at.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many reader connections the pool has.
    pub fn reader_count(&self) -> usize {
        self.inner.readers.len()
    }

    /// Test support, not part of the API: makes a connection thread (a reader by index, or the
    /// writer for `None`) die by a panic outside the driver's `catch_unwind`, and waits until the
    /// thread has exited. `false` if it had not exited after 5 s.
    #[doc(hidden)]
    pub fn kill_connection_for_test(&self, reader: Option<usize>) -> bool {
        let conn = match reader {
            None => &self.inner.writer,
            Some(i) => match self.inner.readers.get(i) {
                Some(r) => &r.conn,
                None => return false,
            },
        };
        conn.fire(|_| panic!("connection thread killed on purpose by a test"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let threads = self.inner.threads.lock().unwrap_or_else(PoisonError::into_inner);
            let finished = threads.as_ref().is_some_and(|t| match reader {
                None => t.writer.is_finished(),
                Some(i) => t.readers.get(i).is_some_and(JoinHandle::is_finished),
            });
            drop(threads);
            if finished {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        false
    }

    /// Closes the pool: no new transactions start (they fail with [`Error::Closed`]), the ones
    /// already queued or running finish, then every connection closes, readers first and the
    /// writer last (so that the writer's close checkpoints the WAL into the database).
    ///
    /// Do not hold a transaction of this database in the task that awaits `close`: close waits
    /// for it. Calling `close` again returns `Ok`.
    ///
    /// # Errors
    /// The first error any connection reported while closing.
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::SeqCst);
        let readers = u32::try_from(inner.readers.len()).map_err(|_| Error::InvalidOptions("readers"))?;
        // Wait until every transaction has ended: each holds a permit.
        let writer_permit = inner.write_permits.acquire_many(1).await;
        let reader_permits = inner.read_permits.acquire_many(readers).await;
        let (ack, done) = oneshot::channel();
        let started = inner.shutdown(Some(ack));
        inner.write_permits.close();
        inner.read_permits.close();
        drop((writer_permit, reader_permits));
        if !started {
            return Ok(());
        }
        done.await.unwrap_or(Err(Error::ConnectionLost))
    }
}

/// Ends a closure's transaction: `COMMIT` after success, `ROLLBACK` otherwise (if still open).
fn end_unit(state: &mut ConnState, ok: bool) -> Result<()> {
    if state.conn.is_autocommit() {
        return Ok(());
    }
    if ok {
        if let Err(e) = state
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
        {
            state.rollback_if_open();
            return Err(Error::Sqlite(e));
        }
    } else {
        state.rollback_if_open();
    }
    Ok(())
}

impl Inner {
    async fn checkout(self: &Arc<Self>, kind: Kind) -> Result<Lease> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let semaphore = match kind {
            Kind::Read => &self.read_permits,
            Kind::Write => &self.write_permits,
        };
        let permit = semaphore
            .clone()
            .acquire_owned()
            .instrument(tracing::trace_span!("sqlvault.queue_wait"))
            .await
            .map_err(|_| Error::Closed)?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let slot = match kind {
            Kind::Write => Slot::Writer,
            Kind::Read => {
                let mut state = self.reader_state.lock().unwrap_or_else(PoisonError::into_inner);
                // A permit is only released after its reader is back in the idle list.
                let i = state.idle.pop().ok_or(Error::ConnectionLost)?;
                state.leased[i] = true;
                Slot::Reader(i)
            }
        };
        Ok(Lease {
            inner: Arc::clone(self),
            slot,
            permit: Some(permit),
            dirty: false,
        })
    }

    /// Sends every thread its shutdown; `false` if that already happened.
    fn shutdown(&self, ack: Option<oneshot::Sender<Result<()>>>) -> bool {
        let threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(threads) = threads else {
            return false;
        };
        {
            // Under the reader lock, so that no closure is queued behind a shutdown.
            let _state = self.reader_state.lock().unwrap_or_else(PoisonError::into_inner);
            for reader in &self.readers {
                reader.conn.shutdown(Vec::new(), None);
            }
        }
        self.writer.shutdown(threads.readers, ack);
        // The writer thread exits right after acknowledging; nothing to wait for here.
        drop(threads.writer);
        true
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

#[derive(Clone, Copy)]
enum Slot {
    Writer,
    Reader(usize),
}

/// Exclusive use of one connection, from checkout until drop.
pub(crate) struct Lease {
    inner: Arc<Inner>,
    slot: Slot,
    permit: Option<OwnedSemaphorePermit>,
    /// Whether a transaction may be open on the connection (then drop queues a rollback).
    pub(crate) dirty: bool,
}

impl Lease {
    pub(crate) fn conn(&self) -> &ConnHandle {
        match self.slot {
            Slot::Writer => &self.inner.writer,
            Slot::Reader(i) => &self.inner.readers[i].conn,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.dirty {
            // Queued before the connection goes back to the pool, so it runs before any command
            // of the next user.
            self.conn().fire(|state| state.rollback_if_open());
        }
        if let Slot::Reader(i) = self.slot {
            let mut state = self
                .inner
                .reader_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.leased[i] = false;
            state.idle.push(i);
        }
        drop(self.permit.take());
    }
}
