//! The native SQLCipher reader against databases written by real SQLCipher 4 (rusqlite's
//! bundled SQLCipher) and SQLCipher 3.4.1 (Debian's `sqlcipher`), made by
//! `tests/fixtures/sqlcipher/make.sh`. Each `NAME.expected` holds the results of a list of
//! queries as SQLCipher itself read the fixture; the decrypted image, deserialized into stock
//! SQLite, must give exactly those results.
//!
//! PBKDF2 is slow by design (SQLCipher 4: 256,000 iterations of HMAC-SHA512), so each fixture's
//! reader is made once and shared, and the tamper tests use the cheap v2 (4,000 iterations) and
//! raw-key fixtures where they can.

// Helpers outside #[test] fns unwrap too (clippy.toml only covers test functions).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, MAIN_DB};
use sha2::{Digest, Sha256};
use sqlvault::sqlcipher::{
    Error, HashAlgorithm, SqlcipherKey, SqlcipherParams, SqlcipherReader, SqlcipherSource,
};

const RAW_KEY_HEX: &str = "2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe";

struct Fixture {
    name: &'static str,
    key: &'static str,
    version: u8,
    page_size: u32,
    wal: bool,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "v4-default",
        key: "v4 default passphrase",
        version: 4,
        page_size: 4096,
        wal: false,
    },
    Fixture {
        name: "v4-page8192",
        key: "v4 page 8192 passphrase",
        version: 4,
        page_size: 8192,
        wal: false,
    },
    Fixture {
        name: "v4-wal",
        key: "v4 wal passphrase",
        version: 4,
        page_size: 4096,
        wal: true,
    },
    Fixture {
        name: "v4-rawkey",
        key: "x'2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe'",
        version: 4,
        page_size: 4096,
        wal: true,
    },
    Fixture {
        name: "v3-default",
        key: "v3 default passphrase",
        version: 3,
        page_size: 1024,
        wal: false,
    },
    Fixture {
        name: "v3-page4096",
        key: "v3 page 4096 passphrase",
        version: 3,
        page_size: 4096,
        wal: false,
    },
    Fixture {
        name: "v3-wal",
        key: "v3 wal passphrase",
        version: 3,
        page_size: 1024,
        wal: true,
    },
    Fixture {
        name: "v2-kdf4000",
        key: "v2 passphrase",
        version: 2,
        page_size: 1024,
        wal: false,
    },
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqlcipher")
}

fn fixture(name: &str) -> &'static Fixture {
    FIXTURES.iter().find(|f| f.name == name).unwrap()
}

fn db_path(name: &str) -> PathBuf {
    dir().join(format!("{name}.db"))
}

fn db_bytes(name: &str) -> Vec<u8> {
    fs::read(db_path(name)).unwrap()
}

fn wal_bytes(name: &str) -> Vec<u8> {
    fs::read(dir().join(format!("{name}.db-wal"))).unwrap()
}

/// One detected reader per fixture for the whole test binary (one KDF run each).
fn reader(name: &str) -> &'static SqlcipherReader {
    static READERS: OnceLock<HashMap<&'static str, OnceLock<SqlcipherReader>>> = OnceLock::new();
    let all = READERS.get_or_init(|| FIXTURES.iter().map(|f| (f.name, OnceLock::new())).collect());
    all[name].get_or_init(|| {
        let f = fixture(name);
        let source = SqlcipherSource::open_path(db_path(name)).unwrap();
        assert_eq!(source.has_wal(), f.wal, "{name}");
        SqlcipherReader::detect(source, &SqlcipherKey::parse(f.key)).unwrap()
    })
}

/// Parses a `.expected` file: (query, rows) in order.
fn expected(name: &str) -> Vec<(String, Vec<String>)> {
    let text = fs::read_to_string(dir().join(format!("{name}.expected"))).unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("# query: ") {
            Some(q) => out.push((q.to_string(), Vec::new())),
            None => out.last_mut().unwrap().1.push(line.to_string()),
        }
    }
    assert!(out.len() >= 10, "{name}: too few queries");
    out
}

/// Formats a value exactly as `make-v4` does.
fn format_value(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => format!("{r:?}"),
        ValueRef::Text(t) => {
            let t = String::from_utf8_lossy(t);
            format!(
                "'{}'",
                t.replace('\\', "\\\\").replace('\n', "\\n").replace('|', "\\|")
            )
        }
        ValueRef::Blob(b) => format!("x'{}'", b.iter().map(|x| format!("{x:02X}")).collect::<String>()),
    }
}

fn run(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let values: Vec<String> = (0..n).map(|i| format_value(row.get_ref(i).unwrap())).collect();
        out.push(values.join(" | "));
    }
    out
}

/// Deserializes a decrypted image into an in-memory stock SQLite connection.
fn deserialize(image: &[u8]) -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.deserialize_read_exact(MAIN_DB, image, image.len(), true)
        .unwrap();
    conn.create_scalar_function(
        "sha256hex",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let bytes = ctx.get_raw(0).as_bytes_or_null()?.unwrap_or_default();
            Ok(Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>())
        },
    )
    .unwrap();
    conn
}

fn check_fixture(name: &str) {
    let f = fixture(name);
    let reader = reader(name);
    assert_eq!(
        reader.compatibility(),
        Some(f.version),
        "{name}: detected version"
    );
    assert_eq!(reader.page_size(), f.page_size, "{name}: detected page size");
    assert_eq!(reader.wal_summary().is_some(), f.wal);
    if let Some(wal) = reader.wal_summary() {
        assert!(wal.frames_committed > 0, "{name}: {wal:?}");
        assert_eq!(wal.frames_ignored, 0, "{name}: {wal:?}");
        assert_eq!(wal.db_size_after_commit, Some(reader.page_count()));
    }

    let mut progress = Vec::new();
    let image = reader
        .decrypt_image_with_progress(|done, total| progress.push((done, total)))
        .unwrap();
    assert_eq!(image.len(), reader.page_count() as usize * f.page_size as usize);
    assert_eq!(progress.len(), reader.page_count() as usize);
    assert_eq!(progress.last(), Some(&(reader.page_count(), reader.page_count())));
    assert_eq!(&image[..16], b"SQLite format 3\0");
    assert_eq!(image[18..20], [1, 1], "{name}: image must be in rollback mode");
    let reserve = reader.params().reserve();
    assert_eq!(usize::from(image[20]), reserve);
    for page in image.chunks(f.page_size as usize) {
        assert!(
            page[page.len() - reserve..].iter().all(|&b| b == 0),
            "{name}: reserve not zeroed"
        );
    }

    let conn = deserialize(&image);
    assert_eq!(run(&conn, "PRAGMA integrity_check"), ["'ok'"], "{name}");
    assert_eq!(
        run(&conn, "PRAGMA page_size"),
        [f.page_size.to_string()],
        "{name}"
    );
    for (query, rows) in expected(name) {
        assert_eq!(run(&conn, &query), rows, "{name}: {query}");
    }
}

#[test]
fn v4_default_matches_sqlcipher() {
    check_fixture("v4-default");
}

#[test]
fn v4_page8192_matches_sqlcipher() {
    check_fixture("v4-page8192");
}

#[test]
fn v4_wal_matches_sqlcipher() {
    check_fixture("v4-wal");
}

#[test]
fn v4_rawkey_wal_only_matches_sqlcipher() {
    // The database file holds page 1 only; everything else is in uncheckpointed WAL frames.
    assert_eq!(db_bytes("v4-rawkey").len(), 4096);
    check_fixture("v4-rawkey");
}

#[test]
fn v3_default_matches_sqlcipher() {
    check_fixture("v3-default");
}

#[test]
fn v3_page4096_matches_sqlcipher() {
    check_fixture("v3-page4096");
}

#[test]
fn v3_wal_matches_sqlcipher() {
    check_fixture("v3-wal");
}

#[test]
fn v2_kdf4000_matches_sqlcipher() {
    check_fixture("v2-kdf4000");
}

#[test]
fn detection_tells_versions_and_page_sizes_apart() {
    let seen: Vec<(u8, u32)> = [
        "v4-default",
        "v4-page8192",
        "v3-default",
        "v3-page4096",
        "v2-kdf4000",
    ]
    .iter()
    .map(|n| (reader(n).compatibility().unwrap(), reader(n).page_size()))
    .collect();
    assert_eq!(seen, [(4, 4096), (4, 8192), (3, 1024), (3, 4096), (2, 1024)]);
    assert_eq!(reader("v4-default").params(), SqlcipherParams::v4());
    assert_eq!(reader("v3-default").params(), SqlcipherParams::v3());
    assert_eq!(reader("v3-default").params().hmac_algorithm, HashAlgorithm::Sha1);
}

#[test]
fn explicit_parameters_open_the_same_database() {
    // v2 = v3 defaults with kdf_iter overridden, and the legacy(2) shorthand.
    let key = SqlcipherKey::parse(fixture("v2-kdf4000").key);
    let want = reader("v2-kdf4000").decrypt_image().unwrap();
    for params in [
        SqlcipherParams::v3().with_kdf_iter(4000),
        SqlcipherParams::legacy(2).unwrap(),
    ] {
        let r =
            SqlcipherReader::open(SqlcipherSource::from_bytes(db_bytes("v2-kdf4000")), &key, params).unwrap();
        assert_eq!(*r.decrypt_image().unwrap(), *want);
    }
    // The v3 defaults' 64,000 iterations do not open it, nor v3 with the wrong page size.
    for params in [SqlcipherParams::v3(), SqlcipherParams::v2().with_page_size(4096)] {
        let err = SqlcipherReader::open(SqlcipherSource::from_bytes(db_bytes("v2-kdf4000")), &key, params)
            .unwrap_err();
        assert!(
            matches!(err, Error::WrongKeyOrNotSqlcipher { attempts: 1 }),
            "{err}"
        );
    }
    // A raw key with an explicit page size, from bytes (db and WAL given separately).
    let source = SqlcipherSource::from_bytes(db_bytes("v4-rawkey")).with_wal_bytes(wal_bytes("v4-rawkey"));
    let r = SqlcipherReader::open(
        source,
        &SqlcipherKey::parse(fixture("v4-rawkey").key),
        SqlcipherParams::v4(),
    )
    .unwrap();
    assert_eq!(
        *r.decrypt_image().unwrap(),
        *reader("v4-rawkey").decrypt_image().unwrap()
    );
}

#[test]
fn raw_key_with_salt_form_opens_and_a_wrong_salt_does_not() {
    let db = db_bytes("v4-rawkey");
    let salt: String = db[..16].iter().map(|b| format!("{b:02x}")).collect();
    let open = |key: String| {
        let source = SqlcipherSource::from_bytes(db.clone()).with_wal_bytes(wal_bytes("v4-rawkey"));
        SqlcipherReader::open(source, &SqlcipherKey::parse(&key), SqlcipherParams::v4())
    };
    assert!(open(format!("x'{RAW_KEY_HEX}{salt}'")).is_ok());
    let err = open(format!("x'{RAW_KEY_HEX}{}'", "00".repeat(16))).unwrap_err();
    assert!(matches!(err, Error::WrongKeyOrNotSqlcipher { .. }), "{err}");
}

#[test]
fn passphrase_kdf_is_pbkdf2_of_the_file_salt() {
    // SQLCipher derives the HMAC key from the encryption key the same way for passphrases and
    // raw keys, so the raw key PBKDF2-HMAC-SHA1("v2 passphrase", file salt, 4000) opens the v2
    // fixture: this pins down the KDF's inputs (passphrase bytes, salt = first 16 bytes).
    let db = db_bytes("v2-kdf4000");
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(b"v2 passphrase", &db[..16], 4000, &mut key);
    let r = SqlcipherReader::open(
        SqlcipherSource::from_bytes(db),
        &SqlcipherKey::raw(key),
        SqlcipherParams::v2(),
    )
    .unwrap();
    assert_eq!(
        *r.decrypt_image().unwrap(),
        *reader("v2-kdf4000").decrypt_image().unwrap()
    );
}

#[test]
fn wrong_passphrase_is_the_wrong_key_error() {
    // detect tries v4, v3 and v2, every page size each: 3 × 7 valid combinations.
    let source = SqlcipherSource::open_path(db_path("v4-default")).unwrap();
    let err = SqlcipherReader::detect(source, &SqlcipherKey::passphrase("not the passphrase")).unwrap_err();
    assert!(
        matches!(err, Error::WrongKeyOrNotSqlcipher { attempts: 21 }),
        "{err}"
    );
    assert!(err.to_string().contains("wrong key"), "{err}");

    let mut other_key = [0u8; 32];
    other_key[0] = 1;
    let source = SqlcipherSource::from_bytes(db_bytes("v4-rawkey")).with_wal_bytes(wal_bytes("v4-rawkey"));
    let err =
        SqlcipherReader::open(source, &SqlcipherKey::raw(other_key), SqlcipherParams::v4()).unwrap_err();
    assert!(
        matches!(err, Error::WrongKeyOrNotSqlcipher { attempts: 1 }),
        "{err}"
    );
}

fn open_v2(db: Vec<u8>) -> Result<SqlcipherReader, Error> {
    SqlcipherReader::open(
        SqlcipherSource::from_bytes(db),
        &SqlcipherKey::parse(fixture("v2-kdf4000").key),
        SqlcipherParams::v2(),
    )
}

#[test]
fn flipped_byte_in_page_3_is_tampered_page_3() {
    let good = reader("v2-kdf4000");
    let page = 1024;
    let reserve = SqlcipherParams::v2().reserve(); // 48: IV 16, HMAC-SHA1 20, filler 12
    // Body, IV and HMAC bytes of page 3 are all authenticated.
    for offset in [
        0,
        500,
        page - reserve - 1,
        page - reserve,
        page - reserve + 16,
        page - reserve + 35,
    ] {
        let mut db = db_bytes("v2-kdf4000");
        db[2 * page + offset] ^= 0x01;
        let r = open_v2(db).unwrap(); // page 1 is fine
        let err = r.decrypt_image().unwrap_err();
        assert!(
            matches!(err, Error::TamperedPage { pgno: 3 }),
            "offset {offset}: {err}"
        );
        assert!(err.to_string().contains("page 3"), "{err}");
        let mut out = vec![0xAA; page];
        assert!(matches!(
            r.read_page(3, &mut out),
            Err(Error::TamperedPage { pgno: 3 })
        ));
        assert!(
            out.iter().all(|&b| b == 0),
            "no plaintext of a failed page is handed out"
        );
        assert_eq!(*r.page(2).unwrap(), *good.page(2).unwrap());
        assert_eq!(*r.page(4).unwrap(), *good.page(4).unwrap());
    }
    // The reserve's filler after the HMAC is random padding SQLCipher does not authenticate:
    // changing it changes nothing that is read.
    let mut db = db_bytes("v2-kdf4000");
    db[2 * page + page - 1] ^= 0xff;
    let r = open_v2(db).unwrap();
    assert_eq!(*r.page(3).unwrap(), *good.page(3).unwrap());
}

#[test]
fn flipped_byte_in_a_v4_page_is_tampered_and_in_page_1_is_wrong_key() {
    let key = SqlcipherKey::parse(fixture("v4-rawkey").key);
    let open = |db: Vec<u8>, wal: Vec<u8>| {
        SqlcipherReader::open(
            SqlcipherSource::from_bytes(db).with_wal_bytes(wal),
            &key,
            SqlcipherParams::v4(),
        )
    };
    // Page 1 of v4-rawkey lives in the WAL, so tamper the db file of v4-default via its page 3
    // with the SQLCipher 4 KDF, once.
    let mut db = db_bytes("v4-default");
    db[2 * 4096 + 100] ^= 0x80;
    let r = SqlcipherReader::open(
        SqlcipherSource::from_bytes(db),
        &SqlcipherKey::parse(fixture("v4-default").key),
        SqlcipherParams::v4(),
    )
    .unwrap();
    assert!(matches!(
        r.decrypt_image().unwrap_err(),
        Error::TamperedPage { pgno: 3 }
    ));

    // A changed salt or page-1 byte: page 1 fails, which is reported as a wrong key.
    for offset in [0, 15, 16, 1000] {
        let mut db = db_bytes("v2-kdf4000");
        db[offset] ^= 0x01;
        let err = open_v2(db).unwrap_err();
        assert!(
            matches!(err, Error::WrongKeyOrNotSqlcipher { .. }),
            "offset {offset}: {err}"
        );
    }
    // Raw-key WAL database whose db-file page 1 is older than the WAL's: still opens.
    assert!(open(db_bytes("v4-rawkey"), wal_bytes("v4-rawkey")).is_ok());
}

#[test]
fn swapped_pages_do_not_authenticate() {
    let mut db = db_bytes("v2-kdf4000");
    let (a, b) = (1024..2048, 2048..3072);
    let page2 = db[a.clone()].to_vec();
    db.copy_within(b.clone(), a.start);
    db[b].copy_from_slice(&page2);
    let err = open_v2(db).unwrap().decrypt_image().unwrap_err();
    assert!(matches!(err, Error::TamperedPage { pgno: 2 }), "{err}");
}

#[test]
fn truncated_files_are_reported() {
    let full = db_bytes("v2-kdf4000");
    // Missing the last page: page 1's header still counts it.
    let err = open_v2(full[..full.len() - 1024].to_vec()).unwrap_err();
    assert!(
        matches!(err, Error::Truncated { needed, .. } if needed == full.len() as u64),
        "{err}"
    );
    // Ends in the middle of a page.
    let err = open_v2(full[..full.len() - 100].to_vec()).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    // Shorter than one page.
    for len in [0, 10, 600] {
        let err = open_v2(full[..len].to_vec()).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{len}: {err}");
    }
    let key = SqlcipherKey::raw([7; 32]);
    let err = SqlcipherReader::detect(SqlcipherSource::from_bytes(vec![1u8; 300]), &key).unwrap_err();
    // 512-byte pages cannot hold SQLCipher's reserve, so 1024 is the smallest page size tried.
    assert!(
        matches!(
            err,
            Error::Truncated {
                len: 300,
                needed: 1024
            }
        ),
        "{err}"
    );
    // The WAL-only database without its WAL (or with a WAL cut inside its header, which SQLite
    // ignores): the db file's page 1 is the one-page database as it was when WAL mode was
    // switched on, before any table existed.
    let key = SqlcipherKey::parse(fixture("v4-rawkey").key);
    for source in [
        SqlcipherSource::from_bytes(db_bytes("v4-rawkey")),
        SqlcipherSource::from_bytes(db_bytes("v4-rawkey")).with_wal_bytes(&wal_bytes("v4-rawkey")[..20]),
    ] {
        let r = SqlcipherReader::open(source, &key, SqlcipherParams::v4()).unwrap();
        assert_eq!(r.page_count(), 1);
        let conn = deserialize(&r.decrypt_image().unwrap());
        assert_eq!(run(&conn, "SELECT count(*) FROM sqlite_master"), ["0"]);
    }
}

#[test]
fn plaintext_and_random_files_are_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    let plain = conn.serialize(MAIN_DB).unwrap().to_vec();
    let key = SqlcipherKey::raw([7; 32]);
    let err = SqlcipherReader::detect(SqlcipherSource::from_bytes(plain), &key).unwrap_err();
    assert!(matches!(err, Error::NotEncrypted), "{err}");

    let noise: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let err = SqlcipherReader::detect(SqlcipherSource::from_bytes(noise), &key).unwrap_err();
    assert!(matches!(err, Error::WrongKeyOrNotSqlcipher { .. }), "{err}");
}

/// SQLite's WAL checksum (file format §4.1), to forge a WAL whose frames are well formed.
fn wal_checksum(data: &[u8], mut s: (u32, u32)) -> (u32, u32) {
    for w in data.chunks_exact(8) {
        let x0 = u32::from_le_bytes(w[..4].try_into().unwrap());
        let x1 = u32::from_le_bytes(w[4..].try_into().unwrap());
        s.0 = s.0.wrapping_add(x0).wrapping_add(s.1);
        s.1 = s.1.wrapping_add(x1).wrapping_add(s.0);
    }
    s
}

/// Recomputes every frame checksum of a little-endian-checksum WAL after an edit.
fn refresh_wal_checksums(wal: &mut [u8], page_size: usize) {
    assert_eq!(&wal[..4], &[0x37, 0x7f, 0x06, 0x82]);
    let mut s = (
        u32::from_be_bytes(wal[24..28].try_into().unwrap()),
        u32::from_be_bytes(wal[28..32].try_into().unwrap()),
    );
    let mut at = 32;
    while at + 24 + page_size <= wal.len() {
        s = wal_checksum(&wal[at..at + 8], s);
        s = wal_checksum(&wal[at + 24..at + 24 + page_size], s);
        wal[at + 16..at + 20].copy_from_slice(&s.0.to_be_bytes());
        wal[at + 20..at + 24].copy_from_slice(&s.1.to_be_bytes());
        at += 24 + page_size;
    }
}

#[test]
fn wal_frames_are_authenticated_and_a_broken_checksum_ends_the_log() {
    let key = SqlcipherKey::parse(fixture("v4-rawkey").key);
    let open = |wal: Vec<u8>| {
        let source = SqlcipherSource::from_bytes(db_bytes("v4-rawkey")).with_wal_bytes(wal);
        SqlcipherReader::open(source, &key, SqlcipherParams::v4())
    };
    let good = reader("v4-rawkey");
    let frame_len = 24 + 4096;
    let original = wal_bytes("v4-rawkey");
    let frame_pgno = |i: usize| u32::from_be_bytes(original[32 + i * frame_len..][..4].try_into().unwrap());
    let frames = good.wal_summary().unwrap().frames_committed as usize;
    assert_eq!(frames, (original.len() - 32) / frame_len);

    // The checksums cover the encrypted page as SQLCipher wrote it: they verify as they are.
    assert_eq!(open(original.clone()).unwrap().wal_summary(), good.wal_summary());

    // A flipped ciphertext byte with checksums recomputed (anyone can: they are unkeyed):
    // the frame fails authentication, named by frame and page.
    let victim = (0..frames).rev().find(|&i| frame_pgno(i) != 1).unwrap();
    let pgno = frame_pgno(victim);
    let mut wal = original.clone();
    wal[32 + victim * frame_len + 24 + 1000] ^= 0x04;
    refresh_wal_checksums(&mut wal, 4096);
    let r = open(wal).unwrap();
    let err = r.decrypt_image().unwrap_err();
    assert!(
        matches!(err, Error::TamperedWalFrame { frame, pgno: p } if frame as usize == victim && p == pgno),
        "{err}"
    );

    // The same for page 1's latest frame (the last transaction, `PRAGMA user_version = 43`):
    // the db file's page 1 still authenticates, so the key is right and the frame is named.
    let last = frames - 1;
    assert_eq!(frame_pgno(last), 1);
    let mut wal = original.clone();
    wal[32 + last * frame_len + 24 + 1000] ^= 0x04;
    refresh_wal_checksums(&mut wal, 4096);
    let err = open(wal).unwrap_err();
    assert!(
        matches!(err, Error::TamperedWalFrame { frame, pgno: 1 } if frame as usize == last),
        "{err}"
    );

    // Without recomputed checksums SQLite's rule applies: the log ends before the bad frame,
    // so the last transaction is not applied (and nothing fails authentication).
    let mut wal = original.clone();
    wal[32 + last * frame_len + 24 + 1000] ^= 0x04;
    let r = open(wal).unwrap();
    let summary = r.wal_summary().unwrap();
    assert_eq!(summary.frames_committed as usize, frames - 1, "{summary:?}");
    assert_eq!(summary.frames_ignored, 1, "{summary:?}");
    let conn = deserialize(&r.decrypt_image().unwrap());
    assert_eq!(run(&conn, "PRAGMA integrity_check"), ["'ok'"]);
    assert_eq!(run(&conn, "PRAGMA user_version"), ["42"]);
    assert_eq!(run(&conn, "SELECT count(*) FROM attachments"), ["5"]);
}

#[test]
fn frames_after_the_last_commit_are_ignored() {
    // Append a frame for page 2 with commit size 0 and garbage contents, with valid salts and
    // checksums: a transaction that never committed. SQLite ignores it; so does the reader,
    // which never even authenticates it.
    let mut wal = wal_bytes("v4-rawkey");
    let frame_len = 24 + 4096;
    let mut frame = wal[32..32 + frame_len].to_vec();
    frame[..4].copy_from_slice(&2u32.to_be_bytes());
    frame[4..8].copy_from_slice(&0u32.to_be_bytes());
    frame[24..].fill(0x5a);
    wal.extend_from_slice(&frame);
    refresh_wal_checksums(&mut wal, 4096);
    let source = SqlcipherSource::from_bytes(db_bytes("v4-rawkey")).with_wal_bytes(wal);
    let key = SqlcipherKey::parse(fixture("v4-rawkey").key);
    let r = SqlcipherReader::open(source, &key, SqlcipherParams::v4()).unwrap();
    let good = reader("v4-rawkey").wal_summary().unwrap();
    let summary = r.wal_summary().unwrap();
    assert_eq!(summary.frames_in_file, good.frames_in_file + 1);
    assert_eq!(summary.frames_committed, good.frames_committed);
    assert_eq!(summary.frames_ignored, 1);
    assert_eq!(
        *r.decrypt_image().unwrap(),
        *reader("v4-rawkey").decrypt_image().unwrap()
    );
}

#[test]
fn pages_iterator_and_read_page_agree_with_the_image() {
    let r = reader("v3-wal");
    let image = r.decrypt_image().unwrap();
    let ps = r.page_size() as usize;
    let mut n = 0;
    for item in r.pages() {
        let (pgno, page) = item.unwrap();
        let mut want = image[(pgno as usize - 1) * ps..pgno as usize * ps].to_vec();
        if pgno == 1 {
            want[18] = 2; // the image is switched to rollback mode; the page is as stored
            want[19] = 2;
        }
        assert_eq!(*page, want, "page {pgno}");
        n += 1;
    }
    assert_eq!(n, r.page_count());
    let mut out = vec![0; ps];
    assert!(matches!(
        r.read_page(0, &mut out),
        Err(Error::PageOutOfRange { .. })
    ));
    assert!(matches!(
        r.read_page(r.page_count() + 1, &mut out),
        Err(Error::PageOutOfRange { .. })
    ));
    assert!(matches!(
        r.read_page(1, &mut out[..10]),
        Err(Error::BadParameters(_))
    ));
}
