//! Rollback journals: each record's page image sealed at `PagePosition::Journal`.
//!
//! A journal (sqlite.org/fileformat2.html#rollbackjournal) holds sector-aligned headers
//! and records of a 4-byte page number, the page, and a 4-byte checksum, written by the
//! pager as three separate writes. The page number and checksum stay in the clear; the
//! page is sealed, bound to its record's offset and page number.

use sqlvault_crypto::{PageCipher, PagePosition};

use crate::error::Fault;
use crate::raw::{Filled, RawFile, is_page_size};

/// Bytes of a journal header that carry data (magic, record count, checksum seed,
/// original size, sector size, page size); the rest of the header block is zeros.
const HEADER_FIELDS: usize = 28;

/// SQLite's lock-byte offset: the page holding it never enters a journal, and a record
/// with its page number marks the super-journal name instead.
const PENDING_BYTE: u64 = 0x4000_0000;

pub(crate) struct JournalFile {
    cipher: Option<PageCipher>,
    scratch: Vec<u8>,
    /// The page number just written: (offset where its page would start, page number).
    written_pgno: Option<(u64, u32)>,
    /// Where the checksum of the record just sealed goes.
    checksum_at: Option<u64>,
    /// The page number just read, for the page read that follows it.
    read_pgno: Option<(u64, u32)>,
}

impl JournalFile {
    pub(crate) fn new(cipher: Option<PageCipher>) -> JournalFile {
        JournalFile {
            cipher,
            scratch: Vec::new(),
            written_pgno: None,
            checksum_at: None,
            read_pgno: None,
        }
    }

    pub(crate) fn write(&mut self, f: &mut dyn RawFile, buf: &[u8], offset: u64) -> Result<(), Fault> {
        let Some(cipher) = self.cipher.as_mut() else {
            return f.write_at(buf, offset);
        };
        let amt = buf.len();
        let written_pgno = self.written_pgno.take();
        let checksum_at = self.checksum_at.take();
        if amt == 4 {
            if checksum_at != Some(offset) {
                self.written_pgno = Some((offset + 4, u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])));
            }
            return f.write_at(buf, offset);
        }
        if is_page_size(amt)
            && let Some((at, pgno)) = written_pgno
            && at == offset
            && u64::from(pgno) != PENDING_BYTE / amt as u64 + 1
        {
            self.scratch.clear();
            self.scratch.extend_from_slice(buf);
            cipher.seal(
                &mut self.scratch,
                PagePosition::Journal {
                    offset: offset - 4,
                    pgno,
                },
            )?;
            f.write_at(&self.scratch, offset)?;
            self.checksum_at = Some(offset + amt as u64);
            return Ok(());
        }
        if amt >= 512 && buf[HEADER_FIELDS..].iter().any(|&b| b != 0) {
            // Only headers are this large besides pages; never let page data out in the clear.
            return Err(Fault::UnexpectedIo(
                "a journal write that is neither a record nor a header",
            ));
        }
        f.write_at(buf, offset)
    }

    pub(crate) fn read(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        let Some(cipher) = self.cipher.as_mut() else {
            return f.read_at(buf, offset);
        };
        let amt = buf.len();
        let read_pgno = self.read_pgno.take();
        if amt == 4 {
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
        if f.read_at(buf, offset)? == Filled::Short {
            return Ok(Filled::Short);
        }
        // Journals are read only to roll back. A record that does not authenticate (a
        // torn write before a crash) comes back as zeros: its checksum then fails and
        // SQLite stops playback there, as it would for a torn plaintext record.
        let _torn = cipher
            .open(
                buf,
                PagePosition::Journal {
                    offset: offset - 4,
                    pgno,
                },
            )
            .is_err();
        Ok(Filled::Full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::MemFile;
    use sqlvault_crypto::{DatabaseSalt, KdfKind, MasterKey};

    fn journal() -> JournalFile {
        let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        JournalFile::new(Some(PageCipher::new(&MasterKey::from_bytes([4; 32]), salt)))
    }

    /// Writes a header and `n` records the way the pager does.
    fn write_records(j: &mut JournalFile, f: &mut MemFile, n: u32) -> u64 {
        let mut header = vec![0u8; 512];
        header[..8].copy_from_slice(&[0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
        j.write(f, &header, 0).unwrap();
        let mut off = 512;
        for pgno in 1..=n {
            let mut page = vec![pgno as u8; 1024];
            page[1024 - 32..].fill(0);
            page[..6].copy_from_slice(b"secret");
            j.write(f, &pgno.to_be_bytes(), off).unwrap();
            j.write(f, &page, off + 4).unwrap();
            j.write(f, &[1, 2, 3, 4], off + 4 + 1024).unwrap();
            off += 1032;
        }
        off
    }

    #[test]
    fn records_are_sealed_and_play_back() {
        let mut j = journal();
        let mut f = MemFile::default();
        write_records(&mut j, &mut f, 3);
        assert!(!f.0.windows(6).any(|w| w == b"secret"));
        let mut pgno = [0u8; 4];
        let mut page = vec![0u8; 1024];
        j.read(&mut f, &mut pgno, 512 + 1032).unwrap();
        j.read(&mut f, &mut page, 512 + 1032 + 4).unwrap();
        assert_eq!(u32::from_be_bytes(pgno), 2);
        assert_eq!(&page[..6], b"secret");
        assert_eq!(page[6], 2);
    }

    #[test]
    fn a_torn_record_reads_as_zeros() {
        let mut j = journal();
        let mut f = MemFile::default();
        write_records(&mut j, &mut f, 2);
        f.0[512 + 1032 + 100] ^= 0xff;
        let mut page = vec![1u8; 1024];
        j.read(&mut f, &mut page, 512 + 1032 + 4).unwrap();
        assert!(page.iter().all(|&b| b == 0));
    }

    #[test]
    fn page_data_never_passes_in_the_clear() {
        let mut j = journal();
        let mut f = MemFile::default();
        let err = j.write(&mut f, &vec![0x41u8; 1024], 512).unwrap_err();
        assert!(matches!(err, Fault::UnexpectedIo(_)));
        assert!(f.0.is_empty());
    }
}
