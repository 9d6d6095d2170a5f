//! `backend_diff`: the AES-256-GCM backends agree on everything.
//!
//! For arbitrary key, nonce, AAD and data: every backend seals to the same ciphertext
//! and tag, and every backend gives the same open result (and the same bytes after it)
//! for the ciphertext and tag, optionally altered. The same holds one level up, for
//! pages sealed through `PageCipher` with a fixed epoch and nonce, and for pages sealed
//! with `seal_in` in a WAL-frame or journal context: every backend computes the same
//! context tag, reproduces the sealed bytes from their epoch and nonce, and opens them.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sqlvault_crypto::{
    DatabaseSalt, FORMAT_VERSION, MasterKey, PageCipher, PagePosition, SealContext, TRAILER_LEN,
    aes256gcm_open, aes256gcm_seal, all_backends,
};

/// A seal context: a WAL frame (salts, frame, commit size, after sync, previous frame's
/// tag) or a journal
/// record (journal nonce, offset, counted).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ctx {
    WalFrame([u8; 8], u32, u32, bool, [u8; 16]),
    Journal(u32, u64, bool),
}

impl Ctx {
    fn get(self) -> SealContext {
        match self {
            Ctx::WalFrame(salts, frame, commit_size, after_sync, previous) => SealContext::WalFrame {
                salts,
                frame,
                commit_size,
                after_sync,
                previous,
            },
            Ctx::Journal(journal_nonce, offset, counted) => SealContext::Journal {
                journal_nonce,
                offset,
                counted,
            },
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    key: [u8; 32],
    nonce: [u8; 12],
    aad: Vec<u8>,
    data: Vec<u8>,
    /// (offset, xor mask) applied to ciphertext ‖ tag before opening.
    flip: Option<(u16, u8)>,
    /// Page-level check: database salt bytes, epoch, page number.
    salt: [u8; 12],
    epoch: u32,
    pgno: u32,
    /// The context of the `seal_in` check, and which backend seals there.
    ctx: Ctx,
    sealer: u8,
}

fuzz_target!(|input: Input| {
    let backends = all_backends();
    assert!(
        backends.len() >= 2,
        "build with the default features: nothing to compare"
    );

    // The bare AEAD.
    let sealed: Vec<(Vec<u8>, [u8; 16])> = backends
        .iter()
        .map(|&b| {
            let mut buf = input.data.clone();
            let tag = aes256gcm_seal(b, &input.key, &input.nonce, &input.aad, &mut buf);
            (buf, tag)
        })
        .collect();
    for (i, s) in sealed.iter().enumerate() {
        assert_eq!(
            s, &sealed[0],
            "{:?} and {:?} seal differently",
            backends[i], backends[0]
        );
    }
    let (mut ct, mut tag) = sealed[0].clone();
    if let Some((offset, mask)) = input.flip {
        let i = usize::from(offset) % (ct.len() + tag.len());
        if i < ct.len() {
            ct[i] ^= mask;
        } else {
            tag[i - ct.len()] ^= mask;
        }
    }
    let altered = (ct.as_slice(), tag) != (sealed[0].0.as_slice(), sealed[0].1);
    let opened: Vec<(bool, Vec<u8>)> = backends
        .iter()
        .map(|&b| {
            let mut buf = ct.clone();
            let ok = aes256gcm_open(b, &input.key, &input.nonce, &input.aad, &mut buf, &tag).is_ok();
            (ok, buf)
        })
        .collect();
    for (i, o) in opened.iter().enumerate() {
        assert_eq!(
            o, &opened[0],
            "{:?} and {:?} open differently",
            backends[i], backends[0]
        );
    }
    assert_eq!(opened[0].0, !altered, "altered: {altered}");
    if !altered {
        assert_eq!(opened[0].1, input.data);
    }

    // The page cipher: the data as the body of a 512..65536-byte page.
    let len = (input.data.len() + TRAILER_LEN)
        .next_power_of_two()
        .clamp(512, 65536);
    let mut plain = vec![0u8; len];
    let body = len - TRAILER_LEN;
    let n = input.data.len().min(body);
    plain[..n].copy_from_slice(&input.data[..n]);
    let mut salt = [0u8; 16];
    salt[..12].copy_from_slice(&input.salt);
    salt[12] = FORMAT_VERSION;
    let Ok(salt) = DatabaseSalt::parse(salt) else {
        panic!("a raw-key salt must parse");
    };
    let master = MasterKey::from_bytes(input.key);
    // Page 1 needs SQLite's header; keep to other pages here (page_open covers page 1).
    let pos = PagePosition::Database {
        pgno: input.pgno.max(2),
    };
    let pages: Vec<Vec<u8>> = backends
        .iter()
        .map(|&b| {
            let mut page = plain.clone();
            let mut cipher = PageCipher::with_backend(&master, salt, b);
            if let Err(e) = cipher.seal_with_nonce(&mut page, pos, input.epoch, input.nonce) {
                panic!("{b:?} refused a well-formed page: {e}");
            }
            page
        })
        .collect();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(
            p, &pages[0],
            "{:?} and {:?} seal pages differently",
            backends[i], backends[0]
        );
    }
    for &b in backends {
        let mut page = pages[0].clone();
        let mut cipher = PageCipher::with_backend(&master, salt, b);
        assert!(cipher.open(&mut page, pos).is_ok(), "{b:?} cannot open the page");
        assert_eq!(page, plain);
    }

    // seal_in: one backend seals in the context; every backend agrees on the tag,
    // reproduces the bytes from the trailer's epoch and nonce, and opens them in the
    // context and as the database page a checkpoint or playback copies them to.
    let ctx = input.ctx.get();
    let tags: Vec<Option<[u8; 4]>> = backends
        .iter()
        .map(|&b| PageCipher::with_backend(&master, salt, b).context_tag(ctx))
        .collect();
    assert!(
        tags.iter().all(|t| *t == tags[0]),
        "backends disagree on the tag of {ctx:?}"
    );
    let Some(tag) = tags[0] else {
        panic!("{ctx:?} carries no tag");
    };
    let sealer = backends[usize::from(input.sealer) % backends.len()];
    let mut sealed = plain.clone();
    if let Err(e) = PageCipher::with_backend(&master, salt, sealer).seal_in(&mut sealed, pos, ctx) {
        panic!("{sealer:?} refused a well-formed page in {ctx:?}: {e}");
    }
    let trailer = &sealed[len - TRAILER_LEN..];
    let epoch = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&trailer[4..16]);
    assert_eq!(nonce[..4], tag, "no context tag in the nonce");
    for &b in backends {
        let mut cipher = PageCipher::with_backend(&master, salt, b);
        let mut page = plain.clone();
        if let Err(e) = cipher.seal_with_nonce(&mut page, pos, epoch, nonce) {
            panic!("{b:?} refused a well-formed page: {e}");
        }
        assert_eq!(
            page, sealed,
            "{b:?} and {sealer:?} seal pages in {ctx:?} differently"
        );
        let mut page = sealed.clone();
        assert!(
            cipher.open_in(&mut page, pos, ctx).is_ok(),
            "{b:?} cannot open in {ctx:?}"
        );
        assert_eq!(page, plain);
        let mut page = sealed.clone();
        assert!(
            cipher.open(&mut page, pos).is_ok(),
            "{b:?} cannot open as a database page"
        );
        assert_eq!(page, plain);
    }
});
