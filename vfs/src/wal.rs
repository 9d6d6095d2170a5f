//! The write-ahead log: each frame holds a sealed database page, bound to its WAL
//! generation, frame index and commit size; frame checksums on disk cover the sealed bytes.
//!
//! WAL layout (sqlite.org/fileformat2.html#walformat): a 32-byte header, then frames of a
//! 24-byte frame header and one page. The headers stay in the clear (page number, commit
//! size, salts, checksums: no user data).
//!
//! Two views of the same file:
//!
//! * **On disk** every frame's page is the sealed database page — byte for byte what a
//!   checkpoint writes into the database — sealed in the [`SealContext::WalFrame`] of the
//!   WAL header's salts, the frame index and the commit size. The frame checksums form
//!   SQLite's checksum chain over the bytes *on disk*, so a SQLite that opens the files
//!   without the key (the `sqlite3` shell, an unkeyed connection) recovers the same log
//!   and checkpoints sealed pages that stay valid; it never takes the log for empty.
//! * **To SQLite** (keyed) the VFS hands plaintext pages and the checksum chain over the
//!   plaintext, which SQLite computed when it wrote each frame and checks when it recovers.
//!
//! The VFS translates between the two: on write it seals the page and replaces the
//! checksum with the one over the sealed bytes; on a recovery read it authenticates the
//! frame, checks the on-disk chain and hands back the plaintext chain. A frame whose chain
//! on disk breaks ends the log, as in plain SQLite (a torn write); a frame whose chain
//! holds but whose page does not authenticate in its generation and position is tampering
//! (SQLite's chain is unkeyed: anyone can recompute it), and so is a damaged frame followed
//! by a frame of the same generation that was sealed after everything before it had been
//! synced ([`SealContext::WalFrame::after_sync`]).
//!
//! A checkpoint (this connection holds SQLite's checkpoint lock) copies sealed bytes: the
//! page read hands SQLite the sealed page, and the database write that follows recognises
//! it and writes it unchanged. Its generation is checked on the way (the clear nonce tag);
//! its seal is authenticated wherever the database page is read later.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlvault_crypto::{PageCipher, PagePosition, SealContext};

use crate::error::{Fault, FileKind};
use crate::raw::{Filled, RawFile, is_page_size};
use crate::shared::{CachedCipher, SharedDb};

const WAL_HEADER: u64 = 32;
const FRAME_HEADER: u64 = 24;
const FRAME_HEADER_LEN: usize = FRAME_HEADER as usize;

/// The fields of a WAL header that sealing and checksums need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WalHeader {
    /// Checksum words are big-endian (magic 0x377f0683) rather than little-endian.
    big_endian: bool,
    page_size: usize,
    salts: [u8; 8],
    /// The header's checksum: the seed of the frame checksum chain.
    checksum: [u32; 2],
}

impl WalHeader {
    fn parse(bytes: &[u8]) -> Option<WalHeader> {
        let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let magic = word(0);
        if magic & !1 != 0x377f_0682 {
            return None;
        }
        let page_size = match word(8) {
            1 => 65536,
            n => n as usize,
        };
        if !is_page_size(page_size) {
            return None;
        }
        let mut salts = [0u8; 8];
        salts.copy_from_slice(&bytes[16..24]);
        Some(WalHeader {
            big_endian: magic & 1 == 1,
            page_size,
            salts,
            checksum: [word(24), word(28)],
        })
    }
}

/// SQLite's WAL checksum (`walChecksumBytes`) of `data` continuing from `s`.
fn checksum(big_endian: bool, data: &[u8], mut s: [u32; 2]) -> [u32; 2] {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s[0] = s[0].wrapping_add(word(&pair[..4])).wrapping_add(s[1]);
        s[1] = s[1].wrapping_add(word(&pair[4..])).wrapping_add(s[0]);
    }
    s
}

/// Runs [`checksum`] backwards: the state before `data`, given the state after it.
fn checksum_before(big_endian: bool, data: &[u8], mut s: [u32; 2]) -> [u32; 2] {
    for pair in data.chunks_exact(8).rev() {
        let word = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s[1] = s[1].wrapping_sub(word(&pair[4..])).wrapping_sub(s[0]);
        s[0] = s[0].wrapping_sub(word(&pair[..4])).wrapping_sub(s[1]);
    }
    s
}

/// The checksum of a frame whose header is `head` and page `page`, after `prev`.
fn frame_checksum(big_endian: bool, head: &[u8], page: &[u8], prev: [u32; 2]) -> [u32; 2] {
    checksum(big_endian, page, checksum(big_endian, &head[..8], prev))
}

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn put_checksum(head: &mut [u8], ck: [u32; 2]) {
    head[16..20].copy_from_slice(&ck[0].to_be_bytes());
    head[20..24].copy_from_slice(&ck[1].to_be_bytes());
}

fn stored_checksum(head: &[u8]) -> [u32; 2] {
    [word(head, 16), word(head, 20)]
}

/// A frame being assembled from SQLite's writes: the header and the page come as two
/// writes, and on storage without power-safe overwrite either may be split in two at a
/// sector boundary, with a sync in between.
struct PendingFrame {
    frame: u32,
    buf: Vec<u8>,
    /// Bytes `0..filled` of `buf` hold what SQLite wrote (or what was on disk before).
    filled: usize,
}

/// The plaintext and on-disk checksum chains at one point of the log.
type Chains = ([u32; 2], [u32; 2]);

/// Where the recovery read sequence stands: the next frame and both chains before it.
#[derive(Clone, Copy)]
struct Recovery {
    next: u32,
    plain: [u32; 2],
    disk: [u32; 2],
    /// The tag of the frame before `next` as stored.
    previous: [u8; 16],
}

pub(crate) struct WalFile {
    shared: Arc<SharedDb>,
    cipher: CachedCipher,
    scratch: Vec<u8>,
    pending: Option<PendingFrame>,
    /// The last commit frame this handle wrote, as SQLite wrote it (plaintext): the
    /// padding frames SQLite writes after a commit on storage without power-safe
    /// overwrite are copies of it.
    last_commit: Option<(u32, Vec<u8>)>,
    /// A padding frame sealed ahead of SQLite's last part of it (see
    /// [`WalFile::flush_for_sync`]): the rest SQLite writes must match it.
    presealed: Option<(u32, Vec<u8>)>,
    /// The WAL header as last written or read by this handle.
    header: Option<WalHeader>,
    /// The on-disk checksum of the frame this handle wrote last.
    disk_last: Option<(u32, [u32; 2])>,
    /// The tag (last 16 bytes) of the sealed page of the frame this handle wrote last.
    tag_last: Option<(u32, [u8; 16])>,
    /// The previous frame's tag each frame of the current transaction written by this
    /// handle was sealed with. SQLite may rewrite an earlier frame of its transaction in
    /// place; the frames after it are then still chained to the old tag until the
    /// checksum rewrite at commit reseals them (`write_header_only`).
    sealed_with: BTreeMap<u32, [u8; 16]>,
    /// The plaintext checksum chain (what SQLite believes is in each frame header) for
    /// the frames of the current transaction and the one before it, for SQLite's reads of
    /// a frame checksum when it rewrites the checksums of a transaction.
    plain: BTreeMap<u32, [u32; 2]>,
    recovery: Option<Recovery>,
    /// The highest frame index this handle has written in the current generation.
    max_written: Option<u32>,
    /// Frames `0..n` of the generation with these salts are known to be on stable storage.
    durable: Option<([u8; 8], u32)>,
    /// The frame SQLite last read whole outside a recovery: a header written on its own
    /// to that frame next is SQLite rewriting its checksum (`walRewriteChecksums`), which
    /// writes nothing after it, so it goes out at once rather than waiting in `pending`
    /// for a page that will not come (a commit frame left there was lost to a process
    /// that recovered the log: SQLite's walcksum-2.1).
    rewrite_read: Option<u32>,
}

impl WalFile {
    pub(crate) fn new(shared: Arc<SharedDb>) -> WalFile {
        WalFile {
            shared,
            cipher: CachedCipher::new(),
            scratch: Vec::new(),
            pending: None,
            last_commit: None,
            presealed: None,
            header: None,
            disk_last: None,
            tag_last: None,
            sealed_with: BTreeMap::new(),
            plain: BTreeMap::new(),
            recovery: None,
            max_written: None,
            durable: None,
            rewrite_read: None,
        }
    }

    fn keyed(&mut self) -> bool {
        self.cipher.get(&self.shared).is_some()
    }

    fn cipher(&mut self) -> Result<&mut PageCipher, Fault> {
        self.cipher.get(&self.shared).ok_or(Fault::NoKey)
    }

    /// The WAL header: the cached one, or the one on disk.
    fn header(&mut self, f: &mut dyn RawFile) -> Result<WalHeader, Fault> {
        if let Some(h) = self.header {
            return Ok(h);
        }
        self.reload_header(f)
    }

    fn reload_header(&mut self, f: &mut dyn RawFile) -> Result<WalHeader, Fault> {
        let mut bytes = [0u8; WAL_HEADER as usize];
        if f.read_at(&mut bytes, 0)? == Filled::Short {
            return Err(Fault::UnexpectedIo("a WAL frame without a WAL header"));
        }
        let h =
            WalHeader::parse(&bytes).ok_or(Fault::UnexpectedIo("a WAL frame under an invalid WAL header"))?;
        self.set_header(h);
        Ok(h)
    }

    fn set_header(&mut self, h: WalHeader) {
        if self.header.is_some_and(|old| old.salts != h.salts) {
            self.plain.clear();
            self.disk_last = None;
            self.tag_last = None;
            self.sealed_with.clear();
            self.max_written = None;
        }
        self.header = Some(h);
    }

    /// Writes out a frame still being assembled, where that is possible: a header on its
    /// own (SQLite rewriting checksums) goes out with its checksum translated. Called
    /// before every other operation.
    pub(crate) fn flush(&mut self, f: &mut dyn RawFile) -> Result<(), Fault> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        if pending.filled == FRAME_HEADER_LEN {
            return self.write_header_only(f, pending.frame, &pending.buf[..FRAME_HEADER_LEN]);
        }
        if pending.filled == pending.buf.len() {
            return self.write_frame(f, pending.frame, pending.buf);
        }
        Err(Fault::UnexpectedIo("a WAL frame written only in part"))
    }

    /// Before a sync. On storage without power-safe overwrite SQLite pads the log after a
    /// commit with copies of the commit frame up to a sector boundary, writes the part of
    /// the last copy before the boundary, syncs, then writes the rest: the sector holding
    /// the end of the commit must be complete and on disk before anything after it is
    /// written. A frame is sealed whole, so that part cannot go out alone; but it is a copy
    /// of the commit frame, so the whole frame is known: it is sealed and written now,
    /// before the sync, and SQLite's remaining writes are checked against it.
    pub(crate) fn flush_for_sync(&mut self, f: &mut dyn RawFile) -> Result<(), Fault> {
        let partial = self
            .pending
            .as_ref()
            .is_some_and(|p| p.filled != FRAME_HEADER_LEN && p.filled < p.buf.len());
        if !partial {
            return self.flush(f);
        }
        let Some(full) = self.padding_copy(f)? else {
            // Not a copy of the commit frame: it stays pending until SQLite completes it.
            return Ok(());
        };
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        self.write_frame(f, pending.frame, full.clone())?;
        self.presealed = Some((pending.frame, full));
        Ok(())
    }

    /// The whole frame the pending partial frame must be, if its known part is the start
    /// of a padding copy of the last commit frame.
    fn padding_copy(&mut self, f: &mut dyn RawFile) -> Result<Option<Vec<u8>>, Fault> {
        let h = self.header(f)?;
        let (Some(pending), Some((commit_frame, commit))) = (&self.pending, &self.last_commit) else {
            return Ok(None);
        };
        if pending.frame <= *commit_frame || commit.len() != pending.buf.len() {
            return Ok(None);
        }
        let Some(prev_plain) = self.plain.get(&(pending.frame - 1)).copied() else {
            return Ok(None);
        };
        let mut full = commit.clone();
        let (head, page) = full.split_at_mut(FRAME_HEADER_LEN);
        put_checksum(head, frame_checksum(h.big_endian, head, page, prev_plain));
        Ok((full[..pending.filled] == pending.buf[..pending.filled]).then_some(full))
    }

    /// After a completed sync: every frame this handle wrote (and every frame before it)
    /// is on stable storage.
    pub(crate) fn synced(&mut self) {
        if let (Some(h), Some(max)) = (self.header, self.max_written)
            && self.pending.is_none()
        {
            self.durable = Some((h.salts, max + 1));
        }
    }

    pub(crate) fn truncated(&mut self, size: u64) {
        if size < WAL_HEADER {
            self.header = None;
            self.durable = None;
        }
        self.plain.clear();
        self.disk_last = None;
        self.tag_last = None;
        self.sealed_with.clear();
        self.max_written = None;
        self.recovery = None;
    }

    fn frame_size(page_size: usize) -> u64 {
        page_size as u64 + FRAME_HEADER
    }

    fn frame_offset(frame: u32, page_size: usize) -> u64 {
        WAL_HEADER + u64::from(frame) * Self::frame_size(page_size)
    }

    pub(crate) fn write(&mut self, f: &mut dyn RawFile, buf: &[u8], offset: u64) -> Result<(), Fault> {
        if !self.keyed() {
            return f.write_at(buf, offset);
        }
        if offset < WAL_HEADER {
            self.flush(f)?;
            if offset == 0 && buf.len() >= WAL_HEADER as usize {
                if let Some(h) = WalHeader::parse(buf) {
                    // A new generation: nothing of the old one counts any more.
                    self.plain.clear();
                    self.disk_last = None;
                    self.tag_last = None;
                    self.sealed_with.clear();
                    self.max_written = None;
                    self.durable = None;
                    self.header = Some(h);
                }
            } else {
                self.header = None;
            }
            return f.write_at(buf, offset);
        }
        let h = self.header(f)?;
        let frame_size = Self::frame_size(h.page_size);
        let frame = u32::try_from((offset - WAL_HEADER) / frame_size)
            .map_err(|_| Fault::UnexpectedIo("WAL frame index beyond 2^32"))?;
        let within = ((offset - WAL_HEADER) % frame_size) as usize;
        if within + buf.len() > frame_size as usize {
            self.flush(f)?;
            return Err(Fault::UnexpectedIo("a WAL write across two frames"));
        }
        if let Some((sealed, full)) = &self.presealed {
            if *sealed == frame {
                // The rest of a padding frame written ahead (see flush_for_sync).
                if full[within..within + buf.len()] != *buf {
                    return Err(Fault::UnexpectedIo(
                        "a WAL padding frame that is not a copy of its commit frame",
                    ));
                }
                return Ok(());
            }
            self.presealed = None;
        }
        if self.pending.as_ref().is_some_and(|p| p.frame != frame) {
            self.flush(f)?;
        }
        if within == 0 && buf.len() == FRAME_HEADER_LEN && self.rewrite_read.take() == Some(frame) {
            self.flush(f)?;
            return self.write_header_only(f, frame, buf);
        }
        let mut pending = match self.pending.take() {
            Some(p) => p,
            None => {
                let mut p = PendingFrame {
                    frame,
                    buf: vec![0u8; frame_size as usize],
                    filled: 0,
                };
                if within >= FRAME_HEADER_LEN {
                    // A page rewritten in place (same transaction): its header is on disk.
                    let at = Self::frame_offset(frame, h.page_size);
                    if f.read_at(&mut p.buf[..FRAME_HEADER_LEN], at)? == Filled::Short {
                        return Err(Fault::UnexpectedIo("a WAL page written before its frame header"));
                    }
                    p.filled = FRAME_HEADER_LEN;
                    if within > FRAME_HEADER_LEN {
                        return Err(Fault::UnexpectedIo("a WAL page written from its middle"));
                    }
                }
                p
            }
        };
        if within > pending.filled {
            return Err(Fault::UnexpectedIo("a WAL frame written out of order"));
        }
        pending.buf[within..within + buf.len()].copy_from_slice(buf);
        pending.filled = pending.filled.max(within + buf.len());
        if pending.filled == pending.buf.len() {
            return self.write_frame(f, frame, pending.buf);
        }
        self.pending = Some(pending);
        Ok(())
    }

    /// The checksum on disk of the frame before `frame` (the header's for frame 0).
    fn disk_checksum_before(
        &mut self,
        f: &mut dyn RawFile,
        frame: u32,
        h: &WalHeader,
    ) -> Result<[u32; 2], Fault> {
        if frame == 0 {
            return Ok(h.checksum);
        }
        if let Some((i, ck)) = self.disk_last
            && i + 1 == frame
        {
            return Ok(ck);
        }
        let mut ck = [0u8; 8];
        f.read_at(&mut ck, Self::frame_offset(frame - 1, h.page_size) + 16)?;
        Ok([word(&ck, 0), word(&ck, 4)])
    }

    fn wal_context(
        &self,
        h: &WalHeader,
        frame: u32,
        commit_size: u32,
        after_sync: bool,
        previous: [u8; 16],
    ) -> SealContext {
        SealContext::WalFrame {
            salts: h.salts,
            frame,
            commit_size,
            after_sync,
            previous,
        }
    }

    /// The tag of the frame before `frame` as it is on disk now (zeros for frame 0).
    fn previous_tag(&mut self, f: &mut dyn RawFile, frame: u32, h: &WalHeader) -> Result<[u8; 16], Fault> {
        if frame == 0 {
            return Ok([0u8; 16]);
        }
        if let Some((i, tag)) = self.tag_last
            && i + 1 == frame
        {
            return Ok(tag);
        }
        let mut tag = [0u8; 16];
        if f.read_at(&mut tag, Self::frame_offset(frame, h.page_size) - 16)? == Filled::Short {
            return Err(Fault::UnexpectedIo("a WAL frame written past the end of the log"));
        }
        Ok(tag)
    }

    /// Reads frame `frame` into `buf` (one frame long) together with the tag of the frame
    /// before it; `None` if the log ends first.
    fn read_with_previous(
        f: &mut dyn RawFile,
        buf: &mut Vec<u8>,
        frame: u32,
        h: &WalHeader,
    ) -> Result<Option<[u8; 16]>, Fault> {
        let frame_size = Self::frame_size(h.page_size) as usize;
        let at = Self::frame_offset(frame, h.page_size);
        if frame == 0 {
            buf.resize(frame_size, 0);
            return Ok((f.read_at(buf, at)? == Filled::Full).then_some([0u8; 16]));
        }
        buf.resize(frame_size + 16, 0);
        let full = f.read_at(buf, at - 16)? == Filled::Full;
        let mut previous = [0u8; 16];
        previous.copy_from_slice(&buf[..16]);
        buf.drain(..16);
        Ok(full.then_some(previous))
    }

    /// Seals a whole frame SQLite wrote (`buf`: its header and plaintext page) and writes it.
    fn write_frame(&mut self, f: &mut dyn RawFile, frame: u32, mut buf: Vec<u8>) -> Result<(), Fault> {
        let mut h = self.header(f)?;
        let (head, page) = buf.split_at_mut(FRAME_HEADER_LEN);
        let pgno = word(head, 0);
        let commit_size = word(head, 4);
        let rewrite_pending = head[8..16].iter().all(|&b| b == 0);
        if !rewrite_pending && head[8..16] != h.salts {
            h = self.reload_header(f)?;
            if head[8..16] != h.salts {
                return Err(Fault::UnexpectedIo("a WAL frame of another generation"));
            }
        }
        let plain_ck = stored_checksum(head);
        if !rewrite_pending && frame > 0 && !self.plain.contains_key(&(frame - 1)) {
            // The first frame this handle writes in a run: remember the chain before it,
            // which SQLite may ask for if it rewrites this transaction's checksums.
            let before = checksum_before(
                h.big_endian,
                &head[..8],
                checksum_before(h.big_endian, page, plain_ck),
            );
            self.plain.insert(frame - 1, before);
        }
        if commit_size != 0 && !rewrite_pending {
            self.last_commit = Some((frame, buf.clone()));
        }
        let (head, page) = buf.split_at_mut(FRAME_HEADER_LEN);
        let after_sync = self
            .durable
            .is_some_and(|(salts, n)| salts == h.salts && frame <= n);
        let previous = self.previous_tag(f, frame, &h)?;
        let ctx = self.wal_context(&h, frame, commit_size, after_sync, previous);
        self.cipher()?
            .seal_in(page, PagePosition::Database { pgno }, ctx)?;
        self.sealed_with.insert(frame, previous);
        let prev = self.disk_checksum_before(f, frame, &h)?;
        let disk_ck = frame_checksum(h.big_endian, head, page, prev);
        if !rewrite_pending {
            put_checksum(head, disk_ck);
            self.plain.insert(frame, plain_ck);
            if commit_size != 0 {
                // A commit ends the transaction: only its checksum can still be asked for.
                self.plain.retain(|&i, _| i >= frame);
                self.sealed_with.retain(|&i, _| i >= frame);
            }
        }
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&page[page.len() - 16..]);
        f.write_at(&buf, Self::frame_offset(frame, h.page_size))?;
        self.tag_last = Some((frame, tag));
        // A frame waiting for SQLite's checksum rewrite has no valid checksum on disk yet.
        self.disk_last = (!rewrite_pending).then_some((frame, disk_ck));
        self.max_written = Some(self.max_written.map_or(frame, |m| m.max(frame)));
        Ok(())
    }

    /// A frame header SQLite rewrote on its own (`walRewriteChecksums`, at the commit of a
    /// transaction that rewrote one of its frames in place): the sealed page is already on
    /// disk, so the checksum over it is computed from there. If the frame before it has
    /// changed since the page was sealed, the page is resealed chained to it first.
    fn write_header_only(&mut self, f: &mut dyn RawFile, frame: u32, head: &[u8]) -> Result<(), Fault> {
        let h = self.header(f)?;
        let at = Self::frame_offset(frame, h.page_size);
        let mut page = std::mem::take(&mut self.scratch);
        page.resize(h.page_size, 0);
        let result = (|| {
            if f.read_at(&mut page, at + FRAME_HEADER)? == Filled::Short {
                return Err(Fault::UnexpectedIo(
                    "a WAL frame header rewritten without its page",
                ));
            }
            let mut out = [0u8; FRAME_HEADER_LEN];
            out.copy_from_slice(head);
            let (pgno, commit_size) = (word(&out, 0), word(&out, 4));
            let previous = self.previous_tag(f, frame, &h)?;
            let resealed = match self.sealed_with.get(&frame).copied() {
                Some(sealed_with) if sealed_with != previous => {
                    let candidates = [sealed_with];
                    if self
                        .open_frame_page(&mut page, pgno, &h, frame, commit_size, &candidates)
                        .is_err()
                    {
                        return Err(Fault::Tampered {
                            file: FileKind::Wal,
                            page: u64::from(pgno),
                        });
                    }
                    let after_sync = self
                        .durable
                        .is_some_and(|(salts, n)| salts == h.salts && frame <= n);
                    let ctx = self.wal_context(&h, frame, commit_size, after_sync, previous);
                    self.cipher()?
                        .seal_in(&mut page, PagePosition::Database { pgno }, ctx)?;
                    self.sealed_with.insert(frame, previous);
                    true
                }
                _ => false,
            };
            let prev = self.disk_checksum_before(f, frame, &h)?;
            let disk_ck = frame_checksum(h.big_endian, &out, &page, prev);
            self.plain.insert(frame, stored_checksum(&out));
            put_checksum(&mut out, disk_ck);
            if resealed {
                let mut whole = Vec::with_capacity(FRAME_HEADER_LEN + page.len());
                whole.extend_from_slice(&out);
                whole.extend_from_slice(&page);
                f.write_at(&whole, at)?;
            } else {
                f.write_at(&out, at)?;
            }
            let mut tag = [0u8; 16];
            tag.copy_from_slice(&page[page.len() - 16..]);
            self.disk_last = Some((frame, disk_ck));
            self.tag_last = Some((frame, tag));
            if commit_size != 0 {
                self.sealed_with.retain(|&i, _| i >= frame);
            }
            Ok(())
        })();
        self.scratch = page;
        result
    }

    pub(crate) fn read(&mut self, f: &mut dyn RawFile, buf: &mut [u8], offset: u64) -> Result<Filled, Fault> {
        self.flush(f)?;
        if !self.keyed() {
            return f.read_at(buf, offset);
        }
        let amt = buf.len() as u64;
        if offset == 0 && amt == WAL_HEADER {
            let filled = f.read_at(buf, 0)?;
            // SQLite reads the header first when it recovers the log.
            match WalHeader::parse(buf).filter(|_| filled == Filled::Full) {
                Some(h) => {
                    self.set_header(h);
                    self.recovery = Some(Recovery {
                        next: 0,
                        plain: h.checksum,
                        disk: h.checksum,
                        previous: [0u8; 16],
                    });
                }
                None => self.recovery = None,
            }
            return Ok(filled);
        }
        if offset < WAL_HEADER {
            return f.read_at(buf, offset);
        }
        // A frame read under a WAL header that does not parse: the log is damaged.
        let h = self.header(f).map_err(|_| Fault::Tampered {
            file: FileKind::Wal,
            page: 0,
        })?;
        let frame_size = Self::frame_size(h.page_size);
        let frame = u32::try_from((offset - WAL_HEADER) / frame_size)
            .map_err(|_| Fault::UnexpectedIo("WAL frame index beyond 2^32"))?;
        let within = (offset - WAL_HEADER) % frame_size;
        match (within, amt) {
            (0, a) if a == frame_size => self.read_frame(f, buf, frame, &h),
            (16, 8) => self.read_checksum(f, buf, frame, &h),
            (FRAME_HEADER, a) if a == h.page_size as u64 => self.read_page(f, buf, frame, &h),
            // A pager whose page size is still smaller than the log's (a connection that
            // opened the database while it was empty) reads the start of a frame's page.
            (FRAME_HEADER, a) if a < h.page_size as u64 => {
                let mut page = vec![0u8; h.page_size];
                let filled = self.read_page(f, &mut page, frame, &h)?;
                buf.copy_from_slice(&page[..buf.len()]);
                Ok(filled)
            }
            _ => Err(Fault::UnexpectedIo(
                "a WAL read that is neither a header, a frame, a checksum nor a page",
            )),
        }
    }

    /// A whole frame: SQLite recovering the log, or rewriting a transaction's checksums.
    fn read_frame(
        &mut self,
        f: &mut dyn RawFile,
        buf: &mut [u8],
        frame: u32,
        h: &WalHeader,
    ) -> Result<Filled, Fault> {
        if f.read_at(buf, Self::frame_offset(frame, h.page_size))? == Filled::Short {
            self.recovery = None;
            return Ok(Filled::Short);
        }
        let mut recovering = self.recovery.filter(|r| r.next == frame);
        self.rewrite_read = recovering.is_none().then_some(frame);
        if recovering.is_none()
            && frame > 0
            && self.recovery.is_some_and(|r| r.next == 0)
            && buf[8..16] == h.salts
        {
            // The header was just read, and now a frame from the middle of the log: a
            // read-only connection whose shared memory is not trustworthy reads the log
            // from the first frame its wal-index lacks (`walBeginShmUnreliable`) and checks
            // the chain from there. It needs the plaintext chain, which is recomputed up to
            // this frame once; the frames after it then follow in sequence.
            if let Some((plain, disk)) = self.chains_before(f, frame, h)? {
                recovering = Some(Recovery {
                    next: frame,
                    plain,
                    disk,
                    previous: self.previous_tag(f, frame, h)?,
                });
            }
        }
        // Outside a recovery: the tag before it on disk; either way also the one it was
        // sealed with (a frame of this handle's transaction whose predecessor was
        // rewritten since).
        let mut previous = match recovering {
            Some(r) => vec![r.previous],
            None => vec![self.previous_tag(f, frame, h)?],
        };
        previous.extend(self.sealed_with.get(&frame).copied());
        let (head, page) = buf.split_at_mut(FRAME_HEADER_LEN);
        let pgno = word(head, 0);
        let commit_size = word(head, 4);
        let mut own_tag = [0u8; 16];
        own_tag.copy_from_slice(&page[page.len() - 16..]);
        let frame_salts = &head[8..16];
        if recovering.is_none() && frame_salts.iter().all(|&b| b == 0) {
            // A frame of the current transaction waiting for its checksum (SQLite asks for
            // its page to compute it); never part of a recovered log.
            self.recovery = None;
            return match self.open_frame_page(page, pgno, h, frame, commit_size, &previous) {
                Ok(_) => Ok(Filled::Full),
                Err(()) => Err(Fault::Tampered {
                    file: FileKind::Wal,
                    page: u64::from(pgno),
                }),
            };
        }
        if frame_salts != h.salts {
            // Another generation: SQLite's own salt check ends the log here.
            if recovering.is_some() {
                self.recovery = None;
                self.scan_for_durable_frames_after(f, frame, h, pgno)?;
            }
            page.fill(0);
            return Ok(Filled::Full);
        }
        let Some(r) = recovering else {
            // Not a recovery: SQLite rewriting the checksums of its own transaction needs
            // only the page (it computes the checksum itself).
            self.recovery = None;
            return match self.open_frame_page(page, pgno, h, frame, commit_size, &previous) {
                Ok(_) => Ok(Filled::Full),
                Err(()) => Err(Fault::Tampered {
                    file: FileKind::Wal,
                    page: u64::from(pgno),
                }),
            };
        };
        let disk_ok = frame_checksum(h.big_endian, head, page, r.disk) == stored_checksum(head);
        let authentic = self
            .open_frame_page(page, pgno, h, frame, commit_size, &previous)
            .is_ok();
        match (disk_ok, authentic) {
            (true, true) => {
                let plain_ck = frame_checksum(h.big_endian, head, page, r.plain);
                let disk_ck = stored_checksum(head);
                put_checksum(head, plain_ck);
                self.recovery = Some(Recovery {
                    next: frame + 1,
                    plain: plain_ck,
                    disk: disk_ck,
                    previous: own_tag,
                });
                Ok(Filled::Full)
            }
            (true, false) => {
                // The chain over the bytes on disk holds, yet the page is not the one
                // sealed for this generation and slot: not a torn write.
                self.recovery = None;
                Err(Fault::Tampered {
                    file: FileKind::Wal,
                    page: u64::from(pgno),
                })
            }
            (false, authentic) => {
                // The end of the log, as SQLite would find it in plaintext: a checksum
                // that cannot match whatever page comes back. (A page rewritten in place
                // during a checksum rewrite authenticates and is handed back.)
                if !authentic {
                    page.fill(0);
                }
                let wrong = frame_checksum(h.big_endian, head, page, r.plain);
                put_checksum(head, [wrong[0] ^ 1, wrong[1]]);
                self.recovery = None;
                self.scan_for_durable_frames_after(f, frame, h, pgno)?;
                Ok(Filled::Full)
            }
        }
    }

    /// Opens a frame's page in its context (either value of `after_sync`, chained to one
    /// of the `previous` tags); `Ok(after_sync)`.
    ///
    /// Page 1 under another salt may mean another connection created the database after
    /// this one keyed the empty file: the salt is adopted (see [`SharedDb::adopt_salt`]).
    fn open_frame_page(
        &mut self,
        page: &mut [u8],
        pgno: u32,
        h: &WalHeader,
        frame: u32,
        commit_size: u32,
        previous: &[[u8; 16]],
    ) -> Result<bool, ()> {
        let copy = (pgno == 1 && self.shared.is_provisional_or_inherited()).then(|| page.to_vec());
        match self.open_frame_page_once(page, pgno, h, frame, commit_size, previous) {
            Ok(synced) => Ok(synced),
            Err(()) => {
                let Some(copy) = copy else { return Err(()) };
                let mut prefix = [0u8; sqlvault_crypto::SALT_LEN];
                prefix.copy_from_slice(&copy[..sqlvault_crypto::SALT_LEN]);
                let Ok(salt) = sqlvault_crypto::DatabaseSalt::parse(prefix) else {
                    return Err(());
                };
                if !self.shared.adopt_salt(salt).unwrap_or(false) {
                    return Err(());
                }
                page.copy_from_slice(&copy);
                self.open_frame_page_once(page, pgno, h, frame, commit_size, previous)
            }
        }
    }

    fn open_frame_page_once(
        &mut self,
        page: &mut [u8],
        pgno: u32,
        h: &WalHeader,
        frame: u32,
        commit_size: u32,
        previous: &[[u8; 16]],
    ) -> Result<bool, ()> {
        let candidates = self.frame_contexts(h, frame, commit_size, previous);
        let Ok(cipher) = self.cipher() else {
            return Err(());
        };
        let Some(ctx) = cipher.matching_context(page, &candidates) else {
            page.fill(0);
            return Err(());
        };
        // The tag was checked above; opening authenticates the nonce that carries it.
        cipher
            .open(page, PagePosition::Database { pgno })
            .map(|()| matches!(ctx, SealContext::WalFrame { after_sync: true, .. }))
            .map_err(|_| ())
    }

    /// The contexts a frame may have been sealed in: either value of `after_sync`, chained
    /// to each of the `previous` tags (the one on disk now; for a frame of the current
    /// transaction, also the one it was sealed with, see `sealed_with`).
    fn frame_contexts(
        &self,
        h: &WalHeader,
        frame: u32,
        commit_size: u32,
        previous: &[[u8; 16]],
    ) -> Vec<SealContext> {
        let mut candidates = Vec::with_capacity(2 * previous.len());
        for (i, &p) in previous.iter().enumerate() {
            if previous[..i].contains(&p) {
                continue;
            }
            candidates.push(self.wal_context(h, frame, commit_size, false, p));
            candidates.push(self.wal_context(h, frame, commit_size, true, p));
        }
        candidates
    }

    /// The log ended at `frame` (damaged, or of another generation). If a later frame of
    /// this generation was sealed after every frame before it was synced, the damage hit
    /// data that was already on stable storage: tampering, not a torn write.
    fn scan_for_durable_frames_after(
        &mut self,
        f: &mut dyn RawFile,
        frame: u32,
        h: &WalHeader,
        pgno: u32,
    ) -> Result<(), Fault> {
        let frames = f.size()?.saturating_sub(WAL_HEADER) / Self::frame_size(h.page_size);
        let mut buf = std::mem::take(&mut self.scratch);
        let mut result = Ok(());
        for later in u64::from(frame) + 1..frames {
            let later = later as u32;
            let Some(previous) = Self::read_with_previous(f, &mut buf, later, h)? else {
                break;
            };
            let (head, page) = buf.split_at_mut(FRAME_HEADER_LEN);
            if head[8..16] != h.salts {
                continue;
            }
            let ctx = self.wal_context(h, later, word(head, 4), true, previous);
            let Ok(cipher) = self.cipher() else { break };
            if cipher.was_sealed_in(page, ctx)
                && cipher
                    .open_in(page, PagePosition::Database { pgno: word(head, 0) }, ctx)
                    .is_ok()
            {
                result = Err(Fault::Tampered {
                    file: FileKind::Wal,
                    page: u64::from(pgno),
                });
                break;
            }
        }
        self.scratch = buf;
        result
    }

    /// Both checksum chains before `frame`, recomputed from the start of the log; `None`
    /// if the log ends before `frame`. Slow, and needed only for reads out of sequence.
    fn chains_before(
        &mut self,
        f: &mut dyn RawFile,
        frame: u32,
        h: &WalHeader,
    ) -> Result<Option<Chains>, Fault> {
        let mut plain = h.checksum;
        let mut disk = h.checksum;
        let mut buf = Vec::new();
        for i in 0..frame {
            let Some(previous) = Self::read_with_previous(f, &mut buf, i, h)? else {
                return Ok(None);
            };
            let mut previous = vec![previous];
            previous.extend(self.sealed_with.get(&i).copied());
            let (head, page) = buf.split_at_mut(FRAME_HEADER_LEN);
            if head[8..16] != h.salts {
                return Ok(None);
            }
            let next_disk = frame_checksum(h.big_endian, head, page, disk);
            if next_disk != stored_checksum(head) {
                return Ok(None);
            }
            disk = next_disk;
            let (pgno, commit) = (word(head, 0), word(head, 4));
            if self.open_frame_page(page, pgno, h, i, commit, &previous).is_err() {
                return Ok(None);
            }
            plain = frame_checksum(h.big_endian, head, page, plain);
        }
        Ok(Some((plain, disk)))
    }

    /// SQLite reading a frame's checksum to continue the chain from it (when it rewrites
    /// the checksums of a transaction): the plaintext chain value.
    fn read_checksum(
        &mut self,
        f: &mut dyn RawFile,
        buf: &mut [u8],
        frame: u32,
        h: &WalHeader,
    ) -> Result<Filled, Fault> {
        let ck = match self.plain.get(&frame) {
            Some(ck) => *ck,
            None => match self.chains_before(f, frame + 1, h)? {
                Some((plain, _)) => plain,
                None => return Err(Fault::UnexpectedIo("a WAL checksum read past the end of the log")),
            },
        };
        buf[..4].copy_from_slice(&ck[0].to_be_bytes());
        buf[4..].copy_from_slice(&ck[1].to_be_bytes());
        Ok(Filled::Full)
    }

    /// A page: SQLite reading a page from the log, or copying it during a checkpoint.
    fn read_page(
        &mut self,
        f: &mut dyn RawFile,
        buf: &mut [u8],
        frame: u32,
        h: &WalHeader,
    ) -> Result<Filled, Fault> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self.read_page_into(f, buf, frame, *h, &mut scratch);
        self.scratch = scratch;
        result
    }

    fn read_page_into(
        &mut self,
        f: &mut dyn RawFile,
        buf: &mut [u8],
        frame: u32,
        mut h: WalHeader,
        scratch: &mut Vec<u8>,
    ) -> Result<Filled, Fault> {
        for attempt in 0..2 {
            let Some(on_disk) = Self::read_with_previous(f, scratch, frame, &h)? else {
                return Err(Fault::Truncated);
            };
            let mut previous = vec![on_disk];
            previous.extend(self.sealed_with.get(&frame).copied());
            let (head, page) = scratch.split_at_mut(FRAME_HEADER_LEN);
            let pgno = word(head, 0);
            let commit_size = word(head, 4);
            let candidates = self.frame_contexts(&h, frame, commit_size, &previous);
            let cipher = self.cipher()?;
            let in_generation = cipher.matching_context(page, &candidates).is_some();
            if !in_generation && pgno == 1 && attempt == 1 && !self.shared.checkpointing() {
                // Possibly page 1 under a salt this connection has yet to adopt.
                if self
                    .open_frame_page(page, pgno, &h, frame, commit_size, &previous)
                    .is_ok()
                {
                    buf.copy_from_slice(page);
                    return Ok(Filled::Full);
                }
                return Err(Fault::Tampered {
                    file: FileKind::Wal,
                    page: 1,
                });
            }
            if !in_generation && attempt == 0 {
                // Another connection may have restarted the log since this one last
                // looked at its header.
                // A log whose header no longer parses is damaged, not an unexpected I/O.
                h = self.reload_header(f).map_err(|_| Fault::Tampered {
                    file: FileKind::Wal,
                    page: u64::from(pgno),
                })?;
                continue;
            }
            let tampered = Fault::Tampered {
                file: FileKind::Wal,
                page: u64::from(pgno),
            };
            if !in_generation {
                return Err(tampered);
            }
            if self.shared.checkpointing() {
                // A checkpoint copies the sealed page; it is authenticated wherever the
                // database page is read later.
                buf.copy_from_slice(page);
                let mut tag = [0u8; 16];
                tag.copy_from_slice(&page[page.len() - 16..]);
                self.shared.offer_passthrough(pgno, tag);
                return Ok(Filled::Full);
            }
            // In generation (checked just above): opening authenticates the tag with the nonce.
            if self
                .cipher()?
                .open(page, PagePosition::Database { pgno })
                .is_err()
            {
                return Err(tampered);
            }
            buf.copy_from_slice(page);
            return Ok(Filled::Full);
        }
        Err(Fault::Tampered {
            file: FileKind::Wal,
            page: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::MemFile;
    use crate::shared::KeyMaterial;
    use sqlvault_crypto::{DatabaseSalt, KdfKind, MasterKey};

    const PAGE: usize = 512;

    fn keyed() -> (WalFile, Arc<SharedDb>) {
        let shared = Arc::new(SharedDb::default());
        shared.set_key(KeyMaterial {
            master: MasterKey::from_bytes([2; 32]),
            salt: DatabaseSalt::generate(KdfKind::RawKey).unwrap(),
        });
        (WalFile::new(shared.clone()), shared)
    }

    fn header() -> [u8; 32] {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&0x377f_0682u32.to_be_bytes());
        h[4..8].copy_from_slice(&3_007_000u32.to_be_bytes());
        h[8..12].copy_from_slice(&(PAGE as u32).to_be_bytes());
        h[16..24].copy_from_slice(b"saltsalt");
        let ck = checksum(false, &h[..24], [0, 0]);
        h[24..28].copy_from_slice(&ck[0].to_be_bytes());
        h[28..32].copy_from_slice(&ck[1].to_be_bytes());
        h
    }

    fn page(fill: u8) -> Vec<u8> {
        let mut p = vec![fill; PAGE];
        p[PAGE - 32..].fill(0);
        p
    }

    /// Writes frames the way SQLite does: header (with the plaintext chain), then page.
    fn write_frames(w: &mut WalFile, f: &mut MemFile, pages: &[(u32, u32, u8)]) -> Vec<[u32; 2]> {
        let h = header();
        w.write(f, &h, 0).unwrap();
        let mut chain = [
            u32::from_be_bytes(h[24..28].try_into().unwrap()),
            u32::from_be_bytes(h[28..32].try_into().unwrap()),
        ];
        let mut plain = Vec::new();
        for (i, &(pgno, commit, fill)) in pages.iter().enumerate() {
            let mut head = [0u8; 24];
            head[..4].copy_from_slice(&pgno.to_be_bytes());
            head[4..8].copy_from_slice(&commit.to_be_bytes());
            head[8..16].copy_from_slice(b"saltsalt");
            chain = frame_checksum(false, &head, &page(fill), chain);
            put_checksum(&mut head, chain);
            plain.push(chain);
            let at = WalFile::frame_offset(i as u32, PAGE);
            w.write(f, &head, at).unwrap();
            w.write(f, &page(fill), at + 24).unwrap();
        }
        plain
    }

    #[test]
    fn the_checksum_runs_backwards() {
        let data: Vec<u8> = (0..64u8).collect();
        for be in [false, true] {
            let after = checksum(be, &data, [7, 9]);
            assert_eq!(checksum_before(be, &data, after), [7, 9]);
        }
    }

    #[test]
    fn checksums_on_disk_cover_the_sealed_bytes_and_recovery_sees_the_plaintext_chain() {
        let (mut w, shared) = keyed();
        let mut f = MemFile::default();
        let plain = write_frames(&mut w, &mut f, &[(2, 0, 1), (3, 3, 2)]);
        // On disk: SQLite's algorithm over the sealed bytes, as a keyless reader checks it.
        let mut chain = [word(&f.0, 24), word(&f.0, 28)];
        for i in 0..2u32 {
            let at = WalFile::frame_offset(i, PAGE) as usize;
            chain = frame_checksum(false, &f.0[at..at + 24], &f.0[at + 24..at + 24 + PAGE], chain);
            assert_eq!(stored_checksum(&f.0[at..at + 24]), chain, "frame {i}");
            assert!(!f.0[at + 24..at + 24 + PAGE].windows(8).any(|x| x == [1u8; 8]));
        }
        // A keyed reader recovering the log sees SQLite's plaintext chain and pages.
        let mut r = WalFile::new(shared);
        let mut h = [0u8; 32];
        r.read(&mut f, &mut h, 0).unwrap();
        for i in 0..2u32 {
            let mut frame = vec![0u8; 24 + PAGE];
            r.read(&mut f, &mut frame, WalFile::frame_offset(i, PAGE))
                .unwrap();
            assert_eq!(stored_checksum(&frame[..24]), plain[i as usize]);
            assert_eq!(&frame[24..], &page(i as u8 + 1)[..]);
        }
    }

    #[test]
    fn a_frame_split_at_a_sector_boundary_is_sealed_whole() {
        let (mut w, shared) = keyed();
        let mut f = MemFile::default();
        w.write(&mut f, &header(), 0).unwrap();
        let mut head = [0u8; 24];
        head[..4].copy_from_slice(&5u32.to_be_bytes());
        head[4..8].copy_from_slice(&5u32.to_be_bytes());
        head[8..16].copy_from_slice(b"saltsalt");
        let at = WalFile::frame_offset(0, PAGE);
        // Header in two parts, then the page in two parts with a sync between them.
        w.write(&mut f, &head[..10], at).unwrap();
        w.write(&mut f, &head[10..], at + 10).unwrap();
        w.write(&mut f, &page(4)[..100], at + 24).unwrap();
        w.flush_for_sync(&mut f).unwrap();
        w.write(&mut f, &page(4)[100..], at + 124).unwrap();
        let mut r = WalFile::new(shared);
        let mut out = vec![0u8; PAGE];
        r.read(&mut f, &mut out, at + 24).unwrap();
        assert_eq!(out, page(4));
    }

    #[test]
    fn a_frame_from_another_slot_or_generation_does_not_open() {
        let (mut w, shared) = keyed();
        let mut f = MemFile::default();
        write_frames(&mut w, &mut f, &[(2, 0, 1), (2, 2, 2)]);
        // Copy frame 0's page into frame 1 (same page number): it was sealed for slot 0.
        let (a, b) = (
            WalFile::frame_offset(0, PAGE) as usize,
            WalFile::frame_offset(1, PAGE) as usize,
        );
        let old = f.0[a + 24..a + 24 + PAGE].to_vec();
        f.0[b + 24..b + 24 + PAGE].copy_from_slice(&old);
        let mut r = WalFile::new(shared);
        let mut out = vec![0u8; PAGE];
        assert_eq!(
            r.read(&mut f, &mut out, b as u64 + 24).unwrap_err(),
            Fault::Tampered {
                file: FileKind::Wal,
                page: 2
            }
        );
    }

    #[test]
    fn a_zeroed_frame_ends_recovery_quietly() {
        let (mut w, shared) = keyed();
        let mut f = MemFile::default();
        write_frames(&mut w, &mut f, &[(2, 2, 1)]);
        f.0.resize(f.0.len() + 24 + PAGE, 0);
        let mut r = WalFile::new(shared);
        let mut h = [0u8; 32];
        r.read(&mut f, &mut h, 0).unwrap();
        let mut frame = vec![0u8; 24 + PAGE];
        r.read(&mut f, &mut frame, WalFile::frame_offset(0, PAGE))
            .unwrap();
        assert_eq!(
            r.read(&mut f, &mut frame, WalFile::frame_offset(1, PAGE))
                .unwrap(),
            Filled::Full
        );
        assert!(frame[24..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_padding_copy_of_the_commit_frame_reaches_the_disk_before_the_sync() {
        // Without power-safe overwrite SQLite pads after a commit with copies of the commit
        // frame and syncs in the middle of the last copy: the sector holding the end of the
        // commit must be written before that sync.
        let (mut w, shared) = keyed();
        let mut f = MemFile::default();
        let plain = write_frames(&mut w, &mut f, &[(2, 2, 1)]);
        let mut head = [0u8; 24];
        head[..4].copy_from_slice(&2u32.to_be_bytes());
        head[4..8].copy_from_slice(&2u32.to_be_bytes());
        head[8..16].copy_from_slice(b"saltsalt");
        let ck = frame_checksum(false, &head, &page(1), plain[0]);
        put_checksum(&mut head, ck);
        let at = WalFile::frame_offset(1, PAGE);
        w.write(&mut f, &head, at).unwrap();
        w.write(&mut f, &page(1)[..200], at + 24).unwrap();
        let before = f.0.len();
        w.flush_for_sync(&mut f).unwrap();
        assert_eq!(
            f.0.len() as u64,
            at + 24 + PAGE as u64,
            "the whole padding frame is on disk"
        );
        assert!(before < f.0.len());
        w.write(&mut f, &page(1)[200..], at + 224).unwrap();
        // It recovers as a valid frame, and differing bytes would have been refused.
        let mut r = WalFile::new(shared);
        let mut h = [0u8; 32];
        r.read(&mut f, &mut h, 0).unwrap();
        let mut frame = vec![0u8; 24 + PAGE];
        for i in 0..2 {
            r.read(&mut f, &mut frame, WalFile::frame_offset(i, PAGE))
                .unwrap();
            assert_eq!(&frame[24..], &page(1)[..]);
        }
    }
}
