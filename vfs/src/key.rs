//! Resolving what the user supplied into key material for one database file.

use std::fmt;
use std::io::Read;
use std::path::Path;

use sqlvault_crypto::{Argon2Params, DatabaseSalt, KdfKind, Key, SALT_LEN, SQLITE_MAGIC, derive_master_key};

use crate::Error;
use crate::shared::KeyMaterial;

/// The master key and salt of one database, ready to open any number of connections
/// without running the KDF again.
#[derive(Clone)]
pub struct DatabaseKey {
    pub(crate) material: KeyMaterial,
}

impl fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseKey")
            .field("salt", &self.material.salt)
            .finish_non_exhaustive()
    }
}

impl DatabaseKey {
    /// Reads the salt at the start of `path` — or, if the file is missing or empty, makes
    /// a fresh one recording `new_db_params` — and derives the master key.
    ///
    /// For a passphrase this runs Argon2id, which is slow by design (a quarter of a
    /// second or more with the default parameters): call it from a blocking context.
    ///
    /// # Errors
    /// [`Error::PlaintextDatabase`] / [`Error::NotASqlvaultDatabase`] if the file is not
    /// a sqlvault database, [`Error::Crypto`] for a key of the wrong kind or bad
    /// parameters, [`Error::Io`] if the file cannot be read.
    pub fn resolve(path: &Path, key: &Key, new_db_params: Argon2Params) -> Result<DatabaseKey, Error> {
        let salt = match salt_of(path)? {
            Some(salt) => salt,
            None => DatabaseSalt::generate_for(key, new_db_params)?,
        };
        let master = derive_master_key(key, &salt)?;
        Ok(DatabaseKey {
            material: KeyMaterial { master, salt },
        })
    }

    /// The database salt (stored in the clear at the start of the file).
    pub fn salt(&self) -> &DatabaseSalt {
        &self.material.salt
    }

    /// How the master key was derived.
    ///
    /// # Errors
    /// Never for a key made by [`DatabaseKey::resolve`].
    pub fn kdf(&self) -> Result<KdfKind, Error> {
        Ok(self.material.salt.kdf()?)
    }
}

/// The salt at the start of the file at `path`: `None` if the file is missing or empty.
pub(crate) fn salt_of(path: &Path) -> Result<Option<DatabaseSalt>, Error> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io(e)),
    };
    let mut prefix = [0u8; SALT_LEN];
    let mut got = 0;
    while got < SALT_LEN {
        match file.read(&mut prefix[got..])? {
            0 => break,
            n => got += n,
        }
    }
    match got {
        0 => Ok(None),
        SALT_LEN if &prefix == SQLITE_MAGIC => Err(Error::PlaintextDatabase),
        SALT_LEN => Ok(Some(DatabaseSalt::parse(prefix)?)),
        _ => Err(Error::NotASqlvaultDatabase),
    }
}
