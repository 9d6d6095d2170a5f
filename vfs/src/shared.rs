//! State one main database file shares with its WAL and journal, and the registry that
//! lets those files find it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use sqlvault_crypto::{Argon2Params, DatabaseSalt, Key, MasterKey, PageCipher};

use crate::error::Fault;

/// The key material of a keyed database: enough to build a [`PageCipher`] per file.
#[derive(Clone)]
pub(crate) struct KeyMaterial {
    pub(crate) master: MasterKey,
    pub(crate) salt: DatabaseSalt,
}

impl KeyMaterial {
    pub(crate) fn cipher(&self) -> PageCipher {
        PageCipher::new(&self.master, self.salt)
    }
}

/// Shared between a main database file handle and the WAL / journal handles of the
/// same connection.
#[derive(Default)]
pub(crate) struct SharedDb {
    state: Mutex<KeyState>,
    last_fault: Mutex<Option<Fault>>,
    /// The connection holds SQLite's checkpoint lock (set from `xShmLock` on the main file):
    /// WAL page reads hand out sealed bytes for the database writes that follow.
    checkpointing: std::sync::atomic::AtomicBool,
    /// The sealed WAL page a checkpoint read just handed out: its page number and tag, so
    /// the database write that copies it can be told from a plaintext page write.
    passthrough: Mutex<Option<(u32, [u8; 16])>>,
}

#[derive(Default)]
struct KeyState {
    key: Option<KeyMaterial>,
    /// Bumped whenever `key` changes, so files holding a cipher know to rebuild it.
    version: u64,
    /// The key as the user gave it, kept (zeroized on drop) only while the database salt
    /// is provisional: the file was empty when it was keyed, and another connection may
    /// create it first with a salt of its own, which this one then adopts.
    provisional: Option<(Key, Argon2Params)>,
    /// The salt was chosen for an empty file and may yet give way to the one on disk.
    adoptable: bool,
    /// `PRAGMA key` failed on this database, for this reason: every read and write is
    /// refused with it, so nothing is read or written in the clear by mistake.
    key_failed: Option<Fault>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still valid.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SharedDb {
    pub(crate) fn key(&self) -> Option<KeyMaterial> {
        lock(&self.state).key.clone()
    }

    /// The key and its version, for files that cache a cipher.
    pub(crate) fn key_versioned(&self) -> (Option<KeyMaterial>, u64) {
        let s = lock(&self.state);
        (s.key.clone(), s.version)
    }

    pub(crate) fn key_version(&self) -> u64 {
        lock(&self.state).version
    }

    pub(crate) fn set_key(&self, key: KeyMaterial) {
        let mut s = lock(&self.state);
        s.key = Some(key);
        s.version += 1;
        s.provisional = None;
        s.adoptable = false;
        s.key_failed = None;
    }

    /// Keys a database whose file is still empty: `key` may yet have to be re-derived
    /// under the salt another connection writes first (see [`SharedDb::adopt_salt`]).
    pub(crate) fn set_provisional_key(&self, material: KeyMaterial, key: Option<(Key, Argon2Params)>) {
        let mut s = lock(&self.state);
        s.key = Some(material);
        s.version += 1;
        s.provisional = key;
        s.adoptable = true;
        s.key_failed = None;
    }

    pub(crate) fn set_key_failed(&self, why: Fault) {
        lock(&self.state).key_failed = Some(why);
    }

    /// Why `PRAGMA key` failed, if it did.
    pub(crate) fn key_failed(&self) -> Option<Fault> {
        lock(&self.state).key_failed
    }

    /// Page 1 as stored starts with `disk_salt`, not with this connection's salt: if this
    /// connection keyed the file while it was empty (or inherited a key), take the salt
    /// another connection created the database with, re-deriving the master key when the
    /// KDF salt differs. `Ok(true)` if the key changed (the caller retries).
    pub(crate) fn adopt_salt(&self, disk_salt: DatabaseSalt) -> Result<bool, Fault> {
        let mut s = lock(&self.state);
        let Some(current) = s.key.clone() else {
            return Ok(false);
        };
        if !s.adoptable {
            return Ok(false);
        }
        if current.salt == disk_salt {
            return Ok(false);
        }
        let master = if let Some((key, _)) = &s.provisional {
            sqlvault_crypto::derive_master_key_limited(
                key,
                &disk_salt,
                &sqlvault_crypto::KdfLimits::default(),
            )?
        } else {
            let same_lineage = match (current.salt.kdf()?, disk_salt.kdf()?) {
                (sqlvault_crypto::KdfKind::RawKey, sqlvault_crypto::KdfKind::RawKey) => true,
                (a, b) => a == b && current.salt.kdf_salt() == disk_salt.kdf_salt(),
            };
            if !same_lineage {
                return Ok(false);
            }
            current.master.clone()
        };
        s.key = Some(KeyMaterial {
            master,
            salt: disk_salt,
        });
        s.version += 1;
        s.provisional = None;
        s.adoptable = false;
        Ok(true)
    }

    /// The salt is on disk now (this connection wrote page 1): nothing provisional is left.
    pub(crate) fn salt_settled(&self) {
        let mut s = lock(&self.state);
        s.provisional = None;
        s.adoptable = false;
    }

    /// Whether a page-1 salt mismatch may be resolved by [`SharedDb::adopt_salt`]: the key
    /// is provisional, or could be shared with a database of the same lineage.
    pub(crate) fn is_provisional_or_inherited(&self) -> bool {
        lock(&self.state).adoptable
    }

    pub(crate) fn record_fault(&self, fault: Fault) {
        *lock(&self.last_fault) = Some(fault);
    }

    pub(crate) fn take_fault(&self) -> Option<Fault> {
        lock(&self.last_fault).take()
    }

    pub(crate) fn set_checkpointing(&self, on: bool) {
        self.checkpointing.store(on, std::sync::atomic::Ordering::Relaxed);
        if !on {
            *lock(&self.passthrough) = None;
        }
    }

    pub(crate) fn checkpointing(&self) -> bool {
        self.checkpointing.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn offer_passthrough(&self, pgno: u32, tag: [u8; 16]) {
        *lock(&self.passthrough) = Some((pgno, tag));
    }

    pub(crate) fn take_passthrough(&self) -> Option<(u32, [u8; 16])> {
        lock(&self.passthrough).take()
    }
}

/// A cipher cached by a file handle, rebuilt when the shared key changes.
pub(crate) struct CachedCipher {
    cipher: Option<PageCipher>,
    version: u64,
}

impl CachedCipher {
    pub(crate) fn new() -> CachedCipher {
        CachedCipher {
            cipher: None,
            version: u64::MAX,
        }
    }

    /// The cipher for the current key of `shared`, or `None` if the database has no key.
    pub(crate) fn get(&mut self, shared: &SharedDb) -> Option<&mut PageCipher> {
        if self.version != shared.key_version() {
            let (key, version) = shared.key_versioned();
            self.cipher = key.map(|k| k.cipher());
            self.version = version;
        }
        self.cipher.as_mut()
    }
}

/// Main database files by the address of the filename SQLite opened them with.
///
/// SQLite allocates a pager's database, journal and WAL names in one block, and
/// `sqlite3_filename_database()` maps a journal or WAL name back to the very pointer the
/// main file was opened with. Keying on that address ties each WAL or journal to its own
/// connection's main file, even when several connections open the same path.
fn registry() -> &'static Mutex<HashMap<usize, Arc<SharedDb>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<usize, Arc<SharedDb>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

pub(crate) fn register_main(name_addr: usize, shared: Arc<SharedDb>) {
    lock(registry()).insert(name_addr, shared);
}

pub(crate) fn unregister_main(name_addr: usize, shared: &Arc<SharedDb>) {
    let mut map = lock(registry());
    if map.get(&name_addr).is_some_and(|s| Arc::ptr_eq(s, shared)) {
        map.remove(&name_addr);
    }
}

pub(crate) fn find_main(name_addr: usize) -> Option<Arc<SharedDb>> {
    lock(registry()).get(&name_addr).cloned()
}
