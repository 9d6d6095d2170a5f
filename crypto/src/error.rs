use std::fmt;

/// Errors from building keys, salts and page ciphers, and from sealing pages.
///
/// Opening a page has its own opaque error, [`OpenError`]: the crypto layer never says
/// *why* a page did not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Argon2id parameters outside the supported range; the text says which one.
    InvalidKdfParams(&'static str),
    /// The 16 bytes at the start of the file are not a sqlvault database salt
    /// (unknown format version or KDF code).
    NotASqlvaultSalt,
    /// The file is a sqlvault database of an older format version that this version no
    /// longer reads (see docs/format.md); it was not opened, and nothing was written.
    UnsupportedFormatVersion(u8),
    /// The key given does not match how the database was created (a passphrase for a
    /// raw-key database, or the other way round).
    KeyKindMismatch {
        /// Whether the database expects a passphrase (`true`) or a raw key (`false`).
        database_expects_passphrase: bool,
    },
    /// A raw key was not 32 bytes, or its hex form was malformed.
    InvalidRawKey,
    /// A buffer handed to the page cipher is too small or too large for the position.
    InvalidPageLength(usize),
    /// Page 1 of a database declares fewer reserved bytes than the trailer needs.
    ReserveTooSmall {
        /// Reserved bytes per page declared in the database header (byte 20).
        reserve: u8,
    },
    /// The reserved tail of a page handed in for sealing is not zero: sealing would
    /// destroy bytes SQLite expects to read back.
    ReserveNotZero,
    /// Page 1 handed in for sealing does not start with SQLite's header string.
    NotADatabaseHeader,
    /// The operating system's random number generator failed.
    Rng,
    /// A key-derivation output length outside what the function can produce (HKDF-SHA256
    /// gives at most 8160 bytes).
    InvalidOutputLength(usize),
    /// Argon2id failed (it only fails for parameters that passed validation if memory is exhausted).
    Kdf,
    /// The database salt asks for more Argon2id cost than the caller's
    /// [`KdfLimits`](crate::KdfLimits) allow; the KDF was not run.
    KdfLimitExceeded {
        /// The parameter above its cap (the first one checked, memory first).
        parameter: crate::KdfParameter,
        /// What the salt asks for.
        requested: u32,
        /// The cap it exceeds.
        limit: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidKdfParams(why) => write!(f, "invalid Argon2id parameters: {why}"),
            Error::NotASqlvaultSalt => f.write_str("not a sqlvault database (unknown file salt format)"),
            Error::UnsupportedFormatVersion(v) => write!(
                f,
                "this is a sqlvault database of format version {v}, which this version does not read (it writes version {})",
                crate::FORMAT_VERSION
            ),
            Error::KeyKindMismatch {
                database_expects_passphrase: true,
            } => f.write_str("this database was created with a passphrase, not a raw key"),
            Error::KeyKindMismatch {
                database_expects_passphrase: false,
            } => f.write_str("this database was created with a raw key, not a passphrase"),
            Error::InvalidRawKey => f.write_str("a raw key must be exactly 32 bytes (64 hex digits)"),
            Error::InvalidPageLength(n) => write!(f, "invalid page length {n}"),
            Error::ReserveTooSmall { reserve } => write!(
                f,
                "the database reserves {reserve} bytes per page; sqlvault needs at least {}",
                crate::TRAILER_LEN
            ),
            Error::ReserveNotZero => f.write_str("the reserved tail of the page is not zero"),
            Error::NotADatabaseHeader => f.write_str("page 1 does not start with the SQLite header"),
            Error::Rng => f.write_str("the system random number generator failed"),
            Error::InvalidOutputLength(n) => write!(f, "cannot derive {n} bytes of key material"),
            Error::Kdf => f.write_str("Argon2id key derivation failed"),
            Error::KdfLimitExceeded {
                parameter,
                requested,
                limit,
            } => write!(
                f,
                "refusing to run Argon2id: the database asks for {parameter} {requested}, above the limit of {limit} \
                 (the KDF parameters are stored unauthenticated in the file; raise the limit only for a file you trust)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A page did not authenticate: wrong key, wrong position, or altered bytes.
///
/// Deliberately opaque, like `aead::Error`: which of those it was is for the layer that
/// knows where the page came from to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("page failed authentication")
    }
}

impl std::error::Error for OpenError {}
