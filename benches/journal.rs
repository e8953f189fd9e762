//! What the time machine costs: a 1 KiB `io.fs.write_file` (overwrite, the same file each
//! iteration) through the pipeline with the undo journal and the audit log attached (as the
//! CLI builds it: `Retention::default()`), against the same call through a pipeline without
//! them, in the same run.
//!
//! A third variant keeps every undo point (no retention limit ever reached): criterion runs
//! thousands of iterations, so the default pipeline soon holds more than `max_ops` undo
//! points and expires the oldest on every call; the difference between the two is what
//! that costs.
//!
//! A fourth variant turns off syncing each commit (SQLite's `synchronous=NORMAL` in WAL
//! mode): the difference to the default is what it costs that an answered change survives
//! a power cut.
//!
//! A second group sets the smallest durable writes beside it, in the same run: a plain
//! atomic write of the same 1 KiB (`fsutil::AtomicFile`: a temporary sibling, synced, then
//! renamed); the same with its folder synced (what makes the rename itself survive a power
//! cut); the same with a log synced before the rename and again after it, as a journal
//! that keeps an undo point must (the device flushes of a journaled write, with none of
//! its other work); those four syncs two at a time, as the journaled write runs them (the
//! log's beside the file's, then beside the folder's); and the journaled write of it
//! through the pipeline (the undo point, the atomic write, the commit and the synced,
//! hash-chained audit record).
//!
//! The workspaces live in the system temp folder; `AIRUN_BENCH_DIR=/dev/shm` measures on
//! tmpfs instead (no fsync, so the journal's own cost is not hidden behind the disk's).

use airun::fsutil::{AtomicFile, Publish, TempKind};
use airun::pipeline::{CallOptions, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::stdlib::{Capabilities, Stdlib};
use airun::timemachine::{Retention, TimeMachine};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

type StdKernel = Pipeline<Capabilities<Stdlib>>;

/// A pipeline over a fresh workspace `<base>/<name>`, with the time machine (state under
/// `home`) when `retention` is given.
fn pipeline(base: &Path, home: &Path, name: &str, retention: Option<Retention>) -> StdKernel {
    kernel_synced(base, home, name, retention, true)
}

fn kernel_synced(
    base: &Path,
    home: &Path,
    name: &str,
    retention: Option<Retention>,
    synced: bool,
) -> StdKernel {
    let root = base.join(name);
    std::fs::create_dir_all(&root).expect("mkdir");
    let ws = Workspace::open(&root, false, Some(home)).expect("workspace");
    let Some(retention) = retention else {
        return Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default());
    };
    let tm = Arc::new(TimeMachine::open(home, &ws, retention).expect("time machine"));
    tm.set_synced_commits(synced).expect("sync setting");
    Pipeline::new(airun::stdlib::capabilities(), ws, Settings::default())
        .with_journal(Box::new(tm.clone()))
        .with_audit(Box::new(tm))
}

fn write(k: &StdKernel, args: &serde_json::Value) -> serde_json::Value {
    k.execute(
        "io.fs.write_file",
        black_box(args.clone()),
        &FlagConfirmer,
        CallOptions::default(),
    )
    .expect("write")
}

fn bench(c: &mut Criterion) {
    let base = std::env::var_os("AIRUN_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("airun-bench-")
        .tempdir_in(base)
        .expect("temp dir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");

    let plain = pipeline(dir.path(), &home, "plain", None);
    let journaled = pipeline(dir.path(), &home, "journaled", Some(Retention::default()));
    // Large, but within SQLite's i64 (the limits are compared in SQL).
    let keep_all = Retention {
        max_ops: 1 << 40,
        max_bytes: 1 << 60,
    };
    let unlimited = pipeline(dir.path(), &home, "unlimited", Some(keep_all));
    let unsynced = kernel_synced(
        dir.path(),
        &home,
        "unsynced",
        Some(Retention::default()),
        false,
    );

    let args = serde_json::json!({"path": "notes.txt", "content": "x".repeat(1024)});
    for k in [&plain, &journaled, &unlimited, &unsynced] {
        // The file exists from the start: every measured call is an overwrite.
        write(k, &args);
    }

    let mut g = c.benchmark_group("io.fs.write_file 1 KiB overwrite");
    g.bench_function("time machine off", |b| b.iter(|| write(&plain, &args)));
    g.bench_function("time machine on (journal + audit)", |b| {
        b.iter(|| write(&journaled, &args))
    });
    g.bench_function("time machine on, no retention limit", |b| {
        b.iter(|| write(&unlimited, &args))
    });
    g.bench_function("time machine on, commits not synced", |b| {
        b.iter(|| write(&unsynced, &args))
    });
    g.finish();

    let atomic_root = dir.path().join("atomic");
    std::fs::create_dir_all(&atomic_root).expect("mkdir");
    let atomic_dir = cap_std::fs::Dir::open_ambient_dir(&atomic_root, cap_std::ambient_authority())
        .expect("open");
    let content = "x".repeat(1024);
    let mut g = c.benchmark_group("1 KiB small write");
    g.bench_function("baseline: plain atomic write (fsutil::AtomicFile)", |b| {
        b.iter(|| atomic_write(&atomic_dir, black_box(content.as_bytes())))
    });
    let folder = std::fs::File::open(&atomic_root).expect("open the folder");
    g.bench_function("baseline: atomic write, folder synced", |b| {
        b.iter(|| {
            atomic_write(&atomic_dir, black_box(content.as_bytes()));
            folder.sync_all().expect("folder sync");
        })
    });
    let log = std::sync::Arc::new(Log::new(&dir.path().join("log")));
    g.bench_function(
        "baseline: atomic write, folder synced, a log synced before and after",
        |b| {
            b.iter(|| {
                log.append_synced(b"intent");
                atomic_write(&atomic_dir, black_box(content.as_bytes()));
                log.append_synced(b"commit");
                folder.sync_all().expect("folder sync");
            })
        },
    );
    // The journaled write's floor: the log synced before the change shows and after it
    // (holding the new content), the file written and renamed without a sync of its own.
    g.bench_function(
        "baseline: a log synced before and after an unsynced atomic write",
        |b| {
            b.iter(|| {
                use std::io::Write;
                log.append_synced(b"intent");
                let target = Path::new("notes.txt");
                let mut f = AtomicFile::beside(&atomic_dir, target, TempKind::Write).expect("temp");
                f.file()
                    .write_all(black_box(content.as_bytes()))
                    .expect("write");
                f.set_mode(0o644).expect("mode");
                f.commit(target, Publish::Replace).expect("rename");
                log.append_synced(b"commit");
            })
        },
    );
    // The journaled write ran its syncs two at a time (the log's beside the file's, the
    // log's beside the folder's) before its files were synced after the answer: the same
    // four syncs so, the log's on a thread of its own.
    let helper = Helper::start(log.clone());
    g.bench_function("baseline: the same four syncs, two at a time", |b| {
        b.iter(|| {
            use std::io::Write;
            let target = Path::new("notes.txt");
            let mut f = AtomicFile::beside(&atomic_dir, target, TempKind::Write).expect("temp");
            f.file()
                .write_all(black_box(content.as_bytes()))
                .expect("write");
            helper.beside(b"intent", || f.finish(0o644).expect("sync"));
            f.commit(target, Publish::Replace).expect("rename");
            helper.beside(b"commit", || folder.sync_all().expect("folder sync"));
        })
    });
    g.bench_function("journaled write (pipeline + time machine)", |b| {
        b.iter(|| write(&journaled, &args))
    });
    g.finish();
}

/// A thread that syncs a record to the log beside the caller's work.
struct Helper {
    records: std::sync::mpsc::Sender<&'static [u8]>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Helper {
    fn start(log: std::sync::Arc<Log>) -> Helper {
        let (records, rx) = std::sync::mpsc::channel::<&'static [u8]>();
        let (tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for record in rx {
                log.append_synced(record);
                let _ = tx.send(());
            }
        });
        Helper { records, done }
    }

    /// Syncs `record` to the log on the helper thread while `mine` runs here; returns
    /// once both ended.
    fn beside(&self, record: &'static [u8], mine: impl FnOnce()) {
        self.records.send(record).expect("helper");
        mine();
        self.done.recv().expect("helper");
    }
}

/// A durable atomic replace of `notes.txt`: a temporary sibling, synced, renamed.
fn atomic_write(dir: &cap_std::fs::Dir, data: &[u8]) {
    use std::io::Write;
    let target = Path::new("notes.txt");
    let mut f = AtomicFile::beside(dir, target, TempKind::Write).expect("temp");
    f.file().write_all(data).expect("write");
    f.finish(0o644).expect("sync");
    f.commit(target, Publish::Replace).expect("rename");
}

/// A stand-in for a journal's log: a file written in place at a few offsets (as a
/// write-ahead log reused after a checkpoint is), each record synced.
struct Log {
    file: std::fs::File,
    next: std::sync::atomic::AtomicU64,
}

impl Log {
    const SPAN: u64 = 64 * 4096;

    fn new(path: &Path) -> Log {
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .expect("log");
        // Allocated and synced once, so each record overwrites, as a reused log does.
        file.set_len(Self::SPAN).expect("log size");
        std::os::unix::fs::FileExt::write_all_at(&file, &[0; Self::SPAN as usize], 0)
            .expect("log fill");
        file.sync_all().expect("log sync");
        Log {
            file,
            next: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Writes a 4 KiB page holding `record` and syncs it.
    fn append_synced(&self, record: &[u8]) {
        let mut page = [0u8; 4096];
        page[..record.len()].copy_from_slice(record);
        let at = self
            .next
            .fetch_add(4096, std::sync::atomic::Ordering::Relaxed)
            % Self::SPAN;
        std::os::unix::fs::FileExt::write_all_at(&self.file, &page, at).expect("log write");
        self.file.sync_data().expect("log sync");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
