//! `cargo bench --bench memory`: peak memory (the largest resident set, as the kernel counts
//! it) of the shipped `ballotwatch` binary with every default model loaded, against the
//! baseline of the same binary with ONNX Runtime's CPU memory arena turned back on
//! (`BALLOTWATCH_ORT_ARENA=1`, how every model ran before), in one run.
//!
//! Two workloads, each run once per setting:
//! - `demo --once`: one ingest pass over the bundled demo (feeds, posts, pictures: OCR, the
//!   pixel model and the text encoder), the closest thing to `serve` that exits by itself;
//! - `classify` with that demo's configuration on 64 long texts (about 250 tokens each, the
//!   encoder's largest batches) and a 4000×3000 photo-sized picture with a printed notice on it
//!   (OCR detection at `[detectors.ocr] max_side`, the pixel model); then again with the old
//!   default `max_side` of 1280.
//!
//! Needs `models/install`. Linux only (the child's peak comes from `wait4`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use image::{Rgb, RgbImage};

const ARENA_ENV: &str = "BALLOTWATCH_ORT_ARENA";

#[derive(Clone, Copy)]
enum Workload {
    Demo,
    /// `classify` with the demo's configuration plus these lines.
    Classify(Option<&'static str>),
}

/// Runs `cmd` to completion with `stdin` as its input; its peak RSS in MiB and its wall time.
fn peak_of(mut cmd: Command, stdin: &[u8]) -> (f64, f64) {
    let started = Instant::now();
    // Reaped below with wait4, which (unlike Child::wait) reports the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ballotwatch");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; the pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed().as_secs_f64();
    let _ = writer.join();
    let log = reader.join().unwrap_or_default();
    assert_eq!(reaped, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "ballotwatch failed (status {status}):\n{log}"
    );
    // ru_maxrss is in KiB on Linux.
    (usage.ru_maxrss as f64 / 1024.0, elapsed)
}

/// A photo-sized picture: noisy "scenery" with a white notice of black text-like bars.
fn big_picture(path: &Path) {
    let (w, h) = (4000u32, 3000u32);
    let mut seed = 0x2545_f491_u32;
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed & 0x1f) as u8;
        Rgb([
            (60 + (x / 16) % 80) as u8 + n,
            (90 + (y / 16) % 60) as u8 + n,
            120u8.saturating_add(n),
        ])
    });
    for y in 900..1900 {
        for x in 700..3300 {
            img.put_pixel(x, y, Rgb([250, 250, 250]));
        }
    }
    for line in 0..8u32 {
        let y0 = 980 + line * 110;
        for word in 0..9u32 {
            let x0 = 800 + word * 270;
            for y in y0..y0 + 60 {
                for x in x0..x0 + 200 {
                    if (x / 14 + y / 20) % 3 != 0 {
                        img.put_pixel(x, y, Rgb([15, 15, 15]));
                    }
                }
            }
        }
    }
    img.save(path).expect("write the picture");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_ballotwatch");
    let work = tempfile::tempdir().expect("tempdir");
    let picture = work.path().join("photo.jpg");
    big_picture(&picture);

    let sentence = "Polling stations across Anytown open at seven in the morning and close at ten \
                    at night, and voters must bring an accepted form of photo identification ";
    let mut lines = String::new();
    for i in 0..64 {
        let text = format!("{i}: {}", sentence.repeat(8));
        lines.push_str(
            &serde_json::json!({"id": format!("long-{i}"), "source": {"kind": "rss", "name": "Bench"}, "text": text})
                .to_string(),
        );
        lines.push('\n');
    }
    lines.push_str(
        &serde_json::json!({
            "id": "photo",
            "source": {"kind": "rss", "name": "Bench"},
            "text": "Notice about polling stations",
            "media": [{"path": picture}, {"path": root.join("demo/media/fake-notice.png")}],
        })
        .to_string(),
    );
    lines.push('\n');

    println!("peak RSS of the shipped binary, all default models (MiB; lower is better)");
    println!(
        "  {:<34} {:>22} {:>10} {:>8}",
        "workload", "arena on (baseline)", "shipped", "ratio"
    );
    let mut config = None;
    let workloads = [
        ("demo --once", Workload::Demo),
        (
            "classify: 64 long texts + 4000×3000",
            Workload::Classify(None),
        ),
        (
            "  the same, old OCR max_side 1280",
            Workload::Classify(Some("\n[detectors.ocr]\nmax_side = 1280\n")),
        ),
    ];
    for (name, workload) in workloads {
        let mut peaks = Vec::new();
        for arena in ["1", "0"] {
            let data = work.path().join(format!("demo-{arena}"));
            let mut cmd = Command::new(bin);
            cmd.current_dir(root).env(ARENA_ENV, arena);
            let input: &[u8] = match workload {
                Workload::Demo => {
                    cmd.args(["demo", "--once", "--data-dir"]).arg(&data);
                    config.get_or_insert(data.join("ballotwatch.toml"));
                    b""
                }
                Workload::Classify(extra) => {
                    let demo_config = config.as_ref().expect("the demo ran first");
                    let mut text = std::fs::read_to_string(demo_config).expect("demo config");
                    text.push_str(extra.unwrap_or(""));
                    // Beside the demo's own, as its paths are relative to its folder.
                    let cfg = demo_config.with_file_name(format!("classify-{arena}.toml"));
                    std::fs::write(&cfg, text).expect("write config");
                    cmd.arg("--config").arg(cfg).arg("classify");
                    lines.as_bytes()
                }
            };
            peaks.push(peak_of(cmd, input));
        }
        let (base, base_s) = peaks[0];
        let (shipped, shipped_s) = peaks[1];
        println!(
            "  {name:<34} {base:>14.0} ({base_s:>4.1} s) {shipped:>6.0} ({shipped_s:>4.1} s) {:>7.2}x",
            shipped / base
        );
    }
}
