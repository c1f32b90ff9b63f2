//! `ballotwatch classify`: items as JSON lines on stdin, one result line per input line on
//! stdout, in order. No side effects: no store, no index, no alerts.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ballotwatch_classify::Classifier;
use ballotwatch_core::Item;
use ballotwatch_pipeline::Config;

/// Runs the classifier over stdin; exit 1 when any line could not be read as an item.
pub fn run(config_path: &Path) -> anyhow::Result<u8> {
    let config = config_for_classify(config_path)?;
    // Media confirmed fake, read (never written) from the store in `data_dir` if there is one.
    let fakes = crate::fakes::load_readonly(&config.data_dir)?;
    let classifier = Classifier::from_config_with_fakes(config.classify(), &fakes)?;
    let stdin = std::io::BufReader::new(std::io::stdin());
    let stdout = std::io::stdout().lock();
    let bad = classify_stream(&classifier, stdin, stdout, config.detectors.batch_size)?;
    if bad > 0 {
        eprintln!("{bad} input line(s) could not be classified (see the errors above)");
        return Ok(1);
    }
    Ok(0)
}

/// `classify` works without a config file (built-in defaults) unless one was named.
fn config_for_classify(path: &Path) -> anyhow::Result<Config> {
    let named =
        std::env::var_os("BALLOTWATCH_CONFIG").is_some() || path != Path::new("ballotwatch.toml");
    if path.exists() || named {
        return super::load_config(path);
    }
    let defaults = "data_dir = \".\"\n";
    Ok(Config::from_toml(
        defaults,
        Path::new("<built-in defaults>"),
    )?)
}

/// Most lines waited for before a batch is classified anyway: the batcher sends what it has
/// after this long, so an interactive caller never waits for a full batch.
const BATCH_WAIT: Duration = Duration::from_millis(5);

/// Classifies every non-blank line; returns how many lines were bad. Each bad line gets an
/// `{"line": N, "error": "…"}` object on stdout (so output lines pair with input lines) and a
/// message on stderr.
///
/// Lines are batched — up to `batch_size` lines, or whatever has arrived [`BATCH_WAIT`] after
/// the first one, whichever comes first — so model-backed detectors run one model call per
/// batch. Output order is input order.
pub fn classify_stream(
    classifier: &Classifier,
    input: impl BufRead + Send,
    output: impl Write,
    batch_size: usize,
) -> anyhow::Result<usize> {
    let batch_size = batch_size.max(1);
    let mut out = BufWriter::new(output);
    let mut bad = 0;
    std::thread::scope(|scope| -> anyhow::Result<usize> {
        let (tx, rx) = mpsc::sync_channel::<(usize, std::io::Result<String>)>(batch_size * 4);
        scope.spawn(move || {
            for (n, line) in input.lines().enumerate() {
                let stop = line.is_err();
                if tx.send((n + 1, line)).is_err() || stop {
                    break;
                }
            }
        });
        let mut pending: Vec<(usize, String)> = Vec::with_capacity(batch_size);
        let mut read_error = None;
        while let Ok(first) = rx.recv() {
            let deadline = Instant::now() + BATCH_WAIT;
            let mut next = Some(first);
            while let Some((line_no, line)) = next.take() {
                match line {
                    Ok(line) if line.trim().is_empty() => {}
                    Ok(line) => pending.push((line_no, line)),
                    Err(e) => {
                        read_error = Some(
                            anyhow::Error::new(e)
                                .context(format!("cannot read stdin at line {line_no}")),
                        );
                        break;
                    }
                }
                if pending.len() >= batch_size {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                next = rx.recv_timeout(left).ok();
            }
            bad += classify_lines(classifier, &pending, &mut out)?;
            pending.clear();
            out.flush().context("cannot write to stdout")?;
            if let Some(e) = read_error.take() {
                return Err(e);
            }
        }
        Ok(bad)
    })
}

/// Classifies one batch of (line number, line) and writes one output line each, in order.
fn classify_lines(
    classifier: &Classifier,
    lines: &[(usize, String)],
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let parsed: Vec<Result<Item, String>> = lines
        .iter()
        .map(|(_, line)| {
            serde_json::from_str::<Item>(line)
                .map_err(|e| format!("not a valid item: {e}"))
                .and_then(|item| item.normalise().map_err(|e| e.to_string()))
        })
        .collect();
    let items: Vec<Item> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let mut results = classifier.classify_batch(&items).into_iter();
    let mut bad = 0;
    for ((line_no, _), p) in lines.iter().zip(&parsed) {
        let json = match p {
            Ok(_) => match results.next() {
                Some(r) => serde_json::to_string(&r)?,
                None => anyhow::bail!("the classifier returned too few results"),
            },
            Err(message) => {
                bad += 1;
                eprintln!("line {line_no}: {message}");
                serde_json::json!({ "line": line_no, "error": message }).to_string()
            }
        };
        writeln!(out, "{json}").context("cannot write to stdout")?;
    }
    Ok(bad)
}
