//! Resolving a key with the Argon2id cost held to caller-chosen limits.
//!
//! A database's KDF parameters are read from its clear, unauthenticated salt; see
//! [`sqlvault_crypto::KdfLimits`] for why they are capped.

use std::path::Path;

use sqlvault_crypto::{Argon2Params, DatabaseSalt, KdfLimits, Key, derive_master_key_limited};

use crate::key::salt_of;
use crate::shared::KeyMaterial;
use crate::{DatabaseKey, Error};

impl DatabaseKey {
    /// [`DatabaseKey::resolve`] with the Argon2id cost held to `limits`.
    ///
    /// The cost recorded in an existing file's salt is checked before Argon2id runs, so a
    /// planted header asking for gigabytes and hundreds of passes is refused at once. A
    /// new database's `new_db_params` are held to the same limits: nothing is created that
    /// these limits would refuse to open.
    ///
    /// # Errors
    /// [`Error::Crypto`] with [`sqlvault_crypto::Error::KdfLimitExceeded`] if the salt asks
    /// for more than `limits`; otherwise as [`DatabaseKey::resolve`].
    ///
    /// # Example
    ///
    /// ```
    /// use sqlvault_vfs::{Argon2Params, DatabaseKey, KdfLimits, Key};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = std::env::temp_dir().join(format!("sqlvault-limits-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("new.db");
    /// let pass = Key::Passphrase("pw".into());
    /// let greedy = Argon2Params { memory_kib: 1 << 21, iterations: 1, parallelism: 1 };
    /// // 2 GiB is above the default 1 GiB cap: refused before any memory is taken.
    /// assert!(DatabaseKey::resolve_with_limits(&path, &pass, greedy, KdfLimits::default()).is_err());
    /// let key = DatabaseKey::resolve_with_limits(&path, &pass, Argon2Params::INSECURE_FOR_TESTS, KdfLimits::default())?;
    /// # drop(key);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn resolve_with_limits(
        path: &Path,
        key: &Key,
        new_db_params: Argon2Params,
        limits: KdfLimits,
    ) -> Result<DatabaseKey, Error> {
        let salt = match salt_of(path)? {
            Some(salt) => salt,
            None => DatabaseSalt::generate_for(key, new_db_params)?,
        };
        let master = derive_master_key_limited(key, &salt, &limits)?;
        Ok(DatabaseKey {
            material: KeyMaterial { master, salt },
        })
    }
}
