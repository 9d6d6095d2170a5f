//! SQLite runs only on the pool's own threads, and the tracing spans say so.
//!
//! A minimal subscriber records, for every span entered, its name and the thread it was
//! entered on. (Its own test binary: the subscriber is global.)

// Test helpers outside `#[test]` fns unwrap too: any failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Default)]
struct Recorder {
    next: AtomicU64,
    /// Every span: id, name, explicit parent.
    names: Mutex<Vec<(u64, &'static str, Option<u64>)>>,
    /// Every enter: name, thread, span id.
    entered: Mutex<Vec<(&'static str, String, u64)>>,
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let parent = span.parent().map(Id::into_u64);
        self.names
            .lock()
            .unwrap()
            .push((id, span.metadata().name(), parent));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        let name = self
            .names
            .lock()
            .unwrap()
            .iter()
            .find(|(id, _, _)| *id == span.into_u64())
            .map_or("?", |(_, n, _)| *n);
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        self.entered.lock().unwrap().push((name, thread, span.into_u64()));
    }
    fn exit(&self, _: &Id) {}
}

#[test]
fn statements_run_on_connection_threads_and_spans_are_emitted() {
    let recorder: &'static Recorder = Box::leak(Box::default());
    tracing::subscriber::set_global_default(RecorderRef(recorder)).unwrap();
    for multi in [false, true] {
        common::runtime(multi).block_on(async {
            let (_dir, db) = common::fresh(2).await;
            let mut tx = db.write().await.unwrap();
            tx.execute_batch("CREATE TABLE t(x)").await.unwrap();
            tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
            tx.commit().await.unwrap();
            let mut r = db.read().await.unwrap();
            let _: i64 = r
                .query_row("SELECT x FROM t", (), |row| row.get(0))
                .await
                .unwrap();
            let _ = r
                .query("SELECT x FROM t", (), |row| row.get::<_, i64>(0))
                .collect_vec()
                .await
                .unwrap();
            db.read_with(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
                .await
                .unwrap();
            let _: i64 = db
                .query_row("SELECT count(*) FROM t", (), |row| row.get(0))
                .await
                .unwrap();
            db.write_with(|tx| Ok(tx.execute("INSERT INTO t VALUES (2)", [])?))
                .await
                .unwrap();
            // A guard dropped with its transaction open: its rollback is a command too.
            let mut w = db.write().await.unwrap();
            w.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
            drop(w);
            drop(r);
            db.close().await.unwrap();
        });
    }
    let entered = recorder.entered.lock().unwrap();
    let names: std::collections::BTreeSet<&str> = entered.iter().map(|(n, _, _)| *n).collect();
    for expected in [
        "sqlvault.open",
        "sqlvault.checkout",
        "sqlvault.queue_wait",
        "sqlvault.statement",
        "sqlvault.read_with",
        "sqlvault.commit",
    ] {
        assert!(names.contains(expected), "no {expected} span in {names:?}");
    }
    // Every statement span (and every transaction-control span) is entered on a connection
    // thread — never on a runtime worker or the test thread.
    for (name, thread, _) in entered.iter() {
        if matches!(
            *name,
            "sqlvault.statement"
                | "sqlvault.begin"
                | "sqlvault.commit"
                | "sqlvault.read_with"
                | "sqlvault.write_with"
                | "sqlvault.finish"
                | "sqlvault.drop_rollback"
        ) {
            assert!(
                thread == "sqlvault-writer" || thread.starts_with("sqlvault-reader-"),
                "{name} entered on thread {thread:?}"
            );
        }
    }
    // Issue 9.7: every command entered on a connection thread — closures and one-shot queries
    // queued straight on a reader included — has a `sqlvault.queued` child timing its wait in
    // that thread's queue.
    let spans = recorder.names.lock().unwrap();
    let mut commands = 0;
    for (name, thread, id) in entered.iter() {
        if thread == "sqlvault-writer" || thread.starts_with("sqlvault-reader-") {
            commands += 1;
            assert!(
                spans
                    .iter()
                    .any(|(_, n, parent)| *n == "sqlvault.queued" && *parent == Some(*id)),
                "{name} (span {id}) has no sqlvault.queued child"
            );
        }
    }
    for expected in [
        "sqlvault.read_with",
        "sqlvault.write_with",
        "sqlvault.drop_rollback",
    ] {
        assert!(names.contains(expected), "no {expected} span in {names:?}");
    }
    assert!(commands >= 10, "only {commands} commands traced");
}

struct RecorderRef(&'static Recorder);

impl Subscriber for RecorderRef {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.0.new_span(span)
    }
    fn record(&self, s: &Id, r: &Record<'_>) {
        self.0.record(s, r)
    }
    fn record_follows_from(&self, a: &Id, b: &Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, s: &Id) {
        self.0.enter(s)
    }
    fn exit(&self, s: &Id) {
        self.0.exit(s)
    }
}
