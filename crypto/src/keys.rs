//! The key hierarchy: HKDF-SHA256 from the master key, one `info` label per purpose.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Error;
use crate::kdf::DatabaseSalt;
use crate::secret::{KEY_LEN, MasterKey};

/// What a derived key is for. Each purpose has its own HKDF `info` label, so no key
/// ever serves two purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyPurpose {
    /// The AES-256-GCM key for pages sealed in key epoch `epoch` (see the crate docs).
    PageKey {
        /// The 32-bit epoch stored in each page trailer.
        epoch: u32,
    },
    /// The AES-256 key of the keyed function behind seal-context tags (where a page image
    /// was written: which WAL generation and frame, which journal record). Its `info` is
    /// the 23-byte label `sqlvault/v2/context-key` padded with one zero byte to 24.
    ContextKey,
}

impl KeyPurpose {
    fn info(self) -> [u8; 24] {
        let mut info = [0u8; 24];
        match self {
            KeyPurpose::PageKey { epoch } => {
                info[..20].copy_from_slice(b"sqlvault/v2/page-key");
                info[20..].copy_from_slice(&epoch.to_be_bytes());
            }
            KeyPurpose::ContextKey => {
                info[..23].copy_from_slice(b"sqlvault/v2/context-key");
            }
        }
        info
    }
}

/// Derives the working key for `purpose`: HKDF-SHA256 with the database salt as HKDF
/// salt and the master key as input keying material (see [`hkdf_sha256`]).
pub fn derive_key(master: &MasterKey, salt: &DatabaseSalt, purpose: KeyPurpose) -> Zeroizing<[u8; KEY_LEN]> {
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte limit.
    if hkdf_sha256(salt.as_bytes(), master.expose(), &purpose.info(), okm.as_mut()).is_err() {
        unreachable!("32-byte HKDF output is always within limits");
    }
    okm
}

/// Longest output HKDF-SHA256 can produce: 255 blocks of 32 bytes (RFC 5869 §2.3).
pub const HKDF_SHA256_MAX_OUTPUT: usize = 255 * 32;

/// HKDF-SHA256 (RFC 5869): extract with `salt` and `ikm`, then expand with `info` into
/// all of `out`. The primitive under [`derive_key`], public so the known-answer tests
/// can check it against the RFC's vectors with their own `info` and lengths.
///
/// An empty `salt` acts as 32 zero bytes, as RFC 5869 §2.2 specifies.
///
/// # Errors
/// [`Error::InvalidOutputLength`] if `out` is longer than [`HKDF_SHA256_MAX_OUTPUT`];
/// `out` is then left untouched.
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), Error> {
    if out.len() > HKDF_SHA256_MAX_OUTPUT {
        return Err(Error::InvalidOutputLength(out.len()));
    }
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    hk.expand(info, out)
        .map_err(|_| Error::InvalidOutputLength(out.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::KdfKind;

    #[test]
    fn purposes_and_epochs_give_distinct_keys() {
        let master = MasterKey::from_bytes([7; 32]);
        let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        let a = derive_key(&master, &salt, KeyPurpose::PageKey { epoch: 1 });
        let b = derive_key(&master, &salt, KeyPurpose::PageKey { epoch: 2 });
        let other = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        let c = derive_key(&master, &other, KeyPurpose::PageKey { epoch: 1 });
        assert_ne!(*a, *b);
        assert_ne!(*a, *c);
        assert_eq!(*a, *derive_key(&master, &salt, KeyPurpose::PageKey { epoch: 1 }));
        assert_ne!(*a, *derive_key(&master, &salt, KeyPurpose::ContextKey));
    }

    #[test]
    fn hkdf_rejects_overlong_output() {
        let mut max = vec![0u8; HKDF_SHA256_MAX_OUTPUT];
        hkdf_sha256(b"salt", b"ikm", b"info", &mut max).unwrap();
        assert!(max.iter().any(|&b| b != 0));
        let mut over = vec![0u8; HKDF_SHA256_MAX_OUTPUT + 1];
        assert_eq!(
            hkdf_sha256(b"salt", b"ikm", b"info", &mut over),
            Err(Error::InvalidOutputLength(HKDF_SHA256_MAX_OUTPUT + 1))
        );
        assert!(over.iter().all(|&b| b == 0));
    }
}
