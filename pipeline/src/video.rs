//! Keyframes of captured videos, taken with `ffmpeg` (Debian's package) when it is installed,
//! so the image detectors (OCR, provenance, known fakes, the pixel model) can look at a video.
//!
//! ffmpeg runs on a copy of the captured bytes in a private temporary folder, with the demuxer
//! forced to the type the bytes were sniffed as (no probing for playlists or other formats
//! that name further files), only the `file` protocol allowed (no network), an empty
//! environment, one thread, a limit on decoded picture size, and a hard wall-clock timeout
//! after which it is killed. It decodes keyframes only (`-skip_frame nokey`), so the first
//! frame and up to [`Limits::max_frames`] keyframes come out, scaled down to at most
//! [`Limits::max_side`] pixels a side, as PNG. Every failure is a reason, never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why no keyframes were taken from a video (the video itself is captured all the same).
#[derive(Debug, thiserror::Error)]
pub enum KeyframeError {
    /// There is no `ffmpeg` on `PATH`.
    #[error(
        "no keyframes: ffmpeg is not installed (apt-get install ffmpeg); the video itself was captured"
    )]
    NotInstalled,
    /// The bytes were sniffed as something ffmpeg is not run on.
    #[error("no keyframes: {mime} is not a video type ffmpeg is run on")]
    NotVideo {
        /// The sniffed type.
        mime: String,
    },
    /// Setting up or running ffmpeg failed.
    #[error("no keyframes: cannot {what}: {source}")]
    Io {
        /// What was being done ("run /usr/bin/ffmpeg", "write the video to …").
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// ffmpeg ran past [`Limits::timeout`] and was killed.
    #[error("no keyframes: ffmpeg took longer than {secs} s and was stopped")]
    TimedOut {
        /// The timeout, in seconds.
        secs: f64,
    },
    /// ffmpeg exited with an error.
    #[error("no keyframes: ffmpeg could not decode the video ({status}): {detail}")]
    Decode {
        /// Its exit status.
        status: String,
        /// The last line of its log that says something.
        detail: String,
    },
    /// A frame ffmpeg wrote could not be read back.
    #[error("no keyframes: frame {n}: {source}")]
    Frame {
        /// The frame's number, from 1.
        n: usize,
        /// Why.
        source: CappedReadError,
    },
    /// ffmpeg wrote no frames.
    #[error("no keyframes: ffmpeg found no video frames in it")]
    NoFrames,
    /// The blocking task running ffmpeg failed.
    #[error("no keyframes: the frame extraction task failed: {0}")]
    Task(String),
}

/// Why [`read_capped`] did not read a file.
#[derive(Debug, thiserror::Error)]
pub enum CappedReadError {
    /// It could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is over the cap.
    #[error("{} is over {max} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap.
        max: u64,
    },
}

/// Bounds on one extraction.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most frames taken (the first frame counts).
    pub max_frames: usize,
    /// Longest side of a frame, in pixels; larger frames are scaled down.
    pub max_side: u32,
    /// Most decoded pixels per picture; larger videos are refused by the decoder.
    pub max_pixels: u64,
    /// Wall-clock limit; ffmpeg is killed after it.
    pub timeout: Duration,
    /// Largest PNG read back per frame, in bytes.
    pub max_frame_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frames: 4,
            max_side: 1280,
            max_pixels: 8192 * 8192,
            timeout: Duration::from_secs(30),
            max_frame_bytes: 16 * 1024 * 1024,
        }
    }
}

/// One frame taken from a video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame as PNG.
    pub png: Vec<u8>,
    /// Its time in the video, in milliseconds.
    pub time_ms: u64,
}

/// The `ffmpeg` executable on `PATH`, if there is one.
pub fn find_ffmpeg() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("ffmpeg"))
        .find(|p| p.is_file())
}

/// The ffmpeg demuxer for a sniffed video type.
fn demuxer(mime: &str) -> Option<&'static str> {
    match mime {
        "video/mp4" | "video/quicktime" => Some("mov"),
        "video/webm" | "video/x-matroska" => Some("matroska"),
        _ => None,
    }
}

/// Takes the first frame and keyframes of `video` (sniffed as `mime`) with the `ffmpeg` at
/// `ffmpeg`. Blocking: run it off the async runtime.
pub fn keyframes(
    ffmpeg: &Path,
    video: &[u8],
    mime: &str,
    limits: &Limits,
) -> Result<Vec<Frame>, KeyframeError> {
    let io = |what: String| move |source| KeyframeError::Io { what, source };
    let format = demuxer(mime).ok_or_else(|| KeyframeError::NotVideo {
        mime: mime.to_string(),
    })?;
    let dir = tempfile::Builder::new()
        .prefix("ballotwatch-video-")
        .tempdir()
        .map_err(io("make a temporary folder".into()))?;
    let input = dir.path().join("video");
    std::fs::write(&input, video).map_err(io(format!("write the video to {}", input.display())))?;
    let log_path = dir.path().join("ffmpeg.log");
    let log =
        std::fs::File::create(&log_path).map_err(io(format!("create {}", log_path.display())))?;
    let side = limits.max_side;
    let filter = format!(
        "scale=w='min({side},iw)':h='min({side},ih)':force_original_aspect_ratio=decrease,showinfo"
    );
    let mut child = Command::new(ffmpeg)
        .env_clear()
        .current_dir(dir.path())
        .args(["-nostdin", "-hide_banner", "-nostats", "-loglevel", "info"])
        .args(["-protocol_whitelist", "file", "-threads", "1"])
        .args(["-skip_frame", "nokey"])
        .args(["-max_pixels", &limits.max_pixels.to_string()])
        .args(["-f", format, "-i"])
        .arg(&input)
        .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", &filter])
        .args([
            "-fps_mode",
            "vfr",
            "-frames:v",
            &limits.max_frames.to_string(),
        ])
        .args(["-f", "image2"])
        .arg(dir.path().join("frame-%03d.png"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(io(format!("run {}", ffmpeg.display())))?;
    let deadline = Instant::now() + limits.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Already exited or already killed are both fine here.
                let _ = child.kill();
                let _ = child.wait();
                return Err(KeyframeError::TimedOut {
                    secs: limits.timeout.as_secs_f64(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(io("wait for ffmpeg".into())(e)),
        }
    };
    let log = read_capped(&log_path, 1 << 20).unwrap_or_default();
    let log = String::from_utf8_lossy(&log);
    if !status.success() {
        return Err(KeyframeError::Decode {
            status: status.to_string(),
            detail: last_error_line(&log),
        });
    }
    let times = frame_times(&log);
    let mut frames = Vec::new();
    for n in 1..=limits.max_frames {
        let path = dir.path().join(format!("frame-{n:03}.png"));
        if !path.exists() {
            break;
        }
        let png = read_capped(&path, limits.max_frame_bytes)
            .map_err(|source| KeyframeError::Frame { n, source })?;
        let time_ms = times.get(n - 1).copied().unwrap_or(0);
        frames.push(Frame { png, time_ms });
    }
    if frames.is_empty() {
        return Err(KeyframeError::NoFrames);
    }
    Ok(frames)
}

/// Reads a file of at most `max` bytes.
fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, CappedReadError> {
    let cannot = |source| CappedReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut out = Vec::new();
    file.take(max + 1).read_to_end(&mut out).map_err(cannot)?;
    if out.len() as u64 > max {
        return Err(CappedReadError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(out)
}

/// The `pts_time` of each frame the `showinfo` filter reported, in milliseconds, in order.
fn frame_times(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("Parsed_showinfo") && l.contains(" n:"))
        .filter_map(|l| {
            let rest = &l[l.find("pts_time:")? + "pts_time:".len()..];
            let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
            Some(if value.is_finite() && value > 0.0 {
                (value * 1000.0).round() as u64
            } else {
                0
            })
        })
        .collect()
}

/// The last line of ffmpeg's log that says something, for an error message.
fn last_error_line(log: &str) -> String {
    let line = log
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("Parsed_showinfo"))
        .unwrap_or("no message");
    line.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ffmpeg, or a failure saying how to install it (the video tests must not skip).
    pub(crate) fn ffmpeg() -> PathBuf {
        find_ffmpeg().unwrap_or_else(|| {
            panic!("ffmpeg is not installed: apt-get install -y --no-install-recommends ffmpeg")
        })
    }

    /// A 2-second 320×240 test video with a keyframe every second, made by ffmpeg.
    pub(crate) fn test_video(ffmpeg: &Path, container: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(format!("v.{container}"));
        let codec: &[&str] = if container == "webm" {
            &["-c:v", "libvpx-vp9", "-deadline", "realtime"]
        } else {
            &["-c:v", "mpeg4"]
        };
        let status = Command::new(ffmpeg)
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc=size=320x240:rate=10:duration=2")
            .args(codec)
            .args(["-g", "10"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out).unwrap()
    }

    #[test]
    fn takes_the_first_frame_and_keyframes_as_png() {
        let ff = ffmpeg();
        let video = test_video(&ff, "mp4");
        let frames = keyframes(&ff, &video, "video/mp4", &Limits::default()).unwrap();
        assert_eq!(frames.len(), 2, "a keyframe at 0 s and 1 s");
        assert_eq!(frames[0].time_ms, 0);
        assert_eq!(frames[1].time_ms, 1000);
        for f in &frames {
            let img = image::load_from_memory_with_format(&f.png, image::ImageFormat::Png).unwrap();
            assert_eq!((img.width(), img.height()), (320, 240));
        }
    }

    #[test]
    fn frames_are_scaled_down_and_counted() {
        let ff = ffmpeg();
        let video = test_video(&ff, "mp4");
        let limits = Limits {
            max_frames: 1,
            max_side: 160,
            ..Limits::default()
        };
        let frames = keyframes(&ff, &video, "video/mp4", &limits).unwrap();
        assert_eq!(frames.len(), 1);
        let img = image::load_from_memory(&frames[0].png).unwrap();
        assert_eq!((img.width(), img.height()), (160, 120));
    }

    #[test]
    fn webm_is_read_as_matroska() {
        let ff = ffmpeg();
        let video = test_video(&ff, "webm");
        let frames = keyframes(&ff, &video, "video/webm", &Limits::default()).unwrap();
        assert!(!frames.is_empty());
    }

    #[test]
    fn broken_video_is_a_reason_not_a_panic() {
        let ff = ffmpeg();
        let mut junk = b"\0\0\0\x18ftypisom\0\0\0\0isommp41".to_vec();
        junk.extend(std::iter::repeat_n(0x5a, 4000));
        let err = keyframes(&ff, &junk, "video/mp4", &Limits::default()).unwrap_err();
        assert!(matches!(err, KeyframeError::Decode { .. }), "{err:?}");
        assert!(err.to_string().starts_with("no keyframes: "), "{err}");
        let err = keyframes(&ff, b"", "image/png", &Limits::default()).unwrap_err();
        assert!(matches!(err, KeyframeError::NotVideo { .. }), "{err:?}");
        assert!(err.to_string().contains("not a video type"), "{err}");
    }

    #[test]
    fn a_missing_ffmpeg_is_a_reason() {
        let err = keyframes(
            Path::new("/nonexistent/ffmpeg"),
            b"x",
            "video/mp4",
            &Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, KeyframeError::Io { .. }), "{err:?}");
        assert!(
            err.to_string().contains("cannot run /nonexistent/ffmpeg"),
            "{err}"
        );
    }

    #[test]
    fn showinfo_times_are_parsed() {
        let log = "[Parsed_showinfo_1 @ 0x1] config in time_base: 1/10\n\
                   [Parsed_showinfo_1 @ 0x1] n:   0 pts:      0 pts_time:0       duration: 1\n\
                   [Parsed_showinfo_1 @ 0x1] n:   1 pts:     10 pts_time:1.25    duration: 1\n\
                   [Parsed_showinfo_1 @ 0x1] n:   2 pts:    -10 pts_time:-1      duration: 1\n";
        assert_eq!(frame_times(log), vec![0, 1250, 0]);
        assert_eq!(
            last_error_line("a\nmoov atom not found\n\n"),
            "moov atom not found"
        );
    }
}
