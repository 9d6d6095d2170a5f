//! `page_open`: arbitrary bytes and positions through `PageCipher::open`.
//!
//! Properties checked:
//! 1. Opening never panics, whatever the buffer length, contents or position.
//! 2. Bytes this target did not seal never open (a success would be a forged tag).
//! 3. A page this target sealed opens only unchanged, at the position it was sealed
//!    for, under the same key and database salt; then it gives back exactly the
//!    plaintext. Every failure leaves the buffer zeroed.
//! 4. Sealing arbitrary buffers never panics (it may refuse them with an error).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sqlvault_crypto::{
    DatabaseSalt, FORMAT_VERSION, MasterKey, PageCipher, PagePosition, SQLITE_MAGIC, TRAILER_LEN,
    all_backends,
};

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Database(u32),
    WalFrame(u32, u32, u32),
    Journal(u64, u32),
    Block(u64),
}

impl Pos {
    fn get(self) -> PagePosition {
        match self {
            Pos::Database(pgno) => PagePosition::Database { pgno },
            Pos::WalFrame(frame, pgno, commit_size) => PagePosition::WalFrame {
                frame,
                pgno,
                commit_size,
            },
            Pos::Journal(offset, pgno) => PagePosition::Journal { offset, pgno },
            Pos::Block(index) => PagePosition::Block { index },
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Case {
    /// Open fuzzer-made bytes as if they were a sealed page.
    OpenForeign { pos: Pos, bytes: Vec<u8> },
    /// Seal fuzzer-made bytes at `pos` (must not panic), then open them the same way.
    SealAnything { pos: Pos, bytes: Vec<u8> },
    /// Seal a well-formed page, change it (or not), open it somewhere (or at the same place).
    RoundTrip {
        sealed_at: Pos,
        opened_at: Pos,
        /// log2 of the page size above 512 (0..=7); for blocks, a length instead.
        size: u16,
        contents: Vec<u8>,
        /// (offset, xor mask) pairs applied to the sealed page.
        flips: Vec<(u16, u8)>,
        other_salt: bool,
        other_key: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    key: [u8; 32],
    salt: [u8; 12],
    seal_backend: u8,
    open_backend: u8,
    case: Case,
}

fn salt(random: [u8; 12]) -> DatabaseSalt {
    let mut bytes = [0u8; 16];
    bytes[..12].copy_from_slice(&random);
    bytes[12] = FORMAT_VERSION;
    match DatabaseSalt::parse(bytes) {
        Ok(s) => s,
        Err(e) => panic!("a raw-key salt must parse: {e}"),
    }
}

fuzz_target!(|input: Input| {
    let backends = all_backends();
    let seal_backend = backends[usize::from(input.seal_backend) % backends.len()];
    let open_backend = backends[usize::from(input.open_backend) % backends.len()];
    let master = MasterKey::from_bytes(input.key);
    let db = salt(input.salt);
    let mut reader = PageCipher::with_backend(&master, db, open_backend);

    match input.case {
        Case::OpenForeign { pos, mut bytes } => {
            let result = reader.open(&mut bytes, pos.get());
            assert!(result.is_err(), "unsealed bytes opened at {pos:?}");
            assert!(bytes.iter().all(|&b| b == 0));
        }
        Case::SealAnything { pos, mut bytes } => {
            let mut writer = PageCipher::with_backend(&master, db, seal_backend);
            let original = bytes.clone();
            if writer.seal(&mut bytes, pos.get()).is_ok() {
                assert!(
                    reader.open(&mut bytes, pos.get()).is_ok(),
                    "a sealed page did not open"
                );
                // Everything but the trailer comes back; the trailer region comes back as
                // zeros (for database pages it had to be zero to be sealed at all).
                let body = original.len() - TRAILER_LEN;
                assert_eq!(bytes[..body], original[..body]);
                assert!(bytes[body..].iter().all(|&b| b == 0));
            } else {
                assert_eq!(bytes, original, "a refused seal changed the buffer");
            }
        }
        Case::RoundTrip {
            sealed_at,
            opened_at,
            size,
            contents,
            flips,
            other_salt,
            other_key,
        } => {
            let pos = sealed_at.get();
            let len = match pos {
                PagePosition::Block { .. } => 1 + usize::from(size) + TRAILER_LEN,
                _ => 512 << (size % 8),
            };
            let mut plain = vec![0u8; len];
            for (dst, src) in plain.iter_mut().zip(contents.iter().cycle()) {
                *dst = *src;
            }
            plain[len - TRAILER_LEN..].fill(0);
            if pos == (PagePosition::Database { pgno: 1 }) {
                plain[..16].copy_from_slice(SQLITE_MAGIC);
                plain[20] = plain[20].max(TRAILER_LEN as u8);
            }
            let mut writer = PageCipher::with_backend(&master, db, seal_backend);
            let mut sealed = plain.clone();
            if let Err(e) = writer.seal(&mut sealed, pos) {
                panic!("a well-formed page was refused at {pos:?}: {e}");
            }
            let mut page = sealed.clone();
            for (offset, mask) in flips {
                let i = usize::from(offset) % len;
                page[i] ^= mask;
            }
            let unchanged = page == sealed;
            let mut opener = if other_key || other_salt {
                let mut key = input.key;
                if other_key {
                    key[0] ^= 1;
                }
                let mut random = input.salt;
                if other_salt {
                    random[0] ^= 1;
                }
                PageCipher::with_backend(&MasterKey::from_bytes(key), salt(random), open_backend)
            } else {
                reader
            };
            let expect_ok = unchanged && opened_at == sealed_at && !other_key && !other_salt;
            let result = opener.open(&mut page, opened_at.get());
            assert_eq!(
                result.is_ok(),
                expect_ok,
                "sealed at {sealed_at:?}, opened at {opened_at:?}, unchanged: {unchanged}, \
                 other key: {other_key}, other salt: {other_salt}"
            );
            if expect_ok {
                assert_eq!(page, plain);
            } else {
                assert!(page.iter().all(|&b| b == 0));
            }
        }
    }
});
