//! SQLCipher's cipher settings and the defaults of each major version.

use super::Error;

/// Length of the AES-CBC initialisation vector stored in each page's reserve.
pub(crate) const IV_LEN: usize = 16;
/// AES block size; SQLCipher rounds the reserve up to a multiple of it.
const BLOCK_LEN: usize = 16;

/// A hash function SQLCipher can use for its PBKDF2 key derivation and its page HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1 (SQLCipher 2 and 3).
    Sha1,
    /// SHA-256 (selectable in SQLCipher 4).
    Sha256,
    /// SHA-512 (SQLCipher 4's default).
    Sha512,
}

impl HashAlgorithm {
    /// Length in bytes of the hash output, and so of the HMAC tag stored per page.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha512 => 64,
        }
    }
}

/// How a SQLCipher database was encrypted: SQLCipher's `cipher_*` settings that change the
/// bytes on disk.
///
/// Start from a version's defaults ([`SqlcipherParams::v4`], [`SqlcipherParams::v3`],
/// [`SqlcipherParams::v2`], or [`SqlcipherParams::legacy`]) and override what the database
/// was created with (`PRAGMA cipher_page_size`, `kdf_iter`, `cipher_hmac_algorithm`, ...).
///
/// ```
/// use sqlvault::sqlcipher::SqlcipherParams;
///
/// // A SQLCipher 4 database made with `PRAGMA cipher_page_size = 8192; PRAGMA kdf_iter = 64000`.
/// let params = SqlcipherParams::v4().with_page_size(8192).with_kdf_iter(64_000);
/// assert_eq!(params.reserve(), 80);
/// assert!(params.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SqlcipherParams {
    /// PBKDF2 iterations that turn a passphrase into the encryption key (`kdf_iter`).
    pub kdf_iter: u32,
    /// PBKDF2 iterations that turn the encryption key into the HMAC key (`fast_kdf_iter`).
    pub fast_kdf_iter: u32,
    /// The PRF hash of both PBKDF2 runs (`cipher_kdf_algorithm`).
    pub kdf_algorithm: HashAlgorithm,
    /// The hash of the per-page HMAC (`cipher_hmac_algorithm`).
    pub hmac_algorithm: HashAlgorithm,
    /// Page size in bytes (`cipher_page_size`): a power of two from 512 to 65536.
    pub page_size: u32,
}

impl SqlcipherParams {
    /// SQLCipher 4 defaults: PBKDF2-HMAC-SHA512 with 256,000 iterations, HMAC-SHA512,
    /// 4096-byte pages (reserve 80).
    pub const fn v4() -> Self {
        SqlcipherParams {
            kdf_iter: 256_000,
            fast_kdf_iter: 2,
            kdf_algorithm: HashAlgorithm::Sha512,
            hmac_algorithm: HashAlgorithm::Sha512,
            page_size: 4096,
        }
    }

    /// SQLCipher 3 defaults: PBKDF2-HMAC-SHA1 with 64,000 iterations, HMAC-SHA1,
    /// 1024-byte pages (reserve 48).
    pub const fn v3() -> Self {
        SqlcipherParams {
            kdf_iter: 64_000,
            fast_kdf_iter: 2,
            kdf_algorithm: HashAlgorithm::Sha1,
            hmac_algorithm: HashAlgorithm::Sha1,
            page_size: 1024,
        }
    }

    /// SQLCipher 2 defaults: as version 3 but with 4,000 PBKDF2 iterations.
    pub const fn v2() -> Self {
        SqlcipherParams {
            kdf_iter: 4_000,
            ..Self::v3()
        }
    }

    /// The defaults of SQLCipher 4, 3 and 2, in the order an import tries them.
    pub fn all_versions() -> Vec<Self> {
        vec![Self::v4(), Self::v3(), Self::v2()]
    }

    /// The defaults of SQLCipher major version `version` (what `PRAGMA cipher_compatibility`
    /// or `cipher_migrate` call "legacy" settings).
    ///
    /// # Errors
    /// [`Error::BadParameters`] for version 1, whose pages carry no HMAC (a reader could not
    /// authenticate them), and for unknown versions.
    pub fn legacy(version: u8) -> Result<Self, Error> {
        match version {
            4 => Ok(Self::v4()),
            3 => Ok(Self::v3()),
            2 => Ok(Self::v2()),
            1 => Err(Error::BadParameters(
                "SQLCipher 1 databases have no per-page HMAC and cannot be authenticated",
            )),
            _ => Err(Error::BadParameters("unknown SQLCipher version (2, 3 or 4)")),
        }
    }

    /// The same settings with another PBKDF2 iteration count.
    pub const fn with_kdf_iter(mut self, kdf_iter: u32) -> Self {
        self.kdf_iter = kdf_iter;
        self
    }

    /// The same settings with another page size.
    pub const fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// The same settings with another HMAC hash.
    pub const fn with_hmac_algorithm(mut self, hmac_algorithm: HashAlgorithm) -> Self {
        self.hmac_algorithm = hmac_algorithm;
        self
    }

    /// The same settings with another PBKDF2 hash.
    pub const fn with_kdf_algorithm(mut self, kdf_algorithm: HashAlgorithm) -> Self {
        self.kdf_algorithm = kdf_algorithm;
        self
    }

    /// Bytes reserved at the end of every page: the IV and the HMAC tag, rounded up to a
    /// multiple of the AES block size (80 for SHA-512, 48 for SHA-1 and SHA-256). The rest of
    /// the reserve after the tag is random filler.
    pub const fn reserve(&self) -> usize {
        let raw = IV_LEN + self.hmac_algorithm.output_len();
        raw.div_ceil(BLOCK_LEN) * BLOCK_LEN
    }

    /// The SQLCipher major version whose defaults these are, page size aside (page size is
    /// detected separately), if any.
    pub fn compatibility(&self) -> Option<u8> {
        [4u8, 3, 2]
            .into_iter()
            .find(|&v| Self::legacy(v).is_ok_and(|d| d.with_page_size(self.page_size) == *self))
    }

    /// Checks that the settings describe a readable database.
    ///
    /// # Errors
    /// [`Error::BadParameters`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(512..=65536).contains(&self.page_size) || !self.page_size.is_power_of_two() {
            return Err(Error::BadParameters(
                "page size must be a power of two from 512 to 65536",
            ));
        }
        if self.kdf_iter == 0 {
            return Err(Error::BadParameters("kdf_iter must be at least 1"));
        }
        if self.fast_kdf_iter == 0 {
            return Err(Error::BadParameters("fast_kdf_iter must be at least 1"));
        }
        // SQLite needs at least 480 usable bytes per page (file format, header byte 20).
        if (self.page_size as usize) < self.reserve() + 480 {
            return Err(Error::BadParameters(
                "page size too small for the reserve the HMAC needs",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_matches_sqlcipher_defaults() {
        // SQLCipher's documented reserves: 80 bytes for v4 (IV 16 + SHA-512 64), 48 for v3
        // (IV 16 + SHA-1 20 = 36, rounded up to the AES block).
        assert_eq!(SqlcipherParams::v4().reserve(), 80);
        assert_eq!(SqlcipherParams::v3().reserve(), 48);
        assert_eq!(
            SqlcipherParams::v4()
                .with_hmac_algorithm(HashAlgorithm::Sha256)
                .reserve(),
            48
        );
    }

    #[test]
    fn legacy_versions_and_compatibility_round_trip() {
        for v in [2u8, 3, 4] {
            let p = SqlcipherParams::legacy(v).unwrap();
            assert_eq!(p.compatibility(), Some(v));
            assert_eq!(p.with_page_size(8192).compatibility(), Some(v));
        }
        assert_eq!(SqlcipherParams::v4().with_kdf_iter(10).compatibility(), None);
        assert!(matches!(SqlcipherParams::legacy(1), Err(Error::BadParameters(_))));
        assert!(matches!(SqlcipherParams::legacy(5), Err(Error::BadParameters(_))));
    }

    #[test]
    fn validate_rejects_out_of_range_settings() {
        assert!(SqlcipherParams::v4().validate().is_ok());
        for bad in [
            SqlcipherParams::v4().with_page_size(1000),
            SqlcipherParams::v4().with_page_size(256),
            SqlcipherParams::v4().with_page_size(131072),
            SqlcipherParams::v4().with_kdf_iter(0),
        ] {
            assert!(matches!(bad.validate(), Err(Error::BadParameters(_))), "{bad:?}");
        }
        assert!(SqlcipherParams::v4().with_page_size(512).validate().is_err());
        assert!(SqlcipherParams::v3().with_page_size(512).validate().is_err());
        assert!(
            SqlcipherParams::v3()
                .with_hmac_algorithm(HashAlgorithm::Sha1)
                .with_page_size(1024)
                .validate()
                .is_ok()
        );
    }
}
