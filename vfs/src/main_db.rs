//! The main database file: page N sealed at `PagePosition::Database { pgno: N }`.
//!
//! Pages a checkpoint copies from the WAL arrive sealed already and are written as they
//! are; every other page is sealed here. No page the database counts is left as a hole.

use std::sync::Arc;

use std::collections::HashMap;

use sqlvault_crypto::{
    Argon2Params, DatabaseSalt, KdfKind, Key, PAGE1_CLEAR_LEN, PageCipher, PagePosition, SALT_LEN,
    SQLITE_MAGIC, TRAILER_LEN,
};

use crate::error::{Fault, FileKind};
use crate::raw::{Filled, RawFile, is_page_size};
use crate::shared::{CachedCipher, KeyMaterial, SharedDb};

mod regroup;
use regroup::Regroup;

/// Bytes of page 1 that tell the page size before anything is decrypted.
const HEADER_PREFIX: usize = 24;

/// Size of the database header SQLite reads while opening a database file.
const OPEN_HEADER_READ: usize = 100;

pub(crate) struct MainDb {
    pub(crate) shared: Arc<SharedDb>,
    cipher: CachedCipher,
    scratch: Vec<u8>,
    /// Whether SQLite has read a page or written through this handle. (The 100-byte
    /// header read SQLite does while opening the file does not count: it only learns the
    /// page size and reserve from it, which are in the clear.)
    touched: bool,
    /// A lower bound of the file size, refreshed whenever a write might extend the file:
    /// a write past the end fills the gap with sealed zero pages.
    known_size: u64,
    /// Strict mode: reading or writing this database without a key is refused.
    strict: bool,
    /// The page size this handle last saw in page 1 (read or written).
    page_size: Option<usize>,
    /// A change to a larger page size under way in this transaction (see `regroup`).
    regroup: Option<Regroup>,
    /// Bytes SQLite wrote into the reserved tail of a page (by page number), which the
    /// trailer takes on disk. Only a page size change puts data there (a page of the new,
    /// larger size written in pieces of the old size, spilled before page 1 announced the
    /// change); they are kept until the transaction ends, and a commit that has not
    /// placed them fails instead of losing them.
    stash: HashMap<u32, [u8; TRAILER_LEN]>,
    /// The pages (in the pager's page size) written since the transaction began, one bit
    /// each: a page size change reseals exactly those, and leaves alone what SQLite did
    /// not touch (and did not journal), such as the page holding the pending byte.
    written: Vec<u64>,
}

impl MainDb {
    pub(crate) fn new(shared: Arc<SharedDb>) -> MainDb {
        MainDb {
            shared,
            cipher: CachedCipher::new(),
            scratch: Vec::new(),
            touched: false,
            known_size: 0,
            strict: false,
            page_size: None,
            regroup: None,
            stash: HashMap::new(),
            written: Vec::new(),
        }
    }

    /// Refuses every read and write of this database while it has no key (strict mode).
    pub(crate) fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }

    /// The cipher, once the database has a key; `None` means the file is used unencrypted.
    fn cipher(&mut self) -> Option<&mut PageCipher> {
        self.cipher.get(&self.shared)
    }

    /// Keys the database with material resolved elsewhere (the Rust API). `user_key` is
    /// the key as given, for re-deriving if the file is still empty and another connection
    /// creates it first under a salt of its own.
    pub(crate) fn set_key(
        &mut self,
        f: &mut dyn RawFile,
        key: KeyMaterial,
        user_key: Option<(Key, Argon2Params)>,
    ) -> Result<(), Fault> {
        let size = f.size()?;
        if self.touched && size > 0 {
            return Err(Fault::KeyTooLate);
        }
        if size == 0 {
            self.shared.set_provisional_key(key, user_key);
        } else {
            self.shared.set_key(key);
            // The file may have been created since the key was resolved.
            if let Ok(Some(salt)) = read_salt(f) {
                self.shared.adopt_salt(salt)?;
            }
        }
        Ok(())
    }

    /// Takes the key of the connection's main database, for a database opened without one
    /// (the output of `VACUUM INTO`, an `ATTACH` without a key). A new file gets the same
    /// master key under a fresh identity ([`DatabaseSalt::fresh_copy`]); an existing file
    /// keeps its salt if the master key can be its own (a raw key, or the same passphrase
    /// lineage). Anything else stays unkeyed and will not open if it is encrypted.
    pub(crate) fn inherit_key(&mut self, f: &mut dyn RawFile, from: KeyMaterial) -> Result<(), Fault> {
        match read_salt(f) {
            Ok(None) => {
                let salt = from.salt.fresh_copy()?;
                self.set_key(
                    f,
                    KeyMaterial {
                        master: from.master,
                        salt,
                    },
                    None,
                )
            }
            Ok(Some(salt)) => {
                let fits = match (salt.kdf()?, from.salt.kdf()?) {
                    (KdfKind::RawKey, KdfKind::RawKey) => true,
                    (a, b) => a == b && salt.kdf_salt() == from.salt.kdf_salt(),
                };
                if fits {
                    self.set_key(
                        f,
                        KeyMaterial {
                            master: from.master,
                            salt,
                        },
                        None,
                    )
                } else {
                    Ok(())
                }
            }
            Err(_) => Ok(()),
        }
    }

    /// Keys the database from a `PRAGMA key` value: reads the salt of an existing database
    /// (from the file, or — when the start of page 1 was lost in a crash — from the copy of
    /// page 1 in the hot journal or the WAL at `path`), or makes one for a new, empty file,
    /// and runs the KDF it records.
    pub(crate) fn set_key_from_pragma(
        &mut self,
        f: &mut dyn RawFile,
        key: &Key,
        new_db_params: Argon2Params,
        path: Option<&std::path::Path>,
    ) -> Result<(), Fault> {
        let from_logs = || path.map(salt_from_logs).transpose().map(Option::flatten);
        let salt = match read_salt(f) {
            Ok(Some(salt)) => Some(salt),
            // A database in WAL mode may live entirely in its log so far.
            Ok(None) => from_logs()?,
            Err(fault) => match from_logs()? {
                Some(salt) => Some(salt),
                // The first transaction of a new database crashed: its hot journal
                // records an empty database, which rolling back restores.
                None if path.is_some_and(hot_journal_of_empty_database) => None,
                None => return Err(fault),
            },
        };
        match salt {
            Some(salt) => {
                let master = sqlvault_crypto::derive_master_key_limited(
                    key,
                    &salt,
                    &sqlvault_crypto::KdfLimits::default(),
                )?;
                self.set_key(f, KeyMaterial { master, salt }, None)
            }
            None => {
                let salt = DatabaseSalt::generate_for(key, new_db_params)?;
                let master = sqlvault_crypto::derive_master_key_limited(
                    key,
                    &salt,
                    &sqlvault_crypto::KdfLimits::default(),
                )?;
                self.set_key(
                    f,
                    KeyMaterial { master, salt },
                    Some((key.clone(), new_db_params)),
                )
            }
        }
    }

    /// SQLite is taking a lock on the file: what this handle knew about its size may be stale.
    pub(crate) fn locking(&mut self) {
        self.known_size = 0;
    }

    /// The transaction ended (the lock dropped to SHARED or none): whatever a failed
    /// commit left half done is gone with it (its journal restores the file).
    pub(crate) fn unlocked(&mut self) {
        self.regroup = None;
        self.stash.clear();
        self.written.clear();
    }

    fn mark_written(&mut self, pgno: u32) {
        let (word, bit) = (pgno as usize / 64, pgno % 64);
        if self.written.len() <= word {
            self.written.resize(word + 1, 0);
        }
        self.written[word] |= 1 << bit;
    }

    fn was_written(&self, pgno: u32) -> bool {
        self.written
            .get(pgno as usize / 64)
            .is_some_and(|w| w & (1 << (pgno % 64)) != 0)
    }

    /// Before the commit's sync (`SQLITE_FCNTL_SYNC`, and `xSync`): the file must now hold
    /// everything the transaction wrote.
    pub(crate) fn before_sync(&mut self, f: &mut dyn RawFile) -> Result<(), Fault> {
        self.finish_regroup(f)?;
        if self.stash.is_empty() {
            Ok(())
        } else {
            // SQLite put data where the trailer goes and nothing claimed it: committing
            // would lose it.
            Err(Fault::Crypto(sqlvault_crypto::Error::ReserveNotZero))
        }
    }

    /// Keeps the bytes of a page's reserved tail that the trailer will take (see `stash`).
    fn stash_tail(&mut self, page: &[u8], pgno: u32) {
        let tail = &page[page.len() - TRAILER_LEN..];
        if tail.iter().all(|&b| b == 0) {
            if !self.stash.is_empty() {
                self.stash.remove(&pgno);
            }
        } else {
            let mut kept = [0u8; TRAILER_LEN];
            kept.copy_from_slice(tail);
            self.stash.insert(pgno, kept);
        }
    }

    pub(crate) fn read(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        self.touched |= offset > 0 || buf.len() > 100;
        if let Some(why) = self.shared.key_failed() {
            return Err(why);
        }
        if self.cipher().is_none() {
            // The header read SQLite makes while opening the file comes before any key can
            // be given; strict mode refuses the first read of a page.
            if self.strict && !(offset == 0 && buf.len() <= OPEN_HEADER_READ) {
                return Err(Fault::StrictNoKey);
            }
            return f.read_at(buf, offset);
        }
        if self.regroup.is_some() {
            return self.regroup_read(f, buf, offset);
        }
        let amt = buf.len();
        // A pager whose page size is not the file's (it changed under a backup from a
        // database of another page size) reads whole pages of its own size: decrypt the
        // file's pages that the read covers instead.
        if self.page_size.is_some_and(|p| p != amt) && page_size_on_disk(f)?.is_some_and(|p| p != amt) {
            return self.read_partial(f, buf, offset);
        }
        if is_page_size(amt) && offset.is_multiple_of(amt as u64) {
            let pgno = page_number(offset, amt)?;
            if pgno == 1 {
                // Page 1 in a pager's page size that is not the file's (a connection that
                // opened the database while it was empty, or one behind a backup from another
                // page size): SQLite learns the real size from this read.
                if page_size_on_disk(f)?.is_some_and(|p| p != amt) {
                    return self.read_partial(f, buf, offset);
                }
                self.page_size = Some(amt);
            }
            let filled = match f.read_at(buf, offset)? {
                Filled::Short => self.short_page(f, offset, amt),
                Filled::Full if buf.iter().all(|&b| b == 0) => self.zero_page(f, buf, pgno),
                Filled::Full => match self.open_page(buf, pgno) {
                    Ok(()) => Ok(Filled::Full),
                    Err(fault @ Fault::Tampered { .. }) => self.free_leaf_or(f, buf, pgno, fault),
                    Err(fault) => Err(fault),
                },
            }?;
            if let Some(tail) = self.stash.get(&pgno)
                && filled == Filled::Full
            {
                buf[amt - TRAILER_LEN..].copy_from_slice(tail);
            }
            return Ok(filled);
        }
        self.read_partial(f, buf, offset)
    }

    /// A read that is not one whole page (the 100-byte header read, the 16-byte change
    /// counter read): decrypt each page it touches and copy out the bytes asked for.
    fn read_partial(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        let Some(page_size) = page_size_on_disk(f)? else {
            buf.fill(0);
            return Ok(Filled::Short);
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(page_size, 0);
        let result = (|| {
            let mut done = 0usize;
            while done < buf.len() {
                let pos = offset + done as u64;
                let page_start = pos - pos % page_size as u64;
                if f.read_at(&mut scratch, page_start)? == Filled::Short {
                    self.short_page(f, page_start, page_size)?;
                    buf[done..].fill(0);
                    return Ok(Filled::Short);
                }
                let pgno = page_number(page_start, page_size)?;
                if pgno == 1 && offset == 0 && buf.len() <= OPEN_HEADER_READ {
                    return Ok(self.open_header(&mut scratch, buf));
                }
                if scratch.iter().all(|&b| b == 0) {
                    self.zero_page(f, &mut scratch, pgno)?;
                } else {
                    self.open_page(&mut scratch, pgno)?;
                }
                let in_page = (pos - page_start) as usize;
                let n = (page_size - in_page).min(buf.len() - done);
                buf[done..done + n].copy_from_slice(&scratch[in_page..in_page + n]);
                done += n;
            }
            Ok(Filled::Full)
        })();
        self.scratch = scratch;
        result
    }

    /// The header read SQLite makes while opening the file, before it checks for a hot
    /// journal. After a crash page 1 may be torn until the journal is played back, so a
    /// page 1 that does not open yields only its clear fields (page size, reserve…) and
    /// zeros: SQLite reads page 1 again, in full and authenticated, before using anything else.
    fn open_header(&mut self, page: &mut [u8], buf: &mut [u8]) -> Filled {
        let mut clear = [0u8; PAGE1_CLEAR_LEN];
        clear.copy_from_slice(&page[..PAGE1_CLEAR_LEN]);
        if self.open_page(page, 1).is_err() {
            page.fill(0);
            page[..SALT_LEN].copy_from_slice(SQLITE_MAGIC);
            page[SALT_LEN..PAGE1_CLEAR_LEN].copy_from_slice(&clear[SALT_LEN..]);
        }
        buf.copy_from_slice(&page[..buf.len()]);
        Filled::Full
    }

    fn open_page(&mut self, page: &mut [u8], pgno: u32) -> Result<(), Fault> {
        let mut prefix = [0u8; SALT_LEN];
        prefix.copy_from_slice(&page[..SALT_LEN]);
        let copy = (pgno == 1).then(|| page.to_vec());
        let Some(cipher) = self.cipher() else {
            return Err(Fault::NoKey);
        };
        if cipher.open(page, PagePosition::Database { pgno }).is_ok() {
            return Ok(());
        }
        let Some(mut copy) = copy else {
            return Err(Fault::Tampered {
                file: FileKind::Database,
                page: u64::from(pgno),
            });
        };
        // Page 1 under another salt: another connection may have created the database
        // first, after this one keyed the empty file.
        if let Ok(salt) = parse_salt(&prefix)
            && self.shared.adopt_salt(salt)?
            && let Some(cipher) = self.cipher()
            && cipher.open(&mut copy, PagePosition::Database { pgno }).is_ok()
        {
            page.copy_from_slice(&copy);
            return Ok(());
        }
        Err(classify_page1(&prefix))
    }

    /// The page count recorded in page 1 as stored (0 if it cannot be read).
    fn page_count_on_disk(&mut self, f: &mut dyn RawFile) -> Result<u64, Fault> {
        let Some(page_size) = page_size_on_disk(f).unwrap_or(None) else {
            return Ok(0);
        };
        let mut page = vec![0u8; page_size];
        if f.read_at(&mut page, 0)? == Filled::Short || self.open_page(&mut page, 1).is_err() {
            return Ok(0);
        }
        Ok(u64::from(u32::from_be_bytes([
            page[28], page[29], page[30], page[31],
        ])))
    }

    /// A page read that hit the end of the file. Inside a page, or for a page the header
    /// of page 1 counts, the file was cut short; past both, it is a page SQLite has not
    /// written yet (in WAL mode the log holds the database size) and reads as zeros.
    fn short_page(&mut self, f: &mut dyn RawFile, offset: u64, page_size: usize) -> Result<Filled, Fault> {
        let size = f.size()?;
        if size == 0 {
            return Ok(Filled::Short);
        }
        if size > offset {
            return Err(Fault::Truncated);
        }
        let pgno = offset / page_size as u64 + 1;
        if pgno <= self.page_count_on_disk(f)? {
            return Err(Fault::Truncated);
        }
        Ok(Filled::Short)
    }

    /// A page that is all zeros on disk. sqlvault never leaves one inside the pages a
    /// database counts (it seals the zero pages SQLite leaves out when it writes past the
    /// end), so there it is damage; past the count (a file extended in chunks) it reads as zeros.
    fn zero_page(&mut self, f: &mut dyn RawFile, buf: &mut [u8], pgno: u32) -> Result<Filled, Fault> {
        if pgno > 1 && u64::from(pgno) > self.page_count_on_disk(f)? {
            buf.fill(0);
            return Ok(Filled::Full);
        }
        if pgno == 1 {
            return Err(Fault::NotSqlvault);
        }
        let damaged = Fault::Tampered {
            file: FileKind::Database,
            page: u64::from(pgno),
        };
        self.free_leaf_or(f, buf, pgno, damaged)
    }

    /// A page that does not authenticate: if it lies past the page count of page 1, or is a
    /// leaf of the free list (as page 1 and the trunk pages on disk record it), it holds no data — SQLite's crash model lets a
    /// reused free page that was never journaled keep whatever a torn write left in it,
    /// and SQLite still reads such pages (to journal a whole sector, to back up every
    /// page) — so it reads as zeros. Any other page is `damaged`.
    fn free_leaf_or(
        &mut self,
        f: &mut dyn RawFile,
        buf: &mut [u8],
        pgno: u32,
        damaged: Fault,
    ) -> Result<Filled, Fault> {
        // Past the page count of page 1 a file may keep a tail that is not part of the
        // database (a crash before a rollback's truncation reached the disk): no data.
        if u64::from(pgno) > self.page_count_on_disk(f)? || self.is_free_leaf(f, pgno)? {
            buf.fill(0);
            return Ok(Filled::Full);
        }
        Err(damaged)
    }

    fn is_free_leaf(&mut self, f: &mut dyn RawFile, pgno: u32) -> Result<bool, Fault> {
        let Some(page_size) = page_size_on_disk(f).unwrap_or(None) else {
            return Ok(false);
        };
        let mut page = vec![0u8; page_size];
        if f.read_at(&mut page, 0)? == Filled::Short || self.open_page(&mut page, 1).is_err() {
            return Ok(false);
        }
        let word = |p: &[u8], i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        let usable = page_size - usize::from(page[20]);
        let mut trunk = word(&page, 32);
        let mut trunks_left = word(&page, 36);
        while trunk != 0 && trunks_left > 0 {
            if trunk == pgno {
                return Ok(false);
            }
            let at = (u64::from(trunk) - 1) * page_size as u64;
            if f.read_at(&mut page, at)? == Filled::Short || self.open_page(&mut page, trunk).is_err() {
                return Ok(false);
            }
            let leaves = (word(&page, 4) as usize).min((usable - 8) / 4);
            if (0..leaves).any(|i| word(&page, 8 + 4 * i) == pgno) {
                return Ok(true);
            }
            trunks_left = trunks_left.saturating_sub(1 + leaves as u32);
            trunk = word(&page, 0);
        }
        Ok(false)
    }

    /// `Err(Truncated)` if the file is shorter than the page count in its header says.
    pub(crate) fn check_size(&mut self, f: &mut dyn RawFile) -> Result<(), Fault> {
        if self.cipher().is_none() {
            return Ok(());
        }
        let Some(page_size) = page_size_on_disk(f)? else {
            return Ok(());
        };
        let mut count = [0u8; 4];
        self.read_partial(f, &mut count, 28)?;
        let pages = u64::from(u32::from_be_bytes(count));
        if f.size()? < pages * page_size as u64 {
            Err(Fault::Truncated)
        } else {
            Ok(())
        }
    }

    pub(crate) fn write(&mut self, f: &mut dyn RawFile, buf: &[u8], offset: u64) -> Result<(), Fault> {
        self.touched = true;
        if let Some(why) = self.shared.key_failed() {
            return Err(why);
        }
        if self.cipher().is_none() {
            if self.strict {
                return Err(Fault::StrictNoKey);
            }
            return f.write_at(buf, offset);
        }
        let amt = buf.len();
        if !(is_page_size(amt) && offset.is_multiple_of(amt as u64)) {
            return Err(Fault::UnexpectedIo("a database write that is not one whole page"));
        }
        if offset == 0 {
            // Page 1 declaring a page size that is not the pager's: a backup (or a VACUUM,
            // which copies through the backup code) writes a database of another page size
            // over this one, in the pager's page size.
            match declared_page_size(buf) {
                Some(declared) if declared > amt => return self.start_regroup(f, buf, declared),
                Some(declared) if declared < amt => return self.start_split(f, buf, declared),
                // A normal page 1, or the rollback of a failed page size change writing the
                // old page 1 back.
                _ => self.regroup = None,
            }
        } else if self.regroup.is_some() {
            return self.regroup_write(f, buf, offset);
        } else if let Some(size) = self.page_size
            && size < amt
            && page_size_on_disk(f)? == Some(size)
        {
            // The pager still writes in the page size the file had before this
            // transaction changed it: each write holds several of the file's pages.
            return self.write_split(f, buf, offset, size);
        }
        let pgno = page_number(offset, amt)?;
        if let Some((passed, tag)) = self.shared.take_passthrough()
            && passed == pgno
            && buf[amt - 16..] == tag
        {
            // A checkpoint copying the sealed page it read from the WAL.
            self.fill_gap(f, offset, amt)?;
            f.write_at(buf, offset)?;
            self.known_size = self.known_size.max(offset + amt as u64);
            return Ok(());
        }
        self.stash_tail(buf, pgno);
        self.mark_written(pgno);
        self.seal_and_write(f, buf, offset)
    }

    /// Seals `page` (a whole page of the file's page size) at its position and writes it.
    fn seal_and_write(&mut self, f: &mut dyn RawFile, page: &[u8], offset: u64) -> Result<(), Fault> {
        let size = page.len();
        let pgno = page_number(offset, size)?;
        self.fill_gap(f, offset, size)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(page);
        if scratch.len() > TRAILER_LEN {
            // Bytes kept aside by `stash_tail` until the transaction ends.
            let tail = scratch.len() - TRAILER_LEN;
            scratch[tail..].fill(0);
        }
        let sealed = match self.cipher() {
            Some(cipher) => cipher
                .seal(&mut scratch, PagePosition::Database { pgno })
                .map_err(Fault::from),
            None => Err(Fault::NoKey),
        };
        let result = sealed.and_then(|()| f.write_at(&scratch, offset));
        self.scratch = scratch;
        result?;
        if pgno == 1 {
            self.page_size = Some(size);
            self.shared.salt_settled();
        }
        self.known_size = self.known_size.max(offset + size as u64);
        Ok(())
    }

    /// Before a write at `offset`: if the file ends before it, seal zero pages into the
    /// gap, so that no page the database counts is ever a hole of zeros on disk.
    fn fill_gap(&mut self, f: &mut dyn RawFile, offset: u64, page_size: usize) -> Result<(), Fault> {
        if offset <= self.known_size {
            return Ok(());
        }
        let size = f.size()?;
        self.known_size = size;
        if size >= offset {
            return Ok(());
        }
        self.seal_zero_pages(f, size.next_multiple_of(page_size as u64), offset, page_size)
    }

    fn seal_zero_pages(
        &mut self,
        f: &mut dyn RawFile,
        from: u64,
        to: u64,
        page_size: usize,
    ) -> Result<(), Fault> {
        // Page 1 is never a zero page (it holds the header): a new database that spills
        // later pages first gets its page 1 with the commit, while SQLite keeps it pinned.
        let mut at = from.max(page_size as u64);
        let mut page = vec![0u8; page_size];
        while at < to {
            page.fill(0);
            let pgno = page_number(at, page_size)?;
            let Some(cipher) = self.cipher() else {
                return Err(Fault::NoKey);
            };
            cipher.seal(&mut page, PagePosition::Database { pgno })?;
            f.write_at(&page, at)?;
            at += page_size as u64;
        }
        self.known_size = self.known_size.max(to);
        Ok(())
    }

    /// `xTruncate`: shrinking passes through; growing (SQLite extends a file after a
    /// checkpoint or a rollback) seals zero pages instead of leaving a hole.
    pub(crate) fn truncate(&mut self, f: &mut dyn RawFile, size: u64) -> Result<(), Fault> {
        self.known_size = 0;
        if self.cipher().is_none() {
            return f.truncate(size);
        }
        self.finish_regroup(f)?;
        if let Some(p) = self.page_size {
            let pages = size / p as u64;
            self.stash.retain(|&pgno, _| u64::from(pgno) <= pages);
        }
        let current = f.size()?;
        let page_size = page_size_on_disk(f).ok().flatten();
        match page_size {
            Some(p) if size > current && size.is_multiple_of(p as u64) => {
                self.seal_zero_pages(f, current.next_multiple_of(p as u64), size, p)
            }
            _ => f.truncate(size),
        }
    }
}

/// The page size a plaintext page 1 declares in its header, if it is one.
fn declared_page_size(page: &[u8]) -> Option<usize> {
    if page.len() < HEADER_PREFIX || &page[..SALT_LEN] != SQLITE_MAGIC {
        return None;
    }
    let raw = usize::from(u16::from_be_bytes([page[16], page[17]]));
    let size = if raw == 1 { 65536 } else { raw };
    is_page_size(size).then_some(size)
}

fn page_number(offset: u64, page_size: usize) -> Result<u32, Fault> {
    u32::try_from(offset / page_size as u64 + 1).map_err(|_| Fault::UnexpectedIo("page number beyond 2^32"))
}

/// Why page 1 did not open, judged from its first 16 bytes as stored.
fn classify_page1(prefix: &[u8; SALT_LEN]) -> Fault {
    match parse_salt(prefix) {
        Ok(_) => Fault::WrongKey,
        Err(fault) => fault,
    }
}

/// The first 16 bytes of a database file as a salt: a plaintext SQLite header and
/// anything that is not a sqlvault salt are told apart.
fn parse_salt(prefix: &[u8; SALT_LEN]) -> Result<DatabaseSalt, Fault> {
    if prefix == SQLITE_MAGIC {
        return Err(Fault::Plaintext);
    }
    DatabaseSalt::parse(*prefix).map_err(|e| match e {
        sqlvault_crypto::Error::UnsupportedFormatVersion(v) => Fault::UnsupportedVersion(v),
        _ => Fault::NotSqlvault,
    })
}

/// The salt of the database at `db_path` from the copy of page 1 in its hot journal or its
/// WAL, for when the start of page 1 in the database file itself was lost (SQLite's crash
/// model lets an unsynced sector hold garbage; the journal holds page 1 as it was).
pub(crate) fn salt_from_logs(db_path: &std::path::Path) -> Result<Option<DatabaseSalt>, Fault> {
    let mut journal = db_path.as_os_str().to_owned();
    journal.push("-journal");
    if let Some(salt) = salt_in_journal(std::path::Path::new(&journal)) {
        return Ok(Some(salt));
    }
    let mut wal = db_path.as_os_str().to_owned();
    wal.push("-wal");
    Ok(salt_in_wal(std::path::Path::new(&wal)))
}

/// Whether the database at `db_path` has a hot journal (valid magic) whose header records
/// an original size of zero pages: the crash hit the first transaction of a new database,
/// and playing the journal back leaves it empty, whatever the crash left in the file.
pub(crate) fn hot_journal_of_empty_database(db_path: &std::path::Path) -> bool {
    let mut journal = db_path.as_os_str().to_owned();
    journal.push("-journal");
    let Ok(bytes) = std::fs::read(std::path::Path::new(&journal)) else {
        return false;
    };
    bytes.len() >= 28
        && bytes[..8] == [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]
        && bytes[16..20] == [0, 0, 0, 0]
}

fn salt_in_journal(path: &std::path::Path) -> Option<DatabaseSalt> {
    let bytes = std::fs::read(path).ok()?;
    let word = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let sector = word(20)? as usize;
    let page = word(24)? as usize;
    if !is_page_size(page) || !(32..=65536).contains(&sector) {
        return None;
    }
    let mut at = sector;
    while at + 8 + page <= bytes.len() {
        if word(at)? == 1 {
            let mut prefix = [0u8; SALT_LEN];
            prefix.copy_from_slice(&bytes[at + 4..at + 4 + SALT_LEN]);
            if let Ok(salt) = parse_salt(&prefix) {
                return Some(salt);
            }
        }
        at += page + 8;
    }
    None
}

fn salt_in_wal(path: &std::path::Path) -> Option<DatabaseSalt> {
    let bytes = std::fs::read(path).ok()?;
    let word = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let page = match word(8)? {
        1 => 65536,
        n => n as usize,
    };
    if !is_page_size(page) {
        return None;
    }
    let mut at = 32;
    let mut found = None;
    while at + 24 + page <= bytes.len() {
        if word(at)? == 1 && bytes[at + 8..at + 16] == bytes[16..24] {
            let mut prefix = [0u8; SALT_LEN];
            prefix.copy_from_slice(&bytes[at + 24..at + 24 + SALT_LEN]);
            if let Ok(salt) = parse_salt(&prefix) {
                found = Some(salt);
            }
        }
        at += page + 24;
    }
    found
}

/// The salt at the start of the file at `path`, read with std I/O before SQLite opens
/// it: `None` if the file is missing or empty.
pub(crate) fn salt_of_path(path: &std::path::Path) -> Result<Option<DatabaseSalt>, Fault> {
    use std::io::Read;
    let io_error = |_| Fault::Parent(libsqlite3_sys::SQLITE_IOERR_READ);
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    let mut prefix = [0u8; SALT_LEN];
    let mut got = 0;
    while got < SALT_LEN {
        match file.read(&mut prefix[got..]).map_err(io_error)? {
            0 => break,
            n => got += n,
        }
    }
    let from_file = match got {
        0 => Ok(None),
        SALT_LEN => parse_salt(&prefix).map(Some),
        _ => Err(Fault::NotSqlvault),
    };
    match from_file {
        Err(Fault::NotSqlvault) | Ok(None) => match salt_from_logs(path)? {
            Some(salt) => Ok(Some(salt)),
            None if hot_journal_of_empty_database(path) => Ok(None),
            None => from_file,
        },
        other => other,
    }
}

/// The salt of an existing database, or `None` for an empty file.
pub(crate) fn read_salt(f: &mut dyn RawFile) -> Result<Option<DatabaseSalt>, Fault> {
    let mut prefix = [0u8; SALT_LEN];
    match f.read_at(&mut prefix, 0)? {
        Filled::Short if f.size()? == 0 => Ok(None),
        Filled::Short => Err(Fault::NotSqlvault),
        Filled::Full => parse_salt(&prefix).map(Some),
    }
}

/// The page size recorded in the clear part of page 1, or `None` for an empty file.
fn page_size_on_disk(f: &mut dyn RawFile) -> Result<Option<usize>, Fault> {
    let mut header = [0u8; HEADER_PREFIX];
    if f.read_at(&mut header, 0)? == Filled::Short {
        return if f.size()? == 0 {
            Ok(None)
        } else {
            Err(Fault::Truncated)
        };
    }
    if &header[..SALT_LEN] == SQLITE_MAGIC {
        return Err(Fault::Plaintext);
    }
    let raw = usize::from(u16::from_be_bytes([header[16], header[17]]));
    let size = if raw == 1 { 65536 } else { raw };
    if is_page_size(size) {
        Ok(Some(size))
    } else {
        Err(Fault::NotSqlvault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::MemFile;
    use sqlvault_crypto::{MasterKey, TRAILER_LEN};

    fn keyed() -> MainDb {
        let shared = Arc::new(SharedDb::default());
        let salt = DatabaseSalt::generate(sqlvault_crypto::KdfKind::RawKey).unwrap();
        shared.set_key(KeyMaterial {
            master: MasterKey::from_bytes([1; 32]),
            salt,
        });
        MainDb::new(shared)
    }

    fn page1(size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size];
        p[..16].copy_from_slice(SQLITE_MAGIC);
        p[16..18].copy_from_slice(&((size % 65536) as u16).to_be_bytes());
        p[20] = TRAILER_LEN as u8;
        p[100..110].copy_from_slice(b"user data!");
        p
    }

    #[test]
    fn partial_reads_of_page1_see_the_plaintext_header() {
        let mut db = keyed();
        let mut f = MemFile::default();
        let p1 = page1(1024);
        db.write(&mut f, &p1, 0).unwrap();
        assert!(!f.0.windows(10).any(|w| w == b"user data!"));
        let mut head = [0u8; 100];
        assert_eq!(db.read(&mut f, &mut head, 0).unwrap(), Filled::Full);
        assert_eq!(&head[..], &p1[..100]);
        let mut counter = [0u8; 16];
        db.read(&mut f, &mut counter, 24).unwrap();
        assert_eq!(&counter[..], &p1[24..40]);
    }

    #[test]
    fn empty_file_reads_short() {
        let mut db = keyed();
        let mut head = [7u8; 100];
        assert_eq!(
            db.read(&mut MemFile::default(), &mut head, 0).unwrap(),
            Filled::Short
        );
        assert!(head.iter().all(|&b| b == 0));
    }

    #[test]
    fn partial_page_writes_are_refused() {
        let mut db = keyed();
        let err = db.write(&mut MemFile::default(), &[0u8; 100], 0).unwrap_err();
        assert!(matches!(err, Fault::UnexpectedIo(_)));
    }

    #[test]
    fn a_page_cut_short_is_truncation() {
        let mut db = keyed();
        let mut f = MemFile::default();
        db.write(&mut f, &page1(1024), 0).unwrap();
        db.write(&mut f, &vec![0u8; 1024], 1024).unwrap();
        f.0.truncate(1500);
        let mut buf = vec![0u8; 1024];
        assert_eq!(db.read(&mut f, &mut buf, 1024).unwrap_err(), Fault::Truncated);
        assert_eq!(db.read(&mut f, &mut buf, 2048).unwrap(), Filled::Short);
    }

    #[test]
    fn page1_failures_are_classified() {
        let mut db = keyed();
        let mut f = MemFile(page1(1024));
        let mut buf = vec![0u8; 1024];
        assert_eq!(db.read(&mut f, &mut buf, 0).unwrap_err(), Fault::Plaintext);
        let mut other = keyed();
        let mut f = MemFile::default();
        other.write(&mut f, &page1(1024), 0).unwrap();
        assert_eq!(db.read(&mut f, &mut buf, 0).unwrap_err(), Fault::WrongKey);
        f.0[12] = 99;
        assert_eq!(db.read(&mut f, &mut buf, 0).unwrap_err(), Fault::NotSqlvault);
    }

    fn page1_counting(size: usize, pages: u32) -> Vec<u8> {
        let mut p = page1(size);
        p[28..32].copy_from_slice(&pages.to_be_bytes());
        p
    }

    #[test]
    fn a_damaged_page_inside_the_database_is_tampering_but_past_its_count_holds_no_data() {
        let mut db = keyed();
        let mut f = MemFile::default();
        db.write(&mut f, &page1_counting(1024, 2), 0).unwrap();
        db.write(&mut f, &vec![0u8; 1024], 1024).unwrap();
        db.write(&mut f, &vec![0u8; 1024], 2048).unwrap();
        // Garbage in page 2 (counted) and page 3 (a tail past the count of 2).
        f.0[1024 + 10] ^= 1;
        f.0[2048 + 10] ^= 1;
        let mut buf = vec![0u8; 1024];
        assert_eq!(
            db.read(&mut f, &mut buf, 1024).unwrap_err(),
            Fault::Tampered {
                file: FileKind::Database,
                page: 2
            }
        );
        buf.fill(7);
        assert_eq!(db.read(&mut f, &mut buf, 2048).unwrap(), Filled::Full);
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn a_damaged_free_leaf_reads_as_zeros_but_a_damaged_trunk_does_not() {
        let mut db = keyed();
        let mut f = MemFile::default();
        let mut p1 = page1_counting(1024, 4);
        p1[32..36].copy_from_slice(&2u32.to_be_bytes()); // first trunk: page 2
        p1[36..40].copy_from_slice(&2u32.to_be_bytes()); // two free pages
        db.write(&mut f, &p1, 0).unwrap();
        let mut trunk = vec![0u8; 1024];
        trunk[4..8].copy_from_slice(&1u32.to_be_bytes());
        trunk[8..12].copy_from_slice(&3u32.to_be_bytes()); // leaf: page 3
        db.write(&mut f, &trunk, 1024).unwrap();
        db.write(&mut f, &vec![0u8; 1024], 2048).unwrap();
        db.write(&mut f, &vec![0u8; 1024], 3072).unwrap();
        f.0[2048 + 10] ^= 1;
        f.0[3072 + 10] ^= 1;
        let mut buf = vec![7u8; 1024];
        assert_eq!(db.read(&mut f, &mut buf, 2048).unwrap(), Filled::Full);
        assert!(buf.iter().all(|&b| b == 0));
        assert!(matches!(
            db.read(&mut f, &mut buf, 3072),
            Err(Fault::Tampered { .. })
        ));
        f.0[1024 + 10] ^= 1;
        assert!(matches!(
            db.read(&mut f, &mut buf, 1024),
            Err(Fault::Tampered { .. })
        ));
    }
}
