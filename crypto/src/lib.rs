//! Cryptography for sqlvault: AES-256-GCM page sealing, the Argon2id/HKDF key hierarchy
//! and zeroized secrets. Pure functions and small types: no I/O, no SQLite.
//!
//! # Example
//!
//! ```
//! use sqlvault_crypto::{
//!     Argon2Params, DatabaseSalt, Key, PageCipher, PagePosition, derive_master_key, TRAILER_LEN,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A new database: a fresh salt that records the KDF, then the master key.
//! let key = Key::Passphrase("correct horse battery staple".into());
//! let params = Argon2Params::INSECURE_FOR_TESTS; // use Argon2Params::default() for real data
//! let salt = DatabaseSalt::generate_for(&key, params)?;
//! let master = derive_master_key(&key, &salt)?;
//!
//! // Seal page 7 of a 4 KiB-page database; the last TRAILER_LEN bytes are reserved.
//! let mut cipher = PageCipher::new(&master, salt);
//! let mut page = vec![0u8; 4096];
//! page[..5].copy_from_slice(b"hello");
//! cipher.seal(&mut page, PagePosition::Database { pgno: 7 })?;
//! assert_ne!(&page[..5], b"hello");
//!
//! // It opens at page 7 only.
//! let mut moved = page.clone();
//! assert!(cipher.open(&mut moved, PagePosition::Database { pgno: 8 }).is_err());
//! cipher.open(&mut page, PagePosition::Database { pgno: 7 })?;
//! assert_eq!(&page[..5], b"hello");
//! assert!(page[4096 - TRAILER_LEN..].iter().all(|&b| b == 0));
//! # Ok(())
//! # }
//! ```
//!
//! # Key hierarchy
//!
//! - The **master key** is a raw 32-byte key, or Argon2id(passphrase, salt) with the
//!   parameters recorded in the [`DatabaseSalt`] (default: RFC 9106's second recommended
//!   set, 64 MiB / 3 passes / 4 lanes). The master key encrypts nothing itself.
//! - **Working keys** come from HKDF-SHA256 with the database salt as HKDF salt and an
//!   `info` label per [`KeyPurpose`]; page keys are per *key epoch*.
//! - Temp files get a fresh random master key each ([`MasterKey::random`]).
//!
//! # Page format
//!
//! Every page ends in a [`TRAILER_LEN`] = 32-byte trailer stored in SQLite's reserved
//! bytes: `epoch (4, big-endian) ‖ nonce (12) ‖ GCM tag (16)`. The associated data binds
//! the page to the format version, the file kind and its [`PagePosition`], so a page
//! moved or swapped does not authenticate. The database identity (its salt) is bound
//! through the keys: every page key is HKDF-derived with the salt, so a page transplanted
//! from another database under the same master key does not authenticate either. Keeping
//! the salt out of the associated data keeps it within one 16-byte GHASH block, which is
//! what holds sealing within a few percent of the bare AEAD call.
//! Page 1 of a database keeps bytes 0..24 readable (salt, then page size and the other
//! header fields SQLite needs first) and authenticates them.
//!
//! # Nonce bound
//!
//! A [`PageCipher`] draws a random 32-bit epoch `e` and a random 96-bit starting nonce
//! `n₀` when it first seals; its key is `HKDF(master, "sqlvault/v1/page-key" ‖ e)` and its
//! i-th seal uses nonce `n₀ + i mod 2^96`. A new epoch is drawn after 2^31 seals.
//!
//! A (key, nonce) pair can repeat only between two *different* epochs that drew the same
//! 32-bit epoch value (probability 2^-32 per pair of epochs) and whose nonce ranges
//! overlap (for ranges of lengths `q_a`, `q_b` starting uniformly at random, probability
//! at most `(q_a + q_b) / 2^96`). Summing over the `S` epochs ever used with
//! `Σ q = N` page writes:
//!
//! ```text
//! P[nonce reuse] ≤ Σ_{a<b} 2^-32 · (q_a + q_b) / 2^96 = (S − 1) · N / 2^128 ≤ N² / 2^128
//! ```
//!
//! For `N = 2^48` page writes under one master key that is at most `2^96 / 2^128 = 2^-32`,
//! however those writes are spread over sessions. (Random 96-bit nonces under a single
//! key would reach 2^-32 already at about 2^32 writes.)
//!
//! # Backends
//!
//! [`Backend::AwsLc`] (default feature `aws-lc`) and [`Backend::RustCrypto`] implement the
//! same AES-256-GCM and produce identical bytes; the tests and the `backend_diff` fuzz
//! target hold them to that.
#![forbid(unsafe_code)]

mod backend;
mod error;
mod kdf;
mod kdf_limits;
mod keys;
mod page_cipher;
mod secret;

pub use backend::{Backend, NONCE_LEN, TAG_LEN, aes256gcm_open, aes256gcm_seal, all_backends};
pub use error::{Error, OpenError};
pub use kdf::{
    Argon2Params, DatabaseSalt, FORMAT_VERSION, KdfKind, SALT_LEN, argon2id, argon2id_with_secret,
    derive_master_key,
};
pub use kdf_limits::{KdfLimits, KdfParameter, derive_master_key_limited};
pub use keys::{HKDF_SHA256_MAX_OUTPUT, KeyPurpose, derive_key, hkdf_sha256};
pub use page_cipher::{
    MAX_PAGE_SIZE, MIN_PAGE_SIZE, PAGE1_CLEAR_LEN, PageCipher, PagePosition, SQLITE_MAGIC, TRAILER_LEN,
};
pub use secret::{KEY_LEN, Key, MasterKey, Passphrase};
