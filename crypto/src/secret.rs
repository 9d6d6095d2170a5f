//! Secret material: every type here zeroizes on drop and prints no contents.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::Error;

/// Length of a master key, and of every key derived from it.
pub const KEY_LEN: usize = 32;

/// The 256-bit root of a database's key hierarchy.
///
/// Made from a raw key ([`MasterKey::from_bytes`]), from a passphrase through Argon2id
/// ([`crate::derive_master_key`]), or at random for a temp file ([`MasterKey::random`]).
/// It is never used to encrypt anything itself: HKDF-SHA256 derives the working keys.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    /// Wraps a raw 256-bit key. The caller's copy is theirs to zeroize.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        MasterKey(bytes)
    }

    /// Parses a raw key written as 64 hex digits (the form SQLCipher's `x'…'` keys use).
    ///
    /// # Errors
    /// [`Error::InvalidRawKey`] unless `hex` is exactly 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let hex = hex.as_bytes();
        if hex.len() != 2 * KEY_LEN {
            return Err(Error::InvalidRawKey);
        }
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let hi = hex_digit(pair[0]).ok_or(Error::InvalidRawKey)?;
            let lo = hex_digit(pair[1]).ok_or(Error::InvalidRawKey)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(MasterKey(*out))
    }

    /// A fresh random key, for files that live only as long as one handle (temp files).
    ///
    /// # Errors
    /// [`Error::Rng`] if the operating system's generator fails.
    pub fn random() -> Result<Self, Error> {
        let mut key = MasterKey([0u8; KEY_LEN]);
        getrandom::fill(&mut key.0).map_err(|_| Error::Rng)?;
        Ok(key)
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A passphrase, held only as long as it takes to derive a [`MasterKey`].
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Passphrase(Vec<u8>);

impl Passphrase {
    /// Takes ownership of the passphrase bytes (any encoding; UTF-8 is usual).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Passphrase(bytes.into())
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for Passphrase {
    fn from(s: &str) -> Self {
        Passphrase(s.as_bytes().to_vec())
    }
}

impl From<String> for Passphrase {
    fn from(s: String) -> Self {
        Passphrase(s.into_bytes())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// What a user opens a database with: a passphrase or a raw key.
#[derive(Clone)]
pub enum Key {
    /// Stretched with Argon2id and the database's salt.
    Passphrase(Passphrase),
    /// Used as the master key directly (it must already be uniformly random).
    Raw(MasterKey),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Passphrase(_) => f.write_str("Key::Passphrase(<redacted>)"),
            Key::Raw(_) => f.write_str("Key::Raw(<redacted>)"),
        }
    }
}

impl Key {
    /// Reads a key as SQLCipher's `PRAGMA key` does: `x'` + 64 hex digits + `'` is a raw
    /// key, anything else a passphrase.
    pub fn parse_pragma(value: &str) -> Key {
        let raw = value
            .strip_prefix("x'")
            .or_else(|| value.strip_prefix("X'"))
            .and_then(|v| v.strip_suffix('\''))
            .and_then(|hex| MasterKey::from_hex(hex).ok());
        match raw {
            Some(k) => Key::Raw(k),
            None => Key::Passphrase(Passphrase::from(value)),
        }
    }

    /// [`Key::parse_pragma`] on the bytes SQLite hands over, which need not be UTF-8: a
    /// passphrase keeps every byte as given (two different non-UTF-8 passphrases never
    /// collapse into one key). The copy made here is wiped when the key is dropped.
    pub fn parse_pragma_bytes(value: &[u8]) -> Key {
        let raw = value
            .strip_prefix(b"x'")
            .or_else(|| value.strip_prefix(b"X'"))
            .and_then(|v| v.strip_suffix(b"'"))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| MasterKey::from_hex(hex).ok());
        match raw {
            Some(k) => Key::Raw(k),
            None => Key::Passphrase(Passphrase::new(value.to_vec())),
        }
    }

    /// Whether this is an empty passphrase (refused everywhere: it protects nothing).
    pub fn is_empty_passphrase(&self) -> bool {
        matches!(self, Key::Passphrase(p) if p.0.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key_bytes() {
        let key = MasterKey::from_bytes([0xAB; KEY_LEN]);
        let shown = format!("{key:?} {:?}", Key::Raw(key.clone()));
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        let pass = Passphrase::from("hunter2-secret");
        let shown = format!("{pass:?} {:?}", Key::Passphrase(pass.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn hex_keys_parse_and_reject_garbage() {
        let k = MasterKey::from_hex(&"0f".repeat(32)).unwrap();
        assert_eq!(k.expose(), &[0x0f; 32]);
        assert_eq!(MasterKey::from_hex("0f").unwrap_err(), Error::InvalidRawKey);
        assert_eq!(
            MasterKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            Error::InvalidRawKey
        );
    }

    #[test]
    fn pragma_values_pick_raw_or_passphrase() {
        let raw = format!("x'{}'", "AA".repeat(32));
        assert!(matches!(Key::parse_pragma(&raw), Key::Raw(_)));
        assert!(matches!(Key::parse_pragma("x'AA'"), Key::Passphrase(_)));
        assert!(matches!(Key::parse_pragma("correct horse"), Key::Passphrase(_)));
    }

    #[test]
    fn non_utf8_passphrases_stay_distinct() {
        let a = Key::parse_pragma_bytes(&[0xff, 0x61]);
        let b = Key::parse_pragma_bytes(&[0xfe, 0x61]);
        match (a, b) {
            (Key::Passphrase(a), Key::Passphrase(b)) => assert_ne!(a.expose(), b.expose()),
            _ => panic!("passphrases expected"),
        }
        assert!(matches!(
            Key::parse_pragma_bytes(format!("x'{}'", "ab".repeat(32)).as_bytes()),
            Key::Raw(_)
        ));
        assert!(Key::parse_pragma_bytes(b"").is_empty_passphrase());
    }
}
