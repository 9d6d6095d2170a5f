//! Rollback journals: each record holds a sealed database page, bound to its record and
//! journal header; record checksums on disk cover the sealed bytes.
//!
//! A journal (sqlite.org/fileformat2.html#rollbackjournal) holds sector-aligned headers
//! and records of a 4-byte page number, the page, and a 4-byte checksum, written by the
//! pager as three separate writes. Page numbers, checksums and headers stay in the clear.
//!
//! The record's page is the sealed *database* page, in the [`SealContext::Journal`] of the
//! record's offset and its header's checksum nonce (`cksumInit`), and whether that header
//! counts its records. The checksum on disk is SQLite's journal checksum of the sealed
//! bytes, so a SQLite without the key that finds the journal hot plays it back completely
//! and restores valid sealed pages. To a keyed SQLite the VFS hands the plaintext page and
//! the checksum of the plaintext.
//!
//! A record that does not authenticate, inside the count its synced header declares, is
//! an error naming the journal: it cannot be a torn write (SQLite syncs the records before
//! it writes the count). Anywhere else (an unsynced journal, past the count) it is a torn
//! tail: the page comes back as zeros with a checksum certain to fail, so playback stops
//! there and writes nothing from it.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlvault_crypto::{PagePosition, SealContext};

use crate::error::{Fault, FileKind};
use crate::raw::{Filled, RawFile, is_page_size};
use crate::shared::{CachedCipher, SharedDb};

/// Bytes of a journal header that carry data (magic, record count, checksum seed,
/// original size, sector size, page size); the rest of the header block is zeros.
const HEADER_FIELDS: usize = 28;

const JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];

/// SQLite's lock-byte offset: the page holding it never enters a journal, and a record
/// with its page number marks the super-journal name instead.
const PENDING_BYTE: u64 = 0x4000_0000;

/// What a record's seal is bound to, from the header that governs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeaderInfo {
    nonce: u32,
    /// The header counts its records (synced journal): written with a zero magic and
    /// record count, finalised after the records were synced.
    counted: bool,
}

/// A journal header as read back from disk.
#[derive(Debug, Clone, Copy)]
struct HeaderOnDisk {
    offset: u64,
    info: HeaderInfo,
    records: u32,
    sector_size: u64,
}

/// SQLite's journal record checksum (`pager_cksum`): the seed plus every 200th byte.
fn record_checksum(nonce: u32, page: &[u8]) -> u32 {
    let mut ck = nonce;
    let mut i = page.len() as i64 - 200;
    while i > 0 {
        ck = ck.wrapping_add(u32::from(page[i as usize]));
        i -= 200;
    }
    ck
}

pub(crate) struct JournalFile {
    shared: Arc<SharedDb>,
    cipher: CachedCipher,
    scratch: Vec<u8>,
    /// The page number just written: (offset where its page would start, page number).
    written_pgno: Option<(u64, u32)>,
    /// Where the checksum of the record just sealed goes, and its value over the sealed bytes.
    checksum_at: Option<(u64, u32)>,
    /// Headers this handle wrote, by offset, with their fields as written.
    written_headers: BTreeMap<u64, HeaderInfo>,
    header_fields: BTreeMap<u64, [u8; HEADER_FIELDS]>,
    /// The header SQLite read last (playback).
    read_header: Option<HeaderOnDisk>,
    /// The page number just read, for the page read that follows it.
    read_pgno: Option<(u64, u32)>,
    /// The checksum SQLite is about to read for the record just played back.
    read_checksum: Option<(u64, u32)>,
    /// A record was written since the last completed sync.
    records_since_sync: bool,
}

/// Where sqlvault's durability mark sits in a journal header: right after SQLite's fields.
const MARK_AT: u64 = HEADER_FIELDS as u64;

/// The keyed mark that says "the records this header counts were synced before the count
/// was written" (synchronous=FULL does that; NORMAL writes and syncs both together, so a
/// crash may leave counted records torn). Bound to the header's nonce and record count.
fn durability_context(nonce: u32, records: u32) -> SealContext {
    // Record offsets never have the top bit set, so this context is no record's.
    SealContext::Journal {
        journal_nonce: nonce,
        offset: (1 << 63) | u64::from(records),
        counted: true,
    }
}

impl JournalFile {
    pub(crate) fn new(shared: Arc<SharedDb>) -> JournalFile {
        JournalFile {
            shared,
            cipher: CachedCipher::new(),
            scratch: Vec::new(),
            written_pgno: None,
            checksum_at: None,
            written_headers: BTreeMap::new(),
            header_fields: BTreeMap::new(),
            read_header: None,
            read_pgno: None,
            read_checksum: None,
            records_since_sync: false,
        }
    }

    /// A sync of the journal completed.
    pub(crate) fn synced(&mut self) {
        self.records_since_sync = false;
    }

    pub(crate) fn write(&mut self, f: &mut dyn RawFile, buf: &[u8], offset: u64) -> Result<(), Fault> {
        if self.cipher.get(&self.shared).is_none() {
            return f.write_at(buf, offset);
        }
        let amt = buf.len();
        let written_pgno = self.written_pgno.take();
        let checksum_at = self.checksum_at.take();
        if amt == 4 {
            if let Some((at, disk_ck)) = checksum_at
                && at == offset
            {
                return f.write_at(&disk_ck.to_be_bytes(), offset);
            }
            self.written_pgno = Some((offset + 4, u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])));
            return f.write_at(buf, offset);
        }
        if is_page_size(amt)
            && let Some((at, pgno)) = written_pgno
            && at == offset
            && u64::from(pgno) != PENDING_BYTE / amt as u64 + 1
        {
            let record = offset - 4;
            let Some(info) = self.written_headers.range(..=record).next_back().map(|(_, i)| *i) else {
                return Err(Fault::UnexpectedIo("a journal record before any journal header"));
            };
            let ctx = SealContext::Journal {
                journal_nonce: info.nonce,
                offset: record,
                counted: info.counted,
            };
            self.scratch.clear();
            self.scratch.extend_from_slice(buf);
            let Some(cipher) = self.cipher.get(&self.shared) else {
                return Err(Fault::NoKey);
            };
            cipher.seal_in(&mut self.scratch, PagePosition::Database { pgno }, ctx)?;
            f.write_at(&self.scratch, offset)?;
            self.checksum_at = Some((offset + amt as u64, record_checksum(info.nonce, &self.scratch)));
            self.records_since_sync = true;
            return Ok(());
        }
        if amt == 12
            && buf[..8] == JOURNAL_MAGIC
            && let Some(info) = self.written_headers.get(&offset).copied()
        {
            // SQLite finalising a header with its record count. If the records were
            // synced first, say so in the header, under a keyed mark — in the same single
            // write, so SQLite's sequence of writes and syncs stays as it is.
            let records = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
            let mark = if self.records_since_sync {
                [0u8; 4]
            } else {
                let Some(cipher) = self.cipher.get(&self.shared) else {
                    return Err(Fault::NoKey);
                };
                cipher
                    .context_tag(durability_context(info.nonce, records))
                    .unwrap_or([0; 4])
            };
            let Some(fields) = self.header_fields.get(&offset).copied() else {
                return f.write_at(buf, offset);
            };
            let mut out = [0u8; HEADER_FIELDS + 4];
            out[..HEADER_FIELDS].copy_from_slice(&fields);
            out[..12].copy_from_slice(buf);
            out[MARK_AT as usize..].copy_from_slice(&mark);
            return f.write_at(&out, offset);
        }
        if amt >= HEADER_FIELDS && buf[HEADER_FIELDS..].iter().any(|&b| b != 0) {
            if amt >= 512 {
                // Only headers are this large besides pages; never let page data out in the clear.
                return Err(Fault::UnexpectedIo(
                    "a journal write that is neither a record nor a header",
                ));
            }
            // A super-journal name (multi-database commit): file names only.
            return f.write_at(buf, offset);
        }
        if amt >= HEADER_FIELDS {
            let counted = buf[..12].iter().all(|&b| b == 0);
            let unsynced = buf[..8] == JOURNAL_MAGIC && buf[8..12] == [0xff; 4];
            if counted || unsynced {
                let nonce = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
                self.written_headers.insert(offset, HeaderInfo { nonce, counted });
                let mut fields = [0u8; HEADER_FIELDS];
                fields.copy_from_slice(&buf[..HEADER_FIELDS]);
                self.header_fields.insert(offset, fields);
            }
        }
        f.write_at(buf, offset)
    }

    pub(crate) fn truncated(&mut self, size: u64) {
        self.written_headers.retain(|&at, _| at < size);
        self.header_fields.retain(|&at, _| at < size);
    }

    pub(crate) fn read(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        if self.cipher.get(&self.shared).is_none() {
            return f.read_at(buf, offset);
        }
        let amt = buf.len();
        let read_pgno = self.read_pgno.take();
        let read_checksum = self.read_checksum.take();
        if amt == 8 {
            let filled = f.read_at(buf, offset)?;
            if filled == Filled::Full && buf[..] == JOURNAL_MAGIC {
                self.read_header = self.header_on_disk(f, offset)?;
            }
            return Ok(filled);
        }
        if amt == 4 {
            if let Some((at, ck)) = read_checksum
                && at == offset
            {
                buf.copy_from_slice(&ck.to_be_bytes());
                return Ok(Filled::Full);
            }
            let filled = f.read_at(buf, offset)?;
            self.read_pgno = Some((offset + 4, u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])));
            return Ok(filled);
        }
        if !is_page_size(amt) || offset < 4 {
            return f.read_at(buf, offset);
        }
        let pgno = match read_pgno {
            Some((at, pgno)) if at == offset => pgno,
            _ => {
                let mut raw = [0u8; 4];
                f.read_at(&mut raw, offset - 4)?;
                u32::from_be_bytes(raw)
            }
        };
        let mut record = std::mem::take(&mut self.scratch);
        record.resize(amt + 4, 0);
        let result = self.play_record(f, buf, offset, pgno, &mut record);
        self.scratch = record;
        result
    }

    /// Reads the journal header at `offset` as stored.
    fn header_on_disk(&mut self, f: &mut dyn RawFile, offset: u64) -> Result<Option<HeaderOnDisk>, Fault> {
        let mut h = [0u8; HEADER_FIELDS + 4];
        if f.read_at(&mut h, offset)? == Filled::Short {
            return Ok(None);
        }
        let word = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let records = word(8);
        let nonce = word(12);
        let durable = match self.cipher.get(&self.shared) {
            Some(cipher) => {
                cipher.context_tag(durability_context(nonce, records)) == Some([h[28], h[29], h[30], h[31]])
            }
            None => false,
        };
        Ok(Some(HeaderOnDisk {
            offset,
            info: HeaderInfo {
                nonce,
                counted: records != 0xffff_ffff,
            },
            // Only records known to have been synced before the count count as declared.
            records: if durable { records } else { 0 },
            sector_size: u64::from(word(20)),
        }))
    }

    /// Reads the record whose page starts at `offset` and hands SQLite its plaintext page
    /// (and, next, the plaintext checksum), zeros (and a failing checksum) for a torn
    /// record, or an error for a damaged record the header declares.
    fn play_record(
        &mut self,
        f: &mut dyn RawFile,
        buf: &mut [u8],
        offset: u64,
        pgno: u32,
        record: &mut [u8],
    ) -> Result<Filled, Fault> {
        let amt = buf.len();
        let start = offset - 4;
        let checksum_at = offset + amt as u64;
        let torn = |this: &mut Self, buf: &mut [u8], nonce: u32| {
            buf.fill(0);
            // SQLite's checksum of a zero page is the nonce itself: anything else fails.
            this.read_checksum = Some((checksum_at, nonce.wrapping_add(1)));
            Ok(Filled::Full)
        };
        let read_header = self.read_header.filter(|h| h.offset <= start);
        let written = self
            .written_headers
            .range(..=start)
            .next_back()
            .map(|(at, i)| (*at, *i));
        // The header that governs this record: the one this handle wrote, or the one
        // SQLite read before playing the records after it.
        let (info, declared) = match (written, read_header) {
            (Some((at, info)), h) if h.is_none_or(|h| h.offset <= at) => (info, false),
            (Some((_, info)), None) => (info, false),
            (_, Some(h)) => {
                let first = h.offset + h.sector_size;
                let index = start.checked_sub(first).map(|d| d / (amt as u64 + 8));
                let declared = h.info.counted && index.is_some_and(|i| i < u64::from(h.records));
                (h.info, declared)
            }
            (None, None) => {
                buf.fill(0);
                self.read_checksum = Some((checksum_at, 1));
                return Ok(Filled::Full);
            }
        };
        if f.read_at(record, offset)? == Filled::Short {
            if declared {
                return Err(Fault::Tampered {
                    file: FileKind::Journal,
                    page: u64::from(pgno),
                });
            }
            return torn(self, buf, info.nonce);
        }
        let (page, stored) = record.split_at_mut(amt);
        let stored_ck = u32::from_be_bytes([stored[0], stored[1], stored[2], stored[3]]);
        let checksum_ok = record_checksum(info.nonce, page) == stored_ck;
        let ctx = |counted| SealContext::Journal {
            journal_nonce: info.nonce,
            offset: start,
            counted,
        };
        let Some(cipher) = self.cipher.get(&self.shared) else {
            return Err(Fault::NoKey);
        };
        let relabelled = cipher.was_sealed_in(page, ctx(!info.counted));
        let authentic = checksum_ok
            && cipher
                .open_in(page, PagePosition::Database { pgno }, ctx(info.counted))
                .is_ok();
        if authentic {
            buf.copy_from_slice(page);
            self.read_checksum = Some((checksum_at, record_checksum(info.nonce, buf)));
            return Ok(Filled::Full);
        }
        if declared || relabelled {
            // Inside the synced count (or under a header whose count was switched off):
            // the record was on stable storage, so this is not a torn write.
            return Err(Fault::Tampered {
                file: FileKind::Journal,
                page: u64::from(pgno),
            });
        }
        torn(self, buf, info.nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::MemFile;
    use crate::shared::KeyMaterial;
    use sqlvault_crypto::{DatabaseSalt, KdfKind, MasterKey};

    fn journal() -> (JournalFile, Arc<SharedDb>) {
        let shared = Arc::new(SharedDb::default());
        shared.set_key(KeyMaterial {
            master: MasterKey::from_bytes([4; 32]),
            salt: DatabaseSalt::generate(KdfKind::RawKey).unwrap(),
        });
        (JournalFile::new(shared.clone()), shared)
    }

    /// Writes a synced-style header (zero magic and count, nonce 77) and `n` records the way
    /// the pager does, then finalises the header with the count. Returns the end offset.
    fn write_records(j: &mut JournalFile, f: &mut MemFile, n: u32) -> u64 {
        let mut header = vec![0u8; 512];
        header[12..16].copy_from_slice(&77u32.to_be_bytes());
        header[20..24].copy_from_slice(&512u32.to_be_bytes());
        header[24..28].copy_from_slice(&1024u32.to_be_bytes());
        j.write(f, &header, 0).unwrap();
        let mut off = 512;
        for pgno in 2..=n + 1 {
            let mut page = vec![pgno as u8; 1024];
            page[1024 - 32..].fill(0);
            page[..6].copy_from_slice(b"secret");
            j.write(f, &pgno.to_be_bytes(), off).unwrap();
            j.write(f, &page, off + 4).unwrap();
            j.write(f, &record_checksum(77, &page).to_be_bytes(), off + 4 + 1024)
                .unwrap();
            off += 1032;
        }
        j.synced();
        let mut fin = [0u8; 12];
        fin[..8].copy_from_slice(&JOURNAL_MAGIC);
        fin[8..].copy_from_slice(&n.to_be_bytes());
        j.write(f, &fin, 0).unwrap();
        off
    }

    /// Plays record `i` back as a fresh reader (another process) would.
    fn play(f: &mut MemFile, shared: &Arc<SharedDb>, i: u64) -> Result<(u32, Vec<u8>, u32), Fault> {
        let mut j = JournalFile::new(shared.clone());
        let mut magic = [0u8; 8];
        j.read(f, &mut magic, 0)?;
        let at = 512 + i * 1032;
        let mut pgno = [0u8; 4];
        j.read(f, &mut pgno, at)?;
        let mut page = vec![0u8; 1024];
        j.read(f, &mut page, at + 4)?;
        let mut ck = [0u8; 4];
        j.read(f, &mut ck, at + 4 + 1024)?;
        Ok((u32::from_be_bytes(pgno), page, u32::from_be_bytes(ck)))
    }

    #[test]
    fn records_are_sealed_and_play_back_with_plaintext_checksums() {
        let (mut j, shared) = journal();
        let mut f = MemFile::default();
        write_records(&mut j, &mut f, 3);
        assert!(!f.0.windows(6).any(|w| w == b"secret"));
        let (pgno, page, ck) = play(&mut f, &shared, 1).unwrap();
        assert_eq!(pgno, 3);
        assert_eq!(&page[..6], b"secret");
        assert_eq!(ck, record_checksum(77, &page));
    }

    #[test]
    fn checksums_on_disk_cover_the_sealed_bytes() {
        let (mut j, _) = journal();
        let mut f = MemFile::default();
        write_records(&mut j, &mut f, 2);
        for i in 0..2usize {
            let at = 512 + i * 1032;
            let page = &f.0[at + 4..at + 4 + 1024];
            let ck = u32::from_be_bytes(f.0[at + 1028..at + 1032].try_into().unwrap());
            assert_eq!(ck, record_checksum(77, page), "record {i}");
        }
    }

    #[test]
    fn a_damaged_record_inside_the_synced_count_is_an_error_naming_the_journal() {
        let (mut j, shared) = journal();
        let mut f = MemFile::default();
        write_records(&mut j, &mut f, 2);
        f.0[512 + 1032 + 100] ^= 0xff;
        assert_eq!(
            play(&mut f, &shared, 1).unwrap_err(),
            Fault::Tampered {
                file: FileKind::Journal,
                page: 3
            }
        );
    }

    #[test]
    fn a_torn_record_past_the_count_reads_as_zeros_with_a_failing_checksum() {
        let (mut j, shared) = journal();
        let mut f = MemFile::default();
        write_records(&mut j, &mut f, 2);
        // Declare only the first record: the second is past the count.
        f.0[8..12].copy_from_slice(&1u32.to_be_bytes());
        f.0[512 + 1032 + 100] ^= 0xff;
        let (_, page, ck) = play(&mut f, &shared, 1).unwrap();
        assert!(page.iter().all(|&b| b == 0));
        assert_ne!(ck, record_checksum(77, &page));
    }

    #[test]
    fn switching_the_count_off_does_not_turn_tampering_into_a_torn_tail() {
        let (mut j, shared) = journal();
        let mut f = MemFile::default();
        write_records(&mut j, &mut f, 2);
        f.0[8..12].copy_from_slice(&[0xff; 4]);
        f.0[512 + 1032 + 100] ^= 0xff;
        assert!(matches!(play(&mut f, &shared, 1), Err(Fault::Tampered { .. })));
    }

    #[test]
    fn a_record_from_another_journal_does_not_play_back() {
        let (mut j, shared) = journal();
        let mut f = MemFile::default();
        write_records(&mut j, &mut f, 2);
        // Same records under a header with another nonce: the checksums are recomputed
        // (anyone can), the seals do not match the new nonce.
        f.0[12..16].copy_from_slice(&78u32.to_be_bytes());
        for i in 0..2usize {
            let at = 512 + i * 1032;
            let ck = record_checksum(78, &f.0[at + 4..at + 4 + 1024]);
            f.0[at + 1028..at + 1032].copy_from_slice(&ck.to_be_bytes());
        }
        // The header's durability mark is bound to the nonce, so the forged header declares
        // nothing: its first record is a torn tail, and playback stops before writing it.
        let (_, page, ck) = play(&mut f, &shared, 0).unwrap();
        assert!(page.iter().all(|&b| b == 0));
        assert_ne!(ck, 78);
    }

    #[test]
    fn page_data_never_passes_in_the_clear() {
        let (mut j, _) = journal();
        let mut f = MemFile::default();
        let err = j.write(&mut f, &vec![0x41u8; 1024], 512).unwrap_err();
        assert!(matches!(err, Fault::UnexpectedIo(_)));
        assert!(f.0.is_empty());
    }

    #[test]
    fn counted_records_that_were_not_synced_first_may_be_torn() {
        // synchronous=NORMAL: records and count reach the disk in one sync, so a crash can
        // leave a counted record torn; playback must stop there, not fail.
        let (mut j, shared) = journal();
        let mut f = MemFile::default();
        let mut header = vec![0u8; 512];
        header[12..16].copy_from_slice(&5u32.to_be_bytes());
        header[20..24].copy_from_slice(&512u32.to_be_bytes());
        j.write(&mut f, &header, 0).unwrap();
        let mut page = vec![9u8; 1024];
        page[1024 - 32..].fill(0);
        j.write(&mut f, &2u32.to_be_bytes(), 512).unwrap();
        j.write(&mut f, &page, 516).unwrap();
        j.write(&mut f, &[0; 4], 1540).unwrap();
        let mut fin = [0u8; 12];
        fin[..8].copy_from_slice(&JOURNAL_MAGIC);
        fin[8..].copy_from_slice(&1u32.to_be_bytes());
        j.write(&mut f, &fin, 0).unwrap();
        f.0[600] ^= 1;
        let (_, page, ck) = play(&mut f, &shared, 0).unwrap();
        assert!(page.iter().all(|&b| b == 0));
        assert_ne!(ck, 5);
    }
}
