//! Tamper tests: a sealed page opens only unaltered, under its own key and database
//! identity, at exactly the position it was sealed for — and, checked with `open_in`, only
//! in the WAL frame or journal record ([`SealContext`]) it was written to, while the very
//! same bytes stay a valid database page. Every failure is the one opaque [`OpenError`]
//! and leaves the buffer zeroed.

mod common;

use common::{Rng, plain_for, plain_page, plain_page1};
use sqlvault_crypto::{
    Backend, DatabaseSalt, Key, MasterKey, OpenError, PAGE1_CLEAR_LEN, PageCipher, PagePosition, Passphrase,
    SealContext, TRAILER_LEN, all_backends,
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

/// Opens a copy of `sealed` at `pos` in `ctx`; asserts that it fails and leaves only zeros.
fn assert_rejected_in(
    cipher: &mut PageCipher,
    sealed: &[u8],
    pos: PagePosition,
    ctx: SealContext,
    what: &str,
) {
    let mut page = sealed.to_vec();
    assert_eq!(
        cipher.open_in(&mut page, pos, ctx),
        Err(OpenError),
        "{what} opened in {ctx:?} ({:?})",
        cipher.backend()
    );
    assert!(
        page.iter().all(|&b| b == 0),
        "{what}: plaintext left behind ({:?})",
        cipher.backend()
    );
}

/// Opens a copy of `sealed` at `pos` in `ctx`; asserts that it succeeds with `plain`.
fn assert_opens_in(
    cipher: &mut PageCipher,
    sealed: &[u8],
    plain: &[u8],
    pos: PagePosition,
    ctx: SealContext,
    what: &str,
) {
    let mut page = sealed.to_vec();
    assert_eq!(
        cipher.open_in(&mut page, pos, ctx),
        Ok(()),
        "{what} did not open in {ctx:?} ({:?})",
        cipher.backend()
    );
    assert_eq!(page, plain, "{what}: wrong plaintext ({:?})", cipher.backend());
}

/// Seals a fresh page for `pos` and returns (plaintext, sealed).
fn sealed_at(cipher: &mut PageCipher, rng: &mut Rng, pos: PagePosition, size: usize) -> (Vec<u8>, Vec<u8>) {
    sealed_in(cipher, rng, pos, SealContext::Database, size)
}

/// Seals a fresh page for `pos`, written in `ctx`, and returns (plaintext, sealed).
fn sealed_in(
    cipher: &mut PageCipher,
    rng: &mut Rng,
    pos: PagePosition,
    ctx: SealContext,
    size: usize,
) -> (Vec<u8>, Vec<u8>) {
    let plain = plain_for(rng, pos, size);
    let mut page = plain.clone();
    cipher
        .seal_in(&mut page, pos, ctx)
        .expect("a well-formed page seals");
    (plain, page)
}

/// The same WAL frame context with one field changed by `f`.
fn wal_with(
    ctx: SealContext,
    f: impl FnOnce(&mut [u8; 8], &mut u32, &mut u32, &mut bool, &mut [u8; 16]),
) -> SealContext {
    let SealContext::WalFrame {
        mut salts,
        mut frame,
        mut commit_size,
        mut after_sync,
        mut previous,
    } = ctx
    else {
        panic!("not a WAL frame context: {ctx:?}");
    };
    f(
        &mut salts,
        &mut frame,
        &mut commit_size,
        &mut after_sync,
        &mut previous,
    );
    SealContext::WalFrame {
        salts,
        frame,
        commit_size,
        after_sync,
        previous,
    }
}

/// The same journal context with one field changed by `f`.
fn journal_with(ctx: SealContext, f: impl FnOnce(&mut u32, &mut u64, &mut bool)) -> SealContext {
    let SealContext::Journal {
        mut journal_nonce,
        mut offset,
        mut counted,
    } = ctx
    else {
        panic!("not a journal context: {ctx:?}");
    };
    f(&mut journal_nonce, &mut offset, &mut counted);
    SealContext::Journal {
        journal_nonce,
        offset,
        counted,
    }
}

/// Every single-bit flip anywhere in a sealed 512-byte page — ciphertext, epoch, nonce
/// (context tag included), tag, and for page 1 the clear salt and header bytes 0..24 — is
/// rejected, both as a database page and in the context the page was sealed in.
#[test]
fn every_single_bit_flip_is_rejected() {
    let mut rng = Rng::new(0x7a3e_0001);
    for &backend in all_backends() {
        let master = rng.master();
        let salt = rng.salt();
        let mut cipher = PageCipher::with_backend(&master, salt, backend);
        let wal = SealContext::WalFrame {
            salts: rng.array(),
            frame: 3,
            commit_size: rng.next_u32(),
            after_sync: true,
            previous: [0u8; 16],
        };
        let journal = SealContext::Journal {
            journal_nonce: rng.next_u32(),
            offset: 28,
            counted: true,
        };
        for (pos, ctx) in [
            (PagePosition::Database { pgno: 1 }, SealContext::Database),
            (PagePosition::Database { pgno: 7 }, SealContext::Database),
            (PagePosition::Database { pgno: 1 }, wal),
            (PagePosition::Database { pgno: 7 }, wal),
            (PagePosition::Database { pgno: 7 }, journal),
            (PagePosition::Block { index: 9 }, SealContext::Database),
        ] {
            let (plain, sealed) = sealed_in(&mut cipher, &mut rng, pos, ctx, 512);
            if pos == (PagePosition::Database { pgno: 1 }) {
                // The clear part really is clear (salt, then SQLite's header fields), so
                // flipping it tests the associated data, not the ciphertext.
                assert_eq!(&sealed[..16], salt.as_bytes());
                assert_eq!(sealed[16..PAGE1_CLEAR_LEN], plain[16..PAGE1_CLEAR_LEN]);
            }
            for bit in 0..512 * 8 {
                let mut tampered = sealed.clone();
                tampered[bit / 8] ^= 1 << (bit % 8);
                let what = format!("{pos:?} sealed in {ctx:?} with bit {bit} flipped");
                assert_rejected(&mut cipher, &tampered, pos, &what);
                assert_rejected_in(&mut cipher, &tampered, pos, ctx, &what);
            }
            // The untouched page still opens: the rejections above were the flips.
            let mut page = sealed.clone();
            cipher.open(&mut page, pos).unwrap();
            assert_eq!(page, plain);
            assert_opens_in(&mut cipher, &sealed, &plain, pos, ctx, "the untouched page");
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
        let wal = rng.wal_context();
        let journal = rng.journal_context();
        for (pos, ctx) in [
            (PagePosition::Database { pgno: 1 }, SealContext::Database),
            (PagePosition::Database { pgno: 9 }, SealContext::Database),
            (PagePosition::Database { pgno: 1 }, wal),
            (PagePosition::Database { pgno: 9 }, wal),
            (PagePosition::Database { pgno: 9 }, journal),
            (PagePosition::Block { index: 9 }, SealContext::Database),
        ] {
            let (_, sealed) = sealed_in(&mut cipher, &mut rng, pos, ctx, 2048);
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
            assert_rejected_in(
                &mut other_db,
                &sealed,
                pos,
                ctx,
                &format!("{pos:?} under another salt"),
            );
            // A copy of the database (`VACUUM INTO`): same Argon2id salt, new identity.
            let mut copy = PageCipher::with_backend(&master, salt.fresh_copy().unwrap(), backend);
            assert_rejected(&mut copy, &sealed, pos, &format!("{pos:?} in a fresh copy"));
            assert_rejected_in(&mut copy, &sealed, pos, ctx, &format!("{pos:?} in a fresh copy"));
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
            assert_rejected_in(
                &mut other_key,
                &sealed,
                pos,
                ctx,
                &format!("{pos:?} under another master key"),
            );
        }
    }
}

/// A page sealed as one kind of position does not open as another kind that carries
/// the same number, whatever context the database page was written in.
#[test]
fn position_kinds_are_not_interchangeable() {
    let mut rng = Rng::new(0x7a3e_0006);
    let n = 5u32;
    let database = PagePosition::Database { pgno: n };
    let block = PagePosition::Block { index: u64::from(n) };
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        let contexts = [
            SealContext::Database,
            SealContext::WalFrame {
                salts: [0; 8],
                frame: n,
                commit_size: n,
                after_sync: false,
                previous: [0u8; 16],
            },
            SealContext::Journal {
                journal_nonce: n,
                offset: u64::from(n),
                counted: false,
            },
        ];
        for ctx in contexts {
            let (_, sealed) = sealed_in(&mut cipher, &mut rng, database, ctx, 1024);
            assert_rejected(
                &mut cipher,
                &sealed,
                block,
                &format!("page {n} in {ctx:?} as a block"),
            );
        }
        let (_, sealed) = sealed_at(&mut cipher, &mut rng, block, 1024);
        for ctx in contexts {
            assert_rejected_in(
                &mut cipher,
                &sealed,
                database,
                ctx,
                &format!("block {n} as page {n}"),
            );
        }
    }
}

/// A page written to WAL frame `f` of one WAL generation does not `open_in` at another
/// frame, in another generation (other salts), with another commit size, with
/// `after_sync` flipped, or as a journal record; its page number stays bound too.
#[test]
fn wal_frames_are_bound_to_frame_generation_commit_size_and_sync() {
    let mut rng = Rng::new(0x7a3e_0007);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        for after_sync in [false, true] {
            let (frame, commit_size) = (10u32, rng.next_u32());
            let ctx = SealContext::WalFrame {
                salts: rng.array(),
                frame,
                commit_size,
                after_sync,
                previous: [0u8; 16],
            };
            let pgno = rng.next_u32().max(2);
            let pos = PagePosition::Database { pgno };
            let (plain, sealed) = sealed_in(&mut cipher, &mut rng, pos, ctx, 512);
            assert_opens_in(&mut cipher, &sealed, &plain, pos, ctx, "a WAL frame");

            for other in [frame - 1, frame + 1, 0, u32::MAX, frame ^ (1 << 31)] {
                let moved = wal_with(ctx, |_, f, _, _, _| *f = other);
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    pos,
                    moved,
                    &format!("frame {frame} at {other}"),
                );
            }
            // Another WAL generation: every single salt bit, the two salts swapped, and
            // a fresh pair (what SQLite draws on a WAL reset).
            for bit in 0..64 {
                let other = wal_with(ctx, |s, _, _, _, _| s[bit / 8] ^= 1 << (bit % 8));
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    pos,
                    other,
                    &format!("salt bit {bit} flipped"),
                );
            }
            let swapped = wal_with(ctx, |s, _, _, _, _| s.rotate_left(4));
            assert_rejected_in(&mut cipher, &sealed, pos, swapped, "salt-1 and salt-2 swapped");
            let fresh = rng.array();
            let next_generation = wal_with(ctx, |s, _, _, _, _| *s = fresh);
            assert_rejected_in(
                &mut cipher,
                &sealed,
                pos,
                next_generation,
                "the next WAL generation",
            );

            for bit in 0..32 {
                let resized = wal_with(ctx, |_, _, c, _, _| *c ^= 1 << bit);
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    pos,
                    resized,
                    &format!("commit size bit {bit} flipped"),
                );
            }
            let uncommitted = wal_with(ctx, |_, _, c, _, _| *c = 0);
            assert_rejected_in(&mut cipher, &sealed, pos, uncommitted, "commit size cleared");

            let resynced = wal_with(ctx, |_, _, _, s, _| *s = !*s);
            assert_rejected_in(&mut cipher, &sealed, pos, resynced, "after_sync flipped");

            for bit in [0usize, 7, 64, 127] {
                let rechained = wal_with(ctx, |_, _, _, _, p| p[bit / 8] ^= 1 << (bit % 8));
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    pos,
                    rechained,
                    &format!("previous frame's tag bit {bit} flipped"),
                );
            }

            // The same numbers as a journal record.
            for counted in [false, true] {
                let journal = SealContext::Journal {
                    journal_nonce: frame,
                    offset: u64::from(frame),
                    counted,
                };
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    pos,
                    journal,
                    "a WAL frame as a journal record",
                );
            }

            // The right context does not make up for the wrong page number.
            for other in [pgno - 1, pgno.wrapping_add(1), pgno ^ 0x8000_0000] {
                let moved = PagePosition::Database { pgno: other };
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    moved,
                    ctx,
                    &format!("page {pgno} as {other}"),
                );
            }

            // The very same bytes are a database page (what a checkpoint copies).
            assert!(cipher.was_sealed_in(&sealed, ctx));
            assert!(cipher.was_sealed_in(&sealed, SealContext::Database));
            let mut page = sealed.clone();
            cipher.open(&mut page, pos).unwrap();
            assert_eq!(page, plain);
            assert_opens_in(
                &mut cipher,
                &sealed,
                &plain,
                pos,
                SealContext::Database,
                "a frame",
            );
        }
    }
}

/// A page written to a rollback-journal record does not `open_in` at another offset,
/// under another journal header (nonce), with `counted` flipped, or as a WAL frame; its
/// page number stays bound too.
#[test]
fn journal_records_are_bound_to_offset_nonce_and_count() {
    let mut rng = Rng::new(0x7a3e_0008);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        for counted in [false, true] {
            // The second record of a journal with 512-byte sectors and 4 KiB pages.
            let offset = 512 + 4 + 4096 + 4;
            let journal_nonce = rng.next_u32();
            let ctx = SealContext::Journal {
                journal_nonce,
                offset,
                counted,
            };
            let pgno = 17u32;
            let pos = PagePosition::Database { pgno };
            let (plain, sealed) = sealed_in(&mut cipher, &mut rng, pos, ctx, 4096);
            assert_opens_in(&mut cipher, &sealed, &plain, pos, ctx, "a journal record");

            for other in [offset - 1, offset + 1, offset - 4104, offset + 4104, 0, u64::MAX] {
                let moved = journal_with(ctx, |_, o, _| *o = other);
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    pos,
                    moved,
                    &format!("record {offset} at {other}"),
                );
            }
            for bit in 0..32 {
                let other = journal_with(ctx, |n, _, _| *n ^= 1 << bit);
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    pos,
                    other,
                    &format!("journal nonce bit {bit} flipped"),
                );
            }
            let fresh = rng.next_u32();
            let next_header = journal_with(ctx, |n, _, _| *n = fresh);
            assert_rejected_in(
                &mut cipher,
                &sealed,
                pos,
                next_header,
                "under the next journal header",
            );
            let recounted = journal_with(ctx, |_, _, c| *c = !*c);
            assert_rejected_in(&mut cipher, &sealed, pos, recounted, "counted flipped");

            // The same numbers as a WAL frame.
            let mut salts = [0u8; 8];
            salts[..4].copy_from_slice(&journal_nonce.to_be_bytes());
            for after_sync in [false, true] {
                let wal = SealContext::WalFrame {
                    salts,
                    frame: offset as u32,
                    commit_size: 0,
                    after_sync,
                    previous: [0u8; 16],
                };
                assert_rejected_in(&mut cipher, &sealed, pos, wal, "a journal record as a WAL frame");
            }

            for other in [pgno - 1, pgno + 1] {
                let moved = PagePosition::Database { pgno: other };
                assert_rejected_in(
                    &mut cipher,
                    &sealed,
                    moved,
                    ctx,
                    &format!("page {pgno} as {other}"),
                );
            }

            // The very same bytes are a database page (what a playback copies back).
            let mut page = sealed.clone();
            cipher.open(&mut page, pos).unwrap();
            assert_eq!(page, plain);
            assert_opens_in(
                &mut cipher,
                &sealed,
                &plain,
                pos,
                SealContext::Database,
                "a record",
            );
        }
    }
}

/// A page sealed in a WAL frame or journal record, copied byte for byte into the database
/// file (a checkpoint, a journal playback — possibly by a SQLite without the key), opens
/// there as an ordinary page under any cipher for the database, on any backend: page 1
/// included, whose salt and header fields stay in the clear.
#[test]
fn context_sealed_pages_open_as_database_pages_anywhere() {
    let mut rng = Rng::new(0x7a3e_000c);
    let master = rng.master();
    let salt = rng.salt();
    for &sealer in all_backends() {
        let mut writer = PageCipher::with_backend(&master, salt, sealer);
        for ctx in [rng.wal_context(), rng.journal_context()] {
            for pgno in [1u32, 2, 4242] {
                let pos = PagePosition::Database { pgno };
                let (plain, sealed) = sealed_in(&mut writer, &mut rng, pos, ctx, 1024);
                if pgno == 1 {
                    assert_eq!(&sealed[..16], salt.as_bytes());
                    assert_eq!(sealed[16..PAGE1_CLEAR_LEN], plain[16..PAGE1_CLEAR_LEN]);
                }
                for &opener in all_backends() {
                    let mut reader = PageCipher::with_backend(&master, salt, opener);
                    let mut page = sealed.clone();
                    reader
                        .open(&mut page, pos)
                        .unwrap_or_else(|_| panic!("{sealer:?} -> {opener:?}: page {pgno} from {ctx:?}"));
                    assert_eq!(page, plain);
                    assert_opens_in(&mut reader, &sealed, &plain, pos, ctx, "a copied page");
                }
            }
        }
    }
}

/// The context tag sits in clear nonce bytes that anyone can overwrite, but those bytes
/// are authenticated: stamping another context's tag on a sealed page (to make a frame
/// pass for another frame, or a database-file page for a WAL frame) makes
/// `was_sealed_in` agree and the page fail to open anywhere.
#[test]
fn forged_context_tags_do_not_authenticate() {
    let mut rng = Rng::new(0x7a3e_000d);
    for &backend in all_backends() {
        let mut cipher = PageCipher::with_backend(&rng.master(), rng.salt(), backend);
        let frame5 = rng.wal_context();
        let frame6 = wal_with(frame5, |_, f, _, _, _| *f = f.wrapping_add(1));
        let record = rng.journal_context();
        let pos = PagePosition::Database { pgno: 3 };
        for (sealed_ctx, claimed) in [
            (frame5, frame6),
            (SealContext::Database, frame5),
            (record, frame5),
            (frame5, record),
        ] {
            let (_, sealed) = sealed_in(&mut cipher, &mut rng, pos, sealed_ctx, 512);
            let Some(tag) = cipher.context_tag(claimed) else {
                panic!("{claimed:?} carries a tag");
            };
            let mut forged = sealed.clone();
            forged[512 - TRAILER_LEN + 4..512 - TRAILER_LEN + 8].copy_from_slice(&tag);
            assert!(cipher.was_sealed_in(&forged, claimed));
            assert!(!cipher.was_sealed_in(&sealed, claimed));
            let what = format!("a page from {sealed_ctx:?} stamped as {claimed:?}");
            assert_rejected_in(&mut cipher, &forged, pos, claimed, &what);
            assert_rejected_in(&mut cipher, &forged, pos, sealed_ctx, &what);
            assert_rejected(&mut cipher, &forged, pos, &what);
        }
    }
}

/// Context tags are keyed per database: the same context gives another tag under another
/// salt (a fresh copy included) or another master key, the same tag on every backend and
/// every cipher of the database, and none for the database file itself.
#[test]
fn context_tags_are_keyed_per_database() {
    let mut rng = Rng::new(0x7a3e_000e);
    let master = rng.master();
    let salt = rng.salt();
    let tagged = [rng.wal_context(), rng.journal_context()];
    for &backend in all_backends() {
        let cipher = PageCipher::with_backend(&master, salt, backend);
        assert_eq!(cipher.context_tag(SealContext::Database), None);
        for ctx in tagged {
            let tag = cipher.context_tag(ctx);
            assert!(tag.is_some(), "{ctx:?}");
            for &other_backend in all_backends() {
                let same = PageCipher::with_backend(&master, salt, other_backend);
                assert_eq!(same.context_tag(ctx), tag, "{backend:?} vs {other_backend:?}");
            }
            for (what, other) in [
                (
                    "another salt",
                    PageCipher::with_backend(&master, rng.salt(), backend),
                ),
                (
                    "a fresh copy",
                    PageCipher::with_backend(&master, salt.fresh_copy().unwrap(), backend),
                ),
                (
                    "another key",
                    PageCipher::with_backend(&rng.master(), salt, backend),
                ),
            ] {
                assert_ne!(other.context_tag(ctx), tag, "{ctx:?} under {what}");
            }
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

/// A page moved to another position never opens there, even on the other backend, and
/// a database page moved to another context never opens there with `open_in` (though it
/// stays a valid database page): random positions and contexts.
#[test]
fn random_moves_are_rejected_across_backends() {
    let mut rng = Rng::new(0x7a3e_000a);
    let master = rng.master();
    let salt = rng.salt();
    let backends: Vec<Backend> = all_backends().to_vec();
    for _ in 0..300 {
        let sealer = backends[rng.below(backends.len())];
        let opener = backends[rng.below(backends.len())];
        let from = rng.position(true);
        let to = if rng.below(2) == 0 {
            from
        } else {
            rng.position(true)
        };
        // Blocks carry no context (seal_in ignores it for them).
        let (from_ctx, to_ctx) = match from {
            PagePosition::Database { .. } => (rng.context(), rng.context()),
            PagePosition::Block { .. } => (SealContext::Database, SealContext::Database),
        };
        let mut writer = PageCipher::with_backend(&master, salt, sealer);
        let mut reader = PageCipher::with_backend(&master, salt, opener);
        let (plain, sealed) = sealed_in(&mut writer, &mut rng, from, from_ctx, 512);
        let what = format!("{from:?} in {from_ctx:?} moved to {to:?} in {to_ctx:?}");
        if from != to {
            assert_rejected(&mut reader, &sealed, to, &what);
            assert_rejected_in(&mut reader, &sealed, to, to_ctx, &what);
        } else if from_ctx == to_ctx || to_ctx == SealContext::Database {
            assert_opens_in(&mut reader, &sealed, &plain, to, to_ctx, &what);
        } else {
            assert_rejected_in(&mut reader, &sealed, to, to_ctx, &what);
            let mut page = sealed.clone();
            reader.open(&mut page, to).unwrap();
            assert_eq!(page, plain, "{what}");
        }
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
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 2, 0, 0, 0,
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
