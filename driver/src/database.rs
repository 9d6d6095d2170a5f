//! The pool: one writer connection, N read-only readers, each on its own thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use sqlvault_crypto::Key;
use sqlvault_vfs::DatabaseKey;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tracing::Instrument;

use crate::blocking;
use crate::connect;
use crate::session::{Kind, Session};
use crate::transaction::{ReadTx, WriteTx};
use crate::worker::{self, ConnHandle, ConnState, QueueSlot, SpawnOptions};
use crate::{Error, Options, Result};

mod rekey;

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
    /// Tells this pool's connection threads apart from every other thread (re-entrancy).
    pool: u64,
    /// What it takes to start a connection again (replacing one whose thread died).
    opener: Opener,
    reader_count: usize,
    write_permits: Arc<Semaphore>,
    read_permits: Arc<Semaphore>,
    /// The connections, and which readers guards hold. Closures are queued only on readers no
    /// guard holds, and the choice and the send happen under this lock, so a closure never lands
    /// inside a guard's transaction.
    conns: Mutex<Conns>,
    closed: AtomicBool,
}

/// How to start a connection thread of this pool.
struct Opener {
    path: PathBuf,
    /// Replaced by a rekey.
    key: Mutex<DatabaseKey>,
    options: Options,
}

struct Conns {
    writer: Conn,
    readers: Vec<Conn>,
    /// Readers no guard holds; the last one returned is handed out first (its thread is the
    /// most likely to still be spinning, awake).
    idle: Vec<usize>,
    leased: Vec<bool>,
    /// Set once every thread has been sent its shutdown.
    shut_down: bool,
    /// A rekey is replacing the connections: nothing is queued on them directly (callers
    /// wait for a permit, which the rekey holds).
    paused: bool,
}

/// One connection thread of the pool.
struct Conn {
    handle: ConnHandle,
    join: Option<JoinHandle<Result<()>>>,
}

impl Conn {
    fn new((handle, join): (ConnHandle, JoinHandle<Result<()>>)) -> Conn {
        Conn {
            handle,
            join: Some(join),
        }
    }
}

/// Which connection.
#[derive(Clone, Copy, Debug)]
enum Which {
    Writer,
    Reader(usize),
}

/// Pool ids, for [`Error::Reentrant`].
static NEXT_POOL: AtomicU64 = AtomicU64::new(1);

impl Opener {
    fn key(&self) -> DatabaseKey {
        self.key.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn spawn_options(&self, which: Which, pool: u64) -> SpawnOptions {
        SpawnOptions {
            name: match which {
                Which::Writer => "sqlvault-writer".to_owned(),
                Which::Reader(i) => format!("sqlvault-reader-{i}"),
            },
            pool,
            spin: self.options.spin,
            reply_spin: self.options.reply_spin,
            adaptive_spin: self.options.adaptive_spin,
            queue_capacity: self.options.queue_capacity,
        }
    }

    /// Starts a replacement for a connection whose thread died. It opens on its own thread;
    /// commands queued meanwhile run once it is open.
    fn respawn(&self, which: Which, pool: u64) -> Result<Conn> {
        let (conn, _ready) = self.respawn_ready(which, pool)?;
        tracing::warn!(connection = ?which, "a connection thread died; started a new one");
        Ok(conn)
    }

    /// Starts a connection thread with the pool's current key; the receiver says when (and
    /// whether) its connection is open.
    fn respawn_ready(&self, which: Which, pool: u64) -> Result<(Conn, oneshot::Receiver<Result<()>>)> {
        let (path, key, options) = (self.path.clone(), self.key(), self.options.clone());
        let spawned = match which {
            Which::Writer => ConnHandle::spawn(self.spawn_options(which, pool), move || {
                Ok((connect::open_writer(&path, &key, &options)?, ()))
            })?,
            Which::Reader(_) => ConnHandle::spawn(self.spawn_options(which, pool), move || {
                Ok((connect::open_reader(&path, &key, &options)?, ()))
            })?,
        };
        let (handle, join, ready) = spawned;
        Ok((Conn::new((handle, join)), ready))
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .field("readers", &self.inner.reader_count)
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
            let pool = NEXT_POOL.fetch_add(1, Ordering::Relaxed);
            let spawn_options = |name: String| SpawnOptions {
                name,
                pool,
                spin: options.spin,
                reply_spin: options.reply_spin,
                adaptive_spin: options.adaptive_spin,
                queue_capacity: options.queue_capacity,
            };
            let opts = options.clone();
            let wpath = path.clone();
            let (writer, writer_join, ready) =
                ConnHandle::spawn(spawn_options("sqlvault-writer".to_owned()), move || {
                    let db_key = connect::resolve_key(&wpath, &key, opts.argon2, opts.kdf_limits)?;
                    let conn = connect::open_writer(&wpath, &db_key, &opts)?;
                    Ok((conn, db_key))
                })?;
            let writer = Conn::new((writer, writer_join));
            let db_key = match ready.await.unwrap_or(Err(Error::ConnectionLost)) {
                Ok(key) => key,
                Err(e) => {
                    writer.handle.shutdown(Vec::new(), None);
                    return Err(e);
                }
            };

            let mut readers = Vec::with_capacity(options.readers);
            let mut pending = Vec::with_capacity(options.readers);
            let mut first_error = None;
            for i in 0..options.readers {
                let (opts, rpath, rkey) = (options.clone(), path.clone(), db_key.clone());
                match ConnHandle::spawn(spawn_options(format!("sqlvault-reader-{i}")), move || {
                    Ok((connect::open_reader(&rpath, &rkey, &opts)?, ()))
                }) {
                    Ok((handle, join, ready)) => {
                        readers.push(Conn::new((handle, join)));
                        pending.push(ready);
                    }
                    Err(e) => {
                        first_error = Some(e);
                        break;
                    }
                }
            }
            for ready in pending {
                if let Err(e) = ready.await.unwrap_or(Err(Error::ConnectionLost)) {
                    first_error.get_or_insert(e);
                }
            }
            let reader_count = readers.len();
            let inner = Inner {
                path: path.clone(),
                pool,
                opener: Opener {
                    path,
                    key: Mutex::new(db_key),
                    options,
                },
                reader_count,
                conns: Mutex::new(Conns {
                    writer,
                    idle: (0..reader_count).rev().collect(),
                    leased: vec![false; reader_count],
                    readers,
                    shut_down: false,
                    paused: false,
                }),
                read_permits: Arc::new(Semaphore::new(reader_count)),
                write_permits: Arc::new(Semaphore::new(1)),
                closed: AtomicBool::new(false),
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
        let inner = &self.inner;
        inner.check_not_reentrant()?;
        let (job, reply) = worker::command(true, span.clone(), unit);
        let mut job = Some(job);
        // A slot in the chosen reader's queue, when we had to wait for one.
        let mut reserved: Option<(ConnHandle, QueueSlot)> = None;
        let mut sent_to: Option<ConnHandle> = None;
        loop {
            let wait_on = {
                let mut conns = inner.conns.lock().unwrap_or_else(PoisonError::into_inner);
                if inner.closed.load(Ordering::SeqCst) || conns.shut_down {
                    return Err(Error::Closed);
                }
                if conns.paused {
                    break;
                }
                conns.replace_dead_idle_readers(inner);
                // The least busy (fewest commands queued or running); the first of equals.
                let pick = (0..conns.readers.len())
                    .filter(|&i| !conns.leased[i] && conns.readers[i].handle.is_alive())
                    .min_by_key(|&i| conns.readers[i].handle.busy());
                let Some(i) = pick else {
                    break;
                };
                let reader = &conns.readers[i];
                let slot = match reserved.take() {
                    Some((handle, slot)) if handle.same_thread(&reader.handle) => Some(slot),
                    _ => reader.handle.try_reserve(),
                };
                match (slot, job.take()) {
                    (Some(slot), Some(j)) => match reader.handle.send(j, Some(slot)) {
                        Ok(()) => {
                            sent_to = Some(reader.handle.clone());
                            break;
                        }
                        // The thread died just now: the loop replaces it and tries again.
                        Err(j) => {
                            job = Some(j);
                            continue;
                        }
                    },
                    (None, j) => {
                        job = j;
                        reader.handle.clone()
                    }
                    (Some(_), None) => return Err(Error::ConnectionLost),
                }
            };
            // The least busy reader's queue is full: wait for a slot in it, then choose again
            // (under the lock, in case a guard took that reader meanwhile).
            let slot = wait_on.reserve(&span).await?;
            reserved = Some((wait_on, slot));
        }
        if let Some(conn) = sent_to {
            return reply.into_call(&conn).await;
        }
        // Guards hold every reader: wait for one, like a guard.
        drop(reserved);
        let Some(job) = job else {
            return Err(Error::ConnectionLost);
        };
        let lease = inner
            .checkout(Kind::Read)
            .instrument(tracing::debug_span!(parent: &span, "sqlvault.checkout", kind = "read"))
            .await?;
        let conn = lease.conn();
        let slot = match conn.try_reserve() {
            Some(slot) => slot,
            None => conn.reserve(&span).await?,
        };
        conn.send(job, Some(slot)).map_err(|_| Error::ConnectionLost)?;
        let result = reply.into_call(conn).await;
        drop(lease);
        result
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
        self.inner.reader_count
    }

    /// Test support, not part of the API: makes a connection thread (a reader by index, or the
    /// writer for `None`) die as a panic outside the driver's `catch_unwind` would, and waits
    /// until it has. `false` if there is no such connection or it was still alive after 5 s.
    #[doc(hidden)]
    pub fn kill_connection_for_test(&self, reader: Option<usize>) -> bool {
        let handle = {
            let conns = self.inner.conns.lock().unwrap_or_else(PoisonError::into_inner);
            match reader {
                None => conns.writer.handle.clone(),
                Some(i) => match conns.readers.get(i) {
                    Some(r) => r.handle.clone(),
                    None => return false,
                },
            }
        };
        handle.kill();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while handle.is_alive() {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    }

    /// Closes the pool: no new transactions start (they fail with [`Error::Closed`]), the ones
    /// already queued or running finish, then every connection closes, readers first and the
    /// writer last (so that the writer's close checkpoints the WAL into the database).
    ///
    /// Do not hold a transaction of this database in the task that awaits `close`: close waits
    /// for it. Calling `close` again returns `Ok`.
    ///
    /// # Errors
    /// The first error any connection reported while closing; [`Error::Reentrant`] from one of
    /// the pool's own connection threads.
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        inner.check_not_reentrant()?;
        inner.closed.store(true, Ordering::SeqCst);
        let readers = u32::try_from(inner.reader_count).map_err(|_| Error::InvalidOptions("readers"))?;
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

impl Conns {
    /// Replaces the connection `which` if its thread has died.
    fn replace_if_dead(&mut self, which: Which, inner: &Inner) -> Result<()> {
        let conn = match which {
            Which::Writer => &mut self.writer,
            Which::Reader(i) => match self.readers.get_mut(i) {
                Some(conn) => conn,
                None => return Err(Error::ConnectionLost),
            },
        };
        if conn.handle.is_alive() {
            return Ok(());
        }
        let replacement = inner.opener.respawn(which, inner.pool)?;
        // The old thread has exited or is exiting: leave it to finish alone.
        drop(std::mem::replace(conn, replacement));
        Ok(())
    }

    /// Replaces every reader that no guard holds and whose thread has died.
    fn replace_dead_idle_readers(&mut self, inner: &Inner) {
        for i in 0..self.readers.len() {
            if !self.leased[i]
                && !self.readers[i].handle.is_alive()
                && let Err(e) = self.replace_if_dead(Which::Reader(i), inner)
            {
                tracing::error!(error = %e, reader = i, "could not replace a dead reader");
            }
        }
    }
}

impl Inner {
    fn check_not_reentrant(&self) -> Result<()> {
        if worker::on_pool_thread(self.pool) {
            return Err(Error::Reentrant);
        }
        Ok(())
    }

    async fn checkout(self: &Arc<Self>, kind: Kind) -> Result<Lease> {
        self.check_not_reentrant()?;
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
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let (which, reader) = match kind {
            Kind::Write => (Which::Writer, None),
            Kind::Read => {
                // A permit is only released after its reader is back in the idle list.
                let i = conns.idle.pop().ok_or(Error::ConnectionLost)?;
                conns.leased[i] = true;
                (Which::Reader(i), Some(i))
            }
        };
        // Build the lease first, so that an error below still hands the reader back.
        let mut lease = Lease {
            inner: Arc::clone(self),
            reader,
            conn: None,
            permit: Some(permit),
            dirty: false,
        };
        conns.replace_if_dead(which, self)?;
        lease.conn = Some(match which {
            Which::Writer => conns.writer.handle.clone(),
            Which::Reader(i) => conns.readers[i].handle.clone(),
        });
        drop(conns);
        Ok(lease)
    }

    /// Sends every thread its shutdown; `false` if that already happened.
    fn shutdown(&self, ack: Option<oneshot::Sender<Result<()>>>) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        if conns.shut_down {
            return false;
        }
        conns.shut_down = true;
        // The writer closes last and checkpoints the WAL: if its thread died, start a new one
        // to do it.
        if let Err(e) = conns.replace_if_dead(Which::Writer, self) {
            tracing::error!(error = %e, "could not replace the dead writer to close the pool");
        }
        // Under the connections lock, so that no closure is queued behind a shutdown.
        let mut joins = Vec::with_capacity(conns.readers.len());
        for reader in &mut conns.readers {
            reader.handle.shutdown(Vec::new(), None);
            joins.extend(reader.join.take());
        }
        conns.writer.handle.shutdown(joins, ack);
        // The writer thread exits right after acknowledging; nothing to wait for here.
        drop(conns.writer.join.take());
        true
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

/// Exclusive use of one connection, from checkout until drop.
pub(crate) struct Lease {
    inner: Arc<Inner>,
    /// The reader leased (`None` for the writer).
    reader: Option<usize>,
    /// Set as soon as the lease is complete.
    conn: Option<ConnHandle>,
    permit: Option<OwnedSemaphorePermit>,
    /// Whether a transaction may be open on the connection (then drop queues a rollback).
    pub(crate) dirty: bool,
}

impl Lease {
    pub(crate) fn conn(&self) -> &ConnHandle {
        match &self.conn {
            Some(conn) => conn,
            None => unreachable!("a lease is only handed out with its connection"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.dirty
            && let Some(conn) = &self.conn
        {
            // Queued before the connection goes back to the pool, so it runs before any command
            // of the next user.
            conn.fire(tracing::debug_span!("sqlvault.drop_rollback"), |state| {
                state.rollback_if_open();
            });
        }
        if let Some(i) = self.reader {
            let mut conns = self.inner.conns.lock().unwrap_or_else(PoisonError::into_inner);
            conns.leased[i] = false;
            conns.idle.push(i);
        }
        drop(self.permit.take());
    }
}
