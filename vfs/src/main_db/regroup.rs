//! A database whose page size changes inside one transaction.
//!
//! The backup API copies a database page image by page image, and when the two page sizes
//! differ the destination's pager writes the source's bytes in its *own* page size: page 1
//! arrives declaring the source's page size, and every later write of the commit is a
//! piece of the new layout (several writes per page when the new size is larger, several
//! pages per write when it is smaller). `VACUUM` after `PRAGMA page_size` takes the same
//! path. A plain file does not care; sqlvault seals whole pages of the file's page size,
//! so it regroups the writes into the new pages:
//!
//! - **Larger pages** (`Regroup`): pieces are collected until their page is whole, then
//!   sealed. Pieces written before page 1 announced the change (the pager spilled them
//!   to free cache) are on disk sealed in the old size, their reserved tails kept aside
//!   (`MainDb::stash`); the commit's sync completes every page from them. Reads in
//!   between see exactly the bytes written.
//! - **Smaller pages** (`start_split`): the file is resealed in the new size when page 1
//!   announces it, and each later write is sealed as the pages it holds.
//!
//! Both happen inside the commit of a rollback-journal transaction (SQLite refuses to
//! change the page size of a WAL database), after the journal holds every page being
//! replaced: a crash or a failed step is rolled back by SQLite from the journal, in the
//! old page size, as for any other commit.

use std::collections::{BTreeMap, BTreeSet};

use sqlvault_crypto::{PagePosition, TRAILER_LEN};

use super::{MainDb, page_number};
use crate::error::{Fault, FileKind};
use crate::raw::{Filled, RawFile};

/// A change to a larger page size under way.
pub(crate) struct Regroup {
    /// The page size the pager writes in.
    old: usize,
    /// The page size page 1 declares.
    new: usize,
    /// Pages of the new size of which some pieces have been written, by page number.
    pending: BTreeMap<u32, Assembly>,
    /// Pages of the new size already sealed into the file.
    written: BTreeSet<u32>,
    /// The database size in pages of the new size, as the new page 1 records it.
    pages: u32,
}

struct Assembly {
    page: Vec<u8>,
    /// Which pieces (of the old size) hold what the pager wrote.
    filled: Vec<bool>,
}

impl Regroup {
    fn pieces(&self) -> usize {
        self.new / self.old
    }

    /// The page of the new size holding the piece at `offset`, and the piece's index in it.
    fn locate(&self, offset: u64) -> Result<(u32, usize), Fault> {
        let pgno = page_number(offset, self.new)?;
        Ok((pgno, (offset % self.new as u64) as usize / self.old))
    }
}

impl MainDb {
    /// Page 1 (in the pager's page size `buf.len()`) declares the larger `new` size.
    pub(super) fn start_regroup(&mut self, f: &mut dyn RawFile, buf: &[u8], new: usize) -> Result<(), Fault> {
        check_reserve(buf)?;
        self.regroup = Some(Regroup {
            old: buf.len(),
            new,
            pending: BTreeMap::new(),
            written: BTreeSet::new(),
            pages: page_count(buf),
        });
        self.regroup_write(f, buf, 0)
    }

    /// One piece of a page of the new size.
    pub(super) fn regroup_write(
        &mut self,
        f: &mut dyn RawFile,
        buf: &[u8],
        offset: u64,
    ) -> Result<(), Fault> {
        let result = self.try_regroup_write(f, buf, offset);
        if result.is_err() {
            // SQLite rolls the transaction back from the journal, in the old page size.
            self.regroup = None;
        }
        result
    }

    fn try_regroup_write(&mut self, f: &mut dyn RawFile, buf: &[u8], offset: u64) -> Result<(), Fault> {
        let Some(r) = self.regroup.as_mut() else {
            return Err(Fault::UnexpectedIo("no page size change under way"));
        };
        if buf.len() != r.old || !offset.is_multiple_of(r.old as u64) {
            return Err(Fault::UnexpectedIo(
                "a write in neither page size during a page size change",
            ));
        }
        let (pgno, piece) = r.locate(offset)?;
        let (old, pieces) = (r.old, r.pieces());
        let assembly = r.pending.entry(pgno).or_insert_with(|| Assembly {
            page: vec![0u8; r.new],
            filled: vec![false; pieces],
        });
        assembly.page[piece * old..(piece + 1) * old].copy_from_slice(buf);
        assembly.filled[piece] = true;
        let whole = assembly.filled.iter().all(|&b| b);
        // The piece carries its whole content, reserved tail included.
        self.stash.remove(&(page_number(offset, old)?));
        if whole {
            self.seal_pending(f, pgno)?;
        }
        Ok(())
    }

    /// Seals a page of the new size from its pending pieces (completing missing pieces
    /// from the file) and writes it.
    fn seal_pending(&mut self, f: &mut dyn RawFile, pgno: u32) -> Result<(), Fault> {
        let Some(r) = self.regroup.as_mut() else {
            return Ok(());
        };
        let Some(mut assembly) = r.pending.remove(&pgno) else {
            return Ok(());
        };
        let (old, new) = (r.old, r.new);
        let first = (u64::from(pgno) - 1) * new as u64;
        for (piece, filled) in assembly.filled.iter().enumerate() {
            if !filled {
                let at = first + (piece * old) as u64;
                let slot = &mut assembly.page[piece * old..(piece + 1) * old];
                self.read_old_piece(f, slot, at)?;
            }
        }
        // The new page 1 reserves the tail (`check_reserve`): no data there.
        self.seal_and_write(f, &assembly.page, first)?;
        if let Some(r) = self.regroup.as_mut() {
            r.written.insert(pgno);
        }
        Ok(())
    }

    /// A piece of the old page size as the file holds it: sealed in the old size (written
    /// earlier in this transaction, or before it), plus its stashed tail.
    fn read_old_piece(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<(), Fault> {
        let pgno = page_number(offset, buf.len())?;
        match f.read_at(buf, offset)? {
            Filled::Short => {
                buf.fill(0);
                return Ok(());
            }
            Filled::Full if buf.iter().all(|&b| b == 0) => return Ok(()),
            Filled::Full => {}
        }
        let cipher = self.cipher().ok_or(Fault::NoKey)?;
        if cipher.open(buf, PagePosition::Database { pgno }).is_err() {
            return Err(Fault::Tampered {
                file: FileKind::Database,
                page: u64::from(pgno),
            });
        }
        if let Some(kept) = self.stash.get(&pgno) {
            let tail = buf.len() - TRAILER_LEN;
            buf[tail..].copy_from_slice(kept);
        }
        Ok(())
    }

    /// A read by the pager (in the old page size) while the change is under way.
    pub(super) fn regroup_read(
        &mut self,
        f: &mut dyn RawFile,
        buf: &mut [u8],
        offset: u64,
    ) -> Result<Filled, Fault> {
        let Some(r) = self.regroup.as_ref() else {
            return Err(Fault::UnexpectedIo("no page size change under way"));
        };
        if buf.len() != r.old || !offset.is_multiple_of(r.old as u64) {
            return Err(Fault::UnexpectedIo(
                "a read in neither page size during a page size change",
            ));
        }
        let (old, new) = (r.old, r.new);
        let (pgno, piece) = r.locate(offset)?;
        let range = piece * old..(piece + 1) * old;
        if let Some(assembly) = r.pending.get(&pgno)
            && assembly.filled[piece]
        {
            buf.copy_from_slice(&assembly.page[range]);
            return Ok(Filled::Full);
        }
        if r.written.contains(&pgno) {
            let mut page = vec![0u8; new];
            let at = (u64::from(pgno) - 1) * new as u64;
            if f.read_at(&mut page, at)? == Filled::Short {
                return Err(Fault::Truncated);
            }
            self.open_page(&mut page, pgno)?;
            buf.copy_from_slice(&page[range]);
            return Ok(Filled::Full);
        }
        if offset >= f.size()? {
            buf.fill(0);
            return Ok(Filled::Short);
        }
        self.read_old_piece(f, buf, offset)?;
        Ok(Filled::Full)
    }

    /// Seals every page still pending, and reseals in the new size every page of the new
    /// database whose pieces were all spilled before page 1 came: the commit is about to
    /// sync or truncate. What the transaction did not write is left alone: SQLite did not
    /// journal it (what lies past the new database, cut off once the commit is durable; the
    /// page holding the pending byte).
    pub(super) fn finish_regroup(&mut self, f: &mut dyn RawFile) -> Result<(), Fault> {
        let Some(r) = self.regroup.as_ref() else {
            return Ok(());
        };
        let (new, pages, pieces) = (r.new, r.pages, r.pieces());
        let result = (|| {
            for pgno in 1..=pages {
                let first_piece = (u64::from(pgno) - 1) * pieces as u64 + 1;
                let spilled = (first_piece..first_piece + pieces as u64)
                    .any(|p| u32::try_from(p).is_ok_and(|p| self.was_written(p)));
                let Some(r) = self.regroup.as_mut() else {
                    break;
                };
                if r.written.contains(&pgno) || r.pending.contains_key(&pgno) || !spilled {
                    continue;
                }
                r.pending.entry(pgno).or_insert_with(|| Assembly {
                    page: vec![0u8; new],
                    filled: vec![false; pieces],
                });
                self.seal_pending(f, pgno)?;
            }
            let pending: Vec<u32> = self
                .regroup
                .as_ref()
                .map(|r| r.pending.keys().copied().collect())
                .unwrap_or_default();
            pending
                .into_iter()
                .try_for_each(|pgno| self.seal_pending(f, pgno))
        })();
        self.regroup = None;
        result?;
        // What was kept of tails in the old page size is placed now; the file is in the
        // new page size throughout.
        self.stash.clear();
        self.page_size = Some(new);
        Ok(())
    }

    /// Page 1 (in the pager's page size `buf.len()`) declares the smaller `new` size:
    /// reseal in the new size what the transaction already wrote of the new database (pages
    /// the pager spilled), then write page 1's pages.
    pub(super) fn start_split(&mut self, f: &mut dyn RawFile, buf: &[u8], new: usize) -> Result<(), Fault> {
        check_reserve(buf)?;
        let old = buf.len();
        let end = f
            .size()?
            .min((u64::from(page_count(buf)) * new as u64).next_multiple_of(old as u64));
        let mut piece = vec![0u8; old];
        let mut at = old as u64;
        while at + old as u64 <= end {
            if self.was_written(page_number(at, old)?) {
                if self.read(f, &mut piece, at)? == Filled::Short {
                    break;
                }
                self.write_split(f, &piece, at, new)?;
            }
            at += old as u64;
        }
        // Every piece is in the new page size now, its tails included.
        self.stash.clear();
        self.write_split(f, buf, 0, new)
    }

    /// A write of the pager holding several whole pages of the file's smaller page size.
    /// Their tails are reserved by page 1 (`check_reserve`) and hold no data.
    pub(super) fn write_split(
        &mut self,
        f: &mut dyn RawFile,
        buf: &[u8],
        offset: u64,
        size: usize,
    ) -> Result<(), Fault> {
        for (i, page) in buf.chunks(size).enumerate() {
            self.seal_and_write(f, page, offset + (i * size) as u64)?;
        }
        Ok(())
    }
}

/// The database size in pages that a plaintext page 1 records.
fn page_count(page1: &[u8]) -> u32 {
    u32::from_be_bytes([page1[28], page1[29], page1[30], page1[31]])
}

/// The tails of the new layout's pages can be given to the trailer only if the new page 1
/// reserves them (a plaintext source reserves nothing: its pages cannot be sealed).
fn check_reserve(page1: &[u8]) -> Result<(), Fault> {
    if usize::from(page1[20]) < TRAILER_LEN {
        return Err(Fault::ReserveTooSmall);
    }
    Ok(())
}
