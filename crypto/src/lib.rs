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
//! the page to the format version and its [`PagePosition`] (the page number), so a page
//! moved or swapped does not authenticate. Where the image was written — which WAL
//! generation and frame, with which commit size; which journal record under which journal
//! header — is bound into the first four nonce bytes as a keyed 32-bit tag of the
//! [`SealContext`], so that the very same sealed bytes stay a valid database page after a
//! checkpoint or a journal playback copies them (even one run by a SQLite without the key). The database identity (its salt) is bound
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
//! `n₀` when it first seals; its key is `HKDF(master, "sqlvault/v2/page-key" ‖ e)` and its
//! i-th seal uses nonce `n₀ + i mod 2^96` — with the first 32 bits replaced by the
//! context tag for a page sealed in a WAL frame or journal record. A new epoch is drawn
//! after 2^31 seals, and after a `fork()` ([`note_fork`]), so a child process never goes on
//! counting from its parent's nonces.
//!
//! Within one epoch no two seals share a nonce: the low 64 bits of `n₀ + i` differ for
//! the at most 2^31 values of `i`, whatever the first 32 bits hold.
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
//! Seals with a context tag keep only 64 counter bits, so for them the overlap term is
//! `(q_a + q_b) / 2^64` times the chance that the two tags agree: `2^-32` for different
//! contexts (a PRF of distinct inputs), 1 for the same context. The same context is
//! sealed again only for the same WAL generation and frame, or the same journal header and
//! record, so with `k` the largest number of seals one context receives from different
//! epochs the bound becomes
//!
//! ```text
//! P[nonce reuse] ≤ N² / 2^128 + N · k / 2^96
//! ```
//!
//! which stays at 2^-31 for `N = 2^48` as long as `k ≤ 2^16` (SQLite draws fresh random WAL
//! salts and journal nonces, so `k` is the number of times one frame is rewritten in place
//! within one transaction by connections that happened to draw the same epoch).
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
    MAX_PAGE_SIZE, MIN_PAGE_SIZE, PAGE1_CLEAR_LEN, PageCipher, PagePosition, SQLITE_MAGIC, SealContext,
    TRAILER_LEN, note_fork,
};
pub use secret::{KEY_LEN, Key, MasterKey, Passphrase};
