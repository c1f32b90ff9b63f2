//! The root of `ballotwatch.toml`: [`Config`] composes the components' own tables and reads the
//! file one table at a time, so that every problem in it is reported in one run.
//!
//! Each table's type and rules live with the component that reads it: `[server]` in `web`,
//! `[ingest]` and `[[source]]` in `ingest` (one folder per kind), `[index]` in `index`,
//! `[detectors]`, `[[identity]]` and `[[narrative]]` in `classify`, `[alerts]` in `alerting`,
//! `[evidence]` in `evidence`, `[watch]` and `[limits]` in `core`, `[cluster]` in `cluster`. What no one table can check
//! alone (an alert rule naming a source, an identity's handles by the platforms' rules) is
//! checked here ([`validate`]).
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//!
//! use ballotwatch_pipeline::Config;
//!
//! let text = "data_dir = \"data\"\n\
//!             [[source]]\nname = \"Anytown Echo\"\nkind = \"rss\"\nurl = \"https://echo.example/rss\"\n";
//! let config = Config::from_toml(text, Path::new("ballotwatch.toml")).unwrap();
//! assert_eq!(config.sources[0].kind(), "rss");
//!
//! // Three mistakes in three tables: all three are reported at once.
//! let text = "data_dir = \"data\"\n[server]\nbind = 8080\n\
//!             [[source]]\nname = \"x\"\nkind = \"gopher\"\n[detectors]\nthreshold = 2.0\n";
//! let err = Config::from_toml(text, Path::new("ballotwatch.toml")).unwrap_err();
//! assert_eq!(err.problems().len(), 3);
//! ```

use std::path::{Path, PathBuf};

use ballotwatch_alerting::AlertsConfig;
use ballotwatch_classify::config::{IdentityConfig, NarrativeConfig};
use ballotwatch_classify::{ClassifyConfig, DetectorsConfig};
use ballotwatch_cluster::ClusterConfig;
use ballotwatch_core::config::{
    deserialize_table, read_list, unknown_keys, ConfigError, ConfigText, FieldPath, Problems,
    WatchConfig,
};
use ballotwatch_core::LimitsConfig;
use ballotwatch_evidence::EvidenceConfig;
use ballotwatch_index::IndexConfig;
use ballotwatch_ingest::sources::{SourceConfig, SourceSettings};
use ballotwatch_ingest::IngestConfig;
use ballotwatch_web::{ReportsConfig, ServerConfig};
use serde::de::DeserializeOwned;

#[cfg(test)]
mod tests;
mod validate;

/// The whole configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store, captures and index live. Relative paths are relative to the config file.
    pub data_dir: PathBuf,
    /// Web UI and API (`[server]`).
    pub server: ServerConfig,
    /// Terms that make an item relevant (`[watch]`).
    pub watch: WatchConfig,
    /// How sources are fetched (`[ingest]`).
    pub ingest: IngestConfig,
    /// Search index behaviour (`[index]`).
    pub index: IndexConfig,
    /// The sources to watch (`[[source]]`).
    pub sources: Vec<SourceConfig>,
    /// Protected identities (`[[identity]]`).
    pub identities: Vec<IdentityConfig>,
    /// Council-specific false narratives (`[[narrative]]`), added to the built-in library.
    pub narratives: Vec<NarrativeConfig>,
    /// Detector thresholds and model location (`[detectors]`).
    pub detectors: DetectorsConfig,
    /// Email and alert rules (`[alerts]`).
    pub alerts: AlertsConfig,
    /// Evidence pack signing (`[evidence]`).
    pub evidence: EvidenceConfig,
    /// Ceilings on the work any one piece of untrusted input may cause (`[limits]`).
    pub limits: LimitsConfig,
    /// Cluster mode (`[cluster]`): NATS JetStream and PostgreSQL. Absent = embedded mode.
    pub cluster: Option<ClusterConfig>,
    /// The report forms and `POST /api/v1/reports` (`[reports]`).
    pub reports: ReportsConfig,
}

/// The top-level keys, in the order the documentation gives them.
const KEYS: [&str; 14] = [
    "data_dir",
    "server",
    "watch",
    "ingest",
    "index",
    "source",
    "identity",
    "narrative",
    "detectors",
    "alerts",
    "evidence",
    "limits",
    "cluster",
    "reports",
];

impl Config {
    /// `[limits] max_item_text`, in bytes: what a poll cuts each item's text to.
    pub fn max_item_text(&self) -> usize {
        usize::try_from(self.limits.max_item_text.as_u64()).unwrap_or(usize::MAX)
    }

    /// Reads, parses and validates a configuration file.
    ///
    /// Relative paths inside it (`data_dir`, `models_dir`, logos, the signing key) are resolved
    /// against the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::from_toml(&text, path)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses and validates configuration text; `file` is used in messages only.
    ///
    /// Each table is read on its own, so a wrong type, a missing key or an unknown kind in one
    /// table does not hide the problems of the others: every problem of the file comes back,
    /// those met while reading first, then the broken rules of what could be read.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let source = ConfigText::new(text, file);
        let mut table = source.parse()?;
        let mut problems = Problems::default();
        let root = FieldPath::root();
        unknown_keys(&table, &KEYS, &root, &mut problems);

        let data_dir = match table.remove("data_dir") {
            Some(v) => deserialize_table::<PathBuf>(v, &root.key("data_dir"), &mut problems),
            None => {
                problems.advise(
                    root.clone(),
                    "missing required key `data_dir`",
                    "e.g. data_dir = \"/var/lib/ballotwatch\"",
                );
                None
            }
        };
        let mut read = Read {
            table,
            problems,
            complete: true,
        };
        let server = read.table::<ServerConfig>("server");
        let watch = read.table::<WatchConfig>("watch");
        let ingest = read.table::<IngestConfig>("ingest");
        let index = read.table::<IndexConfig>("index");
        let sources = read.list("source", SourceConfig::read);
        let identities = read.list("identity", deserialize_table::<IdentityConfig>);
        let narratives = read.list("narrative", deserialize_table::<NarrativeConfig>);
        let detectors = read.table::<DetectorsConfig>("detectors");
        let alerts = read.table_with("alerts", AlertsConfig::read);
        let evidence = read.table::<EvidenceConfig>("evidence");
        let limits = read.table::<LimitsConfig>("limits");
        let cluster = read.optional::<ClusterConfig>("cluster");
        let reports = read.table::<ReportsConfig>("reports");
        let Read {
            mut problems,
            complete,
            ..
        } = read;

        let config = Config {
            data_dir: data_dir.clone().unwrap_or_default(),
            server: server.clone().unwrap_or_default(),
            watch: watch.clone().unwrap_or_default(),
            ingest: ingest.clone().unwrap_or_default(),
            index: index.clone().unwrap_or_default(),
            sources: sources.iter().flatten().cloned().collect(),
            identities: identities.iter().flatten().cloned().collect(),
            narratives: narratives.iter().flatten().cloned().collect(),
            detectors: detectors.clone().unwrap_or_default(),
            alerts: alerts.clone().unwrap_or_default(),
            evidence: evidence.clone().unwrap_or_default(),
            limits: limits.clone().unwrap_or_default(),
            cluster: cluster.clone().flatten(),
            reports: reports.clone().unwrap_or_default(),
        };
        let tables = validate::Tables {
            data_dir: data_dir.as_deref(),
            server: server.as_ref(),
            watch: watch.as_ref(),
            ingest: ingest.as_ref(),
            index: index.as_ref(),
            sources: &sources,
            identities: &identities,
            narratives: &narratives,
            detectors: detectors.as_ref(),
            alerts: alerts.as_ref(),
            evidence: evidence.as_ref(),
            limits: limits.as_ref(),
            cluster: cluster.as_ref().and_then(Option::as_ref),
            reports: reports.as_ref(),
        };
        tables.validate(&mut problems);
        if complete {
            config.validate_across(&mut problems);
        }
        source.finish(config, problems)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        if let Some(p) = self.detectors.models_dir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.detectors.pixel_model.manifest.as_mut() {
            fix(p);
        }
        if let Some(p) = self.evidence.signing_key.as_mut() {
            fix(p);
        }
        self.evidence.trusted_keys.iter_mut().for_each(fix);
        if let Some(c) = self.cluster.as_mut() {
            c.resolve_paths(base);
        }
        self.evidence.tsa_roots.iter_mut().for_each(fix);
        if let Some(p) = self.alerts.smtp.as_mut().and_then(|s| s.ca_file.as_mut()) {
            fix(p);
        }
        for identity in &mut self.identities {
            identity.logos.iter_mut().for_each(fix);
        }
        for source in &mut self.sources {
            source.resolve_paths(base);
        }
    }

    /// The source with this name.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name() == name)
    }

    /// The places in `sources` of the report inboxes that acknowledge reports (their
    /// `acknowledge` table), enabled or not.
    pub fn acknowledging_inboxes(&self) -> impl Iterator<Item = usize> + '_ {
        self.sources.iter().enumerate().filter_map(|(i, s)| {
            matches!(&s.settings, SourceSettings::Imap(c) if c.acknowledge.is_some()).then_some(i)
        })
    }

    /// Whether anything is ever sent: alert rules, admin notices, or report acknowledgements
    /// from an enabled report inbox. Without any, no sender is set up.
    pub fn sends_messages(&self) -> bool {
        !self.alerts.rules.is_empty()
            || !self.alerts.admin_to.is_empty()
            || !self.alerts.admin_webhooks.is_empty()
            || self
                .acknowledging_inboxes()
                .any(|i| self.sources[i].enabled())
    }

    /// What classify reads: `[detectors]`, `[[identity]]` and `[[narrative]]`.
    pub fn classify(&self) -> ClassifyConfig<'_> {
        ClassifyConfig {
            detectors: &self.detectors,
            identities: &self.identities,
            narratives: &self.narratives,
        }
    }
}

/// The file's top-level table as it is read, one table at a time.
struct Read {
    table: toml::Table,
    problems: Problems,
    /// Whether every table and list entry so far could be read.
    complete: bool,
}

impl Read {
    /// The table `key` (its defaults when absent); `None` if it could not be read.
    fn table<T: DeserializeOwned + Default>(&mut self, key: &str) -> Option<T> {
        self.table_with(key, deserialize_table)
    }

    /// The table `key` if present: `Some(None)` when absent, `None` if it could not be read.
    fn optional<T: DeserializeOwned>(&mut self, key: &str) -> Option<Option<T>> {
        let read = match self.table.remove(key) {
            None => Some(None),
            Some(v) => {
                deserialize_table::<T>(v, &FieldPath::root().key(key), &mut self.problems).map(Some)
            }
        };
        self.complete &= read.is_some();
        read
    }

    /// The table `key` read by `read` (its defaults when absent).
    fn table_with<T: Default>(
        &mut self,
        key: &str,
        read: impl FnOnce(toml::Value, &FieldPath, &mut Problems) -> Option<T>,
    ) -> Option<T> {
        let read = match self.table.remove(key) {
            None => Some(T::default()),
            Some(v) => read(v, &FieldPath::root().key(key), &mut self.problems),
        };
        self.complete &= read.is_some();
        read
    }

    /// The array of tables `key`, each entry read by `entry` (`None` where it could not be).
    fn list<T>(
        &mut self,
        key: &str,
        entry: impl Fn(toml::Value, &FieldPath, &mut Problems) -> Option<T>,
    ) -> Vec<Option<T>> {
        let at = FieldPath::root().key(key);
        match read_list(self.table.remove(key), &at, &mut self.problems, entry) {
            Some(read) => {
                self.complete &= read.iter().all(Option::is_some);
                read
            }
            None => {
                self.complete = false;
                Vec::new()
            }
        }
    }
}
