//! The safe face of the parent VFS's file: what the sealing logic reads and writes through.

use crate::error::Fault;

/// Result of a read from the parent file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filled {
    /// Every byte was read.
    Full,
    /// The file ended first; the rest of the buffer is zero (SQLite's short-read rule).
    Short,
}

/// Byte-level I/O on the underlying (parent VFS) file.
pub(crate) trait RawFile {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> Result<Filled, Fault>;
    fn write_at(&mut self, buf: &[u8], offset: u64) -> Result<(), Fault>;
    fn truncate(&mut self, size: u64) -> Result<(), Fault>;
    fn size(&mut self) -> Result<u64, Fault>;
}

/// Is `n` a valid SQLite page size?
pub(crate) fn is_page_size(n: usize) -> bool {
    n.is_power_of_two() && (512..=65536).contains(&n)
}

/// An in-memory [`RawFile`] for unit tests of the sealing logic.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct MemFile(pub Vec<u8>);

#[cfg(test)]
impl RawFile for MemFile {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        let off = offset as usize;
        let avail = self.0.len().saturating_sub(off).min(buf.len());
        if avail > 0 {
            buf[..avail].copy_from_slice(&self.0[off..off + avail]);
        }
        buf[avail..].fill(0);
        Ok(if avail == buf.len() {
            Filled::Full
        } else {
            Filled::Short
        })
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> Result<(), Fault> {
        let end = offset as usize + buf.len();
        if self.0.len() < end {
            self.0.resize(end, 0);
        }
        self.0[offset as usize..end].copy_from_slice(buf);
        Ok(())
    }
    fn truncate(&mut self, size: u64) -> Result<(), Fault> {
        self.0.truncate(size as usize);
        Ok(())
    }
    fn size(&mut self) -> Result<u64, Fault> {
        Ok(self.0.len() as u64)
    }
}
