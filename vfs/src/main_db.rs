//! The main database file: page N sealed at `PagePosition::Database { pgno: N }`.

use std::sync::Arc;

use sqlvault_crypto::{
    Argon2Params, DatabaseSalt, Key, PAGE1_CLEAR_LEN, PageCipher, PagePosition, SALT_LEN, SQLITE_MAGIC,
    derive_master_key,
};

use crate::error::{Fault, FileKind};
use crate::raw::{Filled, RawFile, is_page_size};
use crate::shared::{KeyMaterial, SharedDb};

/// Bytes of page 1 that tell the page size before anything is decrypted.
const HEADER_PREFIX: usize = 24;

/// Size of the database header SQLite reads while opening a database file.
const OPEN_HEADER_READ: usize = 100;

pub(crate) struct MainDb {
    pub(crate) shared: Arc<SharedDb>,
    cipher: Option<PageCipher>,
    scratch: Vec<u8>,
    /// Whether SQLite has read a page or written through this handle. (The 100-byte
    /// header read SQLite does while opening the file does not count: it only learns the
    /// page size and reserve from it, which are in the clear.)
    touched: bool,
}

impl MainDb {
    pub(crate) fn new(shared: Arc<SharedDb>) -> MainDb {
        MainDb {
            shared,
            cipher: None,
            scratch: Vec::new(),
            touched: false,
        }
    }

    /// The cipher, once the database has a key; `None` means the file is used unencrypted.
    fn cipher(&mut self) -> Option<&mut PageCipher> {
        if self.cipher.is_none() {
            self.cipher = self.shared.key().map(|k| k.cipher());
        }
        self.cipher.as_mut()
    }

    /// Keys the database with material resolved elsewhere (the Rust API).
    pub(crate) fn set_key(&mut self, f: &mut dyn RawFile, key: KeyMaterial) -> Result<(), Fault> {
        if self.touched && f.size()? > 0 {
            return Err(Fault::KeyTooLate);
        }
        self.shared.set_key(key);
        self.cipher = None;
        Ok(())
    }

    /// Takes the key of the connection's main database, for a database opened without one:
    /// a new file gets it whole (a passphrase database's copy keeps its salt, so the same
    /// passphrase opens it); an existing raw-key database keeps its own salt. Anything
    /// else stays unkeyed and will not open if it is encrypted.
    pub(crate) fn inherit_key(&mut self, f: &mut dyn RawFile, from: KeyMaterial) -> Result<(), Fault> {
        let raw = |salt: &DatabaseSalt| matches!(salt.kdf(), Ok(sqlvault_crypto::KdfKind::RawKey));
        match read_salt(f) {
            Ok(None) if raw(&from.salt) => {
                let salt = DatabaseSalt::generate(sqlvault_crypto::KdfKind::RawKey)?;
                self.set_key(
                    f,
                    KeyMaterial {
                        master: from.master,
                        salt,
                    },
                )
            }
            Ok(None) => self.set_key(f, from),
            Ok(Some(salt)) if raw(&salt) && raw(&from.salt) => self.set_key(
                f,
                KeyMaterial {
                    master: from.master,
                    salt,
                },
            ),
            _ => Ok(()),
        }
    }

    /// Keys the database from a `PRAGMA key` value: reads the salt of an existing database
    /// (or makes one for a new, empty file) and runs the KDF it records.
    pub(crate) fn set_key_from_pragma(
        &mut self,
        f: &mut dyn RawFile,
        key: &Key,
        new_db_params: Argon2Params,
    ) -> Result<(), Fault> {
        let salt = match read_salt(f)? {
            Some(salt) => salt,
            None => DatabaseSalt::generate_for(key, new_db_params)?,
        };
        let master = derive_master_key(key, &salt)?;
        self.set_key(f, KeyMaterial { master, salt })
    }

    pub(crate) fn read(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        self.touched |= offset > 0 || buf.len() > 100;
        if self.cipher().is_none() {
            return f.read_at(buf, offset);
        }
        let amt = buf.len();
        if is_page_size(amt) && offset.is_multiple_of(amt as u64) {
            let pgno = page_number(offset, amt)?;
            return match f.read_at(buf, offset)? {
                Filled::Short => short_page(f, offset),
                Filled::Full => {
                    self.open_page(buf, pgno)?;
                    Ok(Filled::Full)
                }
            };
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
                    short_page(f, page_start)?;
                    buf[done..].fill(0);
                    return Ok(Filled::Short);
                }
                let pgno = page_number(page_start, page_size)?;
                if pgno == 1 && offset == 0 && buf.len() <= OPEN_HEADER_READ {
                    return Ok(self.open_header(&mut scratch, buf));
                }
                self.open_page(&mut scratch, pgno)?;
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
        let Some(cipher) = self.cipher() else {
            return Err(Fault::NoKey);
        };
        if cipher.open(page, PagePosition::Database { pgno }).is_ok() {
            return Ok(());
        }
        Err(if pgno == 1 {
            classify_page1(&prefix)
        } else {
            Fault::Tampered {
                file: FileKind::Database,
                page: u64::from(pgno),
            }
        })
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
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = (|| {
            let Some(cipher) = self.cipher() else {
                return f.write_at(buf, offset);
            };
            let amt = buf.len();
            if !(is_page_size(amt) && offset.is_multiple_of(amt as u64)) {
                return Err(Fault::UnexpectedIo("a database write that is not one whole page"));
            }
            let pgno = page_number(offset, amt)?;
            scratch.clear();
            scratch.extend_from_slice(buf);
            cipher.seal(&mut scratch, PagePosition::Database { pgno })?;
            f.write_at(&scratch, offset)
        })();
        self.scratch = scratch;
        result
    }
}

fn page_number(offset: u64, page_size: usize) -> Result<u32, Fault> {
    u32::try_from(offset / page_size as u64 + 1).map_err(|_| Fault::UnexpectedIo("page number beyond 2^32"))
}

/// A page read that hit the end of the file: fine past the end, a truncation inside a page.
fn short_page(f: &mut dyn RawFile, offset: u64) -> Result<Filled, Fault> {
    if f.size()? > offset {
        Err(Fault::Truncated)
    } else {
        Ok(Filled::Short)
    }
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
    DatabaseSalt::parse(*prefix).map_err(|_| Fault::NotSqlvault)
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
    match got {
        0 => Ok(None),
        SALT_LEN => parse_salt(&prefix).map(Some),
        _ => Err(Fault::NotSqlvault),
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
}
