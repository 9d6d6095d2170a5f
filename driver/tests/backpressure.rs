//! Issue 9.5: each connection's command queue is bounded; a caller past the bound waits for a
//! slot instead of queueing without limit.

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

/// The documented default bound of a connection's queue (`Options::queue_capacity`).
const DEFAULT_BOUND: usize = 256;
const CALLS: usize = 5_000;

async fn the_command_queue_is_bounded() {
    let (_dir, db) = common::fresh(1).await;
    // Keep the only reader busy until released.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (busy_tx, busy_rx) = tokio::sync::oneshot::channel::<()>();
    let blocker = {
        let db = db.clone();
        tokio::spawn(async move {
            db.read_with(move |_| {
                let _ = busy_tx.send(());
                let _ = release_rx.recv();
                Ok(())
            })
            .await
        })
    };
    busy_rx.await.unwrap();

    // Thousands of calls, each polled once: only the bound's worth may be queued.
    let ran = Arc::new(AtomicUsize::new(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut calls: Vec<Pin<Box<dyn Future<Output = sqlvault_driver::Result<()>> + Send>>> =
        Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let ran = Arc::clone(&ran);
        let payload = vec![0u8; 1024];
        let mut call: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(db.read_with(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
            drop(payload);
            Ok(())
        }));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        calls.push(call);
    }
    release_tx.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    // Let the reader run whatever reached its queue (until the count stops moving).
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = ran.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    assert!(
        last <= DEFAULT_BOUND,
        "{last} of {CALLS} calls polled once were queued on one connection (bound {DEFAULT_BOUND})"
    );
    // The others were waiting for a slot, not lost: awaited, they all run.
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), CALLS);
    db.close().await.unwrap();
}
both_flavours_within!(bounded, the_command_queue_is_bounded, 120);

/// A smaller bound, set by `Options::queue_capacity`, holds the same way; 0 is refused.
async fn a_chosen_bound_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let zero = sqlvault_driver::Database::open(
        &path,
        common::passphrase("pw"),
        common::options(1).queue_capacity(0),
    )
    .await;
    assert!(matches!(zero, Err(sqlvault_driver::Error::InvalidOptions(_))));
    let db = sqlvault_driver::Database::open(
        &path,
        common::passphrase("pw"),
        common::options(2).queue_capacity(4),
    )
    .await
    .unwrap();
    // Both readers busy until released.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let mut blockers = Vec::new();
    for _ in 0..2 {
        let (busy_tx, busy_rx) = tokio::sync::oneshot::channel::<()>();
        let (db, release_rx) = (db.clone(), Arc::clone(&release_rx));
        blockers.push(tokio::spawn(async move {
            db.read_with(move |_| {
                let _ = busy_tx.send(());
                let _ = release_rx.lock().unwrap().recv();
                Ok(())
            })
            .await
        }));
        busy_rx.await.unwrap();
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let mut cx = Context::from_waker(Waker::noop());
    let mut calls = Vec::new();
    for _ in 0..100 {
        let ran = Arc::clone(&ran);
        let mut call = Box::pin(db.read_with(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        calls.push(call);
    }
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
    for b in blockers {
        b.await.unwrap().unwrap();
    }
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = ran.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    // Each reader's queue held its blocker and 3 more.
    assert!(
        last <= 2 * 3,
        "{last} calls polled once were queued (bound 4 on each of 2 readers)"
    );
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 100);
    db.close().await.unwrap();
}
both_flavours_within!(chosen_bound, a_chosen_bound_holds, 60);
