//! The problem machinery: one [`ConfigProblem`] per mistake with its field path and line,
//! [`ConfigError`], did-you-mean hints, and locating a field in the file (toml_edit spans).

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, where the problem can be placed.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `source[1].url`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it ("did you mean …").
    pub help: Option<String>,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": `{}`: {}", self.field, self.message)?;
        }
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source} (pass --config PATH or set BALLOTWATCH_CONFIG)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not valid.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<ConfigProblem>),
}

impl ConfigError {
    /// Every problem found (empty for a read error).
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(p) => p,
        }
    }
}

pub(super) struct ProblemList<'a>(&'a [ConfigProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// One step of a path into the TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

pub(super) fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// The closest candidate to `word`, phrased as a hint, when one is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

pub(super) fn to_segs(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// Rewrites serde's message into ours: (message, help, field the message is about).
pub(super) fn explain_serde_message(msg: &str) -> (String, Option<String>, Option<String>) {
    let msg = msg.trim();
    let ticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    for (prefix, what) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let name = rest.split('`').next().unwrap_or_default().to_string();
            let expected = ticked(rest.split_once("expected").map(|x| x.1).unwrap_or(""));
            let help = did_you_mean(&name, expected.iter().map(String::as_str)).or_else(|| {
                (!expected.is_empty()).then(|| format!("expected one of: {}", expected.join(", ")))
            });
            let field = (what == "key").then(|| name.clone());
            return (format!("unknown {what} `{name}`"), help, field);
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default().to_string();
        return (format!("missing required key `{name}`"), None, None);
    }
    (msg.to_string(), None, None)
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Finds the span of the deepest part of `path` present in the document.
pub(super) fn locate(root: &toml_edit::Table, path: &[Seg]) -> Option<Range<usize>> {
    use toml_edit::{Item, Value};
    enum Node<'a> {
        Table(&'a toml_edit::Table),
        Inline(&'a toml_edit::InlineTable),
        Array(&'a toml_edit::Array),
        Tables(&'a toml_edit::ArrayOfTables),
        Leaf,
    }
    fn of_value(v: &Value) -> Node<'_> {
        match v {
            Value::Array(a) => Node::Array(a),
            Value::InlineTable(t) => Node::Inline(t),
            _ => Node::Leaf,
        }
    }
    fn of_item(i: &Item) -> Node<'_> {
        match i {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => of_value(v),
            Item::None => Node::Leaf,
        }
    }
    let mut node = Node::Table(root);
    let mut best = None;
    for seg in path {
        let next = match (&node, seg) {
            (Node::Table(t), Seg::Key(k)) => t
                .get_key_value(k)
                .map(|(key, item)| (key.span().or(item.span()), of_item(item))),
            (Node::Inline(t), Seg::Key(k)) => t
                .get_key_value(k)
                .map(|(key, item)| (key.span().or(item.span()), of_item(item))),
            (Node::Array(a), Seg::Index(i)) => a.get(*i).map(|v| (v.span(), of_value(v))),
            (Node::Tables(a), Seg::Index(i)) => a.get(*i).map(|t| (t.span(), Node::Table(t))),
            _ => None,
        };
        match next {
            Some((span, n)) => {
                if span.is_some() {
                    best = span;
                }
                node = n;
            }
            None => break,
        }
    }
    best
}
