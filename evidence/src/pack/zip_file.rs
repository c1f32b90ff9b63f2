//! Writing a pack's files as a ZIP: a fixed order (the manifest and its signature first), fixed
//! timestamps, and an atomic move into place.

use super::*;

/// The order files go into the ZIP: the manifest and its signature first, then the rest by path.
fn zip_order(files: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    let first = [
        names::MANIFEST,
        names::SIGNATURE,
        names::SUMS,
        names::PUBLIC_KEY,
        names::REPORT_HTML,
        names::REPORT_PDF,
        names::WARC,
        names::WACZ,
        names::CUSTODY,
    ];
    let mut order: Vec<&str> = first
        .iter()
        .copied()
        .filter(|n| files.contains_key(*n))
        .collect();
    order.extend(
        files
            .keys()
            .map(String::as_str)
            .filter(|k| !first.contains(k)),
    );
    order
}

/// A ZIP entry time for `t` (the DOS format's range; 1980 when out of it).
pub(crate) fn zip_stamp(t: DateTime<Utc>) -> zip::DateTime {
    zip::DateTime::from_date_and_time(
        u16::try_from(t.year()).unwrap_or(1980),
        u8::try_from(t.month()).unwrap_or(1),
        u8::try_from(t.day()).unwrap_or(1),
        u8::try_from(t.hour()).unwrap_or(0),
        u8::try_from(t.minute()).unwrap_or(0),
        u8::try_from(t.second()).unwrap_or(0),
    )
    .unwrap_or_default()
}

/// Adds files to a ZIP being written as `out` (named in errors): already-compressed formats
/// (images, video, PDF, gzip, WACZ) stored as they are, the rest deflated.
pub(crate) fn add_entries<'a, W: std::io::Write + std::io::Seek>(
    zw: &mut zip::ZipWriter<W>,
    entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    stamp: zip::DateTime,
    out: &Path,
) -> Result<()> {
    let zerr = |m: String| EvidenceError::Zip {
        path: out.to_path_buf(),
        message: m,
    };
    for (name, bytes) in entries {
        let method = if [
            ".png", ".gz", ".jpg", ".webp", ".gif", ".mp4", ".pdf", ".wacz",
        ]
        .iter()
        .any(|ext| name.ends_with(ext))
        {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let opts = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(stamp)
            .unix_permissions(0o644)
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        zw.start_file(name, opts)
            .map_err(|e| zerr(format!("cannot add {name}: {e}")))?;
        zw.write_all(bytes)
            .map_err(|e| zerr(format!("cannot write {name}: {e}")))?;
    }
    Ok(())
}

/// Zips `content` to `out` (a temp file in the same folder, fsynced, then renamed).
pub fn write_zip(content: &PackContent, out: &Path) -> Result<(String, u64)> {
    let zerr = |m: String| EvidenceError::Zip {
        path: out.to_path_buf(),
        message: m,
    };
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| EvidenceError::io("create a temp file in", &dir, e))?;
    let stamp = zip_stamp(content.manifest.exported_at);
    // Buffered: the small deflated files would otherwise be written a few KB per syscall.
    let mut zw = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, tmp.as_file()));
    add_entries(
        &mut zw,
        zip_order(&content.files)
            .into_iter()
            .map(|name| (name, content.files[name].as_slice())),
        stamp,
        out,
    )?;
    zw.finish()
        .map_err(|e| zerr(format!("cannot finish: {e}")))?
        .into_inner()
        .map_err(|e| EvidenceError::io("write", tmp.path(), e.into_error()))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| EvidenceError::io("sync", tmp.path(), e))?;
    // The pack's own SHA-256, read back as written (streamed: a pack can be gigabytes).
    let (sha256, size) =
        sha256_of_file(tmp.path()).map_err(|e| EvidenceError::io("read back", tmp.path(), e))?;
    tmp.persist(out)
        .map_err(|e| EvidenceError::io("move the pack into place at", out, e.error))?;
    Ok((sha256, size))
}

/// The SHA-256 (hex) and size of a file, read in 1 MiB pieces.
fn sha256_of_file(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Writes `bytes` to `out` atomically (a temp file in the same folder, fsynced, then renamed).
pub(crate) fn write_file_atomically(bytes: &[u8], out: &Path) -> Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| EvidenceError::io("create a temp file in", &dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| EvidenceError::io("write", tmp.path(), e))?;
    tmp.persist(out)
        .map_err(|e| EvidenceError::io("move the file into place at", out, e.error))?;
    Ok(())
}
