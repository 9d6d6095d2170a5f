//! State one main database file shares with its WAL and journal, and the registry that
//! lets those files find it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use sqlvault_crypto::{DatabaseSalt, MasterKey, PageCipher};

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
    key: Mutex<Option<KeyMaterial>>,
    last_fault: Mutex<Option<Fault>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still valid.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SharedDb {
    pub(crate) fn key(&self) -> Option<KeyMaterial> {
        lock(&self.key).clone()
    }

    pub(crate) fn set_key(&self, key: KeyMaterial) {
        *lock(&self.key) = Some(key);
    }

    pub(crate) fn record_fault(&self, fault: Fault) {
        *lock(&self.last_fault) = Some(fault);
    }

    pub(crate) fn take_fault(&self) -> Option<Fault> {
        lock(&self.last_fault).take()
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
