//! A native reader for SQLCipher 2, 3 and 4 databases, for `sqlvault import`.
//!
//! No SQLCipher library is involved at run time: the format is SQLite's, page for page, with
//! each page encrypted and authenticated by SQLCipher's published scheme, which this module
//! re-implements with RustCrypto's PBKDF2, HMAC and AES-CBC. The plaintext never touches the
//! disk: [`SqlcipherReader::decrypt_image`] returns the whole database in memory (zeroized
//! on drop), ready for `sqlite3_deserialize`.
//!
//! ```no_run
//! use sqlvault::sqlcipher::{SqlcipherKey, SqlcipherParams, SqlcipherReader, SqlcipherSource};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SqlcipherKey::parse("correct horse battery staple");
//! // Try SQLCipher 4, then 3, then 2 defaults (any page size)...
//! let reader = SqlcipherReader::detect(SqlcipherSource::open_path("old.db")?, &key)?;
//! // ...or say exactly how the database was made.
//! let params = SqlcipherParams::v4().with_kdf_iter(64_000).with_page_size(8192);
//! let reader2 = SqlcipherReader::open(SqlcipherSource::open_path("other.db")?, &key, params)?;
//! for page in reader.pages() {
//!     let (pgno, plaintext) = page?;
//!     assert_eq!(plaintext.len(), reader.page_size() as usize);
//! }
//! # drop(reader2);
//! # Ok(())
//! # }
//! ```
//!
//! # The format
//!
//! Sources: SQLCipher's `src/sqlcipher.c` (4.x; functions `sqlcipher_page_cipher`,
//! `sqlcipher_page_hmac`, `sqlcipher_cipher_ctx_key_derive`, the `CODEC_READ_OP` case of the
//! codec; constants `FILE_HEADER_SZ` = 16, `HMAC_SALT_MASK` = 0x3a, `FAST_PBKDF2_ITER` = 2),
//! the `cipher_compatibility` table of SQLCipher's API documentation, and SQLite's file format
//! document (<https://www.sqlite.org/fileformat2.html>). Checked against files written by
//! SQLCipher 4 (rusqlite's bundled SQLCipher) and SQLCipher 3.4.1 (Debian's `sqlcipher`):
//! see `tests/fixtures/sqlcipher/` and `tests/sqlcipher_reader.rs`.
//!
//! - The first 16 bytes of the file are the random KDF salt (where SQLite has
//!   "SQLite format 3\0").
//! - Encryption key = PBKDF2-HMAC-`kdf_algorithm`(passphrase, salt, `kdf_iter`), 32 bytes; or
//!   the raw key given as `x'…'` (64 hex digits; 96 also carry the salt, 160 the HMAC key and
//!   the salt). HMAC key = PBKDF2-HMAC-`kdf_algorithm`(encryption key, salt XOR 0x3a per byte,
//!   `fast_kdf_iter` = 2), 32 bytes.
//! - Each page of `page_size` bytes ends in a reserve of `IV (16) + HMAC` rounded up to 16
//!   bytes (80 for SHA-512, 48 for SHA-1); SQLite is told about it in header byte 20.
//! - The page body before the reserve is AES-256-CBC ciphertext under the IV at the start of
//!   the reserve; page 1's body skips the first 16 bytes (the salt).
//! - After the IV comes HMAC-`hmac_algorithm`(HMAC key, body ‖ IV ‖ page number as 4 bytes
//!   little-endian); the rest of the reserve is random. The page number in the HMAC stops
//!   pages from being moved or swapped. Nothing binds a page to a *version* of the database:
//!   an old copy of a page, or an older WAL frame with its checksums recomputed, still
//!   authenticates. That is a property of SQLCipher's format that no reader can fix.
//! - WAL files keep SQLite's format; frame pages are encrypted like database pages of the same
//!   number, and SQLite's frame checksums cover the encrypted bytes. The WAL and frame headers
//!   (salts, checksums, commit sizes) are not authenticated by SQLCipher: someone who can write
//!   the WAL can drop or reorder whole committed transactions, but not forge page contents.
//!   The importer's `PRAGMA integrity_check` on the result catches most such inconsistencies.
//!
//! | defaults | KDF | `kdf_iter` | HMAC | page size | reserve |
//! |---|---|---|---|---|---|
//! | [`SqlcipherParams::v4`] | PBKDF2-HMAC-SHA512 | 256,000 | HMAC-SHA512 | 4096 | 80 |
//! | [`SqlcipherParams::v3`] | PBKDF2-HMAC-SHA1 | 64,000 | HMAC-SHA1 | 1024 | 48 |
//! | [`SqlcipherParams::v2`] | PBKDF2-HMAC-SHA1 | 4,000 | HMAC-SHA1 | 1024 | 48 |
//!
//! SQLCipher 1 (no HMAC) is refused, as are databases with `cipher_plaintext_header_size`
//! set (their page 1 fails authentication: not supported).
//!
//! # WAL
//!
//! With a `-wal` file present ([`SqlcipherSource::open_path`] picks it up), the reader applies
//! the frames of committed transactions exactly as SQLite's WAL recovery would: frames are
//! read in order until the first whose salts or cumulative checksum do not match; frames after
//! the last commit frame are ignored; the last commit frame gives the database size. A WAL
//! whose header is invalid is treated as empty, as SQLite does. No checkpoint is needed first,
//! and nothing is written (no `-shm`). [`SqlcipherReader::wal_summary`] reports what was
//! applied and ignored.
//!
//! # Authentication
//!
//! No page is decrypted before its HMAC verifies (constant-time comparison). Page 1 failing
//! under every setting tried is [`Error::WrongKeyOrNotSqlcipher`]; another page failing is
//! [`Error::TamperedPage`] (or [`Error::TamperedWalFrame`]). Unlike SQLCipher with
//! `auto_vacuum`, an all-zero page is not accepted as empty: it is reported as tampered (SQLite
//! only ever produces one by reading past the end of the file, which this reader never does).
//! The one exception is SQLite's lock-byte page (the page at offset 2^30 in databases over
//! 1 GiB), which SQLite never writes and which is returned as zeros.
#![forbid(unsafe_code)]

mod error;
mod key;
mod page;
mod params;
mod reader;
mod source;
mod wal;

pub use error::Error;
pub use key::{KEY_LEN, SALT_LEN, SqlcipherKey};
pub use params::{HashAlgorithm, SqlcipherParams};
pub use reader::SqlcipherReader;
pub use source::SqlcipherSource;
pub use wal::WalSummary;
