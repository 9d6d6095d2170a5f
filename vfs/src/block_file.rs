//! Temp files, statement journals and transient files: sealed in fixed blocks under a
//! fresh random key, whatever shape SQLite's reads and writes take.
//!
//! Logical block `i` (4096 bytes of file content) is stored at `i * 4128` as the sealed
//! block followed by its trailer; the last block may be shorter. These files belong to
//! one handle and die with it (SQLite opens them delete-on-close), so the logical size,
//! the set of blocks ever written and a one-block write-back cache live in memory.
//!
//! A write far past the end leaves the blocks in between unwritten: they stay holes in
//! the underlying file (no disk space, no sealing work) and read back as zeros, which is
//! what SQLite expects of bytes it never wrote. Only blocks this handle wrote are ever
//! read from disk and authenticated, so zeros cannot be passed off as a written block.

use std::collections::BTreeMap;

use sqlvault_crypto::{DatabaseSalt, KdfKind, MasterKey, PageCipher, PagePosition, TRAILER_LEN};

use crate::error::{Fault, FileKind};
use crate::raw::{Filled, RawFile};

const BLOCK: usize = 4096;
const STORED_BLOCK: u64 = (BLOCK + TRAILER_LEN) as u64;

struct CachedBlock {
    index: u64,
    /// Plaintext, `BLOCK` bytes of room plus the trailer.
    data: Vec<u8>,
    /// Valid bytes.
    len: usize,
    dirty: bool,
}

pub(crate) struct BlockFile {
    cipher: PageCipher,
    size: u64,
    /// Blocks sealed to disk; every other block below `size` is a hole of zeros.
    written: BlockSet,
    cache: Option<CachedBlock>,
}

/// A set of block indices, kept as disjoint ranges: sequential writes, by far the
/// common case, stay one range however large the file grows.
#[derive(Default)]
struct BlockSet {
    /// `start -> end` (exclusive), disjoint and not touching.
    ranges: BTreeMap<u64, u64>,
}

impl BlockSet {
    fn contains(&self, index: u64) -> bool {
        self.ranges
            .range(..=index)
            .next_back()
            .is_some_and(|(_, &end)| index < end)
    }

    fn insert(&mut self, index: u64) {
        if self.contains(index) {
            return;
        }
        let mut start = index;
        let mut end = index + 1;
        // Join a range ending right here…
        if let Some((&s, &e)) = self.ranges.range(..index).next_back()
            && e == index
        {
            start = s;
        }
        // …and one starting right after.
        if let Some(e) = self.ranges.remove(&end) {
            end = e;
        }
        self.ranges.insert(start, end);
    }

    /// Removes every index `>= from`.
    fn remove_from(&mut self, from: u64) {
        let tail = self.ranges.split_off(&from);
        drop(tail);
        if let Some((_, end)) = self.ranges.iter_mut().next_back()
            && *end > from
        {
            *end = from;
        }
    }
}

impl BlockFile {
    /// A block file under a fresh random key.
    pub(crate) fn new() -> Result<BlockFile, Fault> {
        let salt = DatabaseSalt::generate(KdfKind::RawKey)?;
        Ok(BlockFile {
            cipher: PageCipher::new(&MasterKey::random()?, salt),
            size: 0,
            written: BlockSet::default(),
            cache: None,
        })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn read(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        let end = offset + buf.len() as u64;
        let avail = self.size.min(end).saturating_sub(offset) as usize;
        let mut done = 0;
        while done < avail {
            let pos = offset + done as u64;
            let block = self.load(f, pos / BLOCK as u64)?;
            let in_block = (pos % BLOCK as u64) as usize;
            let n = (block.len - in_block).min(avail - done);
            buf[done..done + n].copy_from_slice(&block.data[in_block..in_block + n]);
            done += n;
        }
        buf[avail..].fill(0);
        Ok(if avail == buf.len() {
            Filled::Full
        } else {
            Filled::Short
        })
    }

    pub(crate) fn write(&mut self, f: &mut dyn RawFile, buf: &[u8], offset: u64) -> Result<(), Fault> {
        if offset > self.size && !self.size.is_multiple_of(BLOCK as u64) {
            // The last block is short on disk: extend it with zeros (up to the write or
            // the block's end) so it is sealed at its new length. Whole blocks in the gap
            // stay holes.
            let block_end = (self.size / BLOCK as u64 + 1) * BLOCK as u64;
            let gap = vec![0u8; (offset.min(block_end) - self.size) as usize];
            self.write(f, &gap, self.size)?;
        }
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let index = pos / BLOCK as u64;
            let in_block = (pos % BLOCK as u64) as usize;
            let n = (BLOCK - in_block).min(buf.len() - done);
            let whole = in_block == 0 && n == BLOCK;
            let block = if whole {
                self.fresh(f, index)?
            } else {
                self.load(f, index)?
            };
            block.data[in_block..in_block + n].copy_from_slice(&buf[done..done + n]);
            block.len = block.len.max(in_block + n);
            block.dirty = true;
            done += n;
        }
        self.size = self.size.max(offset + buf.len() as u64);
        Ok(())
    }

    pub(crate) fn truncate(&mut self, f: &mut dyn RawFile, size: u64) -> Result<(), Fault> {
        if size >= self.size {
            return Ok(());
        }
        let keep = (size % BLOCK as u64) as usize;
        let index = size / BLOCK as u64;
        if keep > 0 {
            let block = self.load(f, index)?;
            block.len = keep;
            // Nothing cut off lingers in memory.
            block.data[keep..].fill(0);
            block.dirty = true;
            self.flush(f)?;
        } else if self.cache.as_ref().is_some_and(|c| c.index >= index) {
            self.cache = None;
        }
        self.flush(f)?;
        self.written.remove_from(if keep > 0 { index + 1 } else { index });
        self.size = size;
        let stored = index * STORED_BLOCK + if keep > 0 { (keep + TRAILER_LEN) as u64 } else { 0 };
        f.truncate(stored)
    }

    /// Writes the cached block out if it changed.
    pub(crate) fn flush(&mut self, f: &mut dyn RawFile) -> Result<(), Fault> {
        let Some(block) = self.cache.as_mut() else {
            return Ok(());
        };
        if !block.dirty {
            return Ok(());
        }
        let sealed_len = block.len + TRAILER_LEN;
        let mut sealed = block.data[..sealed_len].to_vec();
        self.cipher
            .seal(&mut sealed, PagePosition::Block { index: block.index })?;
        f.write_at(&sealed, block.index * STORED_BLOCK)?;
        self.written.insert(block.index);
        block.dirty = false;
        Ok(())
    }

    /// The cached block `index`, about to be overwritten whole: no need to read it.
    fn fresh(&mut self, f: &mut dyn RawFile, index: u64) -> Result<&mut CachedBlock, Fault> {
        if self.cache.as_ref().is_none_or(|c| c.index != index) {
            self.flush(f)?;
            self.cache = Some(CachedBlock {
                index,
                data: vec![0u8; BLOCK + TRAILER_LEN],
                len: 0,
                dirty: false,
            });
        }
        self.cache.as_mut().ok_or(Fault::UnexpectedIo("block cache"))
    }

    /// Block `index` from the cache or, decrypted, from the file.
    fn load(&mut self, f: &mut dyn RawFile, index: u64) -> Result<&mut CachedBlock, Fault> {
        if self.cache.as_ref().is_some_and(|c| c.index == index) {
            return self.cache.as_mut().ok_or(Fault::UnexpectedIo("block cache"));
        }
        self.flush(f)?;
        let start = index * BLOCK as u64;
        let len = self.size.saturating_sub(start).min(BLOCK as u64) as usize;
        let mut data = vec![0u8; BLOCK + TRAILER_LEN];
        // A block never written is a hole: zeros, nothing on disk to authenticate.
        if len > 0 && self.written.contains(index) {
            let sealed = &mut data[..len + TRAILER_LEN];
            let tampered = Fault::Tampered {
                file: FileKind::Temp,
                page: index,
            };
            if f.read_at(sealed, index * STORED_BLOCK)? == Filled::Short {
                return Err(tampered);
            }
            self.cipher
                .open(sealed, PagePosition::Block { index })
                .map_err(|_| tampered)?;
        }
        self.cache = Some(CachedBlock {
            index,
            data,
            len,
            dirty: false,
        });
        self.cache.as_mut().ok_or(Fault::UnexpectedIo("block cache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::MemFile;

    /// A sparse [`RawFile`]: keeps only the extents written, and counts the bytes.
    #[derive(Default)]
    struct SparseFile {
        extents: BTreeMap<u64, Vec<u8>>,
        bytes_written: u64,
    }

    impl RawFile for SparseFile {
        fn read_at(&mut self, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
            buf.fill(0);
            let end = offset + buf.len() as u64;
            for (&start, data) in &self.extents {
                let (lo, hi) = (start.max(offset), (start + data.len() as u64).min(end));
                if lo < hi {
                    buf[(lo - offset) as usize..(hi - offset) as usize]
                        .copy_from_slice(&data[(lo - start) as usize..(hi - start) as usize]);
                }
            }
            Ok(if self.size()? >= end {
                Filled::Full
            } else {
                Filled::Short
            })
        }
        fn write_at(&mut self, buf: &[u8], offset: u64) -> Result<(), Fault> {
            // Writes here are whole stored blocks at block offsets: replacing is enough.
            self.extents.insert(offset, buf.to_vec());
            self.bytes_written += buf.len() as u64;
            Ok(())
        }
        fn truncate(&mut self, size: u64) -> Result<(), Fault> {
            self.extents.retain(|&start, _| start < size);
            for (&start, data) in self.extents.iter_mut() {
                data.truncate((size - start).min(data.len() as u64) as usize);
            }
            Ok(())
        }
        fn size(&mut self) -> Result<u64, Fault> {
            Ok(self
                .extents
                .iter()
                .map(|(s, d)| s + d.len() as u64)
                .max()
                .unwrap_or(0))
        }
    }

    #[test]
    fn sparse_write_far_past_the_end_does_not_allocate_the_gap() {
        const GIB: u64 = 1 << 30;
        let mut b = BlockFile::new().unwrap();
        let mut f = SparseFile::default();
        b.write(&mut f, b"head", 0).unwrap();
        b.write(&mut f, b"far away", GIB + 10).unwrap();
        b.flush(&mut f).unwrap();
        assert_eq!(b.size(), GIB + 18);
        // The first block (extended to full length) and the one written: two sealed
        // blocks, not the 262,144 in between.
        assert!(
            f.bytes_written <= 3 * STORED_BLOCK,
            "{} bytes written for a 1 GiB gap",
            f.bytes_written
        );
        assert_eq!(f.extents.len(), 2);

        let mut out = vec![0xffu8; 2 * BLOCK];
        assert_eq!(b.read(&mut f, &mut out, 0).unwrap(), Filled::Full);
        assert_eq!(&out[..4], b"head");
        assert!(out[4..].iter().all(|&x| x == 0));
        let mut mid = vec![0xffu8; 3 * BLOCK];
        b.read(&mut f, &mut mid, GIB / 2 + 123).unwrap();
        assert!(mid.iter().all(|&x| x == 0), "a hole does not read as zeros");
        let mut tail = vec![0xffu8; 30];
        assert_eq!(b.read(&mut f, &mut tail, GIB).unwrap(), Filled::Short);
        assert!(tail[..10].iter().all(|&x| x == 0));
        assert_eq!(&tail[10..18], b"far away");
        assert!(tail[18..].iter().all(|&x| x == 0));
    }

    #[test]
    fn holes_can_be_written_truncated_into_and_extended_again() {
        let mut b = BlockFile::new().unwrap();
        let mut f = SparseFile::default();
        let mut model: Vec<u8> = Vec::new();
        let steps: [(&[u8], usize); 4] = [
            (b"abc", 100),
            (b"xyz", 40 * BLOCK + 7),
            // Into a hole, across a block boundary.
            (&[9u8; 300], 20 * BLOCK - 150),
            // After the truncation below: past a gap again.
            (b"end", 50 * BLOCK),
        ];
        for (i, (data, off)) in steps.into_iter().enumerate() {
            if i == 3 {
                // Truncate into a hole (block 30 was never written).
                let cut = 30 * BLOCK + 11;
                b.truncate(&mut f, cut as u64).unwrap();
                model.truncate(cut);
            }
            b.write(&mut f, data, off as u64).unwrap();
            if model.len() < off + data.len() {
                model.resize(off + data.len(), 0);
            }
            model[off..off + data.len()].copy_from_slice(data);
        }
        b.flush(&mut f).unwrap();
        assert_eq!(b.size(), model.len() as u64);
        let mut out = vec![0xffu8; model.len()];
        b.read(&mut f, &mut out, 0).unwrap();
        assert_eq!(out, model);
        // Blocks 0, 19, 20, 30 (sealed at the cut and again when extended), 40 (then cut
        // off), 50 and a few rewrites: nowhere near the 51 blocks the file spans.
        assert!(f.bytes_written < 12 * STORED_BLOCK, "{}", f.bytes_written);
    }

    #[test]
    fn block_set_keeps_ranges() {
        let mut s = BlockSet::default();
        for i in [5, 3, 4, 10, 6, 0] {
            s.insert(i);
        }
        assert_eq!(
            s.ranges.iter().map(|(&a, &b)| (a, b)).collect::<Vec<_>>(),
            [(0, 1), (3, 7), (10, 11)]
        );
        assert!(s.contains(6) && !s.contains(7) && !s.contains(2) && s.contains(0));
        s.remove_from(5);
        assert_eq!(
            s.ranges.iter().map(|(&a, &b)| (a, b)).collect::<Vec<_>>(),
            [(0, 1), (3, 5)]
        );
        s.remove_from(0);
        assert!(s.ranges.is_empty());
    }

    #[test]
    fn arbitrary_shapes_round_trip_and_stay_sealed() {
        let mut b = BlockFile::new().unwrap();
        let mut f = MemFile::default();
        let mut model = Vec::new();
        let mut seed = 0x1234_5678u64;
        for _ in 0..300 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let off = (seed >> 33) % 20_000;
            let len = ((seed >> 13) % 5000 + 1) as usize;
            let data: Vec<u8> = (0..len).map(|i| b"marker"[i % 6]).collect();
            b.write(&mut f, &data, off).unwrap();
            if model.len() < off as usize + len {
                model.resize(off as usize + len, 0);
            }
            model[off as usize..off as usize + len].copy_from_slice(&data);
            if seed.is_multiple_of(7) {
                let cut = (seed >> 20) % (model.len() as u64 + 1);
                b.truncate(&mut f, cut).unwrap();
                model.truncate(cut as usize);
            }
        }
        b.flush(&mut f).unwrap();
        assert!(!f.0.windows(6).any(|w| w == b"marker"));
        assert_eq!(b.size(), model.len() as u64);
        let mut out = vec![0u8; model.len() + 10];
        assert_eq!(b.read(&mut f, &mut out, 0).unwrap(), Filled::Short);
        assert_eq!(&out[..model.len()], &model[..]);
        let mut mid = vec![0u8; 777];
        b.read(&mut f, &mut mid, 1000).unwrap();
        assert_eq!(&mid[..], &model[1000..1777]);
    }
}
