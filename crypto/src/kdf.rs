//! Passphrase stretching (Argon2id) and the database salt that records how it was done.

use argon2::{Algorithm, Argon2, AssociatedData, ParamsBuilder, Version};
use zeroize::Zeroizing;

use crate::Error;
use crate::secret::{KEY_LEN, Key, MasterKey};

/// Length of the database salt stored in bytes 0..16 of the database file.
pub const SALT_LEN: usize = 16;

/// The sqlvault file-format version written into every new salt.
///
/// Version 1 (the first release) bound WAL frames to their position only and kept SQLite's
/// plaintext checksums on disk; it is refused (see docs/format.md).
pub const FORMAT_VERSION: u8 = 2;

/// Bytes 0..8 of the salt: the Argon2id salt proper, shared by a database and its copies.
const KDF_RANDOM: std::ops::Range<usize> = 0..8;

/// Bytes 8..12 of the salt: random per database file, so that every copy has its own
/// identity even when it keeps its parent's Argon2id salt.
const FILE_RANDOM: std::ops::Range<usize> = 8..12;

/// Argon2id cost parameters.
///
/// The default is the second recommended option of RFC 9106 §4: 64 MiB of memory,
/// 3 passes, 4 lanes — roughly a quarter to half a second on a current core. Tests may
/// lower it (the minimum is 8 KiB per lane); high-value data may raise it.
///
/// The parameters are stored in the database salt, so a database always opens with the
/// cost it was created with. To fit there, `memory_kib` must be a power of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB: a power of two from `8 * parallelism` up to 2^24 (16 GiB).
    pub memory_kib: u32,
    /// Passes over memory, 1..=255.
    pub iterations: u32,
    /// Lanes, 1..=255.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 4,
        }
    }
}

impl Argon2Params {
    /// Cheap parameters for tests and examples: 64 KiB, one pass, one lane. Never use them for real data.
    pub const INSECURE_FOR_TESTS: Argon2Params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// Checks the parameters against the ranges above.
    ///
    /// # Errors
    /// [`Error::InvalidKdfParams`] naming the parameter out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=255).contains(&self.parallelism) {
            return Err(Error::InvalidKdfParams("parallelism must be 1..=255"));
        }
        if !(1..=255).contains(&self.iterations) {
            return Err(Error::InvalidKdfParams("iterations must be 1..=255"));
        }
        if !self.memory_kib.is_power_of_two() || self.memory_kib > 1 << 24 {
            return Err(Error::InvalidKdfParams(
                "memory_kib must be a power of two up to 2^24",
            ));
        }
        if self.memory_kib < 8 * self.parallelism {
            return Err(Error::InvalidKdfParams(
                "memory_kib must be at least 8 * parallelism",
            ));
        }
        Ok(())
    }
}

/// How the master key of a database is obtained, as recorded in its salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfKind {
    /// The master key is a raw 32-byte key supplied by the user.
    RawKey,
    /// The master key is Argon2id(passphrase, salt) with these parameters.
    Argon2id(Argon2Params),
}

/// The 16 bytes that replace `"SQLite format 3\0"` at the start of a sqlvault database.
///
/// Layout (all bytes stored in the clear and authenticated as part of page 1):
///
/// | bytes | meaning |
/// |---|---|
/// | 0..8 | random: the Argon2id salt, kept by copies made under the same key |
/// | 8..12 | random, fresh for every database file (copies included) |
/// | 12 | format version ([`FORMAT_VERSION`]) |
/// | 13 | 0 for a raw-key database, else log2 of Argon2id memory in KiB |
/// | 14 | Argon2id iterations (0 for raw key) |
/// | 15 | Argon2id parallelism (0 for raw key) |
///
/// The Argon2id salt is bytes 0..8 and 12..16 ([`DatabaseSalt::kdf_salt`]); all 16
/// bytes are the HKDF salt, that is the database identity every page key is derived
/// with. A copy made without the passphrase at hand ([`DatabaseSalt::fresh_copy`]: the
/// output of `VACUUM INTO`, a new attached file) keeps the Argon2id salt, so the same
/// passphrase opens it, but draws new bytes 8..12, so pages cannot move between the two.
/// New databases have 96 random bits of identity (raw-key copies too); passphrase copies of
/// one database differ in 32.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatabaseSalt([u8; SALT_LEN]);

impl std::fmt::Debug for DatabaseSalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not secret: it is stored in the clear at the start of the file.
        write!(f, "DatabaseSalt(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl DatabaseSalt {
    /// A fresh salt for a new database opened with `kdf`.
    ///
    /// # Errors
    /// [`Error::InvalidKdfParams`] for bad parameters, [`Error::Rng`] if randomness fails.
    pub fn generate(kdf: KdfKind) -> Result<Self, Error> {
        let mut bytes = [0u8; SALT_LEN];
        getrandom::fill(&mut bytes[..FILE_RANDOM.end]).map_err(|_| Error::Rng)?;
        bytes[12] = FORMAT_VERSION;
        match kdf {
            KdfKind::RawKey => {}
            KdfKind::Argon2id(p) => {
                p.validate()?;
                // Validated: a power of two up to 2^24, and counts up to 255.
                bytes[13] = p.memory_kib.trailing_zeros() as u8;
                bytes[14] = p.iterations as u8;
                bytes[15] = p.parallelism as u8;
            }
        }
        Ok(DatabaseSalt(bytes))
    }

    /// A fresh salt suited to `key`: raw keys record [`KdfKind::RawKey`], passphrases
    /// record `params`.
    ///
    /// # Errors
    /// As [`DatabaseSalt::generate`].
    pub fn generate_for(key: &Key, params: Argon2Params) -> Result<Self, Error> {
        match key {
            Key::Raw(_) => Self::generate(KdfKind::RawKey),
            Key::Passphrase(_) => Self::generate(KdfKind::Argon2id(params)),
        }
    }

    /// The salt for a new database file that takes this database's master key without
    /// re-running the KDF: the same Argon2id salt and parameters, a new identity. For a
    /// raw-key database, an entirely fresh salt.
    ///
    /// # Errors
    /// [`Error::Rng`] if randomness fails, [`Error::NotASqlvaultSalt`] for a salt whose KDF
    /// record is invalid.
    pub fn fresh_copy(&self) -> Result<Self, Error> {
        let kdf = self.kdf()?;
        if kdf == KdfKind::RawKey {
            return Self::generate(kdf);
        }
        let mut bytes = self.0;
        loop {
            getrandom::fill(&mut bytes[FILE_RANDOM]).map_err(|_| Error::Rng)?;
            if bytes[FILE_RANDOM] != self.0[FILE_RANDOM] {
                return Ok(DatabaseSalt(bytes));
            }
        }
    }

    /// Parses the first 16 bytes of a database file.
    ///
    /// # Errors
    /// [`Error::UnsupportedFormatVersion`] for a salt of an older sqlvault format;
    /// [`Error::NotASqlvaultSalt`] if the version or KDF code is not one this crate knows.
    pub fn parse(bytes: [u8; SALT_LEN]) -> Result<Self, Error> {
        let salt = DatabaseSalt(bytes);
        match bytes[12] {
            FORMAT_VERSION => salt.kdf().map(|_| salt),
            1 if salt.kdf().is_ok() => Err(Error::UnsupportedFormatVersion(1)),
            _ => Err(Error::NotASqlvaultSalt),
        }
    }

    /// The format version a salt-shaped header records, for reporting (`sqlvault info`):
    /// `Some(v)` if the bytes look like a sqlvault salt of version `v` (one this crate
    /// reads or an older one it refuses), `None` if they do not.
    pub fn version_of(bytes: &[u8; SALT_LEN]) -> Option<u8> {
        let salt = DatabaseSalt(*bytes);
        (matches!(bytes[12], 1..=FORMAT_VERSION) && salt.kdf().is_ok()).then_some(bytes[12])
    }

    /// The Argon2id salt: bytes 0..8 and 12..16 (the format version and KDF record are
    /// part of it, so a changed cost derives a different key).
    pub fn kdf_salt(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&self.0[KDF_RANDOM]);
        out[8..].copy_from_slice(&self.0[12..]);
        out
    }

    /// The KDF this salt records.
    ///
    /// # Errors
    /// [`Error::NotASqlvaultSalt`] if the recorded parameters are invalid.
    pub fn kdf(&self) -> Result<KdfKind, Error> {
        let [log_m, t, p] = [self.0[13], self.0[14], self.0[15]];
        if log_m == 0 && t == 0 && p == 0 {
            return Ok(KdfKind::RawKey);
        }
        if log_m > 24 {
            return Err(Error::NotASqlvaultSalt);
        }
        let params = Argon2Params {
            memory_kib: 1 << log_m,
            iterations: u32::from(t),
            parallelism: u32::from(p),
        };
        params.validate().map_err(|_| Error::NotASqlvaultSalt)?;
        Ok(KdfKind::Argon2id(params))
    }

    /// The raw 16 bytes as stored in the file.
    pub fn as_bytes(&self) -> &[u8; SALT_LEN] {
        &self.0
    }
}

/// Runs Argon2id (RFC 9106, version 0x13) with an arbitrary salt, producing 32 bytes.
///
/// This is the primitive under [`derive_master_key`]: [`argon2id_with_secret`] with an
/// empty secret and no associated data.
///
/// # Errors
/// [`Error::InvalidKdfParams`] for out-of-range parameters, [`Error::Kdf`] if Argon2 fails.
pub fn argon2id(passphrase: &[u8], salt: &[u8], params: Argon2Params) -> Result<MasterKey, Error> {
    argon2id_with_secret(passphrase, salt, &[], &[], params)
}

/// Argon2id (RFC 9106, version 0x13) with the two optional inputs of RFC 9106 §3.1: a
/// secret value `K` and associated data `X`, producing 32 bytes.
///
/// sqlvault itself passes both empty (see [`argon2id`]); an empty secret hashes exactly
/// like an absent one. The function is public so that the RFC 9106 §5.3 test vector,
/// which sets both, checks the very code path the crate derives master keys with.
///
/// # Errors
/// [`Error::InvalidKdfParams`] for out-of-range parameters or associated data longer
/// than 32 bytes (the limit of the `argon2` crate), [`Error::Kdf`] if Argon2 fails.
pub fn argon2id_with_secret(
    passphrase: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated_data: &[u8],
    params: Argon2Params,
) -> Result<MasterKey, Error> {
    let data = AssociatedData::new(associated_data)
        .map_err(|_| Error::InvalidKdfParams("associated data longer than 32 bytes"))?;
    let p = ParamsBuilder::new()
        .m_cost(params.memory_kib)
        .t_cost(params.iterations)
        .p_cost(params.parallelism)
        .output_len(KEY_LEN)
        .data(data)
        .build()
        .map_err(|_| Error::InvalidKdfParams("rejected by Argon2"))?;
    let argon =
        Argon2::new_with_secret(secret, Algorithm::Argon2id, Version::V0x13, p).map_err(|_| Error::Kdf)?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    argon
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|_| Error::Kdf)?;
    Ok(MasterKey::from_bytes(*out))
}

/// Turns what the user supplied into the database's master key.
///
/// A passphrase is stretched with Argon2id using the salt and the parameters the salt
/// records (slow by design: call it off any async runtime). A raw key is taken as is.
///
/// # Errors
/// [`Error::KeyKindMismatch`] if the key kind does not match the salt,
/// [`Error::NotASqlvaultSalt`] / [`Error::Kdf`] as for [`DatabaseSalt::kdf`] and [`argon2id`].
pub fn derive_master_key(key: &Key, salt: &DatabaseSalt) -> Result<MasterKey, Error> {
    match (key, salt.kdf()?) {
        (Key::Raw(k), KdfKind::RawKey) => Ok(k.clone()),
        (Key::Passphrase(p), KdfKind::Argon2id(params)) => argon2id(p.expose(), &salt.kdf_salt(), params),
        (Key::Raw(_), KdfKind::Argon2id(_)) => Err(Error::KeyKindMismatch {
            database_expects_passphrase: true,
        }),
        (Key::Passphrase(_), KdfKind::RawKey) => Err(Error::KeyKindMismatch {
            database_expects_passphrase: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_round_trips_its_kdf() {
        let params = Argon2Params {
            memory_kib: 1 << 10,
            iterations: 2,
            parallelism: 3,
        };
        let salt = DatabaseSalt::generate(KdfKind::Argon2id(params)).unwrap();
        let parsed = DatabaseSalt::parse(*salt.as_bytes()).unwrap();
        assert_eq!(parsed.kdf().unwrap(), KdfKind::Argon2id(params));
        let raw = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        assert_eq!(
            DatabaseSalt::parse(*raw.as_bytes()).unwrap().kdf().unwrap(),
            KdfKind::RawKey
        );
        assert_ne!(raw.as_bytes()[..12], salt.as_bytes()[..12]);
    }

    #[test]
    fn copies_keep_the_kdf_salt_and_get_a_new_identity() {
        let salt = DatabaseSalt::generate(KdfKind::Argon2id(Argon2Params::INSECURE_FOR_TESTS)).unwrap();
        let copy = salt.fresh_copy().unwrap();
        assert_eq!(copy.kdf_salt(), salt.kdf_salt());
        assert_ne!(copy, salt);
        let key = Key::Passphrase("pw".into());
        assert_eq!(
            derive_master_key(&key, &copy).unwrap().expose(),
            derive_master_key(&key, &salt).unwrap().expose()
        );
        let raw = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        assert_ne!(raw.fresh_copy().unwrap().as_bytes()[..12], raw.as_bytes()[..12]);
    }

    #[test]
    fn version_1_salts_are_refused_by_name() {
        let mut bytes = *DatabaseSalt::generate(KdfKind::RawKey).unwrap().as_bytes();
        bytes[12] = 1;
        assert_eq!(
            DatabaseSalt::parse(bytes).unwrap_err(),
            Error::UnsupportedFormatVersion(1)
        );
        assert_eq!(DatabaseSalt::version_of(&bytes), Some(1));
        bytes[12] = 9;
        assert_eq!(DatabaseSalt::parse(bytes).unwrap_err(), Error::NotASqlvaultSalt);
        assert_eq!(DatabaseSalt::version_of(&bytes), None);
    }

    #[test]
    fn plaintext_sqlite_header_is_not_a_salt() {
        assert_eq!(
            DatabaseSalt::parse(*b"SQLite format 3\0").unwrap_err(),
            Error::NotASqlvaultSalt
        );
    }

    #[test]
    fn bad_params_are_rejected() {
        for bad in [
            Argon2Params {
                memory_kib: 1000,
                iterations: 1,
                parallelism: 1,
            },
            Argon2Params {
                memory_kib: 8,
                iterations: 1,
                parallelism: 2,
            },
            Argon2Params {
                memory_kib: 64,
                iterations: 0,
                parallelism: 1,
            },
            Argon2Params {
                memory_kib: 64,
                iterations: 1,
                parallelism: 0,
            },
            Argon2Params {
                memory_kib: 1 << 25,
                iterations: 1,
                parallelism: 1,
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::InvalidKdfParams(_))),
                "{bad:?}"
            );
        }
        Argon2Params::default().validate().unwrap();
    }

    #[test]
    fn key_kind_must_match_salt() {
        let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        let err = derive_master_key(&Key::Passphrase("x".into()), &salt).unwrap_err();
        assert_eq!(
            err,
            Error::KeyKindMismatch {
                database_expects_passphrase: false
            }
        );
    }
}
