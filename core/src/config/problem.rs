//! The problem machinery: one [`ConfigProblem`] per mistake with its field path and line,
//! [`ConfigError`], did-you-mean hints, and locating a field in the file (toml_edit spans).
//!
//! Every component validates its own table through [`Validate`], pushing what is wrong into
//! [`Problems`] under a [`FieldPath`]; [`deserialize_table`] reads one table so that a wrong type
//! in one table does not hide the problems of the others; [`ConfigText`] turns the collected
//! problems into [`ConfigProblem`]s with the file's line numbers.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

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
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Where a field is in the file: `source[1].url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Seg>);

impl FieldPath {
    /// The top of the file.
    pub fn root() -> FieldPath {
        FieldPath::default()
    }

    /// The key `k` below this path.
    pub fn key(&self, k: &str) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(k.to_string()));
        FieldPath(segs)
    }

    /// Element `i` of the array at this path.
    pub fn index(&self, i: usize) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(i));
        FieldPath(segs)
    }

    /// The steps from the top of the file.
    pub fn segs(&self) -> &[Seg] {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&path_string(&self.0))
    }
}

/// One problem before it is placed in the file: where, what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The field.
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

/// The problems found so far in one file, in the order found.
#[derive(Debug, Default)]
pub struct Problems(Vec<Found>);

impl Problems {
    /// Records a problem with `path`.
    pub fn add(&mut self, path: FieldPath, message: impl Into<String>, help: Option<String>) {
        self.0.push(Found {
            path,
            message: message.into(),
            help,
        });
    }

    /// Records a problem with a fixed piece of advice.
    pub fn advise(&mut self, path: FieldPath, message: impl Into<String>, help: &str) {
        self.add(path, message, Some(help.to_string()));
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &Found> {
        self.0.iter()
    }

    /// The problems, in the order found.
    pub fn into_vec(self) -> Vec<Found> {
        self.0
    }
}

/// The rules a component's table must satisfy beyond its types. Each component implements it
/// for its own table; the root configuration calls each with the table's place in the file.
///
/// # Example
///
/// ```
/// use ballotwatch_core::config::{FieldPath, Problems, Validate};
///
/// struct Retry { attempts: u32 }
///
/// impl Validate for Retry {
///     fn validate(&self, at: &FieldPath, problems: &mut Problems) {
///         if self.attempts == 0 {
///             problems.advise(at.key("attempts"), "must be at least 1", "3 is usual");
///         }
///     }
/// }
///
/// let mut problems = Problems::default();
/// Retry { attempts: 0 }.validate(&FieldPath::root().key("retry"), &mut problems);
/// let found: Vec<String> = problems.iter().map(|p| p.path.to_string()).collect();
/// assert_eq!(found, ["retry.attempts"]);
/// ```
pub trait Validate {
    /// Pushes every problem of `self`, found at `at` in the file, into `problems`.
    fn validate(&self, at: &FieldPath, problems: &mut Problems);
}

/// Reads one table (or any value) of the file as `T`. A problem serde meets (a wrong type, a
/// missing or unknown key, an unknown value) is recorded under the field it is about and `None`
/// comes back, so the caller can go on with the other tables.
pub fn deserialize_table<T: DeserializeOwned>(
    value: toml::Value,
    at: &FieldPath,
    problems: &mut Problems,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let mut path = at.clone();
            path.0.extend(to_segs(e.path()));
            let inner = e.into_inner();
            let (message, help, field) = explain_serde_message(inner.message());
            if let Some(field) = field {
                if path.0.last() != Some(&Seg::Key(field.clone())) {
                    path.0.push(Seg::Key(field));
                }
            }
            problems.add(path, message, help);
            None
        }
    }
}

/// Reads an array of tables (`value`, found at `at`, e.g. every `[[source]]`) one entry at a
/// time with `entry`, so that a mistake in one entry does not hide those of the others. Each
/// entry comes back as `None` where it could not be read (its problems are recorded). An absent
/// list is empty; a value that is not a list is a problem, and `None` comes back.
pub fn read_list<T>(
    value: Option<toml::Value>,
    at: &FieldPath,
    problems: &mut Problems,
    mut entry: impl FnMut(toml::Value, &FieldPath, &mut Problems) -> Option<T>,
) -> Option<Vec<Option<T>>> {
    match value {
        None => Some(Vec::new()),
        Some(toml::Value::Array(list)) => Some(
            list.into_iter()
                .enumerate()
                .map(|(i, v)| entry(v, &at.index(i), problems))
                .collect(),
        ),
        Some(_) => {
            problems.add(
                at.clone(),
                "must be a list of tables",
                Some(format!("write each entry as [[{at}]]")),
            );
            None
        }
    }
}

/// Takes the keys of `table` that are not in `known` out as "unknown key" problems, with a
/// "did you mean" among `known`.
pub fn unknown_keys(table: &toml::Table, known: &[&str], at: &FieldPath, problems: &mut Problems) {
    for k in table.keys().filter(|k| !known.contains(&k.as_str())) {
        let help = did_you_mean(k, known.iter().copied())
            .or_else(|| Some(format!("expected one of: {}", known.join(", "))));
        problems.add(at.key(k), format!("unknown key `{k}`"), help);
    }
}

/// The text of a configuration file, for parsing it and placing problems on its lines.
pub struct ConfigText<'a> {
    text: &'a str,
    file: &'a Path,
    doc: Option<toml_edit::Document<&'a str>>,
}

impl<'a> ConfigText<'a> {
    /// `file` is used in messages only.
    pub fn new(text: &'a str, file: &'a Path) -> ConfigText<'a> {
        ConfigText {
            text,
            file,
            doc: toml_edit::Document::parse(text).ok(),
        }
    }

    /// The file's top-level table, or the one problem that makes it not TOML at all.
    pub fn parse(&self) -> Result<toml::Table, ConfigError> {
        self.text.parse::<toml::Table>().map_err(|e| {
            ConfigError::Invalid(vec![ConfigProblem {
                file: self.file.to_path_buf(),
                line: e.span().map(|s| line_of(self.text, s.start)),
                field: String::new(),
                message: format!("not valid TOML: {}", e.message().trim()),
                help: None,
            }])
        })
    }

    /// A problem placed on the line of its field (or of the nearest table that holds it).
    pub fn place(&self, found: Found) -> ConfigProblem {
        let line = self
            .doc
            .as_ref()
            .and_then(|d| locate(d.as_table(), found.path.segs()))
            .map(|span| line_of(self.text, span.start));
        ConfigProblem {
            file: self.file.to_path_buf(),
            line,
            field: found.path.to_string(),
            message: found.message,
            help: found.help,
        }
    }

    /// `Ok(value)` when nothing was found, else every problem, placed.
    pub fn finish<T>(&self, value: T, problems: Problems) -> Result<T, ConfigError> {
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError::Invalid(
                problems
                    .into_vec()
                    .into_iter()
                    .map(|f| self.place(f))
                    .collect(),
            ))
        }
    }
}

fn path_string(path: &[Seg]) -> String {
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

fn to_segs(path: &serde_path_to_error::Path) -> Vec<Seg> {
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
fn explain_serde_message(msg: &str) -> (String, Option<String>, Option<String>) {
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

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Finds the span of the deepest part of `path` present in the document.
fn locate(root: &toml_edit::Table, path: &[Seg]) -> Option<Range<usize>> {
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
