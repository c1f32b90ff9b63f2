//! Disk full: ingest pauses with a clear reason when `data_dir` runs low, nothing committed is
//! damaged, and it resumes by itself when space returns.
//!
//! Runs on a small tmpfs mounted over the workspace's `data_dir` when this process may mount
//! (root in CI): the space really runs out. Where mounting is not permitted it falls back to the
//! store's own check, with `[limits] min_free_disk` set above the free space; the test says which
//! ran.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use common::tools::Tool;
use common::*;

/// A tmpfs of `size` mounted at `dir`, unmounted when dropped.
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "cannot mount a tmpfs here ({}); using the store's own check",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn limits(min_free: &str) -> String {
    format!("[limits]\nmin_free_disk = \"{min_free}\"\n\n")
}

fn items(ws: &Workspace) -> u64 {
    ballotwatch_store::Store::open(&ws.data_dir())
        .unwrap()
        .count_items()
        .unwrap()
}

/// SQLite's own check of the database (`sqlite3` when installed; otherwise opening the store
/// and counting is the check).
fn integrity_ok(ws: &Workspace) {
    let db = ws.data_dir().join("ballotwatch.db");
    match Command::new("sqlite3")
        .arg(db)
        .arg("PRAGMA integrity_check")
        .output()
    {
        Ok(o) if o.status.success() => {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
        }
        _ => {
            items(ws);
        }
    }
}

#[test]
fn ingest_pauses_when_data_dir_runs_low_and_resumes_when_space_returns() {
    if !common::tools::needs(&[Tool::Models]) {
        return;
    }
    let server = FixtureServer::start();
    let source = rss_source("Growing", &server.url("/growing.xml"));
    let ws = Workspace::new(&format!("{}{source}", limits("16MiB")));
    let tmpfs = Tmpfs::mount(&ws.data_dir(), "96m");
    eprintln!(
        "disk-full test runs on {}",
        if tmpfs.is_some() {
            "a 96 MiB tmpfs filled to below min_free_disk"
        } else {
            "the store's own check (min_free_disk above the free space)"
        }
    );

    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let before = items(&ws);
    assert_eq!(before, 3);

    // Space runs low.
    let filler = ws.data_dir().join("filler");
    match &tmpfs {
        Some(_) => {
            let free = fs_free(&ws.data_dir());
            let fill = free.saturating_sub(8 << 20);
            std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();
        }
        None => {
            std::fs::write(
                ws.config(),
                std::fs::read_to_string(ws.config()).unwrap().replace(
                    "min_free_disk = \"16MiB\"",
                    "min_free_disk = \"1000000TiB\"",
                ),
            )
            .unwrap();
        }
    }
    server.state.growing_len.store(5, Ordering::SeqCst);
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let line = row(&r.stdout, "Growing");
    assert!(line.contains("ingest paused"), "{line}");
    assert!(line.contains("[limits] min_free_disk"), "{line}");
    assert!(
        line.contains(&ws.data_dir().display().to_string()),
        "names the folder: {line}"
    );
    assert_eq!(items(&ws), before, "nothing written while paused");
    integrity_ok(&ws);
    assert_eq!(
        ws.search_json("*").len(),
        3,
        "what was stored is still searchable"
    );

    // Space returns: ingest carries on by itself.
    match &tmpfs {
        Some(_) => std::fs::remove_file(filler).unwrap(),
        None => {
            std::fs::write(
                ws.config(),
                std::fs::read_to_string(ws.config()).unwrap().replace(
                    "min_free_disk = \"1000000TiB\"",
                    "min_free_disk = \"16MiB\"",
                ),
            )
            .unwrap();
        }
    }
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(items(&ws), 5);
    integrity_ok(&ws);
    drop(tmpfs);
}

/// Bytes available on the file system holding `dir`.
fn fs_free(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
