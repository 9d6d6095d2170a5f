//! Helpers shared by the integration tests: a seeded PRNG, positions, seal contexts and
//! page builders.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use sqlvault_crypto::{
    DatabaseSalt, FORMAT_VERSION, MasterKey, PagePosition, SQLITE_MAGIC, SealContext, TRAILER_LEN,
};

/// SplitMix64: tiny, seeded, and good enough to spread test inputs (not for keys).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform-enough in `0..n` for test inputs.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.fill(&mut out);
        out
    }

    pub fn master(&mut self) -> MasterKey {
        MasterKey::from_bytes(self.array())
    }

    /// A valid raw-key database salt with random identity bytes.
    pub fn salt(&mut self) -> DatabaseSalt {
        let mut bytes = [0u8; 16];
        self.fill(&mut bytes[..12]);
        bytes[12] = FORMAT_VERSION;
        DatabaseSalt::parse(bytes).expect("a raw-key salt")
    }

    /// Any position; `Database { pgno: 1 }` only if `allow_page1`.
    pub fn position(&mut self, allow_page1: bool) -> PagePosition {
        if self.below(3) < 2 {
            let mut pgno = self.next_u32();
            if pgno == 1 && !allow_page1 {
                pgno = 2;
            }
            PagePosition::Database { pgno }
        } else {
            PagePosition::Block {
                index: self.next_u64(),
            }
        }
    }

    /// Any WAL-frame context.
    pub fn wal_context(&mut self) -> SealContext {
        SealContext::WalFrame {
            salts: self.array(),
            frame: self.next_u32(),
            commit_size: self.next_u32(),
            after_sync: self.below(2) == 0,
            previous: [0u8; 16],
        }
    }

    /// Any journal-record context.
    pub fn journal_context(&mut self) -> SealContext {
        SealContext::Journal {
            journal_nonce: self.next_u32(),
            offset: self.next_u64(),
            counted: self.below(2) == 0,
        }
    }

    /// Any seal context: the database file, a WAL frame or a journal record.
    pub fn context(&mut self) -> SealContext {
        match self.below(3) {
            0 => SealContext::Database,
            1 => self.wal_context(),
            _ => self.journal_context(),
        }
    }
}

/// A page as SQLite hands it over: random contents, zero reserved tail.
pub fn plain_page(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut page = rng.bytes(size);
    page[size - TRAILER_LEN..].fill(0);
    page
}

/// Page 1 of a database with `size`-byte pages: SQLite's header start, a reserve of
/// exactly [`TRAILER_LEN`] bytes, random contents, zero reserved tail.
pub fn plain_page1(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut page = plain_page(rng, size);
    page[..16].copy_from_slice(SQLITE_MAGIC);
    // Page size field: 1 stands for 65536 (SQLite file format §1.3.2).
    let field = if size == 65536 { 1u16 } else { size as u16 };
    page[16..18].copy_from_slice(&field.to_be_bytes());
    page[18] = 1;
    page[19] = 1;
    page[20] = TRAILER_LEN as u8;
    page[21] = 64;
    page[22] = 32;
    page[23] = 32;
    page
}

/// The page SQLite would hand over for `pos`.
pub fn plain_for(rng: &mut Rng, pos: PagePosition, size: usize) -> Vec<u8> {
    if pos == (PagePosition::Database { pgno: 1 }) {
        plain_page1(rng, size)
    } else {
        plain_page(rng, size)
    }
}

/// Every power-of-two page size SQLite supports.
pub const PAGE_SIZES: [usize; 8] = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
