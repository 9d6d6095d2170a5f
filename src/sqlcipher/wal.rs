//! Finding the committed frames of a SQLCipher WAL file.
//!
//! SQLCipher keeps SQLite's WAL format (<https://www.sqlite.org/fileformat2.html#walformat>):
//! the 32-byte WAL header and each frame's 24-byte header are plaintext; each frame's page is
//! encrypted exactly like the database page of the same number. The frame checksums cover the
//! *encrypted* page (SQLCipher encrypts before SQLite checksums the frame), so the committed
//! frames are found without any key, the way SQLite's own WAL recovery finds them; the pages
//! are authenticated when they are read.

use std::collections::HashMap;

use super::Error;
use super::source::Bytes;

const WAL_HEADER_LEN: u64 = 32;
const FRAME_HEADER_LEN: usize = 24;
const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;
const WAL_VERSION: u32 = 3_007_000;

/// What was found in a WAL file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalSummary {
    /// Whole frames in the file.
    pub frames_in_file: u32,
    /// Frames of committed transactions that are applied over the database file.
    pub frames_committed: u32,
    /// Frames after the last commit, or after the first frame whose salt or checksum does not
    /// match (a torn write, an earlier WAL generation, or a transaction never committed).
    /// SQLite ignores them too.
    pub frames_ignored: u32,
    /// Database size in pages after the last committed transaction, if there is one.
    pub db_size_after_commit: Option<u32>,
}

/// The latest committed frame of every page in a WAL.
#[derive(Debug, Clone, Default)]
pub(crate) struct WalIndex {
    /// Page number → (frame index, offset of the page's bytes in the WAL file).
    pub(crate) frames: HashMap<u32, (u32, u64)>,
    pub(crate) summary: WalSummary,
}

impl WalIndex {
    /// Scans `wal` for committed frames of `page_size`-byte pages.
    ///
    /// A WAL whose header is absent, short or fails its checksum is treated as empty, as SQLite
    /// does. `Ok(None)`: the header is valid but names another page size.
    pub(crate) fn scan(wal: &Bytes, page_size: u32) -> Result<Option<WalIndex>, Error> {
        let len = wal.len();
        let mut index = WalIndex::default();
        if len < WAL_HEADER_LEN {
            return Ok(Some(index));
        }
        let mut header = [0u8; WAL_HEADER_LEN as usize];
        wal.read_exact_at(&mut header, 0)?;
        let magic = be32(&header[0..4]);
        let big_endian = match magic {
            MAGIC_LE => false,
            MAGIC_BE => true,
            _ => return Ok(Some(index)),
        };
        let expected = (be32(&header[24..28]), be32(&header[28..32]));
        if checksum(big_endian, &header[..24], (0, 0)) != expected {
            return Ok(Some(index));
        }
        if be32(&header[4..8]) != WAL_VERSION {
            return Err(Error::Malformed("unsupported WAL format version"));
        }
        if be32(&header[8..12]) != page_size {
            return Ok(None);
        }
        let salts = &header[16..24];
        let frame_len = FRAME_HEADER_LEN as u64 + u64::from(page_size);
        let frames_in_file = (len - WAL_HEADER_LEN) / frame_len;
        index.summary.frames_in_file = u32::try_from(frames_in_file).unwrap_or(u32::MAX);

        let mut running = expected;
        let mut pending: Vec<(u32, u32, u64)> = Vec::new();
        let mut frame = vec![0u8; frame_len as usize];
        for i in 0..index.summary.frames_in_file {
            let offset = WAL_HEADER_LEN + u64::from(i) * frame_len;
            wal.read_exact_at(&mut frame, offset)?;
            let (head, page) = frame.split_at(FRAME_HEADER_LEN);
            let pgno = be32(&head[0..4]);
            let commit_size = be32(&head[4..8]);
            if pgno == 0 || &head[8..16] != salts {
                break;
            }
            let sum = checksum(big_endian, page, checksum(big_endian, &head[..8], running));
            if sum != (be32(&head[16..20]), be32(&head[20..24])) {
                break;
            }
            running = sum;
            pending.push((pgno, i, offset + FRAME_HEADER_LEN as u64));
            if commit_size != 0 {
                for (pgno, i, at) in pending.drain(..) {
                    index.frames.insert(pgno, (i, at));
                }
                index.summary.frames_committed = i + 1;
                index.summary.db_size_after_commit = Some(commit_size);
            }
        }
        if let Some(size) = index.summary.db_size_after_commit {
            // A commit that shrank the database drops the frames of pages past its end.
            index.frames.retain(|&pgno, _| pgno <= size);
        }
        index.summary.frames_ignored = index.summary.frames_in_file - index.summary.frames_committed;
        Ok(Some(index))
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// SQLite's WAL checksum (file format §4.1): over 32-bit words in the byte order the magic
/// number names, `s0 += x[i] + s1; s1 += x[i+1] + s0`, modulo 2^32. `data.len()` is a
/// multiple of 8.
fn checksum(big_endian: bool, data: &[u8], (mut s0, mut s1): (u32, u32)) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a WAL by the file format's rules, with made-up page contents.
    fn wal(page_size: u32, frames: &[(u32, u32)], big_endian: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let magic = if big_endian { MAGIC_BE } else { MAGIC_LE };
        for v in [magic, WAL_VERSION, page_size, 0, 0xdead_beef, 0x0bad_cafe] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        let mut s = checksum(big_endian, &out, (0, 0));
        out.extend_from_slice(&s.0.to_be_bytes());
        out.extend_from_slice(&s.1.to_be_bytes());
        for &(pgno, commit) in frames {
            let mut head = Vec::new();
            head.extend_from_slice(&pgno.to_be_bytes());
            head.extend_from_slice(&commit.to_be_bytes());
            head.extend_from_slice(&out[16..24]);
            let page = vec![pgno as u8; page_size as usize];
            s = checksum(big_endian, &page, checksum(big_endian, &head[..8], s));
            head.extend_from_slice(&s.0.to_be_bytes());
            head.extend_from_slice(&s.1.to_be_bytes());
            out.extend_from_slice(&head);
            out.extend_from_slice(&page);
        }
        out
    }

    #[test]
    fn committed_frames_only_and_latest_frame_wins() {
        for big_endian in [false, true] {
            // Txn 1: pages 2, 3 (commit size 3). Txn 2: page 2 again, commit size 4.
            // Then page 4 without a commit.
            let bytes = wal(512, &[(2, 0), (3, 3), (2, 0), (4, 4), (4, 0)], big_endian);
            let idx = WalIndex::scan(&Bytes::Memory(bytes), 512).unwrap().unwrap();
            assert_eq!(idx.summary.frames_in_file, 5);
            assert_eq!(idx.summary.frames_committed, 4);
            assert_eq!(idx.summary.frames_ignored, 1);
            assert_eq!(idx.summary.db_size_after_commit, Some(4));
            assert_eq!(idx.frames[&2].0, 2);
            assert_eq!(idx.frames[&3].0, 1);
            assert_eq!(idx.frames[&4].0, 3);
        }
    }

    #[test]
    fn a_bad_checksum_ends_the_log() {
        let mut bytes = wal(512, &[(2, 2), (3, 3)], false);
        let second_page = 32 + (24 + 512) + 24;
        bytes[second_page + 100] ^= 1;
        let idx = WalIndex::scan(&Bytes::Memory(bytes), 512).unwrap().unwrap();
        assert_eq!(idx.summary.frames_committed, 1);
        assert_eq!(idx.summary.db_size_after_commit, Some(2));
        assert!(!idx.frames.contains_key(&3));
    }

    #[test]
    fn shrinking_commit_drops_pages_past_the_end() {
        let bytes = wal(512, &[(5, 5), (2, 2)], false);
        let idx = WalIndex::scan(&Bytes::Memory(bytes), 512).unwrap().unwrap();
        assert_eq!(idx.summary.db_size_after_commit, Some(2));
        assert!(!idx.frames.contains_key(&5));
    }

    #[test]
    fn bad_or_missing_header_means_empty_wal_and_other_page_size_is_reported() {
        let mut bytes = wal(512, &[(2, 2)], false);
        bytes[20] ^= 1; // salt changed: header checksum fails
        let idx = WalIndex::scan(&Bytes::Memory(bytes), 512).unwrap().unwrap();
        assert_eq!(idx.summary, WalSummary::default());
        let idx = WalIndex::scan(&Bytes::Memory(vec![0; 10]), 512).unwrap().unwrap();
        assert!(idx.frames.is_empty());
        let bytes = wal(1024, &[(2, 2)], false);
        assert!(WalIndex::scan(&Bytes::Memory(bytes), 512).unwrap().is_none());
    }
}
