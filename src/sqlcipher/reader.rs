//! Opening a SQLCipher database and reading its plaintext pages.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use zeroize::Zeroizing;

use super::key::{DerivedKeys, SALT_LEN};
use super::page::{PageCodec, SQLITE_HEADER};
use super::source::SqlcipherSource;
use super::wal::{WalIndex, WalSummary};
use super::{Error, HashAlgorithm, SqlcipherKey, SqlcipherParams};

/// The page that holds SQLite's lock bytes (offset 2^30). SQLite never writes it, so it holds
/// no data and no HMAC; the reader returns it as zeros.
const PENDING_BYTE: u64 = 0x4000_0000;

/// Page sizes SQLite supports, tried by [`SqlcipherReader::detect`] after each version's default.
const PAGE_SIZES: [u32; 8] = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

/// A SQLCipher 2, 3 or 4 database opened for reading, with its key checked against page 1.
///
/// Every page it returns has passed its HMAC check; pages come back as SQLite wrote them before
/// encryption ("SQLite format 3" header on page 1, reserved tail zeroed), with the committed
/// frames of the WAL applied.
///
/// ```no_run
/// use sqlvault::sqlcipher::{SqlcipherKey, SqlcipherReader, SqlcipherSource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = SqlcipherKey::parse(&std::env::var("SOURCE_KEY")?);
/// let reader = SqlcipherReader::detect(SqlcipherSource::open_path("app.db")?, &key)?;
/// println!("SQLCipher {:?}, {} pages", reader.compatibility(), reader.page_count());
/// let image = reader.decrypt_image()?; // zeroized on drop
/// // rusqlite: conn.deserialize_read_exact("main", &image[..], image.len(), true)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SqlcipherReader {
    source: SqlcipherSource,
    wal: Option<WalIndex>,
    codec: PageCodec,
    params: SqlcipherParams,
    page_count: u32,
}

/// Why one parameter set did not open the database.
enum Fail {
    /// Page 1 did not authenticate.
    Auth,
    /// The file is shorter than one page of this size.
    Short,
    /// The WAL header names another page size.
    WalPageSize,
    /// Anything else: reported as is.
    Fatal(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Fatal(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Fatal(Error::Io(e))
    }
}

/// Derived keys and WAL scans shared by the attempts of one open, so that each PBKDF2 runs
/// once per (salt, KDF settings) however many page sizes are tried.
#[derive(Default)]
struct Cache {
    keys: KeyCache,
    /// Page size → the WAL scanned for it (`None`: the WAL names another page size).
    wal: HashMap<u32, Option<WalIndex>>,
}

/// (salt, KDF hash, KDF iterations, fast KDF iterations) → derived keys.
type KeyCache = HashMap<([u8; SALT_LEN], HashAlgorithm, u32, u32), DerivedKeys>;

impl SqlcipherReader {
    /// Opens `source` with exactly these parameters.
    ///
    /// # Errors
    /// - [`Error::BadParameters`] if `params` do not validate or the passphrase is empty;
    /// - [`Error::NotEncrypted`] for a plaintext SQLite database;
    /// - [`Error::WrongKeyOrNotSqlcipher`] if page 1 does not authenticate;
    /// - [`Error::Truncated`] if the file is shorter than the database;
    /// - [`Error::Malformed`] if page 1 authenticates but contradicts the parameters or the WAL;
    /// - [`Error::Io`] if reading fails.
    pub fn open(source: SqlcipherSource, key: &SqlcipherKey, params: SqlcipherParams) -> Result<Self, Error> {
        params.validate()?;
        check_not_plaintext(&source)?;
        let mut cache = Cache::default();
        match attempt(&source, key, &params, &mut cache) {
            Ok((codec, wal, page_count)) => Ok(SqlcipherReader {
                source,
                wal,
                codec,
                params,
                page_count,
            }),
            Err(Fail::Auth) => Err(Error::WrongKeyOrNotSqlcipher { attempts: 1 }),
            Err(Fail::Short) => Err(Error::Truncated {
                len: source.db.len(),
                needed: u64::from(params.page_size),
            }),
            Err(Fail::WalPageSize) => Err(Error::Malformed(
                "the WAL's page size differs from the page size given",
            )),
            Err(Fail::Fatal(e)) => Err(e),
        }
    }

    /// Opens `source` by trying SQLCipher 4's, then 3's, then 2's default settings, each with
    /// its default page size first and then every other page size. [`Self::compatibility`] and
    /// [`Self::params`] tell which matched.
    ///
    /// Each PBKDF2 runs once per version (the page sizes reuse its keys); a wrong passphrase
    /// costs the three KDFs (about 256,000 + 64,000 + 4,000 iterations).
    ///
    /// # Errors
    /// As [`Self::open`]; [`Error::WrongKeyOrNotSqlcipher`] when no setting authenticates page 1.
    pub fn detect(source: SqlcipherSource, key: &SqlcipherKey) -> Result<Self, Error> {
        Self::detect_with(
            source,
            key,
            &[
                SqlcipherParams::v4(),
                SqlcipherParams::v3(),
                SqlcipherParams::v2(),
            ],
        )
    }

    /// Like [`Self::detect`] with the caller's list of settings, tried in order, each with its
    /// own page size first and then every other page size.
    ///
    /// # Errors
    /// As [`Self::detect`]; [`Error::BadParameters`] if a candidate does not validate.
    pub fn detect_with(
        source: SqlcipherSource,
        key: &SqlcipherKey,
        candidates: &[SqlcipherParams],
    ) -> Result<Self, Error> {
        if candidates.is_empty() {
            return Err(Error::BadParameters("no candidate settings to try"));
        }
        for c in candidates {
            c.validate()?;
        }
        check_not_plaintext(&source)?;
        let mut cache = Cache::default();
        let mut attempts = 0;
        let mut shortest_needed = None::<u32>;
        for candidate in candidates {
            let sizes = std::iter::once(candidate.page_size)
                .chain(PAGE_SIZES.into_iter().filter(|&s| s != candidate.page_size));
            for page_size in sizes {
                let params = candidate.with_page_size(page_size);
                if params.validate().is_err() {
                    continue;
                }
                match attempt(&source, key, &params, &mut cache) {
                    Ok((codec, wal, page_count)) => {
                        return Ok(SqlcipherReader {
                            source,
                            wal,
                            codec,
                            params,
                            page_count,
                        });
                    }
                    Err(Fail::Auth) => attempts += 1,
                    Err(Fail::Short) => {
                        shortest_needed = Some(shortest_needed.map_or(page_size, |n| n.min(page_size)));
                    }
                    Err(Fail::WalPageSize) => {}
                    Err(Fail::Fatal(e)) => return Err(e),
                }
            }
        }
        match (attempts, shortest_needed) {
            (0, Some(needed)) => Err(Error::Truncated {
                len: source.db.len(),
                needed: u64::from(needed),
            }),
            _ => Err(Error::WrongKeyOrNotSqlcipher { attempts }),
        }
    }

    /// The settings that opened the database (the page size is the detected one).
    pub fn params(&self) -> SqlcipherParams {
        self.params
    }

    /// Which SQLCipher major version's default settings these are (2, 3 or 4), if any.
    pub fn compatibility(&self) -> Option<u8> {
        self.params.compatibility()
    }

    /// Page size in bytes.
    pub fn page_size(&self) -> u32 {
        self.params.page_size
    }

    /// Pages in the database, with the committed WAL frames applied.
    pub fn page_count(&self) -> u32 {
        self.page_count
    }

    /// What was found in the WAL, if the source has one.
    pub fn wal_summary(&self) -> Option<WalSummary> {
        self.wal.as_ref().map(|w| w.summary)
    }

    /// Reads page `pgno` (1-based) into `out`, which must be [`Self::page_size`] bytes long.
    /// The page comes from its latest committed WAL frame if there is one, else from the
    /// database file.
    ///
    /// # Errors
    /// [`Error::TamperedPage`] / [`Error::TamperedWalFrame`] if the page does not authenticate,
    /// [`Error::PageOutOfRange`], [`Error::BadParameters`] for a wrongly sized `out`,
    /// [`Error::Truncated`], [`Error::Io`]. After any error but the last two, `out` is all
    /// zeros: no byte of an unauthenticated page is ever written to it.
    pub fn read_page(&self, pgno: u32, out: &mut [u8]) -> Result<(), Error> {
        let page_size = self.params.page_size as usize;
        if out.len() != page_size {
            return Err(Error::BadParameters("output buffer is not one page long"));
        }
        out.fill(0);
        if pgno == 0 || pgno > self.page_count {
            return Err(Error::PageOutOfRange {
                pgno,
                page_count: self.page_count,
            });
        }
        let mut raw = vec![0u8; page_size];
        if let Some(&(frame, at)) = self.wal.as_ref().and_then(|w| w.frames.get(&pgno)) {
            let Some(wal) = &self.source.wal else {
                return Err(Error::Malformed("WAL index without a WAL"));
            };
            wal.read_exact_at(&mut raw, at)?;
            return self
                .codec
                .open(pgno, &raw, out)
                .map_err(|_| Error::TamperedWalFrame { frame, pgno });
        }
        if pgno == pending_byte_page(self.params.page_size) {
            return Ok(()); // SQLite's lock-byte page: never written, returned as zeros
        }
        let offset = u64::from(pgno - 1) * page_size as u64;
        let needed = offset + page_size as u64;
        if needed > self.source.db.len() {
            return Err(Error::Truncated {
                len: self.source.db.len(),
                needed,
            });
        }
        self.source.db.read_exact_at(&mut raw, offset)?;
        self.codec
            .open(pgno, &raw, out)
            .map_err(|_| Error::TamperedPage { pgno })
    }

    /// Page `pgno` in a new buffer that is zeroized when dropped.
    ///
    /// # Errors
    /// As [`Self::read_page`].
    pub fn page(&self, pgno: u32) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut out = Zeroizing::new(vec![0u8; self.params.page_size as usize]);
        self.read_page(pgno, &mut out)?;
        Ok(out)
    }

    /// Every page in order, as `(pgno, page)`. Each page succeeds or fails on its own: a page
    /// that does not authenticate yields its error and the iteration goes on.
    pub fn pages(&self) -> impl Iterator<Item = Result<(u32, Zeroizing<Vec<u8>>), Error>> + '_ {
        (1..=self.page_count).map(move |pgno| self.page(pgno).map(|p| (pgno, p)))
    }

    /// The whole plaintext database in memory, ready for `sqlite3_deserialize` (rusqlite:
    /// `Connection::deserialize_read_exact`), zeroized when dropped. No plaintext touches disk.
    ///
    /// The image is page for page what [`Self::read_page`] returns, except that a WAL-mode
    /// database is switched to rollback mode (header bytes 18 and 19 set from 2 to 1), because
    /// SQLite refuses to use a deserialized database in WAL mode (see `sqlite3_deserialize`'s
    /// documentation). The image keeps SQLCipher's page size and reserve (header byte 20).
    ///
    /// # Errors
    /// As [`Self::read_page`] for the first page that fails, or [`Error::ImageTooLarge`].
    pub fn decrypt_image(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.decrypt_image_with_progress(|_, _| {})
    }

    /// [`Self::decrypt_image`], calling `progress(pages_done, page_count)` after each page.
    ///
    /// # Errors
    /// As [`Self::decrypt_image`].
    pub fn decrypt_image_with_progress(
        &self,
        mut progress: impl FnMut(u32, u32),
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let page_size = self.params.page_size as usize;
        let bytes = u64::from(self.page_count) * page_size as u64;
        let too_large = || Error::ImageTooLarge { bytes };
        let len = usize::try_from(bytes).map_err(|_| too_large())?;
        let mut image = Zeroizing::new(Vec::new());
        image.try_reserve_exact(len).map_err(|_| too_large())?;
        image.resize(len, 0);
        for (i, chunk) in image.chunks_exact_mut(page_size).enumerate() {
            let pgno = i as u32 + 1;
            self.read_page(pgno, chunk)?;
            progress(pgno, self.page_count);
        }
        if image[18] == 2 && image[19] == 2 {
            image[18] = 1;
            image[19] = 1;
        }
        Ok(image)
    }
}

fn pending_byte_page(page_size: u32) -> u32 {
    (PENDING_BYTE / u64::from(page_size)) as u32 + 1
}

fn check_not_plaintext(source: &SqlcipherSource) -> Result<(), Error> {
    if source.db.len() >= SQLITE_HEADER.len() as u64 {
        let mut head = [0u8; 16];
        source.db.read_exact_at(&mut head, 0)?;
        if &head == SQLITE_HEADER {
            return Err(Error::NotEncrypted);
        }
    }
    Ok(())
}

/// Tries one parameter set: authenticates page 1 and works out the page count.
fn attempt(
    source: &SqlcipherSource,
    key: &SqlcipherKey,
    params: &SqlcipherParams,
    cache: &mut Cache,
) -> Result<(PageCodec, Option<WalIndex>, u32), Fail> {
    let Cache { keys, wal: scans } = cache;
    let wal = match &source.wal {
        None => None,
        Some(bytes) => {
            let scanned = match scans.entry(params.page_size) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => v.insert(WalIndex::scan(bytes, params.page_size)?),
            };
            Some(scanned.as_ref().ok_or(Fail::WalPageSize)?)
        }
    };
    let (codec, page_count) = authenticate(source, key, params, keys, wal)?;
    Ok((codec, wal.cloned(), page_count))
}

fn authenticate(
    source: &SqlcipherSource,
    key: &SqlcipherKey,
    params: &SqlcipherParams,
    key_cache: &mut KeyCache,
    wal: Option<&WalIndex>,
) -> Result<(PageCodec, u32), Fail> {
    let page_size = params.page_size as usize;
    let db_len = source.db.len();

    // Page 1 as stored: from its latest committed WAL frame, else from the database file.
    let mut raw = vec![0u8; page_size];
    let wal_frame = match (wal.and_then(|w| w.frames.get(&1)), &source.wal) {
        (Some(&(frame, at)), Some(wal_bytes)) => {
            wal_bytes.read_exact_at(&mut raw, at)?;
            Some(frame)
        }
        _ if db_len >= page_size as u64 => {
            source.db.read_exact_at(&mut raw, 0)?;
            None
        }
        _ => return Err(Fail::Short),
    };

    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&raw[..SALT_LEN]);
    let salt = key.salt().unwrap_or(salt);
    let cache_key = (salt, params.kdf_algorithm, params.kdf_iter, params.fast_kdf_iter);
    let keys = match key_cache.get(&cache_key) {
        Some(k) => k.clone(),
        None => {
            let k = key.derive(&salt, params)?;
            key_cache.insert(cache_key, k.clone());
            k
        }
    };
    let codec = PageCodec::new(keys, params);
    let mut page1 = Zeroizing::new(vec![0u8; page_size]);
    if codec.open(1, &raw, &mut page1).is_err() {
        // If page 1 came from the WAL and the database file's page 1 authenticates, the key
        // is right and the WAL frame is what is wrong.
        if let Some(frame) = wal_frame
            && db_len >= page_size as u64
        {
            source.db.read_exact_at(&mut raw, 0)?;
            if codec.open(1, &raw, &mut page1).is_ok() {
                return Err(Error::TamperedWalFrame { frame, pgno: 1 }.into());
            }
        }
        return Err(Fail::Auth);
    }

    // Page 1 is authentic: from here on, disagreements are errors, not a reason to try on.
    let header_page_size = match u16::from_be_bytes([page1[16], page1[17]]) {
        1 => 65536,
        n => u32::from(n),
    };
    if header_page_size != params.page_size {
        return Err(Error::Malformed("page 1's header names another page size").into());
    }
    if usize::from(page1[20]) != params.reserve() {
        return Err(Error::Malformed(
            "page 1's header reserves a different number of bytes than the HMAC needs",
        )
        .into());
    }
    if !db_len.is_multiple_of(page_size as u64) {
        return Err(Error::Truncated {
            len: db_len,
            needed: db_len.next_multiple_of(page_size as u64),
        }
        .into());
    }
    let file_pages = db_len / page_size as u64;
    let page_count = match wal.and_then(|w| w.summary.db_size_after_commit) {
        Some(n) => n,
        None => {
            // The in-header size counts only if the change counter (offset 24) equals the
            // version-valid-for number (offset 92); else SQLite sizes by the file
            // (https://www.sqlite.org/fileformat2.html#in_header_database_size).
            let in_header = u32::from_be_bytes([page1[28], page1[29], page1[30], page1[31]]);
            if in_header != 0 && page1[24..28] == page1[92..96] {
                in_header
            } else {
                u32::try_from(file_pages).map_err(|_| Error::Malformed("more pages than SQLite allows"))?
            }
        }
    };
    if page_count == 0 {
        return Err(Error::Malformed("the database has no pages").into());
    }
    // Every page must be somewhere: in the WAL, in the file, or be the lock-byte page.
    if u64::from(page_count) > file_pages {
        let pending = pending_byte_page(params.page_size);
        let missing = (file_pages as u32 + 1..=page_count)
            .find(|&pgno| pgno != pending && !wal.is_some_and(|w| w.frames.contains_key(&pgno)));
        if let Some(pgno) = missing {
            return Err(Error::Truncated {
                len: db_len,
                needed: u64::from(pgno) * page_size as u64,
            }
            .into());
        }
    }
    Ok((codec, page_count))
}
