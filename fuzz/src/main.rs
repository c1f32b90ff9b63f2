//! Ballotwatch's fuzz targets, one binary for all of them (one build, one link: the slow part
//! of a fuzz build is compiling the instrumented dependencies, shared by every target).
//!
//! ```text
//! ballotwatch-fuzz list                 the targets, one per line, with what each drives
//! ballotwatch-fuzz seeds TARGET DIR     writes generated seeds for TARGET into DIR
//! ballotwatch-fuzz TARGET               runs TARGET under afl-fuzz (persistent mode), or, run
//!                                       by hand, once on the bytes of standard input
//! ```
//!
//! `scripts/fuzz` builds this with `cargo afl build` and runs it; see `docs/fuzzing.md`.

mod seeds;
mod targets;

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: ballotwatch-fuzz list | seeds TARGET DIR | TARGET (input on stdin)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => {
            for t in targets::ALL {
                println!("{}\t{}", t.name, t.about);
            }
            ExitCode::SUCCESS
        }
        ["seeds", name, dir] => {
            if targets::find(name).is_none() {
                eprintln!(
                    "ballotwatch-fuzz: no target `{name}` (`ballotwatch-fuzz list` shows them)"
                );
                return ExitCode::from(2);
            }
            match seeds::write(name, Path::new(dir)) {
                Ok(n) => {
                    println!("{n}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ballotwatch-fuzz: writing seeds for `{name}` into {dir}: {e}");
                    ExitCode::from(3)
                }
            }
        }
        [name] => match targets::find(name) {
            Some(target) => {
                (target.setup)();
                let run = target.run;
                if target.contains_panics {
                    // Without afl's abort-on-any-panic hook: a panic the code under test
                    // contains on purpose (see `Target::contains_panics`) is not a finding; one
                    // that escapes still reaches afl's own `catch_unwind` and aborts.
                    afl::fuzz_nohook!(|data: &[u8]| run(data));
                } else {
                    afl::fuzz!(|data: &[u8]| run(data));
                }
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("ballotwatch-fuzz: no target `{name}`\n{USAGE}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
