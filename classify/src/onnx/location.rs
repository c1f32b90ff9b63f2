//! Where the models folder is: `[detectors] models_dir`, else `BALLOTWATCH_MODELS`, else the
//! first of these that holds the ONNX Runtime library ([`RUNTIME_LIBRARY`]):
//!
//! 1. `models/` in the current directory;
//! 2. `models/` beside the executable;
//! 3. `models/` of the workspace a `cargo build` ran in (`target/<profile>/ballotwatch` →
//!    `models/` beside `target/`);
//! 4. `<prefix>/share/ballotwatch/models` for an executable installed as `<prefix>/bin/ballotwatch`
//!    (e.g. `/usr/local/share/ballotwatch/models`);
//! 5. [`INSTALLED_MODELS`] (`/opt/ballotwatch/models`, the README's install guide).
//!
//! When none holds it, the error names every place looked in and `models/install`.

use std::path::{Path, PathBuf};

use crate::config::DetectorsConfig;

use super::{OnnxError, RUNTIME_LIBRARY};

/// The installed location the operations guide copies `models/` to.
pub const INSTALLED_MODELS: &str = "/opt/ballotwatch/models";
/// The environment variable that names the models folder (after `[detectors] models_dir`).
pub const MODELS_ENV: &str = "BALLOTWATCH_MODELS";

/// How many folders up from the executable a cargo `target/` folder may be
/// (`target/debug/`, `target/<triple>/release/`).
const TARGET_DEPTH: usize = 3;

/// The models folder: `[detectors] models_dir`, then `BALLOTWATCH_MODELS` (used as given), then
/// the first of the places in the module docs that holds the ONNX Runtime library.
pub fn models_dir(config: &DetectorsConfig) -> Result<PathBuf, OnnxError> {
    if let Some(dir) = &config.models_dir {
        return Ok(dir.clone());
    }
    if let Some(dir) = std::env::var_os(MODELS_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let cwd = std::env::current_dir().ok();
    // The executable's real path (a symlink in a bin folder resolves to where it was built).
    let exe = std::env::current_exe()
        .ok()
        .map(|e| e.canonicalize().unwrap_or(e));
    let searched = candidates(cwd.as_deref(), exe.as_deref());
    match searched.iter().find(|d| d.join(RUNTIME_LIBRARY).is_file()) {
        Some(dir) => Ok(dir.clone()),
        None => Err(OnnxError::NotInstalled { searched }),
    }
}

/// The places searched, in order, without duplicates, for a process whose current directory
/// is `cwd` and whose executable is `exe`.
pub fn candidates(cwd: Option<&Path>, exe: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    out.push(match cwd {
        Some(c) => c.join("models"),
        None => PathBuf::from("models"),
    });
    if let Some(bin) = exe.and_then(Path::parent) {
        out.push(bin.join("models"));
        let target = bin
            .ancestors()
            .take(TARGET_DEPTH)
            .find(|a| a.file_name().is_some_and(|n| n == "target"));
        if let Some(workspace) = target.and_then(Path::parent) {
            out.push(workspace.join("models"));
        }
        if let Some(prefix) = bin
            .file_name()
            .is_some_and(|n| n == "bin")
            .then(|| bin.parent())
            .flatten()
        {
            out.push(prefix.join("share/ballotwatch/models"));
        }
    }
    out.push(PathBuf::from(INSTALLED_MODELS));
    let mut unique = Vec::with_capacity(out.len());
    for p in out {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    unique
}

/// `a, b and c`: the places searched, for the error message.
pub(super) fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cargo_build_looks_in_the_current_folder_beside_itself_and_in_its_workspace() {
        let got = candidates(
            Some(Path::new("/home/me/elsewhere")),
            Some(Path::new("/src/ballotwatch/target/debug/ballotwatch")),
        );
        assert_eq!(
            got,
            [
                "/home/me/elsewhere/models",
                "/src/ballotwatch/target/debug/models",
                "/src/ballotwatch/models",
                INSTALLED_MODELS,
            ]
            .map(PathBuf::from)
        );
        let cross = candidates(
            None,
            Some(Path::new(
                "/src/bw/target/x86_64-unknown-linux-gnu/release/ballotwatch",
            )),
        );
        assert!(
            cross.contains(&PathBuf::from("/src/bw/models")),
            "{cross:?}"
        );
    }

    #[test]
    fn an_installed_binary_looks_in_its_prefix_share_folder() {
        let got = candidates(
            Some(Path::new("/var/lib/ballotwatch")),
            Some(Path::new("/usr/local/bin/ballotwatch")),
        );
        assert_eq!(
            got,
            [
                "/var/lib/ballotwatch/models",
                "/usr/local/bin/models",
                "/usr/local/share/ballotwatch/models",
                INSTALLED_MODELS,
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn places_are_listed_once_each() {
        let got = candidates(
            Some(Path::new("/opt/ballotwatch")),
            Some(Path::new("/opt/ballotwatch/ballotwatch")),
        );
        assert_eq!(
            got,
            ["/opt/ballotwatch/models"].map(PathBuf::from),
            "the current folder, beside the binary and the installed place are one here"
        );
    }

    #[test]
    fn the_error_names_every_place_and_the_install_command() {
        let searched = candidates(
            Some(Path::new("/tmp/x")),
            Some(Path::new("/usr/bin/ballotwatch")),
        );
        let msg = OnnxError::NotInstalled { searched }.to_string();
        for part in [
            "/tmp/x/models, /usr/bin/models, /usr/share/ballotwatch/models and /opt/ballotwatch/models",
            RUNTIME_LIBRARY,
            "models/install",
            "BALLOTWATCH_MODELS",
        ] {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
    }
}
