//! Unit tests of `media.rs`.

use super::*;
use proptest::prelude::*;

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::new(w, h)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The CRC-32 PNG chunks carry (over the chunk type and data).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn sniffs_by_content_and_checks_dimensions() {
    let caps = Caps::default();
    assert_eq!(sniff(caps, &png(4, 3)), Ok(Kind::Image("image/png")));
    let err = sniff(caps, b"<html>not an image</html>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a PNG, JPEG, GIF, WebP or video by its bytes (it is HTML or XML)"
    );
    // Declared 4000×20000 px (with the IHDR checksum fixed): refused from the header
    // alone.
    let mut big = png(1, 1);
    big[16..20].copy_from_slice(&4_000u32.to_be_bytes());
    big[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    let crc = crc32(&big[12..29]);
    big[29..33].copy_from_slice(&crc.to_be_bytes());
    let err = sniff(caps, &big).unwrap_err();
    assert!(
        matches!(
            err,
            MediaRefusal::TooLarge {
                width: 4000,
                height: 20000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "4000×20000 pixels is over the 12000-pixel limit"
    );
}

#[test]
fn sniffs_video_containers_and_picks_their_cap() {
    let caps = Caps::default();
    let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2";
    assert_eq!(sniff(caps, mp4), Ok(Kind::Video("video/mp4")));
    assert_eq!(
        sniff(caps, b"\0\0\0\x14ftypqt  \0\0\0\0"),
        Ok(Kind::Video("video/quicktime"))
    );
    assert!(
        sniff(caps, b"\0\0\0\x18ftypM4A \0\0\0\0M4A mp42").is_err(),
        "audio is not video"
    );
    let webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm";
    assert_eq!(sniff(caps, webm), Ok(Kind::Video("video/webm")));
    assert_eq!((caps.image, caps.video), (20 << 20, 100 << 20));
    assert_eq!(caps.for_head(mp4), caps.video);
    assert_eq!(caps.for_head(&png(2, 2)), caps.image);
    assert_eq!(caps.for_head(b"<html>"), caps.image);
    assert_eq!(caps.for_head(b""), caps.video);
}

#[test]
fn the_limits_tables_caps_apply_and_are_named() {
    let limits: LimitsConfig = serde_json::from_value(serde_json::json!({
        "max_image_size": "1 KiB",
        "max_video_size": "2 KiB",
    }))
    .unwrap();
    let caps = Caps::from_limits(&limits);
    assert_eq!((caps.image, caps.video), (1024, 2048));
    let mut photo = png(4, 3);
    photo.resize(1025, 0);
    assert_eq!(
        sniff(caps, &photo).unwrap_err().to_string(),
        "over the 1 KiB media cap ([limits] max_image_size)"
    );
    let mut mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    assert_eq!(sniff(caps, &mp4), Ok(Kind::Video("video/mp4")));
    mp4.resize(2049, 0);
    assert_eq!(
        sniff(caps, &mp4).unwrap_err().to_string(),
        "over the 2 KiB video cap ([limits] max_video_size)"
    );
    // While nothing is known the larger cap holds; equal caps name both keys.
    assert_eq!(caps.for_head(b""), 2048);
    let same = Caps {
        image: 4096,
        video: 4096,
    };
    let (reason, retry) = fetch_failure(
        same,
        "https://x.example/a",
        &FetchError::TooLarge {
            url: "https://x.example/a".into(),
            limit: 4096,
        },
    );
    assert_eq!(
        reason,
        "https://x.example/a is over the 4 KiB media cap ([limits] max_image_size, \
             max_video_size); the download was cut off and discarded"
    );
    assert!(!retry);
}

fn with_media(media: Vec<Media>) -> Item {
    Item {
        id: "i1".into(),
        media,
        ..Item::default()
    }
}

fn at(url: &str) -> Media {
    Media {
        url: Some(url.into()),
        ..Media::default()
    }
}

#[test]
fn reuse_keeps_captures_frames_and_lasting_failures_but_retries_passing_ones() {
    let sha = |c: &str| c.repeat(64);
    let old = with_media(vec![
        Media {
            sha256: Some(sha("a")),
            mime: Some("video/mp4".into()),
            ..at("https://x.example/v.mp4")
        },
        Media {
            capture_error: Some("https://x.example/gone.png answered HTTP 404".into()),
            capture_retry: true,
            ..at("https://x.example/gone.png")
        },
        Media {
            capture_error: Some("refused to fetch https://10.0.0.5/i.png".into()),
            ..at("https://10.0.0.5/i.png")
        },
        Media {
            sha256: Some(sha("b")),
            mime: Some("image/png".into()),
            frame_of: Some(0),
            frame_time_ms: Some(1000),
            ..Media::default()
        },
    ]);
    // The same entry seen again, now with a new medium first.
    let mut seen = with_media(vec![
        at("https://x.example/new.png"),
        at("https://x.example/v.mp4"),
        at("https://x.example/gone.png"),
        at("https://10.0.0.5/i.png"),
    ]);
    reuse_from(&old, &mut seen, chrono::Utc::now());
    assert_eq!(seen.media[0], at("https://x.example/new.png"));
    assert_eq!(seen.media[1].sha256, Some(sha("a")));
    assert_eq!(seen.media[2], at("https://x.example/gone.png"), "retried");
    assert!(seen.media[3].capture_error.is_some(), "kept, not retried");
    assert_eq!(seen.media.len(), 5);
    assert_eq!(seen.media[4].frame_of, Some(1), "re-pointed at the video");
    assert_eq!(seen.media[4].sha256, Some(sha("b")));

    // Unchanged entry: after reuse it hashes like the stored version.
    let mut again = with_media(vec![
        at("https://x.example/v.mp4"),
        at("https://x.example/gone.png"),
        at("https://10.0.0.5/i.png"),
    ]);
    reuse_from(&old, &mut again, chrono::Utc::now());
    again.media[1].capture_error = Some("failed again, differently".into());
    assert_eq!(again.content_hash(), old.content_hash());

    // A day after the version was stored, passing failures are no longer retried.
    let mut old_day = old.clone();
    let stored_at = chrono::Utc::now();
    old_day.ingested_at = Some(stored_at);
    let mut seen = with_media(vec![at("https://x.example/gone.png")]);
    reuse_from(
        &old_day,
        &mut seen,
        stored_at + chrono::TimeDelta::hours(23),
    );
    assert_eq!(seen.media[0].capture_error, None, "still retried");
    let mut seen = with_media(vec![at("https://x.example/gone.png")]);
    reuse_from(
        &old_day,
        &mut seen,
        stored_at + chrono::TimeDelta::hours(25),
    );
    assert!(seen.media[0].capture_error.is_some(), "kept after a day");
}

#[tokio::test]
async fn a_private_address_is_refused_and_recorded_and_the_rest_still_captured() {
    let cfg = ballotwatch_ingest::IngestConfig {
        allow_private_addresses: false,
        ..Default::default()
    };
    let fetcher = Fetcher::new(&cfg, "test").unwrap();
    let mut items = vec![(
        0,
        with_media(vec![
            at("http://10.0.0.5/private.png"),
            at("not a url"),
            Media {
                path: Some("/local/file.png".into()),
                ..Media::default()
            },
        ]),
    )];
    let captured = capture(
        &fetcher,
        Caps::default(),
        None,
        &mut items,
        &Prefetched::new(),
    )
    .await;
    assert!(captured.fetched.is_empty() && captured.frames.is_empty());
    let media = &items[0].1.media;
    let reason = media[0].capture_error.as_deref().unwrap();
    assert!(
        reason.contains("http://10.0.0.5/private.png")
            && reason.contains("10.0.0.5 is a private address"),
        "{reason}"
    );
    assert!(!media[0].capture_retry, "a refusal would recur");
    assert!(media[0].sha256.is_none());
    let reason = media[1].capture_error.as_deref().unwrap();
    assert!(reason.contains("not a url is not a valid URL"), "{reason}");
    assert_eq!(media[2].capture_error, None, "local files are not fetched");
}

#[tokio::test]
async fn prefetched_media_are_sniffed_and_capped_without_a_download_or_a_second_capture() {
    // A fetcher that may reach nothing private: a download of these URLs would fail.
    let fetcher = Fetcher::new(&ballotwatch_ingest::IngestConfig::default(), "test").unwrap();
    let attached = |url: &str, body: Vec<u8>| {
        (
            Capture {
                url: url.into(),
                final_url: url.into(),
                status: 200,
                headers: vec![("content-type".into(), "image/png".into())],
                sha256: ballotwatch_core::sha256_hex(&body),
                size: body.len() as u64,
                started_at: chrono::Utc::now(),
                finished_at: chrono::Utc::now(),
            },
            body,
        )
    };
    let message = "imaps://127.0.0.1:993/INBOX;UIDVALIDITY=1/;UID=3";
    let poll = vec![
        attached(&format!("{message}#attachment-1"), png(4, 3)),
        attached(
            &format!("{message}#attachment-2"),
            b"%PDF-1.7 not a picture".to_vec(),
        ),
        attached(&format!("{message}#attachment-3"), {
            let mut big = png(4, 3);
            big.resize(300, 0);
            big
        }),
    ];
    let mut items = vec![(
        0,
        with_media(vec![
            at(&format!("{message}#attachment-1")),
            at(&format!("{message}#attachment-2")),
            at(&format!("{message}#attachment-3")),
        ]),
    )];
    let caps = Caps {
        image: 200,
        video: 200,
    };
    let captured = capture(&fetcher, caps, None, &mut items, &prefetched(&poll)).await;
    assert!(
        captured.fetched.is_empty(),
        "stored with the poll, not again: {:?}",
        captured.fetched
    );
    let media = &items[0].1.media;
    assert_eq!(media[0].sha256.as_deref(), Some(poll[0].0.sha256.as_str()));
    assert_eq!(media[0].mime.as_deref(), Some("image/png"));
    assert_eq!(media[0].capture_error, None);
    let reason = media[1].capture_error.as_deref().unwrap();
    assert!(
        reason.contains("not a PNG, JPEG, GIF, WebP or video"),
        "{reason}"
    );
    let reason = media[2].capture_error.as_deref().unwrap();
    assert!(reason.contains("over the 200-byte"), "{reason}");
}

#[tokio::test]
async fn without_ffmpeg_a_video_keeps_its_bytes_and_says_how_to_get_frames() {
    let video = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2 and the rest".to_vec();
    let (body, result) = take_frames(None, video.clone(), "video/mp4").await;
    assert_eq!(body, video);
    let reason = result.unwrap_err();
    assert!(
        matches!(reason, video::KeyframeError::NotInstalled),
        "{reason:?}"
    );
    assert!(
        reason
            .to_string()
            .contains("ffmpeg is not installed (apt-get install ffmpeg)"),
        "{reason}"
    );
    // With an ffmpeg that cannot read it: a reason, and the bytes handed back intact.
    let ff = video::find_ffmpeg().unwrap_or_else(|| {
        panic!("ffmpeg is not installed: apt-get install -y --no-install-recommends ffmpeg")
    });
    let (body, result) = take_frames(Some(ff), video.clone(), "video/mp4").await;
    assert_eq!(body, video);
    assert!(result
        .unwrap_err()
        .to_string()
        .starts_with("no keyframes: "));
}

proptest! {
    #[test]
    fn sniffing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = sniff(Caps::default(), &bytes);
        let _ = Caps::default().for_head(&bytes);
    }
}
