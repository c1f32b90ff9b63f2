//! `ballotwatch check-config`: validate the configuration and print every problem.

use std::path::Path;

use ballotwatch_core::ConfigError;
use ballotwatch_pipeline::Config;

/// Prints a summary of a valid config (exit 0) or every problem (exit 2).
pub fn run(path: &Path) -> anyhow::Result<u8> {
    match Config::load(path) {
        Ok(c) => {
            println!("{}: ok", path.display());
            println!("  data_dir:    {}", c.data_dir.display());
            let enabled = c.sources.iter().filter(|s| s.enabled()).count();
            println!("  sources:     {} ({enabled} enabled)", c.sources.len());
            for s in &c.sources {
                let state = if s.enabled() { "" } else { " (disabled)" };
                println!(
                    "    - {} [{}] every {} {}{state}",
                    s.name(),
                    s.kind(),
                    humantime_fmt(s.interval(&c.ingest)),
                    s.url()
                );
            }
            println!("  watch terms: {}", c.watch.terms.len());
            println!("  identities:  {}", c.identities.len());
            println!("  narratives:  {}", c.narratives.len());
            println!("  alert rules: {}", c.alerts.rules.len());
            match &c.cluster {
                None => println!("  mode:        embedded"),
                Some(cl) => {
                    println!("  mode:        cluster (node {})", cl.node());
                    println!("    nats:      {}", cl.nats_url.join(", "));
                    println!("    postgres:  from ${}", cl.postgres_url_env);
                    println!("    lease:     {}", humantime_fmt(cl.lease));
                }
            }
            Ok(0)
        }
        Err(ConfigError::Invalid(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "{}: {} problem{} found",
                path.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}

fn humantime_fmt(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}
