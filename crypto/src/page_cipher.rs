//! Sealing and opening pages in place, with the trailer in the page's reserved tail.

use crate::backend::{AeadKey, Backend, NONCE_LEN, TAG_LEN};
use crate::kdf::{DatabaseSalt, SALT_LEN};
use crate::keys::{KeyPurpose, derive_key};
use crate::secret::MasterKey;
use crate::{Error, OpenError};

/// Bytes every sealed page gives up at its end: key epoch (4), nonce (12), tag (16).
///
/// SQLite keeps this many bytes of each page free when the database header's
/// reserved-space byte (offset 20) is at least this value.
pub const TRAILER_LEN: usize = 4 + NONCE_LEN + TAG_LEN;

/// Smallest SQLite page size.
pub const MIN_PAGE_SIZE: usize = 512;
/// Largest SQLite page size.
pub const MAX_PAGE_SIZE: usize = 65536;

/// The first 16 bytes of every plaintext SQLite database.
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Bytes of page 1 that stay readable on disk: the salt (0..16) and the header fields
/// SQLite needs before anything is decrypted (16..24: page size, file format versions,
/// reserved bytes, payload fractions). They are authenticated as associated data.
pub const PAGE1_CLEAR_LEN: usize = 24;

/// Seals in one key epoch before a new random epoch is drawn. Not needed for the
/// nonce bound (see the crate docs) but keeps per-key usage far below GCM's limits.
const SEALS_PER_EPOCH: u64 = 1 << 31;

/// How many opening keys (one per epoch met while reading) a cipher keeps.
const OPEN_KEY_CACHE: usize = 16;

/// Where a sealed page lives. Part of every page's associated data: a page sealed for
/// one position does not open at any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagePosition {
    /// Page `pgno` (1-based) of the main database file. Page 1 keeps its first
    /// [`PAGE1_CLEAR_LEN`] bytes in the clear, with the salt in place of SQLite's magic.
    Database {
        /// The page number.
        pgno: u32,
    },
    /// The page in WAL frame `frame` (0-based), bound to the page number and commit size
    /// from its frame header.
    ///
    /// The frame header's salts are not bound: SQLite writes a frame with zero salts and
    /// fills them in later when it rewrites checksums within a transaction. The salts and
    /// checksums SQLite verifies at recovery cover the plaintext, which an attacker
    /// without the key cannot recompute.
    WalFrame {
        /// Index of the frame in the WAL file.
        frame: u32,
        /// The database page number (frame header bytes 0..4).
        pgno: u32,
        /// The database size in pages for a commit frame, else 0 (frame header bytes 4..8).
        commit_size: u32,
    },
    /// The page image of a rollback-journal record that starts at byte `offset`.
    Journal {
        /// File offset of the record (its 4-byte page number field).
        offset: u64,
        /// The database page the record holds.
        pgno: u32,
    },
    /// Block `index` of a block-structured file (temp files, statement journals); the
    /// buffer may be any length from 1 to 65536 bytes plus the trailer. Unlike a page,
    /// a block's trailer region is not checked for zeros when sealing (the VFS adds it;
    /// SQLite never sees it): whatever it holds is overwritten, and it opens as zeros.
    Block {
        /// Index of the block in the file.
        index: u64,
    },
}

impl PagePosition {
    fn kind(self) -> u8 {
        match self {
            PagePosition::Database { .. } => 1,
            PagePosition::WalFrame { .. } => 2,
            PagePosition::Journal { .. } => 3,
            PagePosition::Block { .. } => 4,
        }
    }

    fn is_page1(self) -> bool {
        matches!(self, PagePosition::Database { pgno: 1 })
    }

    /// Checks `len` (sealed length, trailer included) against what this position allows.
    fn check_len(self, len: usize) -> bool {
        match self {
            PagePosition::Block { .. } => len > TRAILER_LEN && len <= MAX_PAGE_SIZE + TRAILER_LEN,
            _ => len.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&len),
        }
    }
}

/// Associated data: format version, file kind, database identity, position fields.
const AAD_LEN: usize = 1 + 1 + SALT_LEN + 8 + 4 + 16;

fn build_aad(salt: &DatabaseSalt, pos: PagePosition, page: &[u8]) -> [u8; AAD_LEN] {
    let mut aad = [0u8; AAD_LEN];
    aad[0] = crate::FORMAT_VERSION;
    aad[1] = pos.kind();
    aad[2..18].copy_from_slice(salt.as_bytes());
    let (position, pgno, extra): (u64, u32, [u8; 16]) = match pos {
        PagePosition::Database { pgno } => {
            let mut extra = [0u8; 16];
            if pgno == 1 {
                extra[..8].copy_from_slice(&page[SALT_LEN..PAGE1_CLEAR_LEN]);
            }
            (u64::from(pgno), pgno, extra)
        }
        PagePosition::WalFrame {
            frame,
            pgno,
            commit_size,
        } => {
            let mut extra = [0u8; 16];
            extra[..4].copy_from_slice(&commit_size.to_be_bytes());
            (u64::from(frame), pgno, extra)
        }
        PagePosition::Journal { offset, pgno } => (offset, pgno, [0u8; 16]),
        PagePosition::Block { index } => (index, 0, [0u8; 16]),
    };
    aad[18..26].copy_from_slice(&position.to_be_bytes());
    aad[26..30].copy_from_slice(&pgno.to_be_bytes());
    aad[30..46].copy_from_slice(&extra);
    aad
}

/// The current sealing epoch: its key and the next nonce to use.
struct SealEpoch {
    epoch: u32,
    key: AeadKey,
    /// A 96-bit counter that started at a random value.
    next_nonce: u128,
    seals: u64,
}

/// Seals and opens the pages of one file under one master key.
///
/// Each `PageCipher` draws a random 32-bit key epoch and a random 96-bit starting nonce
/// when it first seals, and counts up from there; the epoch's key is
/// HKDF(master, salt, "sqlvault/v1/page-key" ‖ epoch). Pages sealed by other ciphers
/// (other connections, earlier sessions) carry their epoch in the trailer, and their keys
/// are derived on first sight and cached.
///
/// `&mut self` methods: a cipher belongs to one file handle and needs no locking.
pub struct PageCipher {
    backend: Backend,
    master: MasterKey,
    salt: DatabaseSalt,
    sealing: Option<SealEpoch>,
    open_keys: Vec<(u32, AeadKey)>,
    next_evict: usize,
}

impl std::fmt::Debug for PageCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCipher")
            .field("backend", &self.backend)
            .field("salt", &self.salt)
            .finish_non_exhaustive()
    }
}

impl PageCipher {
    /// A cipher for the database identified by `salt`, on the default backend.
    pub fn new(master: &MasterKey, salt: DatabaseSalt) -> PageCipher {
        Self::with_backend(master, salt, Backend::default())
    }

    /// A cipher on a chosen backend; both backends read each other's pages.
    pub fn with_backend(master: &MasterKey, salt: DatabaseSalt, backend: Backend) -> PageCipher {
        PageCipher {
            backend,
            master: master.clone(),
            salt,
            sealing: None,
            open_keys: Vec::with_capacity(OPEN_KEY_CACHE),
            next_evict: 0,
        }
    }

    /// The database identity this cipher binds pages to.
    pub fn salt(&self) -> &DatabaseSalt {
        &self.salt
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Encrypts `page` in place and writes the trailer into its last [`TRAILER_LEN`] bytes.
    ///
    /// For page 1 of a database the SQLite magic in bytes 0..16 is replaced by the salt.
    ///
    /// # Errors
    /// - [`Error::InvalidPageLength`] if the length does not suit `pos`;
    /// - [`Error::ReserveNotZero`] if a page's trailer region holds data (SQLite would
    ///   not read back what it wrote);
    /// - for page 1: [`Error::NotADatabaseHeader`], or [`Error::ReserveTooSmall`] if the
    ///   header reserves fewer than [`TRAILER_LEN`] bytes per page;
    /// - [`Error::Rng`] if a new epoch cannot be drawn.
    pub fn seal(&mut self, page: &mut [u8], pos: PagePosition) -> Result<(), Error> {
        self.check_sealable(page, pos)?;
        let sealing = self.sealing_epoch()?;
        let nonce_value = sealing.next_nonce;
        sealing.next_nonce = (nonce_value + 1) & NONCE_MASK;
        sealing.seals += 1;
        let epoch = sealing.epoch;
        let nonce = nonce_bytes(nonce_value);
        self.seal_checked(page, pos, epoch, &nonce);
        Ok(())
    }

    /// Seals with a caller-chosen epoch and nonce. **For tests and fuzzing only**: reusing
    /// a nonce under one key destroys GCM's security. Everything else should call
    /// [`PageCipher::seal`], which never repeats one.
    ///
    /// # Errors
    /// As [`PageCipher::seal`].
    #[doc(hidden)]
    pub fn seal_with_nonce(
        &mut self,
        page: &mut [u8],
        pos: PagePosition,
        epoch: u32,
        nonce: [u8; NONCE_LEN],
    ) -> Result<(), Error> {
        self.check_sealable(page, pos)?;
        self.seal_checked(page, pos, epoch, &nonce);
        Ok(())
    }

    fn check_sealable(&self, page: &[u8], pos: PagePosition) -> Result<(), Error> {
        if !pos.check_len(page.len()) {
            return Err(Error::InvalidPageLength(page.len()));
        }
        if !matches!(pos, PagePosition::Block { .. })
            && page[page.len() - TRAILER_LEN..].iter().any(|&b| b != 0)
        {
            return Err(Error::ReserveNotZero);
        }
        if pos.is_page1() {
            if &page[..SALT_LEN] != SQLITE_MAGIC {
                return Err(Error::NotADatabaseHeader);
            }
            let reserve = page[20];
            if usize::from(reserve) < TRAILER_LEN {
                return Err(Error::ReserveTooSmall { reserve });
            }
        }
        Ok(())
    }

    /// Seals a page that passed [`Self::check_sealable`].
    fn seal_checked(&mut self, page: &mut [u8], pos: PagePosition, epoch: u32, nonce: &[u8; NONCE_LEN]) {
        let len = page.len();
        if pos.is_page1() {
            page[..SALT_LEN].copy_from_slice(self.salt.as_bytes());
        }
        let aad = build_aad(&self.salt, pos, page);
        let start = if pos.is_page1() { PAGE1_CLEAR_LEN } else { 0 };
        let (body, trailer) = page.split_at_mut(len - TRAILER_LEN);
        let tag = self.key_for(epoch).seal(nonce, &aad, &mut body[start..]);
        trailer[..4].copy_from_slice(&epoch.to_be_bytes());
        trailer[4..4 + NONCE_LEN].copy_from_slice(nonce);
        trailer[4 + NONCE_LEN..].copy_from_slice(&tag);
    }

    /// Authenticates and decrypts `page` in place.
    ///
    /// On success the page holds exactly what SQLite wrote: the trailer region is zero
    /// again and page 1 starts with the SQLite magic. On failure the page is zeroed, so no
    /// unauthenticated plaintext ever leaves this function.
    ///
    /// # Errors
    /// [`OpenError`] for any page that this cipher's key did not seal at `pos`.
    pub fn open(&mut self, page: &mut [u8], pos: PagePosition) -> Result<(), OpenError> {
        let result = self.open_inner(page, pos);
        if result.is_err() {
            page.fill(0);
        }
        result
    }

    fn open_inner(&mut self, page: &mut [u8], pos: PagePosition) -> Result<(), OpenError> {
        let len = page.len();
        if !pos.check_len(len) {
            return Err(OpenError);
        }
        if pos.is_page1() && &page[..SALT_LEN] != self.salt.as_bytes() {
            return Err(OpenError);
        }
        let aad = build_aad(&self.salt, pos, page);
        let start = if pos.is_page1() { PAGE1_CLEAR_LEN } else { 0 };
        let (body, trailer) = page.split_at_mut(len - TRAILER_LEN);
        let epoch = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&trailer[4..4 + NONCE_LEN]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&trailer[4 + NONCE_LEN..]);
        self.key_for(epoch).open(&nonce, &aad, &mut body[start..], &tag)?;
        trailer.fill(0);
        if pos.is_page1() {
            page[..SALT_LEN].copy_from_slice(SQLITE_MAGIC);
        }
        Ok(())
    }

    fn sealing_epoch(&mut self) -> Result<&mut SealEpoch, Error> {
        let stale = self.sealing.as_ref().is_none_or(|s| s.seals >= SEALS_PER_EPOCH);
        if stale {
            let mut random = [0u8; 4 + NONCE_LEN];
            getrandom::fill(&mut random).map_err(|_| Error::Rng)?;
            let epoch = u32::from_be_bytes([random[0], random[1], random[2], random[3]]);
            let mut start = [0u8; 16];
            start[4..].copy_from_slice(&random[4..]);
            let key = self.derive(epoch);
            self.sealing = Some(SealEpoch {
                epoch,
                key,
                next_nonce: u128::from_be_bytes(start),
                seals: 0,
            });
        }
        match self.sealing.as_mut() {
            Some(s) => Ok(s),
            None => unreachable!("set just above"),
        }
    }

    fn derive(&self, epoch: u32) -> AeadKey {
        let key = derive_key(&self.master, &self.salt, KeyPurpose::PageKey { epoch });
        AeadKey::new(self.backend, &key)
    }

    /// The key for `epoch`: the sealing key, a cached opening key, or a fresh derivation.
    fn key_for(&mut self, epoch: u32) -> &AeadKey {
        if let Some(s) = &self.sealing
            && s.epoch == epoch
        {
            return match &self.sealing {
                Some(s) => &s.key,
                None => unreachable!(),
            };
        }
        let idx = match self.open_keys.iter().position(|(e, _)| *e == epoch) {
            Some(i) => i,
            None => {
                let key = self.derive(epoch);
                if self.open_keys.len() < OPEN_KEY_CACHE {
                    self.open_keys.push((epoch, key));
                    self.open_keys.len() - 1
                } else {
                    let i = self.next_evict;
                    self.next_evict = (i + 1) % OPEN_KEY_CACHE;
                    self.open_keys[i] = (epoch, key);
                    i
                }
            }
        };
        &self.open_keys[idx].1
    }
}

const NONCE_MASK: u128 = (1u128 << 96) - 1;

fn nonce_bytes(value: u128) -> [u8; NONCE_LEN] {
    let all = value.to_be_bytes();
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&all[16 - NONCE_LEN..]);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::KdfKind;

    fn cipher() -> PageCipher {
        let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        PageCipher::new(&MasterKey::from_bytes([3; 32]), salt)
    }

    fn page1(size: usize) -> Vec<u8> {
        let mut p = vec![0x5a; size];
        p[..16].copy_from_slice(SQLITE_MAGIC);
        p[16..18].copy_from_slice(&((size % 65536) as u16).to_be_bytes());
        p[20] = TRAILER_LEN as u8;
        p[size - TRAILER_LEN..].fill(0);
        p
    }

    #[test]
    fn seal_then_open_restores_every_byte() {
        let mut c = cipher();
        for size in [512, 4096, 65536] {
            let original = page1(size);
            let mut p = original.clone();
            c.seal(&mut p, PagePosition::Database { pgno: 1 }).unwrap();
            assert_eq!(&p[..16], c.salt().as_bytes());
            assert_eq!(p[16..24], original[16..24], "header fields stay readable");
            assert_ne!(p[24..size - 32], original[24..size - 32]);
            c.open(&mut p, PagePosition::Database { pgno: 1 }).unwrap();
            assert_eq!(p, original);
        }
    }

    #[test]
    fn nonces_never_repeat_within_a_cipher() {
        let mut c = cipher();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut p = vec![0u8; 512];
            c.seal(&mut p, PagePosition::Database { pgno: 2 }).unwrap();
            assert!(seen.insert(p[512 - 32..512 - 16].to_vec()));
        }
    }

    #[test]
    fn nonce_counter_wraps_at_96_bits() {
        assert_eq!(nonce_bytes(NONCE_MASK), [0xff; 12]);
        assert_eq!(nonce_bytes((NONCE_MASK + 1) & NONCE_MASK), [0; 12]);
    }

    #[test]
    fn refuses_pages_it_cannot_round_trip() {
        let mut c = cipher();
        let mut p = vec![1u8; 4096];
        assert_eq!(
            c.seal(&mut p, PagePosition::Database { pgno: 2 }),
            Err(Error::ReserveNotZero)
        );
        let mut p = page1(4096);
        p[20] = 16;
        assert_eq!(
            c.seal(&mut p, PagePosition::Database { pgno: 1 }),
            Err(Error::ReserveTooSmall { reserve: 16 })
        );
        let mut p = vec![0u8; 1000];
        assert_eq!(
            c.seal(&mut p, PagePosition::Database { pgno: 2 }),
            Err(Error::InvalidPageLength(1000))
        );
    }

    #[test]
    fn failed_open_leaves_no_plaintext() {
        let mut c = cipher();
        let mut p = vec![0u8; 4096];
        p[..100].fill(0x41);
        c.seal(&mut p, PagePosition::Database { pgno: 2 }).unwrap();
        p[5] ^= 1;
        assert_eq!(c.open(&mut p, PagePosition::Database { pgno: 2 }), Err(OpenError));
        assert!(p.iter().all(|&b| b == 0));
    }

    #[test]
    fn pages_from_other_epochs_open() {
        let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        let master = MasterKey::from_bytes([9; 32]);
        let mut pages = Vec::new();
        for i in 0..(OPEN_KEY_CACHE as u32 + 4) {
            // A fresh cipher per page: a fresh random epoch per page.
            let mut w = PageCipher::new(&master, salt);
            let mut p = vec![i as u8; 1024];
            p[1024 - 32..].fill(0);
            w.seal(&mut p, PagePosition::Database { pgno: i + 2 }).unwrap();
            pages.push(p);
        }
        let mut r = PageCipher::new(&master, salt);
        for _round in 0..2 {
            for (i, p) in pages.iter().enumerate() {
                let mut p = p.clone();
                r.open(&mut p, PagePosition::Database { pgno: i as u32 + 2 })
                    .unwrap();
                assert!(p[..1024 - 32].iter().all(|&b| b == i as u8));
            }
        }
    }
}
