//! Temp files, statement journals and transient files: sealed in fixed blocks under a
//! fresh random key, whatever shape SQLite's reads and writes take.
//!
//! Logical block `i` (4096 bytes of file content) is stored at `i * 4128` as the sealed
//! block followed by its trailer; the last block may be shorter. These files belong to
//! one handle and die with it (SQLite opens them delete-on-close), so the logical size
//! and a one-block write-back cache live in memory.

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
    cache: Option<CachedBlock>,
}

impl BlockFile {
    /// A block file under a fresh random key.
    pub(crate) fn new() -> Result<BlockFile, Fault> {
        let salt = DatabaseSalt::generate(KdfKind::RawKey)?;
        Ok(BlockFile {
            cipher: PageCipher::new(&MasterKey::random()?, salt),
            size: 0,
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
        if offset > self.size {
            // Fill a gap with zeros so every block before the write exists.
            let gap = vec![0u8; (offset - self.size) as usize];
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
            block.dirty = true;
            self.flush(f)?;
        } else if self.cache.as_ref().is_some_and(|c| c.index >= index) {
            self.cache = None;
        }
        self.flush(f)?;
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
        if len > 0 {
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
