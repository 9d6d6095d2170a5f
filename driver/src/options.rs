//! How a database is opened: pool size, SQLite settings, key-derivation cost.

use std::time::Duration;

use sqlvault_crypto::{Argon2Params, KdfLimits};

use crate::{Error, Result};

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
    /// and no spinning (see [`Options::spin`]).
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

    /// How long a connection thread busy-waits for its next command before it sleeps.
    ///
    /// Spinning trades CPU for latency: with idle cores, a thread that is still awake picks up
    /// the next command without a wake-up. On a machine with busy cores it costs more than it
    /// saves (measured in docs/benchmarks.md: on a loaded 2-core machine every spin setting was
    /// slower than none), so the default is zero.
    pub fn spin(mut self, spin: Duration) -> Options {
        self.spin = spin;
        self
    }

    /// How long a caller busy-waits for its reply (on its own thread, a runtime worker for async
    /// callers) before it sleeps. Same trade-off as [`Options::spin`]; default zero.
    pub fn reply_spin(mut self, spin: Duration) -> Options {
        self.reply_spin = spin;
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
        if self.spin > Duration::from_millis(10) || self.reply_spin > Duration::from_millis(10) {
            return Err(Error::InvalidOptions("spin must be at most 10 ms"));
        }
        Ok(())
    }
}
