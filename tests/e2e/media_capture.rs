//! Media capture end to end, with the real binary and a real HTTP server on 127.0.0.1: a feed
//! entry attaches a picture served as `text/html` (captured by its bytes), an oversized image,
//! an HTML page posing as a JPEG, a video of a fake "polling station closed" notice (its
//! frames taken with ffmpeg, read by OCR and judged), and a picture that is not there yet
//! (404). `ingest --once` stores the entry and classifies it anyway, each failure recorded with
//! its reason; a second poll retries only the failure that may pass, without a new version; a
//! third, once the picture appears, captures it as a new version. `search --json` shows the
//! media fields, and the evidence pack holds the media, their downloads as WARC records, and
//! the reasons, passing `verify` and warcio.
//!
//! Media on private addresses are refused by the same SSRF guard as feeds; that cannot be
//! shown here (the feed itself is on 127.0.0.1, so the guard is relaxed), and is tested in
//! `pipeline/src/media.rs` against the real fetcher with the guard on.
//!
//! Needs ffmpeg (to make the test video and to take its frames) and warcio (tests/warcio/install):
//! the test fails with the install command when either is missing.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::tools::Tool;
use common::*;
use serde_json::Value;

/// What the server hands out, made once per test.
struct Media {
    photo: Vec<u8>,
    huge: Vec<u8>,
    video: Vec<u8>,
    late: Vec<u8>,
}

#[derive(Clone)]
struct App {
    base: String,
    media: Arc<Media>,
    late_ready: Arc<AtomicBool>,
    hits: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

impl App {
    fn hit(&self, path: &str) {
        *self.hits.lock().unwrap().entry(path.into()).or_default() += 1;
    }
    fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn feed_xml(base: &str) -> String {
    let media = [
        ("/img/photo", "image/png"),
        ("/img/huge.png", "image/png"),
        ("/img/poster.jpg", "image/jpeg"),
        ("/video/notice", "video/mp4"),
        ("/img/late.png", "image/png"),
    ]
    .iter()
    .map(|(p, t)| format!("<media:content url=\"{base}{p}\" type=\"{t}\"/>"))
    .collect::<String>();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>Riverside Noticeboard</title><link>{base}/</link><description>Local posts</description>
<item><guid>{base}/posts/video-notice</guid><title>Riverside ward notice</title>
<link>{base}/posts/video-notice</link>
<description>Shared in the Riverside ward group this morning.</description>
<pubDate>Thu, 30 Apr 2026 08:00:00 GMT</pubDate>{media}</item>
</channel></rss>"#
    )
}

async fn feed(State(app): State<App>) -> Response {
    app.hit("/feed.xml");
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")],
        feed_xml(&app.base),
    )
        .into_response()
}

async fn photo(State(app): State<App>) -> Response {
    app.hit("/img/photo");
    // A real PNG with a wrong Content-Type: the bytes decide.
    (
        [(header::CONTENT_TYPE, "text/html")],
        app.media.photo.clone(),
    )
        .into_response()
}

async fn huge(State(app): State<App>) -> Response {
    app.hit("/img/huge.png");
    (
        [(header::CONTENT_TYPE, "image/png")],
        app.media.huge.clone(),
    )
        .into_response()
}

async fn poster(State(app): State<App>) -> Response {
    app.hit("/img/poster.jpg");
    (
        [(header::CONTENT_TYPE, "image/jpeg")],
        "<!DOCTYPE html><html><body>Click here to see the picture</body></html>",
    )
        .into_response()
}

async fn video(State(app): State<App>) -> Response {
    app.hit("/video/notice");
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        app.media.video.clone(),
    )
        .into_response()
}

async fn late(State(app): State<App>) -> Response {
    app.hit("/img/late.png");
    if app.late_ready.load(Ordering::SeqCst) {
        (
            [(header::CONTENT_TYPE, "image/png")],
            app.media.late.clone(),
        )
            .into_response()
    } else {
        axum::http::StatusCode::NOT_FOUND.into_response()
    }
}

fn start(media: Media) -> App {
    let (tx, rx) = std::sync::mpsc::channel();
    let media = Arc::new(media);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let app = App {
                base: format!("http://{}", listener.local_addr().unwrap()),
                media,
                late_ready: Arc::new(AtomicBool::new(false)),
                hits: Arc::default(),
            };
            tx.send(app.clone()).unwrap();
            let router = Router::new()
                .route("/feed.xml", get(feed))
                .route("/img/photo", get(photo))
                .route("/img/huge.png", get(huge))
                .route("/img/poster.jpg", get(poster))
                .route("/video/notice", get(video))
                .route("/img/late.png", get(late))
                .with_state(app);
            axum::serve(listener, router).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn warcio_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/warcio/.venv/bin/python")
}

fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(seed),
            (y as u8).wrapping_add(seed),
            seed,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Two seconds of the demo's fake "polling station closed" notice as an MP4, made by ffmpeg.
fn notice_video(dir: &Path) -> Vec<u8> {
    let notice = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/media/fake-notice.png");
    let out = dir.join("notice.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-loop", "1", "-i"])
        .arg(&notice)
        .args([
            "-t", "2", "-r", "5", "-g", "5", "-c:v", "mpeg4", "-q:v", "1",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not make the test video");
    std::fs::read(out).unwrap()
}

fn unzip_all(pack: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(pack).unwrap()).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        files.insert(f.name().unwrap().into_owned(), bytes);
    }
    files
}

fn medium<'a>(item: &'a Value, url: &str) -> &'a Value {
    item["media"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["url"] == url)
        .unwrap_or_else(|| panic!("no medium {url} in {item}"))
}

#[test]
fn media_are_captured_by_their_bytes_failures_are_recorded_and_packs_hold_the_downloads() {
    if !common::tools::needs(&[Tool::Ffmpeg, Tool::Warcio, Tool::Models]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let photo = png(64, 48, 3);
    // A real PNG header followed by 21 MiB: over the 20 MiB media cap.
    let mut huge = png(64, 48, 5);
    huge.resize(21 * 1024 * 1024, 0);
    let app = start(Media {
        photo: photo.clone(),
        huge,
        video: notice_video(tmp.path()),
        late: png(32, 32, 9),
    });
    let warcio = warcio_python();
    let ws = Workspace::new(&rss_source(
        "Riverside Noticeboard",
        &format!("{}/feed.xml", app.base),
    ));
    let url = |p: &str| format!("{}{p}", app.base);

    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "ingest failed:\n{}\n{}", r.stdout, r.stderr);

    let found = ws.search_json("*");
    assert_eq!(found.len(), 1, "{found:?}");
    let item = &found[0];
    assert_eq!(item["version"], 1);

    // (a) A PNG served as text/html: captured, typed by its bytes.
    let a = medium(item, &url("/img/photo"));
    assert_eq!(a["mime"], "image/png", "{a}");
    assert_eq!(
        a["sha256"].as_str().unwrap(),
        ballotwatch_core::sha256_hex(&photo)
    );
    assert!(a.get("capture_error").is_none(), "{a}");

    // (b) Over the cap: refused with the cap named, not retried.
    let b = medium(item, &url("/img/huge.png"));
    assert!(b.get("sha256").is_none(), "{b}");
    let reason = b["capture_error"].as_str().unwrap();
    assert!(reason.contains("over the 20 MiB media cap"), "{reason}");
    assert!(reason.contains("/img/huge.png"), "{reason}");
    assert!(b.get("capture_retry").is_none(), "{b}");

    // (c) An HTML page posing as a JPEG.
    let c = medium(item, &url("/img/poster.jpg"));
    assert!(c.get("sha256").is_none(), "{c}");
    let reason = c["capture_error"].as_str().unwrap();
    assert!(
        reason.contains("not a PNG, JPEG, GIF, WebP or video by its bytes (it is HTML or XML)"),
        "{reason}"
    );

    // (d) The video: captured as MP4, its frames added and read.
    let d = medium(item, &url("/video/notice"));
    assert_eq!(d["mime"], "video/mp4", "{d}");
    assert!(d.get("capture_error").is_none(), "{d}");
    let video_index = item["media"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["url"] == url("/video/notice"))
        .unwrap();
    let frames: Vec<&Value> = item["media"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["frame_of"] == video_index)
        .collect();
    assert_eq!(frames.len(), 2, "keyframes at 0 s and 1 s: {item}");
    assert_eq!(frames[0]["frame_time_ms"], 0);
    assert_eq!(frames[1]["frame_time_ms"], 1000);
    assert!(frames.iter().all(|f| f["mime"] == "image/png"));

    // (e) Not there yet: 404, to be tried again.
    let e = medium(item, &url("/img/late.png"));
    let reason = e["capture_error"].as_str().unwrap();
    assert!(reason.contains("answered HTTP 404"), "{reason}");
    assert_eq!(e["capture_retry"], true, "{e}");

    // The item was classified from the video's frames: the notice's words, read by OCR.
    let store = ballotwatch_store::Store::open(&ws.data_dir()).unwrap();
    let stored = store
        .get_item(item["id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    let result = stored.result.as_ref().expect("classified");
    assert!(
        result
            .media_text
            .iter()
            .any(|t| t.text.contains("CLOSED") && t.media > video_index),
        "{result:?}"
    );
    let narrative = result
        .verdicts
        .iter()
        .find(|v| v.evidence["narrative"] == "polling-station-closed")
        .unwrap_or_else(|| panic!("no narrative verdict from the frames: {result:?}"));
    assert!(
        narrative.explanation.contains("read from image"),
        "{narrative:?}"
    );
    assert!(result.flagged);
    drop(store);

    // A second poll: only the 404 is tried again; no new version.
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(app.hits("/feed.xml"), 2);
    assert_eq!(app.hits("/img/late.png"), 2, "the 404 is retried");
    for p in [
        "/img/photo",
        "/img/huge.png",
        "/img/poster.jpg",
        "/video/notice",
    ] {
        assert_eq!(app.hits(p), 1, "{p} is not fetched again");
    }
    let found = ws.search_json("*");
    assert_eq!(found[0]["version"], 1, "a failed retry is not a change");

    // The picture appears: the next poll captures it as a new version.
    app.late_ready.store(true, Ordering::SeqCst);
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let found = ws.search_json("*");
    let item = &found[0];
    assert_eq!(item["version"], 2, "{item}");
    let e = medium(item, &url("/img/late.png"));
    assert_eq!(e["mime"], "image/png");
    assert!(e.get("capture_error").is_none(), "{e}");
    // The video's frames were carried over, not taken again.
    assert_eq!(app.hits("/video/notice"), 1);
    assert_eq!(
        item["media"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["frame_of"] == video_index)
            .count(),
        2
    );

    // The evidence pack: media, their downloads in the WARC, and the reasons.
    let pack = ws.dir.path().join("media.zip");
    let id = item["id"].as_str().unwrap();
    let r = ws.run(&["export", "--item", id, "--out", pack.to_str().unwrap()]);
    assert_eq!(r.code, 0, "export failed:\n{}\n{}", r.stdout, r.stderr);
    let key = common::signing_public_key(&ws.config());
    let v = ws.run(&["verify", pack.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(v.code, 0, "verify:\n{}\n{}", v.stdout, v.stderr);
    let files = unzip_all(&pack);
    let m: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let entry = &m["items"][0];
    let media = entry["media"].as_array().unwrap();
    let captures = m["captures"].as_array().unwrap();
    for p in ["/img/photo", "/video/notice", "/img/late.png"] {
        let me = media
            .iter()
            .find(|x| x["url"] == url(p))
            .unwrap_or_else(|| panic!("{p} not in the pack: {entry}"));
        let cid = &me["capture_id"];
        let cap = captures
            .iter()
            .find(|c| &c["id"] == cid)
            .unwrap_or_else(|| panic!("the download of {p} is not a capture: {m}"));
        assert_eq!(cap["url"], url(p));
        assert_eq!(cap["sha256"], me["sha256"]);
        assert_eq!(cap["file"], me["file"], "the body is the media file");
        assert!(files.contains_key(me["file"].as_str().unwrap()));
    }
    let photo_cap = captures
        .iter()
        .find(|c| c["url"] == url("/img/photo"))
        .unwrap();
    assert!(
        photo_cap["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == "content-type" && h[1] == "text/html"),
        "the headers as received: {photo_cap}"
    );
    assert_eq!(
        media
            .iter()
            .filter(|x| x["frame_of"] == video_index)
            .count(),
        2
    );
    let failed = entry["media_not_captured"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().any(|f| f["url"] == url("/img/huge.png")
        && f["reason"].as_str().unwrap().contains("20 MiB media cap")));
    assert!(failed.iter().any(|f| f["url"] == url("/img/poster.jpg")));
    let report = String::from_utf8_lossy(&files["report.html"]);
    assert!(
        report.contains("over the 20 MiB media cap"),
        "report lists the reason"
    );
    assert!(
        report.contains("frame at 1.0 s of"),
        "report names the frames"
    );

    // warcio reads every record, checks the digests and sees the media downloads.
    let dir = ws.dir.path().join("unpacked");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("captures.warc.gz"), &files["captures.warc.gz"]).unwrap();
    let script = r#"
import sys
from warcio.archiveiterator import ArchiveIterator
n = 0
with open(sys.argv[1], 'rb') as f:
    for rec in ArchiveIterator(f, check_digests='raise'):
        rec.content_stream().read()
        n += 1
        if rec.rec_type == 'response':
            print('uri', rec.rec_headers.get_header('WARC-Target-URI'))
print('records', n)
"#;
    let w = Command::new(&warcio)
        .args(["-c", script])
        .arg(dir.join("captures.warc.gz"))
        .output()
        .unwrap();
    let wout = String::from_utf8_lossy(&w.stdout);
    assert!(
        w.status.success(),
        "{wout}\n{}",
        String::from_utf8_lossy(&w.stderr)
    );
    assert!(
        wout.contains(&format!("records {}", 1 + 2 * captures.len())),
        "{wout}"
    );
    for p in ["/img/photo", "/video/notice", "/img/late.png", "/feed.xml"] {
        assert!(wout.contains(&format!("uri {}", url(p))), "{p}: {wout}");
    }
    let check = Command::new(&warcio)
        .args(["-m", "warcio.cli", "check", "-v"])
        .arg(dir.join("captures.warc.gz"))
        .output()
        .unwrap();
    let cout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "warcio check: {cout}");
    assert!(cout.contains("digest pass"), "{cout}");
}

/// `[limits] max_image_size` and `max_video_size` are what media capture applies: lowered, an
/// image and a video over them are refused, each naming the `[limits]` key, and the item is
/// still stored. Needs neither ffmpeg nor warcio (the video is cut off before ffmpeg).
#[test]
fn media_over_lowered_limits_are_refused_naming_the_limit() {
    let photo = png(64, 48, 3);
    let mut video = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    video.resize(12 * 1024, 0);
    // A real PNG header followed by 6 KiB.
    let mut big = png(64, 48, 5);
    big.resize(6 * 1024, 0);
    assert!(photo.len() < 4 * 1024, "{}", photo.len());
    let app = start(Media {
        photo: photo.clone(),
        huge: big,
        video,
        late: png(32, 32, 9),
    });
    let ws = Workspace::new(&format!(
        "{}[limits]\nmax_image_size = \"4 KiB\"\nmax_video_size = \"8 KiB\"\n",
        rss_source("Riverside Noticeboard", &format!("{}/feed.xml", app.base))
    ));
    let url = |p: &str| format!("{}{p}", app.base);
    let r = ws.run(&["ingest", "--once"]);
    assert_eq!(r.code, 0, "ingest failed:\n{}\n{}", r.stdout, r.stderr);
    let found = ws.search_json("*");
    assert_eq!(found.len(), 1, "{found:?}");
    let item = &found[0];
    // Under the limit: captured.
    assert_eq!(medium(item, &url("/img/photo"))["mime"], "image/png");
    // Over the lowered image limit.
    let big = medium(item, &url("/img/huge.png"));
    let reason = big["capture_error"].as_str().unwrap();
    assert!(
        reason.contains("over the 4 KiB media cap ([limits] max_image_size)"),
        "{reason}"
    );
    assert!(big.get("sha256").is_none(), "{big}");
    // Over the lowered video limit.
    let v = medium(item, &url("/video/notice"));
    let reason = v["capture_error"].as_str().unwrap();
    assert!(
        reason.contains("over the 8 KiB video cap ([limits] max_video_size)"),
        "{reason}"
    );
}
