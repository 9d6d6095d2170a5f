//! One SQLCipher page: check its HMAC, then decrypt it.

use aes::Aes256;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::NoPadding};
use hmac::{EagerHash, Hmac, KeyInit, Mac};

use super::key::{DerivedKeys, SALT_LEN};
use super::params::IV_LEN;
use super::{HashAlgorithm, SqlcipherParams};

/// What SQLite expects in the first 16 bytes of page 1, where SQLCipher keeps the salt.
pub(crate) const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A page did not authenticate. Deliberately says nothing else; the reader names the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthFailed;

/// Checks and decrypts pages of one database under one set of keys and parameters.
#[derive(Debug)]
pub(crate) struct PageCodec {
    keys: DerivedKeys,
    hmac_algorithm: HashAlgorithm,
    page_size: usize,
    reserve: usize,
}

impl PageCodec {
    /// `params` must have passed [`SqlcipherParams::validate`].
    pub(crate) fn new(keys: DerivedKeys, params: &SqlcipherParams) -> Self {
        PageCodec {
            keys,
            hmac_algorithm: params.hmac_algorithm,
            page_size: params.page_size as usize,
            reserve: params.reserve(),
        }
    }

    /// Authenticates the encrypted page `input` as page `pgno` and decrypts it into `out`.
    ///
    /// Layout (SQLCipher's `sqlcipher_page_cipher` and `sqlcipher_page_hmac` in
    /// `src/sqlcipher.c`): the page body (page 1 without its first 16 bytes, the salt) up to
    /// the reserve is AES-256-CBC ciphertext; the reserve starts with the 16-byte IV, then the
    /// HMAC of `body ‖ IV ‖ pgno as 4 bytes little-endian`, then random filler.
    ///
    /// On success `out` holds the plaintext page: page 1 starts with "SQLite format 3\0" and the
    /// reserve is zero. On failure `out` is all zeros: no unauthenticated byte is decrypted.
    ///
    /// Both slices must be exactly one page long.
    pub(crate) fn open(&self, pgno: u32, input: &[u8], out: &mut [u8]) -> Result<(), AuthFailed> {
        out.fill(0);
        if input.len() != self.page_size || out.len() != self.page_size {
            return Err(AuthFailed);
        }
        let start = if pgno == 1 { SALT_LEN } else { 0 };
        let body_end = self.page_size - self.reserve;
        let tag_start = body_end + IV_LEN;
        let tag = &input[tag_start..tag_start + self.hmac_algorithm.output_len()];
        let authenticated = &input[start..tag_start]; // body ‖ IV
        if !self.verify(authenticated, &pgno.to_le_bytes(), tag) {
            return Err(AuthFailed);
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&input[body_end..tag_start]);
        let decryptor = cbc::Decryptor::<Aes256>::new(&self.keys.enc.into(), &iv.into());
        if decryptor
            .decrypt_padded_b2b::<NoPadding>(&input[start..body_end], &mut out[start..body_end])
            .is_err()
        {
            // Unreachable for validated parameters (the body is a whole number of blocks).
            out.fill(0);
            return Err(AuthFailed);
        }
        if pgno == 1 {
            out[..SALT_LEN].copy_from_slice(SQLITE_HEADER);
        }
        Ok(())
    }

    /// Constant-time check of `tag` against HMAC(key, data ‖ pgno).
    fn verify(&self, data: &[u8], pgno: &[u8; 4], tag: &[u8]) -> bool {
        fn run<D: EagerHash>(key: &[u8], data: &[u8], pgno: &[u8; 4], tag: &[u8]) -> bool {
            let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(key) else {
                return false;
            };
            mac.update(data);
            mac.update(pgno);
            mac.verify_slice(tag).is_ok()
        }
        let key = &self.keys.hmac;
        match self.hmac_algorithm {
            HashAlgorithm::Sha1 => run::<sha1::Sha1>(key, data, pgno, tag),
            HashAlgorithm::Sha256 => run::<sha2::Sha256>(key, data, pgno, tag),
            HashAlgorithm::Sha512 => run::<sha2::Sha512>(key, data, pgno, tag),
        }
    }
}
