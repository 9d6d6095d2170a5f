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
    /// Page `pgno` (1-based) of the database — wherever its image is stored: the main
    /// file, a WAL frame or a rollback-journal record hold byte-identical sealed pages,
    /// so that a checkpoint or a journal playback (by sqlvault, or by a SQLite that has no
    /// key) moves sealed bytes unchanged. Page 1 keeps its first [`PAGE1_CLEAR_LEN`] bytes
    /// in the clear, with the salt in place of SQLite's magic. Where the image was
    /// written is bound separately, through its [`SealContext`].
    Database {
        /// The page number.
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

/// Where a database page image was written, bound into the first four bytes of its nonce
/// as a keyed 32-bit tag (see [`PageCipher::context_tag`]).
///
/// The page's associated data cannot carry these fields: the same sealed bytes must stay
/// valid once a checkpoint copies a WAL frame into the database, or a journal playback
/// copies a record back, where no WAL header or journal header is at hand. The nonce is
/// stored in the trailer and authenticated by the tag, so it carries them instead, and a
/// reader that knows where it found a page checks them with [`PageCipher::open_in`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealContext {
    /// Written straight into the database file: nothing to check, all 96 nonce bits are
    /// the counter.
    Database,
    /// In WAL frame `frame` (0-based) of the WAL generation whose header salts are `salts`.
    WalFrame {
        /// The WAL header's two salts (bytes 16..24), as stored.
        salts: [u8; 8],
        /// Index of the frame in the WAL file.
        frame: u32,
        /// The frame header's commit size (database size in pages for a commit frame, else 0).
        commit_size: u32,
        /// Whether every earlier frame of the WAL was known to be on stable storage (an
        /// fsync completed after it was written) when this one was sealed: then a damaged
        /// earlier frame is not a torn write but tampering.
        after_sync: bool,
        /// The authentication tag (the last 16 bytes) of the sealed page in the frame
        /// before this one, as it stood when this one was sealed; zeros for frame 0. It
        /// chains the frames of a generation: a frame left over from a transaction that
        /// was rolled back (or any other frame) cannot be put back into its slot behind
        /// frames it was not written after.
        previous: [u8; 16],
    },
    /// In the rollback-journal record starting at byte `offset`, under the journal header
    /// whose checksum nonce (SQLite's `cksumInit`) is `journal_nonce`.
    Journal {
        /// The governing journal header's random checksum initialiser.
        journal_nonce: u32,
        /// File offset of the record (its 4-byte page number field).
        offset: u64,
        /// Whether the header counts its records (a synced journal; `nRec` is not
        /// 0xffffffff), so a damaged record inside that count is not a torn write.
        counted: bool,
    },
}

/// Associated data: one byte of format version and file kind, then the page number
/// (and page 1's clear header fields) or the block index — at most 13 bytes.
///
/// It fits one GHASH block (16 bytes), which keeps sealing within a few percent of the
/// bare AEAD call. The database identity is not repeated here: every page key is already
/// derived with the database salt as HKDF salt, so a page from another database does not
/// even decrypt under this one's keys; page 1's stored salt is compared on open.
struct Aad {
    bytes: [u8; 16],
    len: usize,
}

impl Aad {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn build_aad(pos: PagePosition, page: &[u8]) -> Aad {
    let mut bytes = [0u8; 16];
    bytes[0] = (crate::FORMAT_VERSION << 4) | pos.kind();
    let mut len = 1;
    let mut put = |field: &[u8]| {
        bytes[len..len + field.len()].copy_from_slice(field);
        len += field.len();
    };
    match pos {
        PagePosition::Database { pgno } => {
            put(&pgno.to_be_bytes());
            if pgno == 1 {
                put(&page[SALT_LEN..PAGE1_CLEAR_LEN]);
            }
        }
        PagePosition::Block { index } => put(&index.to_be_bytes()),
    }
    Aad { bytes, len }
}

/// The keyed function behind context tags: AES-256 under a key of its own, as a CBC-MAC over
/// a fixed-length encoding per kind of context (two blocks for a journal record, three for a
/// WAL frame; the first byte names the kind, so the encodings are prefix-free and the MAC a
/// PRF on them), truncated to 32 bits.
struct ContextKey(aes::Aes256);

impl ContextKey {
    fn new(master: &MasterKey, salt: &DatabaseSalt) -> ContextKey {
        use aes::cipher::KeyInit;
        let key = derive_key(master, salt, KeyPurpose::ContextKey);
        ContextKey(aes::Aes256::new(&(*key).into()))
    }

    fn tag(&self, ctx: SealContext) -> Option<[u8; 4]> {
        use aes::cipher::BlockCipherEncrypt;
        let (mut first, second, third) = match ctx {
            SealContext::Database => return None,
            SealContext::WalFrame {
                salts,
                frame,
                commit_size,
                after_sync,
                previous,
            } => {
                let mut a = [0u8; 16];
                a[0] = 1;
                a[1] = u8::from(after_sync);
                a[8..12].copy_from_slice(&frame.to_be_bytes());
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&salts);
                b[8..12].copy_from_slice(&commit_size.to_be_bytes());
                (a, b, Some(previous))
            }
            SealContext::Journal {
                journal_nonce,
                offset,
                counted,
            } => {
                let mut a = [0u8; 16];
                a[0] = 2;
                a[1] = u8::from(counted);
                a[8..].copy_from_slice(&offset.to_be_bytes());
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&journal_nonce.to_be_bytes());
                (a, b, None)
            }
        };
        for next in std::iter::once(second).chain(third) {
            let mut block = aes::Block::from(first);
            self.0.encrypt_block(&mut block);
            first.copy_from_slice(&block);
            for (x, y) in first.iter_mut().zip(next) {
                *x ^= y;
            }
        }
        let mut block = aes::Block::from(first);
        self.0.encrypt_block(&mut block);
        Some([block[0], block[1], block[2], block[3]])
    }
}

/// The current sealing epoch: its key and the next nonce to use.
struct SealEpoch {
    epoch: u32,
    key: AeadKey,
    /// A 96-bit counter that started at a random value.
    next_nonce: u128,
    seals: u64,
    /// The [`fork_generation`] the epoch was drawn in: a child process must not go on
    /// counting from its parent's nonces.
    fork_generation: u64,
}

static FORK_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Tells every [`PageCipher`] in this process that the process has just forked: each
/// draws a fresh random epoch (a new key) before it seals again.
///
/// A child process inherits its parent's ciphers, their epochs and their nonce counters;
/// sealing on in the child would reuse the parent's nonces under the same key. Call this
/// from a `pthread_atfork` child handler (sqlvault-vfs registers one). It only increments
/// an atomic counter, so it is async-signal-safe.
pub fn note_fork() {
    FORK_GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

fn fork_generation() -> u64 {
    FORK_GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

/// Seals and opens the pages of one file under one master key.
///
/// Each `PageCipher` draws a random 32-bit key epoch and a random 96-bit starting nonce
/// when it first seals (and again after 2^31 seals, or after [`note_fork`]), and counts up
/// from there; the epoch's key is HKDF(master, salt, "sqlvault/v2/page-key" ‖ epoch).
/// A page sealed in a [`SealContext`] other than the database file uses the context's
/// 32-bit tag as the first four nonce bytes and the low 64 bits of the counter as the rest. Pages sealed by other ciphers
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
    context: ContextKey,
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
            context: ContextKey::new(master, &salt),
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
        self.seal_in(page, pos, SealContext::Database)
    }

    /// Seals like [`PageCipher::seal`], binding where the page is being written
    /// (`ctx`) into its nonce; [`PageCipher::open_in`] checks it. A block ignores `ctx`
    /// (on sealing and on opening).
    ///
    /// # Errors
    /// As [`PageCipher::seal`].
    pub fn seal_in(&mut self, page: &mut [u8], pos: PagePosition, ctx: SealContext) -> Result<(), Error> {
        self.check_sealable(page, pos)?;
        let tag = match pos {
            PagePosition::Database { .. } => self.context.tag(ctx),
            PagePosition::Block { .. } => None,
        };
        let sealing = self.sealing_epoch()?;
        let nonce_value = sealing.next_nonce;
        sealing.next_nonce = (nonce_value + 1) & NONCE_MASK;
        sealing.seals += 1;
        let epoch = sealing.epoch;
        let mut nonce = nonce_bytes(nonce_value);
        if let Some(tag) = tag {
            nonce[..4].copy_from_slice(&tag);
        }
        self.seal_checked(page, pos, epoch, &nonce)
    }

    /// The 32-bit tag that a page sealed in `ctx` carries in its first four nonce bytes;
    /// `None` for [`SealContext::Database`], which carries none.
    pub fn context_tag(&self, ctx: SealContext) -> Option<[u8; 4]> {
        self.context.tag(ctx)
    }

    /// Whether the sealed `page` carries the tag of `ctx` — a cheap check of the clear
    /// nonce bytes, without authenticating anything. On its own it proves nothing (anyone
    /// can copy nonce bytes); it is sound only together with authentication of the same
    /// bytes, which [`PageCipher::open_in`] does, or when the page will be authenticated
    /// later wherever it is read (a checkpoint that copies a WAL frame into the database).
    /// Always true for [`SealContext::Database`].
    pub fn was_sealed_in(&self, page: &[u8], ctx: SealContext) -> bool {
        match self.context.tag(ctx) {
            None => true,
            Some(tag) => {
                let at = page.len().saturating_sub(TRAILER_LEN) + 4;
                page.get(at..at + 4) == Some(&tag[..])
            }
        }
    }

    /// The first of `candidates` whose tag the sealed `page` carries (a context without a
    /// tag, [`SealContext::Database`], always matches). Each tag is computed once; as with
    /// [`PageCipher::was_sealed_in`], this authenticates nothing by itself — follow it with
    /// [`PageCipher::open`], which authenticates the nonce and so the tag with it.
    pub fn matching_context(&self, page: &[u8], candidates: &[SealContext]) -> Option<SealContext> {
        let at = page.len().checked_sub(TRAILER_LEN)? + 4;
        let head = page.get(at..at + 4)?;
        candidates
            .iter()
            .copied()
            .find(|&ctx| self.context.tag(ctx).is_none_or(|tag| head == tag))
    }

    /// Authenticates and decrypts `page` like [`PageCipher::open`], and also requires
    /// that it was sealed in `ctx` (its nonce carries the context's tag).
    ///
    /// # Errors
    /// [`OpenError`] if the page does not authenticate at `pos` or was sealed elsewhere.
    pub fn open_in(&mut self, page: &mut [u8], pos: PagePosition, ctx: SealContext) -> Result<(), OpenError> {
        if matches!(pos, PagePosition::Database { .. }) && !self.was_sealed_in(page, ctx) {
            page.fill(0);
            return Err(OpenError);
        }
        self.open(page, pos)
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
        self.seal_checked(page, pos, epoch, &nonce)
    }

    /// Every check but the zero trailer, which [`Self::seal_checked`] makes after
    /// encrypting (see there why).
    fn check_sealable(&self, page: &[u8], pos: PagePosition) -> Result<(), Error> {
        if !pos.check_len(page.len()) {
            return Err(Error::InvalidPageLength(page.len()));
        }
        if pos.is_page1() {
            let header_error = if &page[..SALT_LEN] != SQLITE_MAGIC {
                Some(Error::NotADatabaseHeader)
            } else if usize::from(page[20]) < TRAILER_LEN {
                Some(Error::ReserveTooSmall { reserve: page[20] })
            } else {
                None
            };
            if let Some(error) = header_error {
                // A non-zero trailer is reported first, whichever else is wrong.
                return Err(if trailer_holds_data(page, pos) {
                    Error::ReserveNotZero
                } else {
                    error
                });
            }
        }
        Ok(())
    }

    /// Seals a page that passed [`Self::check_sealable`].
    ///
    /// The trailer region is checked for zeros only after the body is encrypted: the
    /// caller has usually just copied the page into this buffer, and reading its last
    /// bytes first would wait for that copy to land (a stall measured at about 10% of a
    /// 4 KiB seal), while the cipher reads the page from the front. If the trailer does
    /// hold data, the body is decrypted again and the page handed back unchanged.
    fn seal_checked(
        &mut self,
        page: &mut [u8],
        pos: PagePosition,
        epoch: u32,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<(), Error> {
        let len = page.len();
        if pos.is_page1() {
            page[..SALT_LEN].copy_from_slice(self.salt.as_bytes());
        }
        let aad = build_aad(pos, page);
        let start = if pos.is_page1() { PAGE1_CLEAR_LEN } else { 0 };
        let key = self.key_for(epoch);
        let (body, trailer) = page.split_at_mut(len - TRAILER_LEN);
        let tag = key.seal(nonce, aad.as_slice(), &mut body[start..]);
        if !matches!(pos, PagePosition::Block { .. }) && trailer.iter().any(|&b| b != 0) {
            if key.open(nonce, aad.as_slice(), &mut body[start..], &tag).is_err() {
                unreachable!("a body sealed just now opens with its own tag");
            }
            if pos.is_page1() {
                page[..SALT_LEN].copy_from_slice(SQLITE_MAGIC);
            }
            return Err(Error::ReserveNotZero);
        }
        trailer[..4].copy_from_slice(&epoch.to_be_bytes());
        trailer[4..4 + NONCE_LEN].copy_from_slice(nonce);
        trailer[4 + NONCE_LEN..].copy_from_slice(&tag);
        Ok(())
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
        let aad = build_aad(pos, page);
        let start = if pos.is_page1() { PAGE1_CLEAR_LEN } else { 0 };
        let (body, trailer) = page.split_at_mut(len - TRAILER_LEN);
        let epoch = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&trailer[4..4 + NONCE_LEN]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&trailer[4 + NONCE_LEN..]);
        self.key_for(epoch)
            .open(&nonce, aad.as_slice(), &mut body[start..], &tag)?;
        trailer.fill(0);
        if pos.is_page1() {
            page[..SALT_LEN].copy_from_slice(SQLITE_MAGIC);
        }
        Ok(())
    }

    fn sealing_epoch(&mut self) -> Result<&mut SealEpoch, Error> {
        let generation = fork_generation();
        let stale = self
            .sealing
            .as_ref()
            .is_none_or(|s| s.seals >= SEALS_PER_EPOCH || s.fork_generation != generation);
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
                fork_generation: generation,
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

/// Whether the reserved tail of a page (not a block) holds anything but zeros.
fn trailer_holds_data(page: &[u8], pos: PagePosition) -> bool {
    !matches!(pos, PagePosition::Block { .. }) && page[page.len() - TRAILER_LEN..].iter().any(|&b| b != 0)
}

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
    fn refused_seals_leave_the_page_unchanged() {
        let mut c = cipher();
        // Non-zero reserve: detected after encrypting, so the body must be restored.
        for (pos, mut page) in [
            (PagePosition::Database { pgno: 1 }, page1(4096)),
            (PagePosition::Database { pgno: 9 }, vec![0x33; 4096]),
            (PagePosition::Database { pgno: 4 }, vec![0x44; 1024]),
            (PagePosition::Database { pgno: 9 }, vec![0x55; 512]),
        ] {
            let last = page.len() - 1;
            page[last] = 1;
            let original = page.clone();
            assert_eq!(c.seal(&mut page, pos), Err(Error::ReserveNotZero), "{pos:?}");
            assert_eq!(page, original, "{pos:?}");
            assert_eq!(
                c.seal_with_nonce(&mut page, pos, 1, [2; 12]),
                Err(Error::ReserveNotZero)
            );
            assert_eq!(page, original, "{pos:?}");
        }
        // A non-zero reserve is reported before page 1's header problems.
        let mut p = page1(4096);
        p[0] = b'X';
        p[20] = 0;
        let original = p.clone();
        assert_eq!(
            c.seal(&mut p, PagePosition::Database { pgno: 1 }),
            Err(Error::NotADatabaseHeader)
        );
        p[4095] = 7;
        assert_eq!(
            c.seal(&mut p, PagePosition::Database { pgno: 1 }),
            Err(Error::ReserveNotZero)
        );
        p[4095] = 0;
        assert_eq!(p, original);
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

    fn wal_ctx(frame: u32, after_sync: bool) -> SealContext {
        SealContext::WalFrame {
            salts: *b"saltsalt",
            frame,
            commit_size: 0,
            after_sync,
            previous: [0u8; 16],
        }
    }

    #[test]
    fn a_page_opens_only_in_the_context_it_was_sealed_in() {
        let mut c = cipher();
        let pos = PagePosition::Database { pgno: 3 };
        let mut sealed = vec![7u8; 1024];
        sealed[1024 - 32..].fill(0);
        c.seal_in(&mut sealed, pos, wal_ctx(5, false)).unwrap();
        let mut p = sealed.clone();
        c.open_in(&mut p, pos, wal_ctx(5, false)).unwrap();
        for other in [
            wal_ctx(6, false),
            wal_ctx(5, true),
            SealContext::WalFrame {
                salts: *b"saltsal2",
                frame: 5,
                commit_size: 0,
                after_sync: false,
                previous: [0u8; 16],
            },
            SealContext::WalFrame {
                salts: *b"saltsalt",
                frame: 5,
                commit_size: 9,
                after_sync: false,
                previous: [0u8; 16],
            },
            SealContext::Journal {
                journal_nonce: 1,
                offset: 5,
                counted: false,
            },
        ] {
            let mut p = sealed.clone();
            assert_eq!(c.open_in(&mut p, pos, other), Err(OpenError), "{other:?}");
            assert!(p.iter().all(|&b| b == 0));
        }
        // The same bytes are a valid database page wherever they are copied to.
        let mut p = sealed.clone();
        c.open(&mut p, pos).unwrap();
        assert!(p[..1024 - 32].iter().all(|&b| b == 7));
        // Forging the tag in the clear nonce bytes breaks authentication.
        let mut p = sealed;
        let tag = c.context_tag(wal_ctx(6, false)).unwrap();
        p[1024 - 28..1024 - 24].copy_from_slice(&tag);
        assert!(c.was_sealed_in(&p, wal_ctx(6, false)));
        assert_eq!(c.open_in(&mut p, pos, wal_ctx(6, false)), Err(OpenError));
    }

    #[test]
    fn context_tags_differ_by_field_and_by_database() {
        let c = cipher();
        let tags: std::collections::HashSet<_> =
            (0..1000).map(|f| c.context_tag(wal_ctx(f, false))).collect();
        assert_eq!(tags.len(), 1000);
        assert_eq!(c.context_tag(SealContext::Database), None);
        let other = cipher();
        assert_ne!(
            c.context_tag(wal_ctx(1, false)),
            other.context_tag(wal_ctx(1, false))
        );
    }

    #[test]
    fn nonces_stay_distinct_across_contexts_within_a_cipher() {
        let mut c = cipher();
        let mut seen = std::collections::HashSet::new();
        for i in 0..2000u32 {
            let mut p = vec![0u8; 512];
            let ctx = if i % 2 == 0 {
                SealContext::Database
            } else {
                wal_ctx(i % 7, false)
            };
            c.seal_in(&mut p, PagePosition::Database { pgno: 2 }, ctx)
                .unwrap();
            assert!(seen.insert(p[512 - 32..512 - 16].to_vec()));
        }
    }

    #[test]
    fn a_fork_draws_a_new_epoch() {
        let mut c = cipher();
        let mut p = vec![0u8; 512];
        c.seal(&mut p, PagePosition::Database { pgno: 2 }).unwrap();
        let before = p[512 - 32..512 - 28].to_vec();
        let mut q = vec![0u8; 512];
        c.seal(&mut q, PagePosition::Database { pgno: 2 }).unwrap();
        assert_eq!(q[512 - 32..512 - 28], before[..], "same epoch without a fork");
        note_fork();
        let mut r = vec![0u8; 512];
        c.seal(&mut r, PagePosition::Database { pgno: 2 }).unwrap();
        assert_ne!(r[512 - 32..512 - 16], q[512 - 32..512 - 16]);
        assert_ne!(r[512 - 32..512 - 28], before[..], "a new epoch after the fork");
    }
}
