//! The text of a PDF sent with a report, read by poppler's `pdftotext` in its own process.
//!
//! A PDF attached to a report is written by whoever sent it: hostile input for a parser as
//! large as a PDF reader. It is read out of process (a crash or a hang costs that process only),
//! from a file in a fresh temporary folder (nothing on a command line, no shell), with an empty
//! environment, no stdin, at most [`PdfLimits::max_pages`] pages, killed after
//! [`PdfLimits::timeout`], and at most [`PdfLimits::max_text`] bytes of its output read.
//! `pdftotext` reads only the file it is given (poppler has no network code). Why not a
//! pure-Rust reader: docs/security.md ("PDF attachments").

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bounds on reading one PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfLimits {
    /// Killed after this long.
    pub timeout: Duration,
    /// At most this many bytes of text are kept (cut at a character boundary).
    pub max_text: usize,
    /// Only the first this many pages are read.
    pub max_pages: u32,
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits {
            timeout: Duration::from_secs(20),
            max_text: 256 * 1024,
            max_pages: 50,
        }
    }
}

/// The text read from a PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfText {
    /// The text, whitespace as `pdftotext` laid it out, at most `max_text` bytes.
    pub text: String,
    /// Whether the text was cut at `max_text`.
    pub cut: bool,
}

/// Why a PDF's text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// `pdftotext` is not installed.
    #[error("pdftotext is not installed (apt-get install poppler-utils)")]
    Missing,
    /// The bytes do not start like a PDF.
    #[error("it is not a PDF (no %PDF- header)")]
    NotPdf,
    /// A file or process step failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `pdftotext` ran out of time and was killed.
    #[error("pdftotext took longer than {secs:.0}s and was stopped")]
    TimedOut {
        /// The limit, in seconds.
        secs: f64,
    },
    /// `pdftotext` refused the file.
    #[error("pdftotext could not read it ({status}: {detail})")]
    Failed {
        /// Its exit status.
        status: String,
        /// The last line it wrote to stderr.
        detail: String,
    },
    /// The PDF holds no text (e.g. only scanned pages, which are pictures).
    #[error("it holds no text (scanned pages are pictures: not read)")]
    NoText,
}

/// The `pdftotext` on `PATH`, if there is one.
pub fn find_pdftotext() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("pdftotext"))
        .find(|p| p.is_file())
}

/// Whether `bytes` start like a PDF (the `%PDF-` header, which readers accept within the first
/// 1024 bytes).
pub fn looks_like_pdf(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    head.windows(5).any(|w| w == b"%PDF-")
}

/// The text of `pdf`, read by the `pdftotext` at `program` within `limits`. Blocking (it waits
/// for the process): run it off the async workers.
pub fn text(program: &Path, pdf: &[u8], limits: &PdfLimits) -> Result<PdfText, PdfError> {
    if !looks_like_pdf(pdf) {
        return Err(PdfError::NotPdf);
    }
    let io = |what: &str| {
        let what = what.to_string();
        move |source| PdfError::Io { what, source }
    };
    let dir = tempfile::Builder::new()
        .prefix("ballotwatch-pdf-")
        .tempdir()
        .map_err(io("make a temporary folder"))?;
    let input = dir.path().join("in.pdf");
    let output = dir.path().join("out.txt");
    let log = dir.path().join("pdftotext.log");
    std::fs::write(&input, pdf).map_err(io("write the PDF to a temporary file"))?;
    let log_file = std::fs::File::create(&log).map_err(io("create the pdftotext log"))?;
    let mut child = Command::new(program)
        .env_clear()
        .current_dir(dir.path())
        .args([
            "-enc",
            "UTF-8",
            "-nopgbrk",
            "-l",
            &limits.max_pages.to_string(),
        ])
        .arg(&input)
        .arg(&output)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => PdfError::Missing,
            _ => PdfError::Io {
                what: format!("run {}", program.display()),
                source,
            },
        })?;
    let deadline = Instant::now() + limits.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Already exited or already killed are both fine here.
                let _ = child.kill();
                let _ = child.wait();
                return Err(PdfError::TimedOut {
                    secs: limits.timeout.as_secs_f64(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(io("wait for pdftotext")(e)),
        }
    };
    if !status.success() {
        let mut said = Vec::new();
        if let Ok(f) = std::fs::File::open(&log) {
            let _ = f.take(64 * 1024).read_to_end(&mut said);
        }
        let said = String::from_utf8_lossy(&said);
        let detail = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message")
            .chars()
            .take(300)
            .collect();
        return Err(PdfError::Failed {
            status: status.to_string(),
            detail,
        });
    }
    let file = std::fs::File::open(&output).map_err(io("open pdftotext's output"))?;
    let mut out = Vec::new();
    file.take(limits.max_text as u64 + 4)
        .read_to_end(&mut out)
        .map_err(io("read pdftotext's output"))?;
    let whole = String::from_utf8_lossy(&out);
    let cut = whole.len() > limits.max_text;
    let text = whole[..ballotwatch_core::floor_char_boundary(&whole, limits.max_text)].trim();
    if text.is_empty() {
        return Err(PdfError::NoText);
    }
    Ok(PdfText {
        text: text.to_string(),
        cut,
    })
}

/// [`text`] with the `pdftotext` on `PATH`, on a blocking thread.
pub async fn read(pdf: Vec<u8>, limits: PdfLimits) -> Result<PdfText, PdfError> {
    let program = find_pdftotext().ok_or(PdfError::Missing)?;
    tokio::task::spawn_blocking(move || text(&program, &pdf, &limits))
        .await
        .map_err(|e| PdfError::Io {
            what: "run the PDF reader".into(),
            source: std::io::Error::other(e.to_string()),
        })?
}

/// Whether a file sent with a report is a PDF: declared `application/pdf`, named `*.pdf`, or
/// starting like one (what the report inbox and the Report form both go by).
pub fn is_pdf(mime: Option<&str>, name: Option<&str>, bytes: &[u8]) -> bool {
    mime.is_some_and(|m| m.trim().eq_ignore_ascii_case("application/pdf"))
        || name.is_some_and(|n| n.to_ascii_lowercase().ends_with(".pdf"))
        || looks_like_pdf(bytes)
}

/// Reads PDF `name`'s text (within the default [`PdfLimits`], out of process) into `item`'s
/// text as a `[PDF name]` section, passed through `redact` first; notes on the item when the
/// text was cut. The report inbox and the Report form both read attached PDFs with this.
pub async fn read_into(
    item: &mut ballotwatch_core::Item,
    name: &str,
    pdf: Vec<u8>,
    redact: impl FnOnce(&str) -> String,
) -> Result<(), PdfError> {
    let limits = PdfLimits::default();
    let max = limits.max_text;
    let read = read(pdf, limits).await?;
    let text = redact(&read.text);
    let mut all = item.text.take().unwrap_or_default();
    if !all.is_empty() {
        all.push_str("\n\n");
    }
    all.push_str(&format!("[PDF {name}]\n{text}"));
    item.text = Some(all);
    if read.cut && item.truncated.is_none() {
        item.truncated = Some(format!("the text of PDF `{name}` was cut at {max} bytes"));
    }
    Ok(())
}

/// A one-page PDF whose text is `line` (Helvetica, no escaping: `line` must not hold `(`, `)`
/// or `\\`), for tests and demonstrations of PDF reports.
pub fn one_line_pdf(line: &str) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({line}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", n + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for at in offsets {
        pdf.extend_from_slice(format!("{at:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pdf_bytes_are_handed_to_pdftotext() {
        assert!(looks_like_pdf(b"%PDF-1.7\n..."));
        assert!(looks_like_pdf(b"\xef\xbb\xbfjunk %PDF-1.4"));
        assert!(!looks_like_pdf(b"<html>%PDF"[..4].as_ref()));
        let err = text(
            Path::new("/nonexistent/pdftotext"),
            b"GIF89a",
            &PdfLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, PdfError::NotPdf), "{err}");
    }

    #[test]
    fn a_missing_pdftotext_is_named() {
        let err = text(
            Path::new("/nonexistent/pdftotext"),
            b"%PDF-1.4\n",
            &PdfLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, PdfError::Missing), "{err}");
        assert!(err.to_string().contains("poppler-utils"));
    }

    /// A one-page PDF showing `line` in Helvetica, with a correct cross-reference table.
    #[test]
    fn a_pdfs_text_is_read_and_capped() {
        let Some(program) = find_pdftotext() else {
            eprintln!("pdftotext not installed: skipped (apt-get install poppler-utils)");
            return;
        };
        let pdf = one_line_pdf("Riverside polling station is closed on Thursday");
        let read = text(&program, &pdf, &PdfLimits::default()).unwrap();
        assert_eq!(read.text, "Riverside polling station is closed on Thursday");
        assert!(!read.cut);
        let limits = PdfLimits {
            max_text: 9,
            ..PdfLimits::default()
        };
        let read = text(&program, &pdf, &limits).unwrap();
        assert_eq!((read.text.as_str(), read.cut), ("Riverside", true));
    }

    #[test]
    fn a_broken_pdf_is_a_reason_not_a_panic() {
        let Some(program) = find_pdftotext() else {
            eprintln!("pdftotext not installed: skipped (apt-get install poppler-utils)");
            return;
        };
        let err = text(
            &program,
            b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n%%EOF garbage",
            &PdfLimits::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, PdfError::Failed { .. } | PdfError::NoText),
            "{err}"
        );
    }
}
