//! Page sealing and opening, 4 KiB pages, against the bare AES-256-GCM call.
//!
//! Group `page_4k` (throughput: 4096 bytes per iteration):
//! - `seal|open/bare_aws_lc`: aws-lc-rs `LessSafeKey` on the whole 4096-byte buffer,
//!   no associated data, key already expanded — the speed of light for one page;
//! - `seal|open/bare_aws_lc_page_shape`: the same call on exactly the AEAD work of a
//!   page (4064-byte body, 46 bytes of associated data, tag into the trailer), to tell
//!   the cost of the associated data from the page cipher's own bookkeeping;
//! - `seal|open/page_cipher_<backend>`: `PageCipher::seal`/`open` on a 4096-byte page
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
//!
//! On a machine shared with other work (2 cores, compilers running), wall-clock time
//! swings with the load from row to row and the ratios with it. Set
//! `SQLVAULT_BENCH_CPU_TIME=1` to measure the benchmark thread's CPU time instead
//! (`CLOCK_THREAD_CPUTIME_ID`), which leaves out the time other processes hold the core.

#![allow(
    clippy::unwrap_used,
    reason = "benchmark setup: a failure is a bug to see at once"
)]

use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, Criterion, Throughput};
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

fn page_4k<M: Measurement>(c: &mut Criterion<M>) {
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
    let mut sealed_bare = plain.clone();
    let tag = bare
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut sealed_bare,
        )
        .unwrap();

    // The same AEAD work a page costs: body of 4096 - 32 bytes, 46 bytes of associated
    // data, tag into the trailer. The difference between this row and the page cipher's
    // is the page cipher's own bookkeeping; between this row and the baseline, the AAD.
    let aad = [0x5au8; 46];
    let mut sealed_shape = plain.clone();
    {
        let (body, trailer) = sealed_shape.split_at_mut(PAGE - TRAILER_LEN);
        let tag = bare
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), body)
            .unwrap();
        trailer[16..].copy_from_slice(tag.as_ref());
    }

    let master = MasterKey::from_bytes(key);
    let salt = DatabaseSalt::generate(KdfKind::RawKey).unwrap();
    let pos = PagePosition::Database { pgno: 1234 };
    // Per backend: the sealing cipher, a separate opening cipher, and a sealed page.
    let mut ciphers: Vec<(&str, PageCipher, PageCipher, Vec<u8>)> = all_backends()
        .iter()
        .map(|&backend| {
            let mut writer = PageCipher::with_backend(&master, salt, backend);
            let mut sealed = plain.clone();
            writer.seal(&mut sealed, pos).unwrap();
            let reader = PageCipher::with_backend(&master, salt, backend);
            (backend_name(backend), writer, reader, sealed)
        })
        .collect();

    // Each operation's baseline runs right before the rows it is compared with, so a
    // change in machine load between rows skews the ratios as little as possible.
    group.bench_function("seal/bare_aws_lc", |b| {
        b.iter_batched_ref(
            || plain.clone(),
            |buf| {
                bare.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), buf)
                    .map(|tag| *tag.as_ref().first().unwrap_or(&0))
            },
            BATCH,
        )
    });
    group.bench_function("seal/bare_aws_lc_page_shape", |b| {
        b.iter_batched_ref(
            || plain.clone(),
            |buf| {
                let (body, trailer) = buf.split_at_mut(PAGE - TRAILER_LEN);
                let tag = bare
                    .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), body)
                    .unwrap();
                trailer[16..].copy_from_slice(tag.as_ref());
            },
            BATCH,
        )
    });
    for (name, writer, _, _) in ciphers.iter_mut().rev() {
        group.bench_function(format!("seal/page_cipher_{name}"), |b| {
            b.iter_batched_ref(|| plain.clone(), |page| writer.seal(page, pos).unwrap(), BATCH)
        });
    }
    group.bench_function("open/bare_aws_lc", |b| {
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
    group.bench_function("open/bare_aws_lc_page_shape", |b| {
        b.iter_batched_ref(
            || sealed_shape.clone(),
            |buf| {
                let (body, trailer) = buf.split_at_mut(PAGE - TRAILER_LEN);
                let mut tag = [0u8; 16];
                tag.copy_from_slice(&trailer[16..]);
                bare.open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&aad),
                    &tag,
                    body,
                )
                .map(|p| p.len())
                .unwrap()
            },
            BATCH,
        )
    });
    for (name, _, reader, sealed) in ciphers.iter_mut().rev() {
        group.bench_function(format!("open/page_cipher_{name}"), |b| {
            b.iter_batched_ref(|| sealed.clone(), |page| reader.open(page, pos).unwrap(), BATCH)
        });
    }
    group.finish();
}

fn main() {
    if std::env::var_os("SQLVAULT_BENCH_CPU_TIME").is_some() {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        page_4k(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        page_4k(&mut c);
        c.final_summary();
    }
}

/// CPU time of the benchmark thread: the time it actually ran, whoever else wanted
/// the core meanwhile.
struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }

    fn end(&self, start: ThreadTime) -> Duration {
        start.elapsed()
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuNanos
    }
}

/// Formats nanoseconds of CPU time, and bytes per CPU-second.
struct CpuNanos;

impl ValueFormatter for CpuNanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (divisor, unit) = if typical < 1e3 {
            (1.0, "ns (cpu)")
        } else if typical < 1e6 {
            (1e3, "µs (cpu)")
        } else {
            (1e6, "ms (cpu)")
        };
        values.iter_mut().for_each(|v| *v /= divisor);
        unit
    }

    fn scale_throughputs(&self, _typical: f64, throughput: &Throughput, values: &mut [f64]) -> &'static str {
        let (per_iteration, unit) = match *throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                (n as f64 / (1u64 << 30) as f64, "GiB/s (cpu)")
            }
            Throughput::Bits(n) => (n as f64 / 1e9, "Gbit/s (cpu)"),
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => {
                (n as f64 / 1e6, "Melem/s (cpu)")
            }
        };
        values.iter_mut().for_each(|v| *v = per_iteration * 1e9 / *v);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
