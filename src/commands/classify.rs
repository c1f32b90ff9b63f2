//! `ballotwatch classify`: items as JSON lines on stdin, one result line per input line on
//! stdout, in order. No side effects: no store, no index, no alerts.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use ballotwatch_classify::Classifier;
use ballotwatch_core::{Config, Item};

/// Runs the classifier over stdin; exit 1 when any line could not be read as an item.
pub fn run(config_path: &Path) -> anyhow::Result<u8> {
    let config = config_for_classify(config_path)?;
    let classifier = Classifier::from_config(&config)?;
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    let bad = classify_stream(&classifier, stdin, stdout)?;
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

/// Classifies every non-blank line; returns how many lines were bad. Each bad line gets an
/// `{"line": N, "error": "…"}` object on stdout (so output lines pair with input lines) and a
/// message on stderr.
pub fn classify_stream(
    classifier: &Classifier,
    input: impl BufRead,
    output: impl Write,
) -> anyhow::Result<usize> {
    let mut out = BufWriter::new(output);
    let mut bad = 0;
    for (n, line) in input.lines().enumerate() {
        let line_no = n + 1;
        let line = line.with_context(|| format!("cannot read stdin at line {line_no}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Item>(&line)
            .map_err(|e| format!("not a valid item: {e}"))
            .and_then(|item| item.normalise().map_err(|e| e.to_string()));
        let json = match parsed {
            Ok(item) => serde_json::to_string(&classifier.classify(&item))?,
            Err(message) => {
                bad += 1;
                eprintln!("line {line_no}: {message}");
                serde_json::json!({ "line": line_no, "error": message }).to_string()
            }
        };
        writeln!(out, "{json}").context("cannot write to stdout")?;
    }
    out.flush().context("cannot write to stdout")?;
    Ok(bad)
}
