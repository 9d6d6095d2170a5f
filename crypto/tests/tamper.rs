//! Tamper tests: a sealed page opens only unaltered, under its own key and database
//! identity, at exactly the position it was sealed for. Every failure is the one opaque
//! [`OpenError`] and leaves the buffer zeroed.

mod common;

use common::{Rng, plain_for, plain_page, plain_page1};
use sqlvault_crypto::{
    Backend, DatabaseSalt, Key, MasterKey, OpenError, PAGE1_CLEAR_LEN, PageCipher, PagePosition, Passphrase,
    TRAILER_LEN, all_backends,
};

/// Opens a copy of `sealed` at `pos`; asserts that it fails and leaves only zeros.
fn assert_rejected(cipher: &mut PageCipher, sealed: &[u8], pos: PagePosition, what: &str) {
    let mut page = sealed.to_vec();
    assert_eq!(
        cipher.open(&mut page, pos),
        Err(OpenError),
        "{what} opened ({:?})",
        cipher.backend()
    );
    assert!(
        page.iter().all(|&b| b == 0),
        "{what}: plaintext left behind ({:?})",
        cipher.backend()
    );
}

/// Seals a fresh page for `pos` and returns (plaintext, sealed).
fn sealed_at(cipher: &mut PageCipher, rng: &mut Rng, pos: PagePosition, size: usize) -> (Vec<u8>, Vec<u8>) {
    let plain = plain_for(rng, pos, size);
    let mut page = plain.clone();
    cipher.seal(&mut page, pos).expect("a well-formed page seals");
    (plain, page)
}

/// Every single-bit flip anywhere in a sealed 512-byte page — ciphertext, epoch, nonce,
/// tag, and for page 1 the clear salt and header bytes 0..24 — is rejected.
#[test]
fn every_single_bit_flip_is_rejected() {
    let mut rng = Rng::new(0x7a3e_0001);
    for &backend in all_backends() {
        let master = rng.master();
        let salt = rng.salt();
        let mut cipher = PageCipher::with_backend(&master, salt, backend);
        for pos in [
            PagePosition::Database { pgno: 1 },
            PagePosition::Database { pgno: 7 },
            PagePosition::WalFrame {
                frame: 3,
                pgno: rng.next_u32(),
                commit_size: rng.next_u32(),
            },
            PagePosition::Journal { offset: 28, pgno: 7 },
            PagePosition::Block { index: 9 },
        ] {
            let (plain, sealed) = sealed_at(&mut cipher, &mut rng, pos, 512);
            if pos == (PagePosition::Database { pgno: 1 }) {
                // The clear part really is clear (salt, then SQLite's header fields), so
                // flipping it tests the associated data, not the ciphertext.
                assert_eq!(&sealed[..16], salt.as_bytes());
                assert_eq!(sealed[16..PAGE1_CLEAR_LEN], plain[16..PAGE1_CLEAR_LEN]);
            }
            for bit in 0..512 * 8 {
                let mut tampered = sealed.clone();
                tampered[bit / 8] ^= 1 << (bit % 8);
                assert_rejected(
                    &mut cipher,
                    &tampered,
                    pos,
                    &format!("{pos:?} with bit {bit} flipped"),
                );
            }
            // The untouched page still opens: the rejections above were the flips.
            let mut page = sealed.clone();
            cipher.open(&mut page, pos).unwrap();
            assert_eq!(page, plain);
        }
    }
}

/// Trailer-length and page-length changes: a truncated or extended page never opens.
#[test]
fn truncated_or_extended_pages_are_rejected() {
    let mut rng = Rng::new(0x7a3e_0002);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        let pos = PagePosition::Block { index: 4 };
        let (_, sealed) = sealed_at(&mut cipher, &mut rng, pos, 1000);
        for len in [TRAILER_LEN, TRAILER_LEN + 1, 999, 1001, 1016] {
            let mut page = sealed.clone();
            page.resize(len, 0);
            assert_eq!(
                cipher.open(&mut page, pos),
                Err(OpenError),
                "block resized to {len}"
            );
        }
        let pos = PagePosition::Database { pgno: 5 };
        let (_, sealed) = sealed_at(&mut cipher, &mut rng, pos, 1024);
        for len in [0, 1, 512, 1023, 1025, 2048] {
            let mut page = sealed.clone();
            page.resize(len, 0);
            assert_eq!(
                cipher.open(&mut page, pos),
                Err(OpenError),
                "page resized to {len}"
            );
        }
    }
}

#[test]
fn database_pages_are_bound_to_their_page_number() {
    let mut rng = Rng::new(0x7a3e_0003);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        for pgno in [2u32, 3, 1000, u32::MAX - 1] {
            let (_, sealed) = sealed_at(&mut cipher, &mut rng, PagePosition::Database { pgno }, 4096);
            for other in [pgno - 1, pgno + 1, pgno ^ 0x8000_0000] {
                assert_rejected(
                    &mut cipher,
                    &sealed,
                    PagePosition::Database { pgno: other },
                    &format!("page {pgno} at {other}"),
                );
            }
        }
        // Swapping two pages: each fails at the other's place.
        let (_, p3) = sealed_at(&mut cipher, &mut rng, PagePosition::Database { pgno: 3 }, 4096);
        let (_, p4) = sealed_at(&mut cipher, &mut rng, PagePosition::Database { pgno: 4 }, 4096);
        assert_rejected(
            &mut cipher,
            &p3,
            PagePosition::Database { pgno: 4 },
            "page 3 swapped into 4",
        );
        assert_rejected(
            &mut cipher,
            &p4,
            PagePosition::Database { pgno: 3 },
            "page 4 swapped into 3",
        );
    }
}

/// Page 1 never opens as page 2, and page 2 never opens as page 1 (even when its first
/// 16 bytes are replaced by the salt, as the page-1 check expects).
#[test]
fn page_one_is_not_interchangeable_with_other_pages() {
    let mut rng = Rng::new(0x7a3e_0004);
    for &backend in all_backends() {
        let salt = rng.salt();
        let mut cipher = PageCipher::with_backend(&rng.master(), salt, backend);
        let (_, p1) = sealed_at(&mut cipher, &mut rng, PagePosition::Database { pgno: 1 }, 4096);
        assert_rejected(
            &mut cipher,
            &p1,
            PagePosition::Database { pgno: 2 },
            "page 1 as page 2",
        );
        let (_, mut p2) = sealed_at(&mut cipher, &mut rng, PagePosition::Database { pgno: 2 }, 4096);
        assert_rejected(
            &mut cipher,
            &p2,
            PagePosition::Database { pgno: 1 },
            "page 2 as page 1",
        );
        p2[..16].copy_from_slice(salt.as_bytes());
        assert_rejected(
            &mut cipher,
            &p2,
            PagePosition::Database { pgno: 1 },
            "page 2 with salt as page 1",
        );
    }
}

/// The same master key with another database salt (a page transplanted from another
/// database under the same key), or another master key, does not open the page.
#[test]
fn pages_are_bound_to_database_identity_and_key() {
    let mut rng = Rng::new(0x7a3e_0005);
    for &backend in all_backends() {
        let master = rng.master();
        let salt = rng.salt();
        let mut cipher = PageCipher::with_backend(&master, salt, backend);
        for pos in [
            PagePosition::Database { pgno: 1 },
            PagePosition::Database { pgno: 9 },
            PagePosition::WalFrame {
                frame: 1,
                pgno: rng.next_u32(),
                commit_size: rng.next_u32(),
            },
            PagePosition::Journal { offset: 4, pgno: 9 },
            PagePosition::Block { index: 9 },
        ] {
            let (_, sealed) = sealed_at(&mut cipher, &mut rng, pos, 2048);
            let mut other_db = PageCipher::with_backend(&master, rng.salt(), backend);
            if pos == (PagePosition::Database { pgno: 1 }) {
                // Make the transplanted page 1 carry the other database's salt, so the
                // rejection comes from authentication and not the salt comparison.
                let mut transplanted = sealed.clone();
                transplanted[..16].copy_from_slice(other_db.salt().as_bytes());
                assert_rejected(&mut other_db, &transplanted, pos, "page 1 under another salt");
            }
            assert_rejected(
                &mut other_db,
                &sealed,
                pos,
                &format!("{pos:?} under another salt"),
            );
            // A salt differing in one bit only.
            let mut bytes = *salt.as_bytes();
            bytes[0] ^= 1;
            let near = DatabaseSalt::parse(bytes).unwrap();
            let mut near_db = PageCipher::with_backend(&master, near, backend);
            assert_rejected(
                &mut near_db,
                &sealed,
                pos,
                &format!("{pos:?} under a salt one bit away"),
            );
            let mut other_key = PageCipher::with_backend(&rng.master(), salt, backend);
            assert_rejected(
                &mut other_key,
                &sealed,
                pos,
                &format!("{pos:?} under another master key"),
            );
        }
    }
}

/// A page sealed as one kind of position does not open as another kind that carries
/// the same numbers.
#[test]
fn position_kinds_are_not_interchangeable() {
    let mut rng = Rng::new(0x7a3e_0006);
    let n = 5u32;
    let kinds = [
        PagePosition::Database { pgno: n },
        PagePosition::WalFrame {
            frame: n,
            pgno: n,
            commit_size: 0,
        },
        PagePosition::Journal {
            offset: u64::from(n),
            pgno: n,
        },
        PagePosition::Block { index: u64::from(n) },
    ];
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        for (i, &sealed_as) in kinds.iter().enumerate() {
            let (_, sealed) = sealed_at(&mut cipher, &mut rng, sealed_as, 1024);
            for (j, &opened_as) in kinds.iter().enumerate() {
                if i != j {
                    assert_rejected(
                        &mut cipher,
                        &sealed,
                        opened_as,
                        &format!("{sealed_as:?} as {opened_as:?}"),
                    );
                }
            }
        }
    }
}

/// WAL frames are bound to their frame index and to every bit of the page number and
/// commit size from the frame header.
#[test]
fn wal_frames_are_bound_to_index_page_number_and_commit_size() {
    let mut rng = Rng::new(0x7a3e_0007);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        let (frame, pgno, commit_size) = (10u32, rng.next_u32(), rng.next_u32());
        let pos = PagePosition::WalFrame {
            frame,
            pgno,
            commit_size,
        };
        let (_, sealed) = sealed_at(&mut cipher, &mut rng, pos, 512);
        for other in [frame - 1, frame + 1, 0, u32::MAX] {
            let moved = PagePosition::WalFrame {
                frame: other,
                pgno,
                commit_size,
            };
            assert_rejected(&mut cipher, &sealed, moved, &format!("frame {frame} at {other}"));
        }
        for bit in 0..32 {
            let relabelled = PagePosition::WalFrame {
                frame,
                pgno: pgno ^ (1 << bit),
                commit_size,
            };
            assert_rejected(
                &mut cipher,
                &sealed,
                relabelled,
                &format!("page number bit {bit} flipped"),
            );
            let resized = PagePosition::WalFrame {
                frame,
                pgno,
                commit_size: commit_size ^ (1 << bit),
            };
            assert_rejected(
                &mut cipher,
                &sealed,
                resized,
                &format!("commit size bit {bit} flipped"),
            );
        }
    }
}

#[test]
fn journal_records_are_bound_to_offset_and_page_number() {
    let mut rng = Rng::new(0x7a3e_0008);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        let (offset, pgno) = (512 + 4096 + 8, 17u32);
        let (_, sealed) = sealed_at(
            &mut cipher,
            &mut rng,
            PagePosition::Journal { offset, pgno },
            4096,
        );
        for (o, p) in [
            (offset - 1, pgno),
            (offset + 1, pgno),
            (offset + 4096 + 8, pgno),
            (offset, pgno - 1),
            (offset, pgno + 1),
            (offset + 4096 + 8, pgno + 1),
        ] {
            let pos = PagePosition::Journal { offset: o, pgno: p };
            assert_rejected(&mut cipher, &sealed, pos, &format!("journal record at {o}/{p}"));
        }
    }
}

#[test]
fn blocks_are_bound_to_their_index() {
    let mut rng = Rng::new(0x7a3e_0009);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        let index = 1u64 << 40;
        let (_, sealed) = sealed_at(&mut cipher, &mut rng, PagePosition::Block { index }, 700);
        for other in [index - 1, index + 1, 0, index ^ (1 << 63)] {
            assert_rejected(
                &mut cipher,
                &sealed,
                PagePosition::Block { index: other },
                &format!("block {index} at {other}"),
            );
        }
    }
}

/// A page moved to another position never opens there, even on the other backend:
/// random positions, all pairs.
#[test]
fn random_moves_are_rejected_across_backends() {
    let mut rng = Rng::new(0x7a3e_000a);
    let master = rng.master();
    let salt = rng.salt();
    let backends: Vec<Backend> = all_backends().to_vec();
    for _ in 0..200 {
        let sealer = backends[rng.below(backends.len())];
        let opener = backends[rng.below(backends.len())];
        let from = rng.position(true);
        let to = rng.position(true);
        if from == to {
            continue;
        }
        let mut writer = PageCipher::with_backend(&master, salt, sealer);
        let mut reader = PageCipher::with_backend(&master, salt, opener);
        let (_, sealed) = sealed_at(&mut writer, &mut rng, from, 512);
        assert_rejected(&mut reader, &sealed, to, &format!("{from:?} moved to {to:?}"));
    }
}

/// A plaintext SQLite page 1 (what an unencrypted database holds) never opens, and
/// neither does an all-zero page.
#[test]
fn unsealed_pages_are_rejected() {
    let mut rng = Rng::new(0x7a3e_000b);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        let page1 = plain_page1(&mut rng, 4096);
        assert_rejected(
            &mut cipher,
            &page1,
            PagePosition::Database { pgno: 1 },
            "plaintext page 1",
        );
        let page = plain_page(&mut rng, 4096);
        assert_rejected(
            &mut cipher,
            &page,
            PagePosition::Database { pgno: 2 },
            "plaintext page 2",
        );
        assert_rejected(
            &mut cipher,
            &[0u8; 4096],
            PagePosition::Database { pgno: 2 },
            "zero page",
        );
    }
}

/// No secret shows in `{:?}`: neither in hex (either case) nor as decimal byte values.
#[test]
fn debug_output_shows_no_secret_bytes() {
    // 0xa7 = 167: neither "a7", "A7" nor "167" may appear.
    let master = MasterKey::from_bytes([0xa7; 32]);
    let salt = DatabaseSalt::parse([
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 1, 0, 0, 0,
    ])
    .unwrap();
    let mut shown = vec![
        format!("{master:?}"),
        format!("{master:#?}"),
        format!("{:?}", Key::Raw(master.clone())),
        format!("{:?}", Key::parse_pragma(&format!("x'{}'", "a7".repeat(32)))),
    ];
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&master, salt, backend);
        // Make the cipher hold derived keys too (a sealing epoch and an opening key).
        let mut page = vec![0u8; 512];
        cipher
            .seal(&mut page, PagePosition::Database { pgno: 2 })
            .unwrap();
        cipher
            .open(&mut page, PagePosition::Database { pgno: 2 })
            .unwrap();
        shown.push(format!("{cipher:?}"));
        shown.push(format!("{cipher:#?}"));
    }
    for s in &shown {
        let lower = s.to_lowercase();
        assert!(!lower.contains("a7") && !s.contains("167"), "key bytes in {s}");
        assert!(
            s.contains("redacted") || s.contains("PageCipher"),
            "unexpected form: {s}"
        );
    }

    let secret = "hunter2 is my passphrase";
    let decimal = secret
        .bytes()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let pass = Passphrase::from(secret);
    for s in [
        format!("{pass:?}"),
        format!("{pass:#?}"),
        format!("{:?}", Key::Passphrase(pass.clone())),
        format!("{:?}", Key::parse_pragma(secret)),
    ] {
        assert!(
            !s.contains("hunter2") && !s.contains("is my") && !s.contains(&decimal[..10]),
            "{s}"
        );
        assert!(!s.contains("68756e74"), "hex of the passphrase in {s}");
    }
}
