//! `sqlvault verify`: authenticate every page of the database file and every committed
//! WAL frame, then run `PRAGMA integrity_check` through the VFS.
//!
//! The pages are read straight from the files and opened with the page cipher (the same
//! code the VFS uses), so a bad page does not stop the scan: every failing page is named.
//! WAL frames belong to the log while their salts match the WAL header's; a frame that
//! fails authentication after the last commit frame is a torn, uncommitted write that
//! SQLite itself would ignore, and is reported as such without failing the check.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use sqlvault_crypto::{PageCipher, PagePosition, SealContext, derive_master_key_limited};
use sqlvault_vfs::{Argon2Params, DatabaseKey, KdfLimits, open_connection};

use super::Ui;
use super::db::{existing_flags, require_file};
use super::error::CliError;
use super::header::{Kind, WAL_FRAME_HEADER_LEN, WAL_HEADER_LEN, read_kind, wal_path};
use super::keys::{KeyOpts, database_key};

/// Arguments of `sqlvault verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The encrypted database.
    pub db: PathBuf,
    #[command(flatten)]
    pub key: KeyOpts,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// SQLite's lock-byte page starts at this offset and is never written.
const PENDING_BYTE: u64 = 0x4000_0000;

#[derive(Default)]
struct Report {
    pages: u64,
    bad_pages: Vec<u64>,
    truncated_tail: u64,
    wal_frames: u64,
    bad_wal_frames: Vec<(u64, u32)>,
    torn_wal_frames: u64,
    integrity: Vec<String>,
}

/// Runs `sqlvault verify`.
pub fn run(args: VerifyArgs, ui: Ui) -> Result<(), CliError> {
    require_file(&args.db)?;
    let Kind::Sqlvault { salt, page_size, .. } = read_kind(&args.db)? else {
        return Err(CliError::WrongKey(format!(
            "{} is not a sqlvault database",
            args.db.display()
        )));
    };
    let key = database_key(&args.key)?;
    let limits = args.key.limits();
    let master = derive_master_key_limited(&key, &salt, &limits)?;
    let mut cipher = PageCipher::new(&master, salt);
    drop(master);

    let mut report = Report::default();
    scan_db(&args.db, page_size, &mut cipher, &mut report, ui)?;
    if report.bad_pages.first() == Some(&1) {
        return Err(CliError::WrongKey(
            "wrong key: page 1 does not authenticate (or page 1 is damaged)".into(),
        ));
    }
    scan_wal(&wal_path(&args.db), page_size, &mut cipher, &mut report, ui)?;

    // integrity_check through the VFS: the b-tree structure as SQLite sees it.
    report.integrity = integrity_check(&args.db, &key, limits);

    let ok = report.bad_pages.is_empty()
        && report.bad_wal_frames.is_empty()
        && report.truncated_tail == 0
        && report.integrity == ["ok"];
    if args.json {
        let v = json!({
            "ok": ok,
            "pages": report.pages,
            "bad_pages": report.bad_pages,
            "truncated_tail_bytes": report.truncated_tail,
            "wal_frames": report.wal_frames,
            "bad_wal_frames": report.bad_wal_frames.iter().map(|(f, p)| json!({"frame": f, "page": p})).collect::<Vec<_>>(),
            "torn_uncommitted_wal_frames": report.torn_wal_frames,
            "integrity_check": report.integrity,
        });
        println!("{v}");
    } else {
        for p in &report.bad_pages {
            println!("page {p} of the database: does not authenticate (corrupt or tampered)");
        }
        if report.truncated_tail > 0 {
            println!(
                "the database file ends with {} bytes of a partial page",
                report.truncated_tail
            );
        }
        for (f, p) in &report.bad_wal_frames {
            println!("WAL frame {f} (page {p}): does not authenticate (corrupt or tampered)");
        }
        if report.torn_wal_frames > 0 {
            println!(
                "{} uncommitted WAL frame(s) at the end of the log do not authenticate (a torn write; SQLite ignores them)",
                report.torn_wal_frames
            );
        }
        if report.integrity != ["ok"] {
            for line in &report.integrity {
                println!("integrity_check: {line}");
            }
        }
        println!(
            "{}: {} pages, {} WAL frames checked",
            if ok { "ok" } else { "FAILED" },
            report.pages,
            report.wal_frames
        );
    }
    if ok {
        Ok(())
    } else {
        Err(CliError::Corrupt(format!(
            "verification failed: {} bad page(s), {} bad WAL frame(s), integrity_check: {}",
            report.bad_pages.len(),
            report.bad_wal_frames.len(),
            report.integrity.first().map_or("-", String::as_str)
        )))
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn scan_db(
    path: &Path,
    page_size: u32,
    cipher: &mut PageCipher,
    report: &mut Report,
    ui: Ui,
) -> Result<(), CliError> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let ps = u64::from(page_size);
    let pages = len / ps;
    report.pages = pages;
    report.truncated_tail = len % ps;
    let lock_page = PENDING_BYTE / ps + 1;
    let bar = ui.progress("pages", pages);
    let mut buf = vec![0u8; page_size as usize];
    for pgno in 1..=pages {
        read_full(&mut f, &mut buf)?;
        let Ok(pgno32) = u32::try_from(pgno) else {
            return Err(CliError::Corrupt(
                "the database file is longer than SQLite allows".into(),
            ));
        };
        if pgno == lock_page && len > PENDING_BYTE {
            bar.inc(1);
            continue;
        }
        if cipher
            .open(&mut buf, PagePosition::Database { pgno: pgno32 })
            .is_err()
        {
            report.bad_pages.push(pgno);
            if pgno == 1 {
                break;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

fn scan_wal(
    path: &Path,
    page_size: u32,
    cipher: &mut PageCipher,
    report: &mut Report,
    ui: Ui,
) -> Result<(), CliError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut header = [0u8; WAL_HEADER_LEN as usize];
    if read_full(&mut f, &mut header)? < header.len() {
        return Ok(()); // an empty or torn header: SQLite treats the WAL as empty
    }
    let wal_salts = &header[16..24];
    let frame_len = WAL_FRAME_HEADER_LEN + u64::from(page_size);
    let frames = f.metadata()?.len().saturating_sub(WAL_HEADER_LEN) / frame_len;
    let bar = ui.progress("WAL", frames);
    let mut results = Vec::new();
    let mut buf = vec![0u8; frame_len as usize];
    f.seek(SeekFrom::Start(WAL_HEADER_LEN))?;
    // Each frame is chained to the tag (last 16 bytes) of the frame before it as stored.
    let mut previous = [0u8; 16];
    for frame in 0..frames {
        read_full(&mut f, &mut buf)?;
        if &buf[8..16] != wal_salts {
            break; // frames of an earlier WAL generation: not part of the log
        }
        let pgno = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let commit_size = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        // A frame holds a sealed database page, bound (through its nonce) to this WAL
        // generation's salts, its index, its commit size and the frame before it.
        let mut salts = [0u8; 8];
        salts.copy_from_slice(wal_salts);
        let before = previous;
        let ctx = |after_sync| SealContext::WalFrame {
            salts,
            frame: u32::try_from(frame).unwrap_or(u32::MAX),
            commit_size,
            after_sync,
            previous: before,
        };
        let page = &mut buf[WAL_FRAME_HEADER_LEN as usize..];
        previous.copy_from_slice(&page[page.len() - 16..]);
        let ctx = if cipher.was_sealed_in(page, ctx(true)) {
            ctx(true)
        } else {
            ctx(false)
        };
        let ok = cipher.open_in(page, PagePosition::Database { pgno }, ctx).is_ok();
        results.push((frame, pgno, commit_size != 0, ok));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let last_commit = results.iter().rposition(|r| r.2);
    for (i, (frame, pgno, _, ok)) in results.iter().enumerate() {
        if *ok {
            continue;
        }
        if last_commit.is_some_and(|c| i <= c) {
            report.bad_wal_frames.push((*frame, *pgno));
        } else {
            report.torn_wal_frames += 1;
        }
    }
    report.wal_frames = results.len() as u64;
    Ok(())
}

fn integrity_check(path: &Path, key: &sqlvault_vfs::Key, limits: KdfLimits) -> Vec<String> {
    let run = || -> Result<Vec<String>, CliError> {
        let dbkey = DatabaseKey::resolve_with_limits(path, key, Argon2Params::default(), limits)?;
        let conn = open_connection(path, &dbkey, existing_flags(true))?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| CliError::from(sqlvault_vfs::classify_error(&conn, e)))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::from(sqlvault_vfs::classify_error(&conn, e)))?;
        Ok(rows)
    };
    run().unwrap_or_else(|e| vec![format!("could not run: {e}")])
}
