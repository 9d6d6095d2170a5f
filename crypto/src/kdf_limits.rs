//! Caps on the Argon2id cost a database file may demand.
//!
//! The KDF parameters of a passphrase database live in the clear salt at the start of the
//! file, and nothing can authenticate them before the key exists: they are exactly what
//! the key is derived with. Anyone who can write the file can therefore ask the next
//! opener for up to 16 GiB of memory and 255 passes — minutes of a core, or the machine's
//! memory. [`derive_master_key_limited`] checks the recorded cost against [`KdfLimits`]
//! *before* Argon2id runs and refuses with [`Error::KdfLimitExceeded`].

use std::fmt;

use crate::kdf::{Argon2Params, DatabaseSalt, KdfKind, argon2id};
use crate::secret::{Key, MasterKey};
use crate::{Error, derive_master_key};

/// The most Argon2id cost a caller is willing to pay to open one database.
///
/// The defaults — 1 GiB of memory, 16 passes, 16 lanes — are 16 times the memory and
/// 5 times the passes of [`Argon2Params::default`], so every database created with
/// sensible parameters opens, while a planted header cannot pin a process for minutes
/// or exhaust its memory. A caller who really created a database with more raises the
/// limit explicitly (`sqlvault --kdf-max-memory`, `--kdf-max-iterations`,
/// `--kdf-max-parallelism` on the command line).
///
/// # Example
///
/// ```
/// use sqlvault_crypto::{Argon2Params, KdfLimits};
///
/// let limits = KdfLimits::default();
/// assert!(limits.check(&Argon2Params::default()).is_ok());
/// let planted = Argon2Params { memory_kib: 1 << 24, iterations: 255, parallelism: 1 };
/// assert!(limits.check(&planted).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfLimits {
    /// Largest Argon2id memory accepted, in KiB.
    pub max_memory_kib: u32,
    /// Largest number of passes over memory accepted.
    pub max_iterations: u32,
    /// Largest number of lanes accepted.
    pub max_parallelism: u32,
}

impl KdfLimits {
    /// Default memory cap: 1 GiB (2^20 KiB).
    pub const DEFAULT_MAX_MEMORY_KIB: u32 = 1 << 20;
    /// Default cap on passes: 16.
    pub const DEFAULT_MAX_ITERATIONS: u32 = 16;
    /// Default cap on lanes: 16.
    pub const DEFAULT_MAX_PARALLELISM: u32 = 16;

    /// No cap beyond what the salt format can express (16 GiB, 255 passes, 255 lanes).
    /// Only for files whose origin is trusted.
    pub const UNLIMITED: KdfLimits = KdfLimits {
        max_memory_kib: u32::MAX,
        max_iterations: u32::MAX,
        max_parallelism: u32::MAX,
    };

    /// Checks `params` against the limits, memory first.
    ///
    /// # Errors
    /// [`Error::KdfLimitExceeded`] naming the first parameter above its cap.
    pub fn check(&self, params: &Argon2Params) -> Result<(), Error> {
        let checks = [
            (KdfParameter::Memory, params.memory_kib, self.max_memory_kib),
            (KdfParameter::Iterations, params.iterations, self.max_iterations),
            (
                KdfParameter::Parallelism,
                params.parallelism,
                self.max_parallelism,
            ),
        ];
        for (parameter, requested, limit) in checks {
            if requested > limit {
                return Err(Error::KdfLimitExceeded {
                    parameter,
                    requested,
                    limit,
                });
            }
        }
        Ok(())
    }
}

impl Default for KdfLimits {
    fn default() -> Self {
        KdfLimits {
            max_memory_kib: Self::DEFAULT_MAX_MEMORY_KIB,
            max_iterations: Self::DEFAULT_MAX_ITERATIONS,
            max_parallelism: Self::DEFAULT_MAX_PARALLELISM,
        }
    }
}

/// Which Argon2id parameter exceeded its [`KdfLimits`] cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KdfParameter {
    /// Memory, in KiB.
    Memory,
    /// Passes over memory.
    Iterations,
    /// Lanes.
    Parallelism,
}

impl fmt::Display for KdfParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KdfParameter::Memory => "memory (KiB)",
            KdfParameter::Iterations => "iterations",
            KdfParameter::Parallelism => "parallelism (lanes)",
        })
    }
}

/// [`derive_master_key`] with the Argon2id cost recorded in `salt` held to `limits`.
///
/// The check runs before Argon2id allocates or computes anything, so a salt demanding
/// more than the limits is refused in microseconds. Raw keys run no KDF and are not
/// limited.
///
/// # Errors
/// [`Error::KdfLimitExceeded`] if the salt asks for more than `limits` allow; otherwise
/// as [`derive_master_key`].
pub fn derive_master_key_limited(
    key: &Key,
    salt: &DatabaseSalt,
    limits: &KdfLimits,
) -> Result<MasterKey, Error> {
    match (key, salt.kdf()?) {
        (Key::Passphrase(p), KdfKind::Argon2id(params)) => {
            limits.check(&params)?;
            argon2id(p.expose(), &salt.kdf_salt(), params)
        }
        // No KDF runs: a raw key is taken as is, and a kind mismatch is refused.
        _ => derive_master_key(key, salt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(memory_kib: u32, iterations: u32, parallelism: u32) -> Argon2Params {
        Argon2Params {
            memory_kib,
            iterations,
            parallelism,
        }
    }

    #[test]
    fn defaults_admit_the_default_parameters_and_the_documented_caps() {
        let limits = KdfLimits::default();
        limits.check(&Argon2Params::default()).unwrap();
        limits.check(&params(1 << 20, 16, 16)).unwrap();
    }

    #[test]
    fn each_parameter_is_capped_and_named() {
        let limits = KdfLimits::default();
        let cases = [
            (params(1 << 21, 1, 1), KdfParameter::Memory, 1 << 21, 1 << 20),
            (params(1 << 10, 17, 1), KdfParameter::Iterations, 17, 16),
            (params(1 << 10, 1, 17), KdfParameter::Parallelism, 17, 16),
        ];
        for (p, parameter, requested, limit) in cases {
            assert_eq!(
                limits.check(&p),
                Err(Error::KdfLimitExceeded {
                    parameter,
                    requested,
                    limit
                })
            );
        }
    }

    #[test]
    fn unlimited_admits_everything_the_salt_can_record() {
        KdfLimits::UNLIMITED.check(&params(1 << 24, 255, 255)).unwrap();
    }

    #[test]
    fn raw_keys_are_not_limited() {
        let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        let zero = KdfLimits {
            max_memory_kib: 0,
            max_iterations: 0,
            max_parallelism: 0,
        };
        let key = Key::Raw(MasterKey::from_bytes([7; 32]));
        assert!(derive_master_key_limited(&key, &salt, &zero).is_ok());
    }
}
