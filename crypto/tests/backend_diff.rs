//! Differential tests: every backend produces byte-identical ciphertexts and tags for
//! identical inputs, and a page sealed by one backend opens with every other.
//!
//! With the default features that compares `aes-gcm` (pure Rust) against `aws-lc-rs`;
//! built with `--no-default-features` only the pure-Rust backend exists and these tests
//! check it against itself (determinism and round trips), which the
//! `both_backends_are_built_by_default` test makes explicit.
//!
//! Pages sealed in a WAL frame or journal record ([`SealContext`]) are held to the same:
//! identical bytes on every backend, and opening on every backend, both in their
//! context and as the plain database page they are copied into.

mod common;

use common::{PAGE_SIZES, Rng, plain_for};
use sqlvault_crypto::{
    NONCE_LEN, PageCipher, PagePosition, SealContext, TRAILER_LEN, aes256gcm_open, aes256gcm_seal,
    all_backends,
};

#[cfg(feature = "aws-lc")]
#[test]
fn both_backends_are_built_by_default() {
    assert_eq!(
        all_backends(),
        &[
            sqlvault_crypto::Backend::RustCrypto,
            sqlvault_crypto::Backend::AwsLc
        ]
    );
}

/// Seals `plain` at `pos` with a fixed epoch and nonce on every backend; returns the
/// sealed pages, in `all_backends()` order.
fn seal_everywhere(
    master: &sqlvault_crypto::MasterKey,
    salt: sqlvault_crypto::DatabaseSalt,
    plain: &[u8],
    pos: PagePosition,
    epoch: u32,
    nonce: [u8; NONCE_LEN],
) -> Vec<Vec<u8>> {
    all_backends()
        .iter()
        .map(|&backend| {
            let mut cipher = PageCipher::with_backend(master, salt, backend);
            let mut page = plain.to_vec();
            cipher
                .seal_with_nonce(&mut page, pos, epoch, nonce)
                .unwrap_or_else(|e| panic!("{backend:?} refused {pos:?}: {e}"));
            page
        })
        .collect()
}

#[test]
fn page_ciphers_agree_on_every_page_size_and_position_kind() {
    let mut rng = Rng::new(0x5eed_0001);
    for size in PAGE_SIZES {
        // Page 1, then one of each kind, then random positions.
        let mut positions = vec![
            PagePosition::Database { pgno: 1 },
            PagePosition::Database { pgno: 2 },
            PagePosition::Database { pgno: u32::MAX },
            PagePosition::Block { index: 0 },
            PagePosition::Block { index: u64::MAX },
        ];
        positions.extend((0..4).map(|_| rng.position(true)));
        for pos in positions {
            let master = rng.master();
            let salt = rng.salt();
            let epoch = rng.next_u32();
            let nonce = rng.array();
            let plain = plain_for(&mut rng, pos, size);
            let sealed = seal_everywhere(&master, salt, &plain, pos, epoch, nonce);
            for (i, page) in sealed.iter().enumerate() {
                assert_eq!(
                    page,
                    &sealed[0],
                    "{:?} differs from {:?} at {size}/{pos:?}",
                    all_backends()[i],
                    all_backends()[0]
                );
            }
            assert_ne!(sealed[0], plain, "sealing changed nothing at {size}/{pos:?}");
            // The trailer carries the epoch and nonce we chose.
            let trailer = &sealed[0][size - TRAILER_LEN..];
            assert_eq!(trailer[..4], epoch.to_be_bytes());
            assert_eq!(trailer[4..4 + NONCE_LEN], nonce);

            for &opener in all_backends() {
                let mut cipher = PageCipher::with_backend(&master, salt, opener);
                let mut page = sealed[0].clone();
                cipher
                    .open(&mut page, pos)
                    .unwrap_or_else(|_| panic!("{opener:?} cannot open a page sealed at {size}/{pos:?}"));
                assert_eq!(page, plain, "{opener:?} at {size}/{pos:?}");
            }
        }
    }
}

/// `seal_in` output is the same bytes on every backend: what one backend sealed in a
/// context (random epoch, counting nonce with the context tag in front) is exactly what
/// every other backend seals with that epoch and nonce, every backend computes the same
/// context tag, and every backend opens it in its context and as a database page.
#[test]
fn seal_in_agrees_on_every_backend_and_context() {
    let mut rng = Rng::new(0x5eed_0005);
    for size in PAGE_SIZES {
        let master = rng.master();
        let salt = rng.salt();
        let mut contexts = vec![
            SealContext::Database,
            SealContext::WalFrame {
                salts: rng.array(),
                frame: 0,
                commit_size: 0,
                after_sync: false,
                previous: [0u8; 16],
            },
            SealContext::WalFrame {
                salts: rng.array(),
                frame: rng.next_u32(),
                commit_size: rng.next_u32(),
                after_sync: true,
                previous: [0u8; 16],
            },
            SealContext::Journal {
                journal_nonce: rng.next_u32(),
                offset: 512,
                counted: false,
            },
            SealContext::Journal {
                journal_nonce: rng.next_u32(),
                offset: rng.next_u64(),
                counted: true,
            },
        ];
        contexts.extend((0..3).map(|_| rng.context()));
        for ctx in contexts {
            let tags: Vec<Option<[u8; 4]>> = all_backends()
                .iter()
                .map(|&b| PageCipher::with_backend(&master, salt, b).context_tag(ctx))
                .collect();
            assert!(
                tags.iter().all(|t| *t == tags[0]),
                "context tags differ for {ctx:?}"
            );
            assert_eq!(tags[0].is_none(), ctx == SealContext::Database, "{ctx:?}");
            for pos in [
                PagePosition::Database { pgno: 1 },
                PagePosition::Database { pgno: 2 },
                PagePosition::Database {
                    pgno: rng.next_u32().max(3),
                },
            ] {
                let plain = plain_for(&mut rng, pos, size);
                for &sealer in all_backends() {
                    let mut writer = PageCipher::with_backend(&master, salt, sealer);
                    let mut sealed = plain.clone();
                    writer
                        .seal_in(&mut sealed, pos, ctx)
                        .unwrap_or_else(|e| panic!("{sealer:?} refused {pos:?} in {ctx:?}: {e}"));
                    let trailer = &sealed[size - TRAILER_LEN..];
                    let epoch = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                    let mut nonce = [0u8; NONCE_LEN];
                    nonce.copy_from_slice(&trailer[4..4 + NONCE_LEN]);
                    if let Some(tag) = tags[0] {
                        assert_eq!(nonce[..4], tag, "{sealer:?}: no context tag in the nonce");
                    }
                    let again = seal_everywhere(&master, salt, &plain, pos, epoch, nonce);
                    for (i, page) in again.iter().enumerate() {
                        assert_eq!(
                            page,
                            &sealed,
                            "{:?} differs from {sealer:?}'s seal_in at {size}/{pos:?}/{ctx:?}",
                            all_backends()[i]
                        );
                    }
                    for &opener in all_backends() {
                        let mut reader = PageCipher::with_backend(&master, salt, opener);
                        assert!(reader.was_sealed_in(&sealed, ctx), "{sealer:?} -> {opener:?}");
                        let mut page = sealed.clone();
                        reader.open_in(&mut page, pos, ctx).unwrap_or_else(|_| {
                            panic!("{sealer:?} -> {opener:?}: no open_in at {size}/{pos:?}/{ctx:?}")
                        });
                        assert_eq!(page, plain);
                        let mut page = sealed.clone();
                        reader.open(&mut page, pos).unwrap_or_else(|_| {
                            panic!("{sealer:?} -> {opener:?}: no open at {size}/{pos:?}/{ctx:?}")
                        });
                        assert_eq!(page, plain);
                    }
                }
            }
        }
    }
}

/// Block positions take any length from 1 byte (plus trailer) up to a full page.
#[test]
fn page_ciphers_agree_on_odd_block_lengths() {
    let mut rng = Rng::new(0x5eed_0002);
    for len in [1, 2, 15, 16, 17, 100, 511, 4000, 65535, 65536] {
        let pos = PagePosition::Block {
            index: rng.next_u64(),
        };
        let master = rng.master();
        let salt = rng.salt();
        let mut plain = rng.bytes(len + TRAILER_LEN);
        plain[len..].fill(0);
        let sealed = seal_everywhere(&master, salt, &plain, pos, rng.next_u32(), rng.array());
        assert!(sealed.iter().all(|p| p == &sealed[0]), "block length {len}");
        for &opener in all_backends() {
            let mut page = sealed[0].clone();
            PageCipher::with_backend(&master, salt, opener)
                .open(&mut page, pos)
                .unwrap();
            assert_eq!(page, plain);
        }
    }
}

/// `seal` (random epoch and counting nonce) output opens on every backend too.
#[test]
fn randomly_sealed_pages_open_on_every_backend() {
    let mut rng = Rng::new(0x5eed_0003);
    let master = rng.master();
    let salt = rng.salt();
    for &sealer in all_backends() {
        let mut writer = PageCipher::with_backend(&master, salt, sealer);
        for size in PAGE_SIZES {
            for pgno in [1, 2, 1000] {
                let pos = PagePosition::Database { pgno };
                let plain = plain_for(&mut rng, pos, size);
                let mut page = plain.clone();
                writer.seal(&mut page, pos).unwrap();
                for &opener in all_backends() {
                    let mut copy = page.clone();
                    PageCipher::with_backend(&master, salt, opener)
                        .open(&mut copy, pos)
                        .unwrap_or_else(|_| panic!("{sealer:?} -> {opener:?} at {size}/{pgno}"));
                    assert_eq!(copy, plain);
                }
            }
        }
    }
}

/// The bare AEAD on random keys, nonces, AAD and message lengths: identical outputs,
/// and each backend opens the other's output and rejects it under a different AAD.
#[test]
fn bare_aead_agrees_on_random_inputs() {
    let mut rng = Rng::new(0x5eed_0004);
    for round in 0..300 {
        let key: [u8; 32] = rng.array();
        let nonce: [u8; NONCE_LEN] = rng.array();
        let aad_len = rng.below(80);
        let aad = rng.bytes(aad_len);
        let len = if round % 10 == 0 {
            rng.below(70_000)
        } else {
            rng.below(600)
        };
        let plain = rng.bytes(len);
        let outputs: Vec<(Vec<u8>, [u8; 16])> = all_backends()
            .iter()
            .map(|&b| {
                let mut buf = plain.clone();
                let tag = aes256gcm_seal(b, &key, &nonce, &aad, &mut buf);
                (buf, tag)
            })
            .collect();
        for out in &outputs {
            assert_eq!(out, &outputs[0], "round {round}, len {len}");
        }
        let (ct, tag) = &outputs[0];
        for &b in all_backends() {
            let mut buf = ct.clone();
            aes256gcm_open(b, &key, &nonce, &aad, &mut buf, tag).unwrap();
            assert_eq!(buf, plain);
            let mut other_aad = aad.clone();
            other_aad.push(1);
            let mut buf = ct.clone();
            assert!(aes256gcm_open(b, &key, &nonce, &other_aad, &mut buf, tag).is_err());
        }
    }
}
