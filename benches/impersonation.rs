//! `cargo bench --bench impersonation`: lookalike-domain and lookalike-account checks per
//! second with 50 protected identities, each against a baseline measured in the same run:
//! a naive fuzzy matcher that computes `strsim::jaro_winkler` between the input and every
//! protected domain (or name).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use ballotwatch_classify::config::{IdentityConfig, IdentityKind};
use ballotwatch_classify::detectors::impersonation::accounts::AccountDetector;
use ballotwatch_classify::detectors::impersonation::domains::DomainDetector;
use ballotwatch_classify::detectors::impersonation::ProtectedIdentities;
use ballotwatch_core::Author;

const IDENTITIES: usize = 50;
const TOWNS: &[&str] = &[
    "leeds",
    "bristol",
    "sheffield",
    "bradford",
    "wakefield",
    "kirklees",
    "calderdale",
    "york",
    "harrogate",
    "doncaster",
];

fn town(i: usize) -> String {
    format!("{}{}", TOWNS[i % TOWNS.len()], i / TOWNS.len())
}

fn identities() -> Vec<IdentityConfig> {
    (0..IDENTITIES)
        .map(|i| IdentityConfig {
            name: format!("{} City Council", town(i)),
            names: vec![],
            kind: IdentityKind::Organisation,
            domains: vec![format!("{}.gov.uk", town(i))],
            handles: BTreeMap::from([("x".to_string(), vec![format!("@{}CC", town(i))])]),
            logos: vec![],
        })
        .collect()
}

fn rate(n: usize, f: impl Fn(usize) -> bool) -> (f64, usize) {
    let start = Instant::now();
    let mut hits = 0;
    for i in 0..n {
        hits += usize::from(black_box(f(i)));
    }
    (n as f64 / start.elapsed().as_secs_f64(), hits)
}

fn main() {
    let configs = identities();
    let ids = Arc::new(ProtectedIdentities::new(&configs));
    let domains = DomainDetector::new(ids.clone());
    let accounts = AccountDetector::new(ids);
    let protected: Vec<String> = configs.iter().map(|c| c.domains[0].clone()).collect();
    let names: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();

    // A mix of lookalikes, official subdomains and ordinary domains.
    let hosts: Vec<String> = (0..2000)
        .map(|i| {
            let t = town(i % IDENTITIES);
            match i % 5 {
                0 => format!("{t}-gov.uk"),
                1 => format!("www.{t}.gov.uk"),
                2 => format!("{t}news{i}.co.uk"),
                3 => format!("https://shop{i}.example.com/{t}"),
                _ => format!("{}.gov.uk", t.replacen('e', "3", 1)),
            }
        })
        .collect();
    let authors: Vec<Author> = (0..2000)
        .map(|i| {
            let t = town(i % IDENTITIES);
            let (handle, name) = match i % 4 {
                0 => (format!("@{t}CC"), format!("{t} City Council")),
                1 => (format!("@{t}_council_{i}"), format!("{t} City Counci1")),
                2 => (format!("@{t}live"), format!("{t} Live")),
                _ => (format!("@resident{i}"), format!("Resident {i}")),
            };
            Author {
                handle: Some(handle),
                display_name: Some(name),
                platform: Some("x".into()),
                url: None,
                bio: None,
                verified: None,
                followers: None,
                created_at: None,
            }
        })
        .collect();

    let n = 20_000;
    let (base, _) = rate(n, |i| {
        let h = &hosts[i % hosts.len()];
        protected.iter().any(|p| strsim::jaro_winkler(h, p) > 0.9)
    });
    let (ours, hits) = rate(n, |i| domains.check(&hosts[i % hosts.len()]).is_some());
    println!(
        "domains, {IDENTITIES} identities: {ours:.0} checks/s ({hits} of {n} flagged); \
         baseline jaro_winkler over all protected domains {base:.0}/s; ratio {:.2}x baseline",
        ours / base
    );

    let (base, _) = rate(n, |i| {
        let a = &authors[i % authors.len()];
        let name = a.display_name.as_deref().unwrap_or("");
        names.iter().any(|p| strsim::jaro_winkler(name, p) > 0.9)
    });
    let (ours, hits) = rate(n, |i| accounts.check(&authors[i % authors.len()]).is_some());
    println!(
        "accounts, {IDENTITIES} identities: {ours:.0} checks/s ({hits} of {n} flagged); \
         baseline jaro_winkler over all protected names {base:.0}/s; ratio {:.2}x baseline",
        ours / base
    );
}
