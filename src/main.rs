//! `ballotwatch`: the command line. It parses arguments, loads the configuration and wires the
//! library crates together; the behaviour itself lives in those crates.

mod commands;
mod demo;
mod fakes;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Watches what is said online about UK local elections and tells the council's election team,
/// with evidence, about impersonation, fake media and false voting information.
#[derive(Debug, Parser)]
#[command(name = "ballotwatch", version, about, long_about = None)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "BALLOTWATCH_CONFIG",
        default_value = "ballotwatch.toml"
    )]
    config: PathBuf,

    /// More log output from Ballotwatch itself (-v: debug, -vv: trace; other crates stay at
    /// info). RUST_LOG replaces the filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,

    /// Whether `--config` (or `BALLOTWATCH_CONFIG`) was given rather than defaulted: `verify`
    /// runs without a config file unless one is asked for.
    #[arg(skip)]
    config_given: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: ingest workers, detectors, indexer, alerter and web UI until SIGTERM or
    /// Ctrl-C.
    Serve {
        /// The parts of the pipeline this node runs, comma-separated: ingest, classify, alert,
        /// web. Embedded mode (no [cluster] table) runs them all; cluster mode runs all four by
        /// default (the web role on PostgreSQL and the node's own search index).
        #[arg(long)]
        roles: Option<String>,
    },
    /// Run `serve` on a bundled offline demo: a fictional council's election week replayed from
    /// 127.0.0.1, alert emails on a Demo mail page; prints the web UI's address and a one-time
    /// login link.
    Demo {
        /// Keep the demo's data here (default: a new temporary folder, removed at exit).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// One ingest pass, print what was found, and exit (no web UI).
        #[arg(long)]
        once: bool,
        /// The web UI's address (default 127.0.0.1:8080, or a free port when that is taken).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
    },
    /// Ingest from the sources.
    Ingest {
        /// One pass over the enabled sources, then exit (required: `serve` polls continuously).
        #[arg(long, required = true)]
        once: bool,
        /// Only this source (by name).
        #[arg(long)]
        source: Option<String>,
    },
    /// Classify items read as JSON lines on stdin; write one result line per input line.
    Classify,
    /// Search the index.
    Search {
        /// Query: words, "phrases", `*`, and filters such as source:, kind:, label:, flagged:true,
        /// severity:, published_at:[2026-05-01T00:00:00Z TO 2026-05-08T00:00:00Z].
        query: String,
        /// Most results to print.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Skip this many results (paging).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Result order.
        #[arg(long, value_enum, default_value_t = Sort::Relevance)]
        sort: Sort,
        /// One JSON object per result line.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the search index from the store.
    Reindex,
    /// Copy this embedded store (`data_dir`: items with every version, captures and their bytes,
    /// the capture log, incidents, outbox, users, audit log, source cursors) into the PostgreSQL
    /// database of the `[cluster]` table, then verify it: exit 0 verified, 1 a mismatch (named),
    /// 2 a target holding other data (see --force). Idempotent: a second run copies nothing.
    Migrate {
        /// Copy into the cluster's PostgreSQL (`[cluster] postgres_url_env`): the one migration
        /// there is, so required.
        #[arg(long, required = true)]
        to_cluster: bool,
        /// When the target holds data that is not an earlier copy of this store, drop every
        /// Ballotwatch table there and copy afresh (destroys what the target held).
        #[arg(long)]
        force: bool,
    },
    /// Source health: each source's last success, last error and items stored in the last
    /// 24 hours. Exit 1 when an enabled source's last attempt failed.
    Sources {
        /// One JSON object per source line.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration and print every problem.
    CheckConfig,
    /// Write an evidence pack (signed ZIP: manifest, SHA256SUMS, captures, WARC, WACZ,
    /// screenshots, custody log, HTML/PDF report) for incidents and/or items, or with
    /// `--format wacz` their captures alone as a WACZ.
    Export {
        /// Incidents to export (with all their items).
        #[arg(long = "incident", value_name = "ID", num_args = 1.., action = clap::ArgAction::Append)]
        incidents: Vec<i64>,
        /// Items to export by id (for items not in an incident).
        #[arg(long = "item", value_name = "ID", num_args = 1.., action = clap::ArgAction::Append)]
        items: Vec<String>,
        /// The file to write: the pack (FILE.zip), or with `--format wacz` the WACZ.
        #[arg(long, value_name = "FILE.zip|FILE.wacz")]
        out: PathBuf,
        /// What to write: `pack`, the signed evidence pack (which holds a WACZ too), or `wacz`,
        /// the captures alone as a WACZ 1.1.1 file to replay in ReplayWeb.page.
        #[arg(long, value_enum, default_value_t = ExportFormat::Pack)]
        format: ExportFormat,
        /// Who is exporting, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
        /// Do not take screenshots still missing for the exported items.
        #[arg(long)]
        no_screenshots: bool,
        /// Put who reported the items in the pack (`reporters.json` and the forwarded messages,
        /// whose headers name their senders). Left out by default: it is personal data.
        #[arg(long)]
        include_reporters: bool,
    },
    /// Check an evidence pack: exit 0 intact and signed by a trusted key, 1 altered or
    /// incomplete (naming the file) or signed by another key, 4 intact but signed by a key
    /// nobody said to trust (prints `UNVERIFIED SIGNER <fingerprint>`).
    Verify {
        /// The pack.
        file: PathBuf,
        /// The Ed25519 public key (64 hex digits) the pack must be signed with. Without it,
        /// `[evidence] trusted_keys` of the config (when there is one) are the trusted keys.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
    },
    /// Alert delivery.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Web UI accounts and API tokens.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Media confirmed fake: re-uploads of it are flagged (`known_fake_reupload`).
    Fakes {
        #[command(subcommand)]
        command: FakesCommand,
    },
    /// Work a stage could not finish (it crashed or killed the process `[limits]
    /// quarantine_after` times): list it, retry it or drop it.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
}

/// `ballotwatch fakes …`.
#[derive(Debug, Subcommand)]
enum FakesCommand {
    /// Confirm media fake in an incident: every image of the incident's items (their captured
    /// copies), or the one with `--media SHA256`, or a local `--file`.
    Add {
        /// The incident the media belongs to.
        #[arg(long)]
        incident: i64,
        /// Only the image with this SHA-256.
        #[arg(long, value_name = "SHA256", conflicts_with = "file")]
        media: Option<String>,
        /// A local image file instead of the incident's media.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Why it is fake (kept with the record and the audit log).
        #[arg(long, default_value = "")]
        note: String,
        /// Who confirms it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// List confirmed fakes.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a confirmation (by the id `fakes list` shows).
    Remove {
        /// The confirmation's id.
        id: i64,
        /// Who removes it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
}

/// `ballotwatch quarantine …`.
#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// What is quarantined: id, stage, source, what (item id or response URL), attempts, when,
    /// and why.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Include dropped entries.
        #[arg(long)]
        all: bool,
    },
    /// Release an entry: its stage tries it again (from a clean attempt count).
    Retry {
        /// The entry's id (from `quarantine list`).
        id: i64,
        /// Who releases it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Discard an entry: never tried again and no longer listed; the record, the item and the
    /// captured bytes are kept as evidence.
    Drop {
        /// The entry's id (from `quarantine list`).
        id: i64,
        /// Who drops it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
}

/// `ballotwatch user …`.
#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from stdin (first line); with no input one is
    /// generated and printed once.
    Add {
        /// Login name.
        name: String,
        /// viewer (reads), analyst (also works incidents), admin (also the audit log).
        #[arg(long)]
        role: String,
    },
    /// API tokens: `user token NAME` creates one for the account and prints it once;
    /// `user token list [NAME]` lists them, `user token revoke ID` revokes one.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Token {
        #[command(subcommand)]
        command: Option<TokenCommand>,
        #[command(flatten)]
        create: TokenCreate,
    },
    /// List the accounts, their roles and states (active, disabled, locked until).
    List,
    /// Disable an account: its logins are refused and its sessions and API tokens end.
    Disable {
        /// Login name.
        name: String,
        /// Who does it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Enable a disabled account again (also lifts a lockout after failed logins).
    Enable {
        /// Login name.
        name: String,
        /// Who does it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Delete an account: its password, sessions and tokens go; the audit log keeps its name,
    /// which cannot be reused.
    Delete {
        /// Login name.
        name: String,
        /// Who does it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Set a new password (first line of stdin; with no input one is generated and printed
    /// once); every session and API token of the account ends.
    Passwd {
        /// Login name.
        name: String,
        /// Who does it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
}

/// `ballotwatch user token NAME` (create).
#[derive(Debug, clap::Args)]
struct TokenCreate {
    /// Login name of the account the token acts as.
    #[arg(required = true)]
    name: Option<String>,
    /// What the token is for.
    #[arg(long, default_value = "api")]
    label: String,
    /// Stop working after this long (`90d`, `12h`, `1y`); default: until revoked.
    #[arg(long, value_name = "DURATION")]
    expires: Option<String>,
    /// Who creates it, for the audit log (default: $USER).
    #[arg(long)]
    actor: Option<String>,
}

/// `ballotwatch user token …`.
#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for an account and print it once (the same as `user token NAME`).
    Create {
        #[command(flatten)]
        create: TokenCreate,
    },
    /// List API tokens (never the tokens themselves): id, account, label, created, last used,
    /// expiry.
    List {
        /// Only this account's.
        name: Option<String>,
    },
    /// Revoke an API token by the id `user token list` shows.
    Revoke {
        /// The token's id.
        id: i64,
        /// Who does it, for the audit log (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
}

/// `ballotwatch alerts …`.
#[derive(Debug, Subcommand)]
enum AlertsCommand {
    /// Outbox counts per state, the oldest undelivered message and every dead letter with its
    /// last error. Exit 1 when there are dead letters.
    Status {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// The signed evidence pack (ZIP).
    Pack,
    /// The captures as WACZ 1.1.1 (WARC, CDXJ index, pages), for replay.
    Wacz,
}

/// Search result order.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Sort {
    /// Best match first.
    Relevance,
    /// Most recently published first.
    Newest,
}

fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    cli.config_given = !matches!(
        matches.value_source("config"),
        None | Some(clap::parser::ValueSource::DefaultValue)
    );
    if matches!(cli.command, Command::Demo { .. }) {
        demo::set_demo_tokens();
    }
    init_logging(&cli);
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = commands::exit_code_of(&e);
            eprintln!("error: {e:#}");
            code
        }
    };
    ExitCode::from(code)
}

fn init_logging(cli: &Cli) {
    let long_running = matches!(cli.command, Command::Serve { .. } | Command::Demo { .. });
    logging::init(cli.verbose, long_running);
}
