//! `page_open`: arbitrary bytes, positions and seal contexts through `PageCipher::open`
//! and `PageCipher::open_in`.
//!
//! Properties checked:
//! 1. Opening never panics, whatever the buffer length, contents, position or context.
//! 2. Bytes this target did not seal never open (a success would be a forged tag).
//! 3. A page this target sealed opens only unchanged, at the position it was sealed
//!    for, under the same key and database salt; then it gives back exactly the
//!    plaintext. With `open_in` it must also carry the tag of the context it is opened
//!    in: it opens in the context it was sealed in (WAL frame, journal record) and as a
//!    plain database page, and in no context whose tag differs. Every failure leaves the
//!    buffer zeroed.
//! 4. Sealing arbitrary buffers in arbitrary contexts never panics (it may refuse them
//!    with an error).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sqlvault_crypto::{
    DatabaseSalt, FORMAT_VERSION, MasterKey, PageCipher, PagePosition, SQLITE_MAGIC, SealContext,
    TRAILER_LEN, all_backends,
};

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Database(u32),
    Block(u64),
}

impl Pos {
    fn get(self) -> PagePosition {
        match self {
            Pos::Database(pgno) => PagePosition::Database { pgno },
            Pos::Block(index) => PagePosition::Block { index },
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Database,
    WalFrame {
        salts: [u8; 8],
        frame: u32,
        commit_size: u32,
        after_sync: bool,
        previous: [u8; 16],
    },
    Journal {
        journal_nonce: u32,
        offset: u64,
        counted: bool,
    },
}

impl Ctx {
    fn get(self) -> SealContext {
        match self {
            Ctx::Database => SealContext::Database,
            Ctx::WalFrame {
                salts,
                frame,
                commit_size,
                after_sync,
                previous,
            } => SealContext::WalFrame {
                salts,
                frame,
                commit_size,
                after_sync,
                previous,
            },
            Ctx::Journal {
                journal_nonce,
                offset,
                counted,
            } => SealContext::Journal {
                journal_nonce,
                offset,
                counted,
            },
        }
    }
}

/// Opens `page` at `pos`, plainly or (`Some`) in a context.
fn open(
    cipher: &mut PageCipher,
    page: &mut [u8],
    pos: PagePosition,
    ctx: Option<Ctx>,
) -> Result<(), sqlvault_crypto::OpenError> {
    match ctx {
        None => cipher.open(page, pos),
        Some(ctx) => cipher.open_in(page, pos, ctx.get()),
    }
}

#[derive(Arbitrary, Debug)]
enum Case {
    /// Open fuzzer-made bytes as if they were a sealed page, plainly and in a context.
    OpenForeign { pos: Pos, ctx: Ctx, bytes: Vec<u8> },
    /// Seal fuzzer-made bytes at `pos` in `ctx` (must not panic), then open them the same way.
    SealAnything { pos: Pos, ctx: Ctx, bytes: Vec<u8> },
    /// Seal a well-formed page in a context, change it (or not), open it somewhere (or at
    /// the same place), plainly or in a context.
    RoundTrip {
        sealed_at: Pos,
        sealed_in: Ctx,
        opened_at: Pos,
        /// `None`: `open`; `Some`: `open_in` that context.
        opened_in: Option<Ctx>,
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
        Case::OpenForeign { pos, ctx, bytes } => {
            let mut copy = bytes.clone();
            let result = reader.open_in(&mut copy, pos.get(), ctx.get());
            assert!(result.is_err(), "unsealed bytes opened at {pos:?} in {ctx:?}");
            assert!(copy.iter().all(|&b| b == 0));
            let mut bytes = bytes;
            let result = reader.open(&mut bytes, pos.get());
            assert!(result.is_err(), "unsealed bytes opened at {pos:?}");
            assert!(bytes.iter().all(|&b| b == 0));
        }
        Case::SealAnything { pos, ctx, mut bytes } => {
            let mut writer = PageCipher::with_backend(&master, db, seal_backend);
            let original = bytes.clone();
            if writer.seal_in(&mut bytes, pos.get(), ctx.get()).is_ok() {
                // A block ignores the context, so only a database page carries its tag.
                if let Pos::Database(_) = pos {
                    let mut copy = bytes.clone();
                    assert!(
                        reader.open_in(&mut copy, pos.get(), ctx.get()).is_ok(),
                        "a page sealed in {ctx:?} did not open in it"
                    );
                    assert_eq!(
                        copy[..original.len() - TRAILER_LEN],
                        original[..original.len() - TRAILER_LEN]
                    );
                }
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
            sealed_in,
            opened_at,
            opened_in,
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
            if let Err(e) = writer.seal_in(&mut sealed, pos, sealed_in.get()) {
                panic!("a well-formed page was refused at {pos:?} in {sealed_in:?}: {e}");
            }
            // The first four nonce bytes of the page as sealed: the context tag of
            // `sealed_in` for a database page, counter bits otherwise.
            let nonce_head = &sealed[len - TRAILER_LEN + 4..len - TRAILER_LEN + 8];
            let sealed_tag = writer.context_tag(sealed_in.get());
            if let (Pos::Database(_), Some(tag)) = (sealed_at, sealed_tag) {
                assert_eq!(
                    nonce_head, tag,
                    "seal_in did not put the tag of {sealed_in:?} in the nonce"
                );
            }
            // Whether the unaltered page carries the tag `open_in` asks for (always, for
            // a plain `open` or the database context).
            // A block ignores contexts when opening as when sealing.
            let tag_matches = match opened_in.and_then(|c| writer.context_tag(c.get())) {
                _ if matches!(opened_at, Pos::Block(_)) => true,
                None => true,
                Some(tag) => nonce_head == tag,
            };
            if let (Pos::Database(_), Some(c)) = (sealed_at, opened_in)
                && c == sealed_in
            {
                assert!(tag_matches, "the page does not carry the tag of {sealed_in:?}");
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
            let expect_ok = unchanged && opened_at == sealed_at && tag_matches && !other_key && !other_salt;
            let result = open(&mut opener, &mut page, opened_at.get(), opened_in);
            assert_eq!(
                result.is_ok(),
                expect_ok,
                "sealed at {sealed_at:?} in {sealed_in:?}, opened at {opened_at:?} in {opened_in:?}, \
                 unchanged: {unchanged}, tag matches: {tag_matches}, other key: {other_key}, \
                 other salt: {other_salt}"
            );
            if expect_ok {
                assert_eq!(page, plain);
            } else {
                assert!(page.iter().all(|&b| b == 0));
            }
        }
    }
});
