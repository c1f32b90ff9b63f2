//! The rules of the whole file: each table's own (from the component that owns it), in file
//! order, and what no one table can check alone.

use std::path::Path;

use ballotwatch_alerting::AlertsConfig;
use ballotwatch_classify::config::{validate_narratives, IdentityConfig, NarrativeConfig};
use ballotwatch_classify::DetectorsConfig;
use ballotwatch_cluster::ClusterConfig;
use ballotwatch_core::config::{did_you_mean, FieldPath, Problems, Validate, WatchConfig};
use ballotwatch_core::LimitsConfig;
use ballotwatch_evidence::EvidenceConfig;
use ballotwatch_index::IndexConfig;
use ballotwatch_ingest::sources::handles::{check_handle, HANDLE_PLATFORMS};
use ballotwatch_ingest::sources::{validate_sources, SourceConfig};
use ballotwatch_ingest::IngestConfig;
use ballotwatch_web::{ReportsConfig, ServerConfig};

use super::Config;

/// The tables as read: `None` (or a `None` entry) where a table could not be read, whose rules
/// are then not checked.
pub(super) struct Tables<'a> {
    pub data_dir: Option<&'a Path>,
    pub server: Option<&'a ServerConfig>,
    pub watch: Option<&'a WatchConfig>,
    pub ingest: Option<&'a IngestConfig>,
    pub index: Option<&'a IndexConfig>,
    pub sources: &'a [Option<SourceConfig>],
    pub identities: &'a [Option<IdentityConfig>],
    pub narratives: &'a [Option<NarrativeConfig>],
    pub detectors: Option<&'a DetectorsConfig>,
    pub alerts: Option<&'a AlertsConfig>,
    pub evidence: Option<&'a EvidenceConfig>,
    pub limits: Option<&'a LimitsConfig>,
    pub cluster: Option<&'a ClusterConfig>,
    pub reports: Option<&'a ReportsConfig>,
}

impl Tables<'_> {
    /// Every table's own rules.
    pub(super) fn validate(&self, problems: &mut Problems) {
        let root = FieldPath::root();
        if self.data_dir.is_some_and(|d| d.as_os_str().is_empty()) {
            problems.add(root.key("data_dir"), "must not be empty", None);
        }
        let table = |key: &str, t: Option<&dyn Validate>, problems: &mut Problems| {
            if let Some(t) = t {
                t.validate(&root.key(key), problems);
            }
        };
        table("server", self.server.map(|t| t as _), problems);
        table("watch", self.watch.map(|t| t as _), problems);
        table("limits", self.limits.map(|t| t as _), problems);
        table("evidence", self.evidence.map(|t| t as _), problems);
        table("ingest", self.ingest.map(|t| t as _), problems);
        table("index", self.index.map(|t| t as _), problems);
        table("reports", self.reports.map(|t| t as _), problems);
        validate_sources(self.sources, &root.key("source"), problems);
        for (i, id) in self.identities.iter().enumerate() {
            if let Some(id) = id {
                let at = root.key("identity").index(i);
                id.validate(&at, problems);
                identity_handles(id, &at, problems);
            }
        }
        // Narrative ids must be unique: check them when every entry could be read.
        if self.narratives.iter().all(Option::is_some) {
            let narratives: Vec<NarrativeConfig> =
                self.narratives.iter().flatten().cloned().collect();
            validate_narratives(&narratives, &root.key("narrative"), problems);
        }
        table("detectors", self.detectors.map(|t| t as _), problems);
        table("alerts", self.alerts.map(|t| t as _), problems);
        table("cluster", self.cluster.map(|t| t as _), problems);
    }
}

/// An identity's `handles`, by each platform's rules (which ingest knows).
fn identity_handles(id: &IdentityConfig, at: &FieldPath, problems: &mut Problems) {
    for (platform, handles) in &id.handles {
        let at = at.key("handles").key(platform);
        if !HANDLE_PLATFORMS.contains(&platform.as_str()) {
            let help = did_you_mean(platform, HANDLE_PLATFORMS.iter().copied())
                .or_else(|| Some(format!("platforms: {}", HANDLE_PLATFORMS.join(", "))));
            problems.add(at, format!("unknown platform `{platform}`"), help);
            continue;
        }
        for (j, h) in handles.iter().enumerate() {
            if let Err((msg, help)) = check_handle(platform, h) {
                problems.advise(at.index(j), msg, help);
            }
        }
    }
}

impl Config {
    /// What no one table can check alone: the sources and identities alert rules name. Only
    /// run when every table could be read, so a source that could not be read is not also
    /// reported as missing.
    pub(super) fn validate_across(&self, problems: &mut Problems) {
        if self.alerts.smtp.is_none() {
            for i in self.acknowledging_inboxes() {
                problems.add(
                    FieldPath::root().key("source").index(i).key("acknowledge"),
                    format!(
                        "report inbox `{}` acknowledges reports by email, and there is no mail server",
                        self.sources[i].name()
                    ),
                    Some("add an [alerts.smtp] table, or leave acknowledge out".into()),
                );
            }
        }
        for (i, rule) in self.alerts.rules.iter().enumerate() {
            let at = FieldPath::root().key("alerts").key("rule").index(i);
            for (j, s) in rule.sources.iter().enumerate() {
                if self.source(s).is_none() {
                    let help = did_you_mean(s, self.sources.iter().map(|s| s.name()));
                    problems.add(
                        at.key("sources").index(j),
                        format!("there is no source named `{s}`"),
                        help,
                    );
                }
            }
            for (j, n) in rule.identities.iter().enumerate() {
                if !self.identities.iter().any(|id| &id.name == n) {
                    let help = did_you_mean(n, self.identities.iter().map(|i| i.name.as_str()));
                    problems.add(
                        at.key("identities").index(j),
                        format!("there is no identity named `{n}`"),
                        help,
                    );
                }
            }
        }
    }
}
