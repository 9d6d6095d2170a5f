//! The write-ahead log: each frame's page sealed at `PagePosition::WalFrame`.
//!
//! WAL layout (sqlite.org/fileformat2.html#walformat): a 32-byte header, then frames of a
//! 24-byte frame header and one page. Headers stay in the clear (page number, commit size,
//! salts and checksums — no user data) and the page is bound to its frame index and to
//! the page number and commit size in its header, so a frame moved to another slot or
//! relabelled as another page does not authenticate.

use sqlvault_crypto::{PageCipher, PagePosition};

use crate::error::{Fault, FileKind};
use crate::raw::{Filled, RawFile, is_page_size};

const WAL_HEADER: u64 = 32;
const FRAME_HEADER: u64 = 24;

pub(crate) struct WalFile {
    cipher: Option<PageCipher>,
    scratch: Vec<u8>,
    /// A frame header SQLite wrote that has not reached the parent yet: SQLite writes the
    /// header and then the page, and the page's seal needs the header. Holding the header
    /// back lets both go out in one write.
    pending_header: Option<(u64, [u8; FRAME_HEADER as usize])>,
}

impl WalFile {
    pub(crate) fn new(cipher: Option<PageCipher>) -> WalFile {
        WalFile {
            cipher,
            scratch: Vec::new(),
            pending_header: None,
        }
    }

    /// Writes out a held-back frame header. Called before every other operation.
    pub(crate) fn flush(&mut self, f: &mut dyn RawFile) -> Result<(), Fault> {
        match self.pending_header.take() {
            Some((offset, header)) => f.write_at(&header, offset),
            None => Ok(()),
        }
    }

    pub(crate) fn read(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        self.flush(f)?;
        let Some(cipher) = self.cipher.as_mut() else {
            return f.read_at(buf, offset);
        };
        let amt = buf.len() as u64;
        if offset + amt <= WAL_HEADER || amt <= FRAME_HEADER {
            return f.read_at(buf, offset);
        }
        let page_size = (amt - FRAME_HEADER) as usize;
        if offset >= WAL_HEADER && is_page_size(page_size) && (offset - WAL_HEADER).is_multiple_of(amt) {
            // Header and page in one read: recovery, or a checksum rewrite. A frame that
            // does not authenticate is a torn write (or tampering) at the end of the log:
            // its page comes back as zeros so SQLite's frame checksum fails and the log
            // ends there, exactly as for a torn frame in a plaintext WAL.
            if f.read_at(buf, offset)? == Filled::Short {
                return Ok(Filled::Short);
            }
            let frame = frame_index((offset - WAL_HEADER) / amt)?;
            let (head, page) = buf.split_at_mut(FRAME_HEADER as usize);
            let _torn = cipher.open(page, frame_position(frame, head)).is_err();
            return Ok(Filled::Full);
        }
        let amt = amt as usize;
        if let Some(frame) = page_frame(offset, amt) {
            let frame = frame_index(frame)?;
            let scratch = &mut self.scratch;
            scratch.resize(amt + FRAME_HEADER as usize, 0);
            let filled = f.read_at(scratch, offset - FRAME_HEADER)?;
            let (head, page) = scratch.split_at_mut(FRAME_HEADER as usize);
            let pgno = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
            if filled == Filled::Short || cipher.open(page, frame_position(frame, head)).is_err() {
                return Err(Fault::Tampered {
                    file: FileKind::Wal,
                    page: pgno,
                });
            }
            buf.copy_from_slice(page);
            return Ok(Filled::Full);
        }
        Err(Fault::UnexpectedIo(
            "a WAL read that is neither a header, a frame nor a page",
        ))
    }

    pub(crate) fn write(&mut self, f: &mut dyn RawFile, buf: &[u8], offset: u64) -> Result<(), Fault> {
        if self.cipher.is_none() {
            return f.write_at(buf, offset);
        }
        let amt = buf.len();
        if amt as u64 == FRAME_HEADER && offset >= WAL_HEADER {
            self.flush(f)?;
            let mut header = [0u8; FRAME_HEADER as usize];
            header.copy_from_slice(buf);
            self.pending_header = Some((offset, header));
            return Ok(());
        }
        if offset + amt as u64 <= WAL_HEADER || amt as u64 <= FRAME_HEADER {
            self.flush(f)?;
            return f.write_at(buf, offset);
        }
        let Some(frame) = page_frame(offset, amt) else {
            self.flush(f)?;
            return Err(Fault::UnexpectedIo(
                "a WAL write that is neither a header nor a whole page",
            ));
        };
        let frame = frame_index(frame)?;
        let header_start = offset - FRAME_HEADER;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(amt + FRAME_HEADER as usize, 0);
        let result = (|| {
            let held = match self.pending_header.take() {
                Some((at, header)) if at == header_start => {
                    scratch[..FRAME_HEADER as usize].copy_from_slice(&header);
                    true
                }
                other => {
                    // A page rewritten in place (same transaction): its header is on disk.
                    self.pending_header = other;
                    self.flush(f)?;
                    if f.read_at(&mut scratch[..FRAME_HEADER as usize], header_start)? == Filled::Short {
                        return Err(Fault::UnexpectedIo("a WAL page written before its frame header"));
                    }
                    false
                }
            };
            let (head, page) = scratch.split_at_mut(FRAME_HEADER as usize);
            page.copy_from_slice(buf);
            let Some(cipher) = self.cipher.as_mut() else {
                return Err(Fault::NoKey);
            };
            cipher.seal(page, frame_position(frame, head))?;
            if held {
                f.write_at(&scratch, header_start)
            } else {
                f.write_at(&scratch[FRAME_HEADER as usize..], offset)
            }
        })();
        self.scratch = scratch;
        result
    }
}

/// The frame whose page starts at `offset`, if a page of `page_size` bytes can start there.
fn page_frame(offset: u64, page_size: usize) -> Option<u64> {
    let frame_size = page_size as u64 + FRAME_HEADER;
    let first_page = WAL_HEADER + FRAME_HEADER;
    (is_page_size(page_size) && offset >= first_page && (offset - first_page).is_multiple_of(frame_size))
        .then(|| (offset - first_page) / frame_size)
}

fn frame_index(frame: u64) -> Result<u32, Fault> {
    u32::try_from(frame).map_err(|_| Fault::UnexpectedIo("WAL frame index beyond 2^32"))
}

/// The seal position of the page in `frame`, whose frame header is `head`.
fn frame_position(frame: u32, head: &[u8]) -> PagePosition {
    let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    PagePosition::WalFrame {
        frame,
        pgno: word(0),
        commit_size: word(4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::MemFile;
    use sqlvault_crypto::{DatabaseSalt, KdfKind, MasterKey};

    fn wal() -> WalFile {
        let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
        WalFile::new(Some(PageCipher::new(&MasterKey::from_bytes([2; 32]), salt)))
    }

    fn page(fill: u8) -> Vec<u8> {
        let mut p = vec![fill; 512];
        p[512 - 32..].fill(0);
        p
    }

    fn frame_header(pgno: u32) -> [u8; 24] {
        let mut h = [0u8; 24];
        h[..4].copy_from_slice(&pgno.to_be_bytes());
        h[8..16].copy_from_slice(b"saltsalt");
        h[16..].copy_from_slice(b"checksum");
        h
    }

    #[test]
    fn frames_round_trip_in_every_read_shape() {
        let mut w = wal();
        let mut f = MemFile::default();
        w.write(&mut f, &[9u8; 32], 0).unwrap();
        let mut page = vec![0u8; 512];
        page[..8].copy_from_slice(b"secret!!");
        for frame in 0..3u64 {
            let at = 32 + frame * (512 + 24);
            w.write(&mut f, &frame_header(frame as u32 + 2), at).unwrap();
            w.write(&mut f, &page, at + 24).unwrap();
        }
        w.flush(&mut f).unwrap();
        assert!(!f.0.windows(8).any(|win| win == b"secret!!"));
        let mut out = vec![0u8; 512];
        w.read(&mut f, &mut out, 32 + (512 + 24) + 24).unwrap();
        assert_eq!(out, page);
        let mut whole = vec![0u8; 536];
        w.read(&mut f, &mut whole, 32 + 2 * 536).unwrap();
        assert_eq!(&whole[..24], &frame_header(4));
        assert_eq!(&whole[24..], &page[..]);
    }

    #[test]
    fn in_place_page_rewrite_uses_the_header_on_disk() {
        let mut w = wal();
        let mut f = MemFile::default();
        w.write(&mut f, &frame_header(5), 32).unwrap();
        w.write(&mut f, &page(1), 56).unwrap();
        w.write(&mut f, &page(2), 56).unwrap();
        let mut out = vec![0u8; 512];
        w.read(&mut f, &mut out, 56).unwrap();
        assert_eq!(out, page(2));
    }

    #[test]
    fn tampered_frames_error_on_page_reads_and_end_the_log_on_frame_reads() {
        let mut w = wal();
        let mut f = MemFile::default();
        w.write(&mut f, &frame_header(7), 32).unwrap();
        w.write(&mut f, &page(3), 56).unwrap();
        f.0[100] ^= 1;
        let mut out = vec![0u8; 512];
        assert_eq!(
            w.read(&mut f, &mut out, 56).unwrap_err(),
            Fault::Tampered {
                file: FileKind::Wal,
                page: 7
            }
        );
        let mut whole = vec![0u8; 536];
        assert_eq!(w.read(&mut f, &mut whole, 32).unwrap(), Filled::Full);
        assert!(whole[24..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_changed_frame_header_breaks_the_seal() {
        let mut w = wal();
        let mut f = MemFile::default();
        w.write(&mut f, &frame_header(7), 32).unwrap();
        w.write(&mut f, &page(3), 56).unwrap();
        f.0[32 + 3] = 8; // claim the frame holds page 8
        let mut out = vec![0u8; 512];
        assert!(w.read(&mut f, &mut out, 56).is_err());
    }
}
