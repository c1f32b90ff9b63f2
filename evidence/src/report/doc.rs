//! The report as a document: headings, paragraphs, tables, lists and images, built once from
//! the manifest ([`super::document`]) and written twice, as `report.html` ([`super::html`]) and
//! as `report.pdf` ([`super::pdf`]), so the two always say the same.

/// A run of text inside a paragraph, list item or table cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    /// Plain text (`\n` is a line break).
    Text(String),
    /// Bold text.
    Bold(String),
    /// Emphasised text.
    Em(String),
    /// A name, path or address, in a monospaced face.
    Code(String),
    /// A hash: monospaced, smaller, broken anywhere.
    Hash(String),
    /// A side remark: smaller, grey.
    Note(String),
    /// A severity (`high`, `medium`…), coloured by how severe.
    Severity(String),
    /// A file of the pack by its path (a link in the HTML), shown as code.
    File(String),
    /// A line break.
    Break,
}

/// A paragraph.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Para {
    /// Its text.
    pub spans: Vec<Inline>,
    /// Set in the smaller, grey side-remark style.
    pub note: bool,
    /// An anchor for it (the HTML `id`).
    pub id: Option<&'static str>,
}

/// A table cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// A heading cell (`th`).
    pub head: bool,
    /// Its text.
    pub spans: Vec<Inline>,
}

impl Cell {
    /// A heading cell of plain text.
    pub fn head(text: impl Into<String>) -> Self {
        Cell {
            head: true,
            spans: vec![Inline::Text(text.into())],
        }
    }

    /// A data cell.
    pub fn of(spans: Vec<Inline>) -> Self {
        Cell { head: false, spans }
    }

    /// A data cell of plain text.
    pub fn text(text: impl Into<String>) -> Self {
        Cell::of(vec![Inline::Text(text.into())])
    }
}

/// A screenshot as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The file of the pack shown (a thumbnail, or the screenshot itself).
    pub src: String,
    /// Alternative text.
    pub alt: String,
    /// Pixel size, `(0, 0)` when unknown.
    pub size: (u32, u32),
}

/// What a group of blocks is: each starts or ends a printed page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The cover: a page of its own.
    Cover,
    /// One item: starts a page, unless it follows its section's heading.
    Item,
}

/// A block of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// The strip across the top of the cover.
    Banner(String),
    /// The report's title.
    Title(String),
    /// A part of the report (an incident, the timestamps, the custody, the hashes): starts a page.
    Section(String),
    /// A heading within a part.
    Heading(String),
    /// A paragraph.
    Para(Para),
    /// A bulleted list.
    List(Vec<Vec<Inline>>),
    /// Text quoted exactly as published (line breaks kept).
    Quote(String),
    /// Why something was flagged.
    Why(Vec<Inline>),
    /// The facts that answer a false claim.
    Rebuttal(Vec<Inline>),
    /// A table: rows of cells; heading cells may start a row or make up the first.
    Table(Vec<Vec<Cell>>),
    /// A screenshot.
    Image(Image),
    /// Blocks that share a page rule.
    Group(Group, Vec<Block>),
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// The title (the browser tab, the PDF's document title).
    pub title: String,
    /// The software that made it (`ballotwatch 1.2.3`).
    pub generator: String,
    /// Its blocks in reading order.
    pub blocks: Vec<Block>,
}
