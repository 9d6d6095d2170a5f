//! A forked writer never reuses a nonce of its parent. In a test binary of its own: a fork
//! while other tests' threads hold locks (the allocator's, SQLite's) can leave the child
//! waiting forever on a lock whose owner was not copied.

// Helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// The page size recorded in a database's clear header.
fn page_size_of(db: &[u8]) -> usize {
    match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65536,
        n => usize::from(n),
    }
}

/// (epoch ‖ nonce) of page `pgno`'s trailer.
fn trailer_nonce(db: &[u8], page: usize, pgno: usize) -> [u8; 16] {
    let end = pgno * page;
    db[end - 32..end - 16].try_into().unwrap()
}

#[test]
fn a_forked_child_never_reuses_a_nonce() {
    let dir = tempdir();
    let path = db_path(&dir, "fork.db");
    let conn = open(&path, &raw_key(14));
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE; CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (0);
         UPDATE t SET x = 0;",
    )
    .unwrap();
    let page = page_size_of(&std::fs::read(&path).unwrap());

    // SAFETY: the child only runs SQLite on its copy of the connection, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            conn.execute("UPDATE t SET x = x + 1", []).is_ok()
        }))
        .unwrap_or(false);
        // SAFETY: ends the child without running the parent's destructors or test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let started = std::time::Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            // SAFETY: the child is ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    let after_child = std::fs::read(&path).unwrap();

    conn.execute("UPDATE t SET x = x + 10", []).unwrap();
    let after_parent = std::fs::read(&path).unwrap();
    let x: i64 = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(x, 11, "the parent saw the child's write");

    for pgno in [1, 2] {
        let (c, p) = (
            trailer_nonce(&after_child, page, pgno),
            trailer_nonce(&after_parent, page, pgno),
        );
        assert_ne!(
            c, p,
            "page {pgno}: child and parent sealed with the same epoch and nonce"
        );
        assert_ne!(
            c[4..],
            p[4..],
            "page {pgno}: same 12-byte nonce (epochs {:?} / {:?})",
            &c[..4],
            &p[..4]
        );
    }
    drop(conn);
    assert_eq!(integrity(&open(&path, &raw_key(14))), "ok");
}
