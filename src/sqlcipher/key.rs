//! The key a SQLCipher database was opened with, and the two keys SQLCipher derives from it.

use std::fmt;

use hmac::EagerHash;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{Error, HashAlgorithm, SqlcipherParams};

/// Length of SQLCipher's AES-256 key and of its HMAC key.
pub const KEY_LEN: usize = 32;
/// Length of the KDF salt stored in the first 16 bytes of a SQLCipher database file.
pub const SALT_LEN: usize = 16;
/// SQLCipher XORs each salt byte with this mask to make the HMAC key's salt
/// (`HMAC_SALT_MASK` in SQLCipher's `src/sqlcipher.c`).
const HMAC_SALT_MASK: u8 = 0x3a;

/// What a SQLCipher database is keyed with, as `PRAGMA key` takes it: a passphrase, or a raw
/// key written `x'…'`.
///
/// Holds secrets: zeroized on drop, and `Debug` prints no key material.
///
/// ```
/// use sqlvault::sqlcipher::SqlcipherKey;
///
/// assert!(!SqlcipherKey::parse("correct horse battery staple").is_raw());
/// let raw = format!("x'{}'", "2f".repeat(32));
/// assert!(SqlcipherKey::parse(&raw).is_raw());
/// assert_eq!(format!("{:?}", SqlcipherKey::parse(&raw)), "SqlcipherKey::Raw(<redacted>)");
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SqlcipherKey(KeyMaterial);

#[derive(Clone, Zeroize)]
enum KeyMaterial {
    /// Stretched with PBKDF2 and the file's salt.
    Passphrase(Vec<u8>),
    /// Used as the AES key directly; the HMAC key is still derived unless given.
    Raw {
        key: [u8; KEY_LEN],
        hmac_key: Option<[u8; KEY_LEN]>,
        salt: Option<[u8; SALT_LEN]>,
    },
}

impl SqlcipherKey {
    /// A passphrase, taken byte for byte (SQLCipher hashes exactly the bytes it is given).
    pub fn passphrase(bytes: impl Into<Vec<u8>>) -> Self {
        SqlcipherKey(KeyMaterial::Passphrase(bytes.into()))
    }

    /// A raw 256-bit AES key (SQLCipher's `x'` + 64 hex digits + `'`).
    pub fn raw(key: [u8; KEY_LEN]) -> Self {
        SqlcipherKey(KeyMaterial::Raw {
            key,
            hmac_key: None,
            salt: None,
        })
    }

    /// A raw key together with the database salt (SQLCipher's 96-hex-digit form), for
    /// databases whose first 16 bytes do not hold the salt.
    pub fn raw_with_salt(key: [u8; KEY_LEN], salt: [u8; SALT_LEN]) -> Self {
        SqlcipherKey(KeyMaterial::Raw {
            key,
            hmac_key: None,
            salt: Some(salt),
        })
    }

    /// Reads a key as SQLCipher's `PRAGMA key` does (`sqlcipher_cipher_ctx_key_derive` in
    /// SQLCipher's `src/sqlcipher.c`): `x'…'` holding 64 hex digits is a raw key, 96 a raw key
    /// followed by the salt, 160 a raw key, the HMAC key and the salt; anything else, including
    /// malformed `x'…'` strings, is a passphrase.
    pub fn parse(value: &str) -> Self {
        let hex = value
            .strip_prefix("x'")
            .or_else(|| value.strip_prefix("X'"))
            .and_then(|v| v.strip_suffix('\''))
            .filter(|h| h.len() % 2 == 0 && h.bytes().all(|c| c.is_ascii_hexdigit()));
        let Some(hex) = hex else {
            return Self::passphrase(value);
        };
        let bytes = Zeroizing::new(decode_hex(hex));
        let key = |i: usize| -> [u8; KEY_LEN] {
            let mut k = [0u8; KEY_LEN];
            k.copy_from_slice(&bytes[i..i + KEY_LEN]);
            k
        };
        let salt = |i: usize| -> [u8; SALT_LEN] {
            let mut s = [0u8; SALT_LEN];
            s.copy_from_slice(&bytes[i..i + SALT_LEN]);
            s
        };
        match bytes.len() {
            KEY_LEN => Self::raw(key(0)),
            n if n == KEY_LEN + SALT_LEN => Self::raw_with_salt(key(0), salt(KEY_LEN)),
            n if n == 2 * KEY_LEN + SALT_LEN => SqlcipherKey(KeyMaterial::Raw {
                key: key(0),
                hmac_key: Some(key(KEY_LEN)),
                salt: Some(salt(2 * KEY_LEN)),
            }),
            _ => Self::passphrase(value),
        }
    }

    /// Whether this is a raw key (no PBKDF2 over a passphrase is needed).
    pub fn is_raw(&self) -> bool {
        matches!(self.0, KeyMaterial::Raw { .. })
    }

    /// The salt carried by a raw key, if it has one.
    pub(crate) fn salt(&self) -> Option<[u8; SALT_LEN]> {
        match &self.0 {
            KeyMaterial::Raw { salt, .. } => *salt,
            KeyMaterial::Passphrase(_) => None,
        }
    }

    /// Derives the encryption and HMAC keys the way SQLCipher does
    /// (`sqlcipher_cipher_ctx_key_derive`): the encryption key is
    /// PBKDF2(passphrase, salt, `kdf_iter`) or the raw key; the HMAC key is
    /// PBKDF2(encryption key, salt XOR 0x3a, `fast_kdf_iter`), both with `kdf_algorithm`.
    pub(crate) fn derive(
        &self,
        file_salt: &[u8; SALT_LEN],
        params: &SqlcipherParams,
    ) -> Result<DerivedKeys, Error> {
        let salt = self.salt().unwrap_or(*file_salt);
        let mut keys = DerivedKeys {
            enc: [0; KEY_LEN],
            hmac: [0; KEY_LEN],
        };
        match &self.0 {
            KeyMaterial::Passphrase(p) => {
                if p.is_empty() {
                    return Err(Error::BadParameters(
                        "empty passphrase (SQLCipher leaves such databases unencrypted)",
                    ));
                }
                pbkdf2(params.kdf_algorithm, p, &salt, params.kdf_iter, &mut keys.enc);
            }
            KeyMaterial::Raw { key, .. } => keys.enc = *key,
        }
        match &self.0 {
            KeyMaterial::Raw {
                hmac_key: Some(h), ..
            } => keys.hmac = *h,
            _ => {
                let mut hmac_salt = salt;
                for b in &mut hmac_salt {
                    *b ^= HMAC_SALT_MASK;
                }
                pbkdf2(
                    params.kdf_algorithm,
                    &keys.enc,
                    &hmac_salt,
                    params.fast_kdf_iter,
                    &mut keys.hmac,
                );
            }
        }
        Ok(keys)
    }
}

impl fmt::Debug for SqlcipherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            KeyMaterial::Passphrase(_) => f.write_str("SqlcipherKey::Passphrase(<redacted>)"),
            KeyMaterial::Raw { .. } => f.write_str("SqlcipherKey::Raw(<redacted>)"),
        }
    }
}

/// Decodes hex digits already checked by the caller (`is_ascii_hexdigit`, even length).
fn decode_hex(hex: &str) -> Vec<u8> {
    fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => (c | 0x20).wrapping_sub(b'a').wrapping_add(10),
        }
    }
    hex.as_bytes()
        .chunks_exact(2)
        .map(|p| (digit(p[0]) << 4) | digit(p[1]))
        .collect()
}

fn pbkdf2(alg: HashAlgorithm, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    fn run<D: EagerHash>(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        pbkdf2::pbkdf2_hmac::<D>(password, salt, rounds, out);
    }
    match alg {
        HashAlgorithm::Sha1 => run::<sha1::Sha1>(password, salt, rounds, out),
        HashAlgorithm::Sha256 => run::<sha2::Sha256>(password, salt, rounds, out),
        HashAlgorithm::Sha512 => run::<sha2::Sha512>(password, salt, rounds, out),
    }
}

/// SQLCipher's working keys for one database: the AES-256 key and the HMAC key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct DerivedKeys {
    pub(crate) enc: [u8; KEY_LEN],
    pub(crate) hmac: [u8; KEY_LEN],
}

impl fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKeys(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_follows_pragma_key_rules() {
        let k = SqlcipherKey::parse(&format!("x'{}'", "0A".repeat(32)));
        assert!(matches!(k.0, KeyMaterial::Raw { key, hmac_key: None, salt: None } if key == [0x0a; 32]));

        let with_salt = format!("x'{}{}'", "11".repeat(32), "22".repeat(16));
        let k = SqlcipherKey::parse(&with_salt);
        assert!(matches!(k.0, KeyMaterial::Raw { key, salt: Some(s), .. }
            if key == [0x11; 32] && s == [0x22; 16]));

        let full = format!("X'{}{}{}'", "11".repeat(32), "33".repeat(32), "22".repeat(16));
        let k = SqlcipherKey::parse(&full);
        assert!(
            matches!(k.0, KeyMaterial::Raw { hmac_key: Some(h), salt: Some(_), .. }
            if h == [0x33; 32])
        );

        for passphrase in ["x'0a'", "x'zz'", "x'0a0", "secret", ""] {
            assert!(!SqlcipherKey::parse(passphrase).is_raw(), "{passphrase}");
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let shown = format!(
            "{:?} {:?}",
            SqlcipherKey::passphrase("hunter2-secret"),
            SqlcipherKey::raw([0xab; 32])
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.to_lowercase().contains("ab,"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        let keys = DerivedKeys {
            enc: [0xcd; 32],
            hmac: [0xcd; 32],
        };
        assert_eq!(format!("{keys:?}"), "DerivedKeys(<redacted>)");
    }

    #[test]
    fn pbkdf2_matches_rfc6070_sha1_vector() {
        // RFC 6070, test case 2: P = "password", S = "salt", c = 2, dkLen = 20.
        let mut out = [0u8; 20];
        pbkdf2(HashAlgorithm::Sha1, b"password", b"salt", 2, &mut out);
        assert_eq!(
            out,
            [
                0xea, 0x6c, 0x01, 0x4d, 0xc7, 0x2d, 0x6f, 0x8c, 0xcd, 0x1e, 0xd9, 0x2a, 0xce, 0x1d, 0x41,
                0xf0, 0xd8, 0xde, 0x89, 0x57
            ]
        );
    }

    #[test]
    fn hmac_key_uses_masked_salt_and_raw_key_skips_pbkdf2() {
        let salt = [7u8; SALT_LEN];
        let params = SqlcipherParams::v4();
        let keys = SqlcipherKey::raw([1; KEY_LEN]).derive(&salt, &params).unwrap();
        assert_eq!(keys.enc, [1; KEY_LEN]);
        let mut expect = [0u8; KEY_LEN];
        pbkdf2(
            HashAlgorithm::Sha512,
            &[1; KEY_LEN],
            &[7 ^ 0x3a; SALT_LEN],
            2,
            &mut expect,
        );
        assert_eq!(keys.hmac, expect);
        assert!(matches!(
            SqlcipherKey::passphrase("").derive(&salt, &params),
            Err(Error::BadParameters(_))
        ));
    }
}
