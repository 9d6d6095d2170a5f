//! Known answers for the format-2 page layout, recomputed from the documented format
//! with the bare primitives (themselves checked against NIST, Wycheproof and RFC 5869 in
//! `kat_aes_gcm.rs` and `kat_kdf.rs`), not from the page cipher:
//!
//! - a sealed page is `AES-256-GCM(page key, nonce, AAD, body) ‖ epoch ‖ nonce ‖ tag`, with
//!   the page key `HKDF(master, salt, "sqlvault/v2/page-key" ‖ epoch)` and the AAD one byte
//!   `version << 4 | kind` (0x21 database page, 0x24 block) and the page number (plus page
//!   1's clear header bytes 16..24) or block index, big-endian;
//! - a page sealed in a WAL frame or journal record is the same AEAD call, with the
//!   context tag as the first four nonce bytes — nothing else about it changes, which is
//!   what lets a checkpoint or journal playback copy it into the database unchanged;
//! - the context tags themselves are pinned to values computed once by this
//!   implementation (project-internal vectors; a change means a format change).

mod common;

use common::{Rng, plain_page, plain_page1};
use hex_literal::hex;
use sqlvault_crypto::{
    Backend, DatabaseSalt, MasterKey, NONCE_LEN, PAGE1_CLEAR_LEN, PageCipher, PagePosition, SealContext,
    TRAILER_LEN, aes256gcm_seal, all_backends, hkdf_sha256,
};

const MASTER: [u8; 32] = hex!("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
const SALT: [u8; 16] = hex!("a0a1a2a3a4a5a6a7a8a9aaab02000000");

fn page_key(epoch: u32) -> [u8; 32] {
    let mut info = b"sqlvault/v2/page-key".to_vec();
    info.extend_from_slice(&epoch.to_be_bytes());
    let mut key = [0u8; 32];
    hkdf_sha256(&SALT, &MASTER, &info, &mut key).expect("32 bytes of HKDF output");
    key
}

/// The sealed form of `plain` at `pos` under epoch `epoch` and nonce `nonce`, built from
/// the format description alone.
fn expected_seal(plain: &[u8], pos: PagePosition, epoch: u32, nonce: [u8; NONCE_LEN]) -> Vec<u8> {
    let len = plain.len();
    let mut aad = Vec::new();
    let mut out = plain.to_vec();
    let start = match pos {
        PagePosition::Database { pgno } => {
            aad.push(0x21);
            aad.extend_from_slice(&pgno.to_be_bytes());
            if pgno == 1 {
                aad.extend_from_slice(&plain[16..PAGE1_CLEAR_LEN]);
                out[..16].copy_from_slice(&SALT);
                PAGE1_CLEAR_LEN
            } else {
                0
            }
        }
        PagePosition::Block { index } => {
            aad.push(0x24);
            aad.extend_from_slice(&index.to_be_bytes());
            0
        }
    };
    let tag = aes256gcm_seal(
        Backend::RustCrypto,
        &page_key(epoch),
        &nonce,
        &aad,
        &mut out[start..len - TRAILER_LEN],
    );
    let trailer = &mut out[len - TRAILER_LEN..];
    trailer[..4].copy_from_slice(&epoch.to_be_bytes());
    trailer[4..4 + NONCE_LEN].copy_from_slice(&nonce);
    trailer[4 + NONCE_LEN..].copy_from_slice(&tag);
    out
}

fn cipher(backend: Backend) -> PageCipher {
    PageCipher::with_backend(
        &MasterKey::from_bytes(MASTER),
        DatabaseSalt::parse(SALT).expect("a raw-key format-2 salt"),
        backend,
    )
}

#[test]
fn sealed_pages_are_the_documented_aead_call() {
    let mut rng = Rng::new(0x4a7f_0001);
    let mut block = rng.bytes(100 + TRAILER_LEN);
    block[100..].fill(0);
    let cases = [
        (PagePosition::Database { pgno: 1 }, plain_page1(&mut rng, 512)),
        (PagePosition::Database { pgno: 1 }, plain_page1(&mut rng, 4096)),
        (PagePosition::Database { pgno: 2 }, plain_page(&mut rng, 1024)),
        (
            PagePosition::Database { pgno: 0xdead_beef },
            plain_page(&mut rng, 512),
        ),
        (
            PagePosition::Block {
                index: 0x0102_0304_0506_0708,
            },
            block,
        ),
    ];
    for &backend in all_backends() {
        let mut c = cipher(backend);
        for (pos, plain) in &cases {
            for (epoch, nonce) in [
                (0u32, [0u8; NONCE_LEN]),
                (0x0102_0304, hex!("a1a2a3a4a5a6a7a8a9aaabac")),
                (u32::MAX, [0xff; NONCE_LEN]),
            ] {
                let mut page = plain.clone();
                c.seal_with_nonce(&mut page, *pos, epoch, nonce).unwrap();
                assert_eq!(
                    page,
                    expected_seal(plain, *pos, epoch, nonce),
                    "{backend:?} {pos:?} epoch {epoch:#x}"
                );
            }
        }
    }
}

/// `seal_in` for a WAL frame or journal record is the database page's AEAD call with the
/// context tag in nonce bytes 0..4 and the cipher's counter in bytes 4..12: nothing of the
/// context enters the key, the AAD or the ciphertext otherwise.
#[test]
fn context_sealed_pages_are_database_pages_with_the_tag_in_the_nonce() {
    let mut rng = Rng::new(0x4a7f_0002);
    for &backend in all_backends() {
        let mut c = cipher(backend);
        for ctx in [WAL, JOURNAL, rng.wal_context(), rng.journal_context()] {
            for (pos, plain) in [
                (PagePosition::Database { pgno: 1 }, plain_page1(&mut rng, 1024)),
                (PagePosition::Database { pgno: 77 }, plain_page(&mut rng, 512)),
            ] {
                let mut page = plain.clone();
                c.seal_in(&mut page, pos, ctx).unwrap();
                let trailer = &page[page.len() - TRAILER_LEN..];
                let epoch = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                let mut nonce = [0u8; NONCE_LEN];
                nonce.copy_from_slice(&trailer[4..4 + NONCE_LEN]);
                assert_eq!(Some([nonce[0], nonce[1], nonce[2], nonce[3]]), c.context_tag(ctx));
                assert_eq!(
                    page,
                    expected_seal(&plain, pos, epoch, nonce),
                    "{backend:?} {ctx:?}"
                );
            }
        }
    }
}

const WAL: SealContext = SealContext::WalFrame {
    salts: hex!("0123456789abcdef"),
    frame: 7,
    commit_size: 12,
    after_sync: true,
    previous: [0u8; 16],
};

const JOURNAL: SealContext = SealContext::Journal {
    journal_nonce: 0x1357_9bdf,
    offset: 512 + 4 + 4096 + 4,
    counted: true,
};

/// The context tags of fixed contexts under the fixed key and salt above, as computed by
/// this implementation when format version 2 was defined (the WAL ones again when frames
/// were chained to the previous frame's tag). A change here is a format change: WAL frames
/// and journal records written before it would no longer `open_in`.
#[test]
fn context_tags_are_pinned() {
    let cases: [(SealContext, [u8; 4]); 9] = [
        (WAL, hex!("362aba3a")),
        (
            SealContext::WalFrame {
                salts: [0; 8],
                frame: 0,
                commit_size: 0,
                after_sync: false,
                previous: [0u8; 16],
            },
            hex!("c9d587df"),
        ),
        (
            SealContext::WalFrame {
                salts: hex!("0123456789abcdef"),
                frame: 8,
                commit_size: 12,
                after_sync: true,
                previous: [0u8; 16],
            },
            hex!("27ddc1fe"),
        ),
        (
            SealContext::WalFrame {
                salts: hex!("0123456789abcdef"),
                frame: 7,
                commit_size: 12,
                after_sync: false,
                previous: [0u8; 16],
            },
            hex!("1259163b"),
        ),
        (
            SealContext::WalFrame {
                salts: hex!("0123456789abcdef"),
                frame: 7,
                commit_size: 12,
                after_sync: true,
                previous: hex!("00112233445566778899aabbccddeeff"),
            },
            hex!("4b2741cc"),
        ),
        (JOURNAL, hex!("15736c37")),
        (
            SealContext::Journal {
                journal_nonce: 0,
                offset: 0,
                counted: false,
            },
            hex!("3c624b33"),
        ),
        (
            SealContext::Journal {
                journal_nonce: 0x1357_9bdf,
                offset: 512 + 4 + 4096 + 4,
                counted: false,
            },
            hex!("9fbcb2b4"),
        ),
        (
            SealContext::Journal {
                journal_nonce: 0x1357_9bdf,
                offset: u64::MAX,
                counted: true,
            },
            hex!("d0514481"),
        ),
    ];
    for &backend in all_backends() {
        let c = cipher(backend);
        assert_eq!(c.context_tag(SealContext::Database), None);
        for (ctx, tag) in cases {
            let got = c.context_tag(ctx).unwrap();
            assert_eq!(got, tag, "{backend:?} {ctx:?}");
        }
    }
}
