//! How a database is opened: pool size, SQLite settings, key-derivation cost.

use std::time::Duration;

use sqlvault_crypto::{Argon2Params, KdfLimits};

use crate::{Error, Result};

/// The default bound of each connection's command queue ([`Options::queue_capacity`]).
const DEFAULT_QUEUE_CAPACITY: usize = 256;
const MAX_QUEUE_CAPACITY: usize = 1 << 20;

/// SQLite's `synchronous` setting for the writer (in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `FULL`: every commit is synced to disk before it returns. Survives power loss.
    #[default]
    Full,
    /// `NORMAL`: commits are durable against a crash of the process; the last commits can be
    /// lost on power loss. Much faster for small transactions.
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Settings for [`crate::Database::open`], built with chained setters.
///
/// ```
/// use std::time::Duration;
/// use sqlvault_driver::{Argon2Params, Options};
/// let options = Options::new()
///     .readers(4)
///     .busy_timeout(Duration::from_secs(2))
///     .argon2(Argon2Params::default());
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) readers: usize,
    pub(crate) page_size: u32,
    pub(crate) busy_timeout: Duration,
    pub(crate) cache_size_kib: u32,
    pub(crate) statement_cache: usize,
    pub(crate) argon2: Argon2Params,
    pub(crate) kdf_limits: KdfLimits,
    pub(crate) synchronous: Synchronous,
    pub(crate) create: bool,
    pub(crate) spin: Duration,
    pub(crate) reply_spin: Duration,
    pub(crate) adaptive_spin: bool,
    pub(crate) queue_capacity: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

impl Options {
    /// The defaults: one reader per core (at least 2), 4 KiB pages, a 5 s busy timeout (it only
    /// matters against other processes), a 2 MiB page cache per connection, 32 cached statements
    /// per connection, RFC 9106's Argon2id parameters, `synchronous = FULL`, create if missing,
    /// adaptive spinning (see [`Options::adaptive_spin`]) and 256 commands per connection queue (see
    /// [`Options::queue_capacity`]).
    pub fn new() -> Options {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Options {
            readers: cores.max(2),
            page_size: 4096,
            busy_timeout: Duration::from_secs(5),
            cache_size_kib: 2048,
            statement_cache: 32,
            argon2: Argon2Params::default(),
            kdf_limits: KdfLimits::default(),
            synchronous: Synchronous::Full,
            create: true,
            spin: Duration::ZERO,
            reply_spin: Duration::ZERO,
            adaptive_spin: true,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// Number of read-only reader connections (each on its own thread), at least 1.
    pub fn readers(mut self, n: usize) -> Options {
        self.readers = n;
        self
    }

    /// Page size of a new database: a power of two from 512 to 65536. Ignored for an existing one.
    pub fn page_size(mut self, bytes: u32) -> Options {
        self.page_size = bytes;
        self
    }

    /// How long a connection waits for a lock held by another process before `SQLITE_BUSY`.
    /// Writers inside this process never wait on each other in SQLite: they queue in the driver.
    pub fn busy_timeout(mut self, timeout: Duration) -> Options {
        self.busy_timeout = timeout;
        self
    }

    /// Page cache per connection, in KiB (`PRAGMA cache_size = -kib`).
    pub fn cache_size_kib(mut self, kib: u32) -> Options {
        self.cache_size_kib = kib;
        self
    }

    /// How many prepared statements each connection keeps for reuse.
    pub fn statement_cache(mut self, capacity: usize) -> Options {
        self.statement_cache = capacity;
        self
    }

    /// Argon2id cost for a new database opened with a passphrase. An existing database records
    /// the parameters it was created with and always uses those.
    pub fn argon2(mut self, params: Argon2Params) -> Options {
        self.argon2 = params;
        self
    }

    /// The most Argon2id cost the pool will pay to open the database (default: 1 GiB,
    /// 16 passes, 16 lanes; see [`KdfLimits`]). An existing database's cost is read from its
    /// unauthenticated salt, so a planted file could otherwise demand up to 16 GiB and 255
    /// passes; a salt above the limits fails [`Database::open`](crate::Database::open) before
    /// Argon2id runs. A new database's [`Options::argon2`] must fit within them too.
    pub fn kdf_limits(mut self, limits: KdfLimits) -> Options {
        self.kdf_limits = limits;
        self
    }

    /// The writer's `synchronous` setting.
    pub fn synchronous(mut self, mode: Synchronous) -> Options {
        self.synchronous = mode;
        self
    }

    /// Whether to create the database if the file does not exist (default `true`).
    pub fn create_if_missing(mut self, create: bool) -> Options {
        self.create = create;
        self
    }

    /// A fixed time a connection thread busy-waits for its next command before it sleeps
    /// (default zero: spin adaptively, see [`Options::adaptive_spin`]).
    ///
    /// Spinning trades CPU for latency: with idle cores, a thread that is still awake picks up
    /// the next command without a wake-up. On a machine with busy cores a fixed spin costs more
    /// than it saves (measured in docs/benchmarks.md: on a loaded 2-core machine every fixed
    /// spin setting was slower than none), which is why the default adapts instead.
    pub fn spin(mut self, spin: Duration) -> Options {
        self.spin = spin;
        self
    }

    /// A fixed time a caller busy-waits for its reply (on its own thread, a runtime worker for
    /// async callers) before it sleeps. Same trade-off as [`Options::spin`]; default zero
    /// (adaptive).
    pub fn reply_spin(mut self, spin: Duration) -> Options {
        self.reply_spin = spin;
        self
    }

    /// How many commands may wait in (or run from) one connection's queue; default 256.
    ///
    /// A caller past the bound waits, first come, first served, for a slot in the queue of the
    /// connection it was given, so a flood of calls (or of futures polled once and dropped)
    /// cannot grow memory without limit. Closures and one-shot queries go to the least busy
    /// free reader, and wait only when its queue is full. The rollback a dropped guard queues
    /// and a guard's row stream bypass the bound (there is at most one of each per guard).
    pub fn queue_capacity(mut self, commands: usize) -> Options {
        self.queue_capacity = commands;
        self
    }

    /// Whether a side with no fixed spin ([`Options::spin`], [`Options::reply_spin`] zero,
    /// the default) spins adaptively before it parks (default `true`).
    ///
    /// Adaptive spinning busy-waits up to 50 µs, and only while recent spins caught their
    /// hand-off in time; a spin that misses stops it, and then one hand-off in 32 tries again.
    /// On idle cores, where waking a parked thread costs tens of microseconds, it saves both
    /// wake-ups of a call; on busy cores spins miss and both sides park, as with `false`. A
    /// caller inside a tokio runtime spins only while the runtime has no more tasks alive than
    /// worker threads, so a spin never holds up other tasks of a busy runtime.
    pub fn adaptive_spin(mut self, adaptive: bool) -> Options {
        self.adaptive_spin = adaptive;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.readers == 0 {
            return Err(Error::InvalidOptions("readers must be at least 1"));
        }
        if self.readers > 1024 {
            return Err(Error::InvalidOptions("readers must be at most 1024"));
        }
        if !(512..=65536).contains(&self.page_size) || !self.page_size.is_power_of_two() {
            return Err(Error::InvalidOptions(
                "page_size must be a power of two from 512 to 65536",
            ));
        }
        if !(1..=MAX_QUEUE_CAPACITY).contains(&self.queue_capacity) {
            return Err(Error::InvalidOptions("queue_capacity must be from 1 to 1048576"));
        }
        if self.spin > Duration::from_millis(10) || self.reply_spin > Duration::from_millis(10) {
            return Err(Error::InvalidOptions("spin must be at most 10 ms"));
        }
        Ok(())
    }
}
