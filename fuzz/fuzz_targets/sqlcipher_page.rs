//! Fuzzes `sqlvault::sqlcipher`'s page reader: arbitrary or mutated SQLCipher files under a
//! fixed key never panic the reader, and every page it returns is one that real SQLCipher wrote
//! under that key, at that page number (never plaintext of an unauthenticated page).
//!
//! Inputs (first byte picks the mode):
//! - 0: the rest is a whole database file (SQLCipher 4 settings, no WAL);
//! - 1: the rest is a whole WAL for the `v4-rawkey` fixture's database file;
//! - 2: edits (xor byte at offset, then an optional truncation) to the `v2-kdf4000` fixture;
//! - 3: edits to the `v4-rawkey` fixture's WAL, then its frame checksums recomputed (so frames
//!   reach the HMAC check instead of ending the log), or not, by a flag.
//!
//! Keys are raw so that no iteration pays for PBKDF2: the v2 fixture's passphrase is turned
//! into its SQLCipher key once, at start-up (SQLCipher derives the HMAC key from the encryption
//! key the same way for raw keys and passphrases).
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sqlvault::sqlcipher::{SqlcipherKey, SqlcipherParams, SqlcipherReader, SqlcipherSource};

const RAW_DB: &[u8] = include_bytes!("../../tests/fixtures/sqlcipher/v4-rawkey.db");
const RAW_WAL: &[u8] = include_bytes!("../../tests/fixtures/sqlcipher/v4-rawkey.db-wal");
const RAW_KEY: &str = "x'2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe'";
const V2_DB: &[u8] = include_bytes!("../../tests/fixtures/sqlcipher/v2-kdf4000.db");
const V2_PASSPHRASE: &[u8] = b"v2 passphrase";
const WAL_FRAME: usize = 24 + 4096;

/// Every plaintext a page number may legitimately have under one key: its version in the
/// database file and after each committed WAL transaction.
type Known = HashMap<u32, Vec<Vec<u8>>>;

struct Setup {
    raw_key: SqlcipherKey,
    v2_key: SqlcipherKey,
    raw_known: Known,
    v2_known: Known,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let raw_key = SqlcipherKey::parse(RAW_KEY);
        let mut v2 = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(V2_PASSPHRASE, &V2_DB[..16], 4000, &mut v2);
        let v2_key = SqlcipherKey::raw(v2);

        let mut raw_known = Known::new();
        // Each prefix of the WAL that ends on a frame boundary is a state SQLite could recover.
        let frames = (RAW_WAL.len() - 32) / WAL_FRAME;
        for n in 0..=frames {
            let wal = RAW_WAL[..32 + n * WAL_FRAME].to_vec();
            let source = SqlcipherSource::from_bytes(RAW_DB).with_wal_bytes(wal);
            let r =
                SqlcipherReader::open(source, &raw_key, SqlcipherParams::v4()).expect("fixture prefix opens");
            collect(&r, &mut raw_known);
        }
        let mut v2_known = Known::new();
        let r = SqlcipherReader::open(SqlcipherSource::from_bytes(V2_DB), &v2_key, SqlcipherParams::v2())
            .expect("v2 fixture opens with its derived raw key");
        collect(&r, &mut v2_known);
        Setup {
            raw_key,
            v2_key,
            raw_known,
            v2_known,
        }
    })
}

fn collect(r: &SqlcipherReader, known: &mut Known) {
    for pgno in 1..=r.page_count() {
        let page = r.page(pgno).expect("fixture page authenticates").to_vec();
        let versions = known.entry(pgno).or_default();
        if !versions.contains(&page) {
            versions.push(page);
        }
    }
}

/// Reads every page; each one that comes back must be a known version of that page.
fn check(r: &SqlcipherReader, known: &Known) {
    let mut out = vec![0u8; r.page_size() as usize];
    for pgno in 1..=r.page_count().min(4096) {
        match r.read_page(pgno, &mut out) {
            Ok(()) => assert!(
                known.get(&pgno).is_some_and(|v| v.contains(&out)),
                "page {pgno} returned plaintext that SQLCipher never wrote there"
            ),
            Err(_) => assert!(
                out.iter().all(|&b| b == 0),
                "failed page {pgno} left bytes in the buffer"
            ),
        }
    }
    let _ = r.decrypt_image();
}

fn apply_edits(base: &[u8], edits: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    let mut chunks = edits.chunks_exact(4);
    for e in &mut chunks {
        let offset = u32::from(u16::from_le_bytes([e[0], e[1]])) << (e[2] >> 6);
        if let Some(b) = out.get_mut(offset as usize % base.len().max(1)) {
            *b ^= e[3];
        }
    }
    if let [len_lo, len_hi, ..] = chunks.remainder() {
        let cut = usize::from(u16::from_le_bytes([*len_lo, *len_hi])) * 4;
        out.truncate(cut);
    }
    out
}

/// Recomputes the frame checksums of a WAL with little-endian checksums (as the fixture's).
fn refresh_checksums(wal: &mut [u8]) {
    if wal.len() < 32 {
        return;
    }
    let sum = |data: &[u8], (mut a, mut b): (u32, u32)| {
        for w in data.chunks_exact(8) {
            a = a
                .wrapping_add(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .wrapping_add(b);
            b = b
                .wrapping_add(u32::from_le_bytes([w[4], w[5], w[6], w[7]]))
                .wrapping_add(a);
        }
        (a, b)
    };
    let mut s = (
        u32::from_be_bytes([wal[24], wal[25], wal[26], wal[27]]),
        u32::from_be_bytes([wal[28], wal[29], wal[30], wal[31]]),
    );
    let mut at = 32;
    while at + WAL_FRAME <= wal.len() {
        s = sum(&wal[at + 24..at + WAL_FRAME], sum(&wal[at..at + 8], s));
        wal[at + 16..at + 20].copy_from_slice(&s.0.to_be_bytes());
        wal[at + 20..at + 24].copy_from_slice(&s.1.to_be_bytes());
        at += WAL_FRAME;
    }
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let source = || SqlcipherSource::from_bytes(rest);
            if let Ok(r) = SqlcipherReader::open(source(), &s.raw_key, SqlcipherParams::v4()) {
                check(&r, &s.raw_known);
            }
            let candidates = [SqlcipherParams::v4(), SqlcipherParams::v3()];
            if let Ok(r) = SqlcipherReader::detect_with(source(), &s.raw_key, &candidates) {
                check(&r, &s.raw_known);
            }
        }
        1 => {
            let source = SqlcipherSource::from_bytes(RAW_DB).with_wal_bytes(rest);
            if let Ok(r) = SqlcipherReader::open(source, &s.raw_key, SqlcipherParams::v4()) {
                check(&r, &s.raw_known);
            }
        }
        2 => {
            let db = apply_edits(V2_DB, rest);
            if let Ok(r) =
                SqlcipherReader::open(SqlcipherSource::from_bytes(db), &s.v2_key, SqlcipherParams::v2())
            {
                check(&r, &s.v2_known);
            }
        }
        _ => {
            let mut wal = apply_edits(RAW_WAL, rest);
            if mode & 0x80 != 0 {
                refresh_checksums(&mut wal);
            }
            let source = SqlcipherSource::from_bytes(RAW_DB).with_wal_bytes(wal);
            if let Ok(r) = SqlcipherReader::open(source, &s.raw_key, SqlcipherParams::v4()) {
                check(&r, &s.raw_known);
            }
        }
    }
});
