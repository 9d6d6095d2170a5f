//! Page sealing and opening, 4 KiB pages, against the bare AES-256-GCM call.
//!
//! Group `page_4k` (throughput: 4096 bytes per iteration):
//! - `bare_aws_lc/seal|open`: aws-lc-rs `LessSafeKey` on the whole 4096-byte buffer,
//!   no associated data, key already expanded — the speed of light for one page;
//! - `page_cipher/<backend>/seal|open`: `PageCipher::seal`/`open` on a 4096-byte page
//!   (4064 bytes of body, 46 bytes of associated data built from the position, the
//!   trailer written/read), for each backend compiled in. The opening cipher is not the
//!   one that sealed, so `open` looks the page's key epoch up in its cache, as when
//!   reading pages written by an earlier session.
//!
//! Every routine gets a fresh copy of its input from an untimed setup (64 pages per
//! batch, 256 KiB, cache-resident), so all rows pay the same harness cost.
//!
//! Run: `cargo bench -p sqlvault-benches --bench crypto`. The target is PageCipher's
//! seal and open within 10% of the bare call's time (a ratio read from one run).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sqlvault_crypto::{
    Backend, DatabaseSalt, KdfKind, MasterKey, PageCipher, PagePosition, TRAILER_LEN, all_backends,
};

const PAGE: usize = 4096;
const BATCH: BatchSize = BatchSize::NumIterations(64);

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::RustCrypto => "rust_crypto",
        Backend::AwsLc => "aws_lc",
        _ => "other",
    }
}

fn page_4k(c: &mut Criterion) {
    let mut group = c.benchmark_group("page_4k");
    group.throughput(Throughput::Bytes(PAGE as u64));

    // A page of non-trivial contents with the zero reserved tail SQLite leaves.
    let mut plain = vec![0u8; PAGE];
    for (i, b) in plain.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    plain[PAGE - TRAILER_LEN..].fill(0);

    // The baseline: bare aws-lc-rs AES-256-GCM over the same 4096-byte buffer.
    let key = [0x42u8; 32];
    let nonce = [7u8; 12];
    let bare = match UnboundKey::new(&AES_256_GCM, &key) {
        Ok(k) => LessSafeKey::new(k),
        Err(e) => panic!("AES-256-GCM key: {e}"),
    };
    group.bench_function("bare_aws_lc/seal", |b| {
        b.iter_batched_ref(
            || plain.clone(),
            |buf| {
                bare.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), buf)
                    .map(|tag| *tag.as_ref().first().unwrap_or(&0))
            },
            BATCH,
        )
    });
    let mut sealed_bare = plain.clone();
    let tag = bare
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut sealed_bare,
        )
        .unwrap();
    group.bench_function("bare_aws_lc/open", |b| {
        b.iter_batched_ref(
            || sealed_bare.clone(),
            |buf| {
                bare.open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    tag.as_ref(),
                    buf,
                )
                .map(|p| p.len())
                .unwrap()
            },
            BATCH,
        )
    });

    let master = MasterKey::from_bytes(key);
    let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
    let pos = PagePosition::Database { pgno: 1234 };
    for &backend in all_backends() {
        let name = backend_name(backend);
        let mut writer = PageCipher::with_backend(&master, salt, backend);
        group.bench_function(format!("page_cipher/{name}/seal"), |b| {
            b.iter_batched_ref(|| plain.clone(), |page| writer.seal(page, pos).unwrap(), BATCH)
        });
        let mut sealed = plain.clone();
        writer.seal(&mut sealed, pos).unwrap();
        let mut reader = PageCipher::with_backend(&master, salt, backend);
        group.bench_function(format!("page_cipher/{name}/open"), |b| {
            b.iter_batched_ref(|| sealed.clone(), |page| reader.open(page, pos).unwrap(), BATCH)
        });
    }
    group.finish();
}

criterion_group!(benches, page_4k);
criterion_main!(benches);
