//! Resolving what the user supplied into key material for one database file.

use std::fmt;
use std::path::Path;

use sqlvault_crypto::{Argon2Params, DatabaseSalt, KdfKind, Key};

use crate::Error;
use crate::error::Fault;
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
    /// The cost is held to [`sqlvault_crypto::KdfLimits::default`]; see
    /// [`DatabaseKey::resolve_with_limits`].
    ///
    /// # Errors
    /// [`Error::PlaintextDatabase`] / [`Error::NotASqlvaultDatabase`] if the file is not
    /// a sqlvault database, [`Error::Crypto`] for a key of the wrong kind or bad
    /// parameters, [`Error::Io`] if the file cannot be read.
    pub fn resolve(path: &Path, key: &Key, new_db_params: Argon2Params) -> Result<DatabaseKey, Error> {
        Self::resolve_with_limits(path, key, new_db_params, sqlvault_crypto::KdfLimits::default())
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
    crate::main_db::salt_of_path(path).map_err(|fault| match fault {
        Fault::Plaintext => Error::PlaintextDatabase,
        Fault::NotSqlvault => Error::NotASqlvaultDatabase,
        Fault::Parent(_) => match std::fs::File::open(path) {
            Err(e) => Error::Io(e),
            Ok(_) => Error::NotASqlvaultDatabase,
        },
        other => other.to_error().unwrap_or(Error::NotASqlvaultDatabase),
    })
}
