//! `serve --roles ingest,classify,alert,web`: which parts of the pipeline a node runs.

use std::fmt;

use ballotwatch_core::config::did_you_mean;

/// A part of the pipeline a node can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Polls the sources it holds leases on and captures what they return.
    Ingest,
    /// Runs the detectors.
    Classify,
    /// Decides incidents and sends alerts.
    Alert,
    /// The web UI and JSON API, with a search index replica.
    Web,
}

impl Role {
    /// Every role, in the documented order.
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Classify, Role::Alert, Role::Web];

    /// The role's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Classify => "classify",
            Role::Alert => "alert",
            Role::Web => "web",
        }
    }
}

/// A `--roles` value that names no role, or none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// A name that is not a role.
    #[error("unknown role `{name}`{}", help.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Unknown {
        /// The name given.
        name: String,
        /// A did-you-mean, or the list of roles.
        help: Option<String>,
    },
    /// No role at all.
    #[error("--roles names no role (roles: ingest, classify, alert, web)")]
    Empty,
}

/// The set of roles a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles([bool; 4]);

impl Default for Roles {
    fn default() -> Self {
        Roles::all()
    }
}

impl Roles {
    /// Every role (the default).
    pub fn all() -> Roles {
        Roles([true; 4])
    }

    /// Parses a comma-separated list such as `ingest,classify`; spaces around names and a
    /// repeated name are allowed.
    pub fn parse(list: &str) -> Result<Roles, RoleError> {
        let mut set = [false; 4];
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let lower = name.to_ascii_lowercase();
            match Role::ALL.iter().position(|r| r.name() == lower) {
                Some(i) => set[i] = true,
                None => {
                    let help = did_you_mean(&lower, Role::ALL.iter().map(|r| r.name()))
                        .or_else(|| Some("roles: ingest, classify, alert, web".to_string()));
                    return Err(RoleError::Unknown {
                        name: name.to_string(),
                        help,
                    });
                }
            }
        }
        if set.iter().all(|s| !s) {
            return Err(RoleError::Empty);
        }
        Ok(Roles(set))
    }

    /// Whether the node runs `role`.
    pub fn has(self, role: Role) -> bool {
        Role::ALL
            .iter()
            .position(|r| *r == role)
            .is_some_and(|i| self.0[i])
    }

    /// Whether the node runs every role.
    pub fn is_all(self) -> bool {
        self.0.iter().all(|s| *s)
    }

    /// The roles, in the documented order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.has(*r))
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::name).collect();
        f.write_str(&names.join(","))
    }
}

impl std::str::FromStr for Roles {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Roles, RoleError> {
        Roles::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_lists() {
        assert!(Roles::parse("ingest,classify,alert,web").unwrap().is_all());
        let r = Roles::parse(" classify , web ,classify").unwrap();
        assert!(r.has(Role::Classify) && r.has(Role::Web));
        assert!(!r.has(Role::Ingest) && !r.has(Role::Alert));
        assert_eq!(r.to_string(), "classify,web");
        assert_eq!(Roles::parse("WEB").unwrap().to_string(), "web");
    }

    #[test]
    fn unknown_roles_are_named_with_a_hint() {
        let e = Roles::parse("ingest,clasify").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("`clasify`"), "{text}");
        assert!(text.contains("classify"), "{text}");
        let e = Roles::parse("gopher").unwrap_err();
        assert!(e.to_string().contains("roles: ingest"), "{e}");
        assert_eq!(Roles::parse(" , ").unwrap_err(), RoleError::Empty);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in ".{0,64}") {
            if let Ok(r) = Roles::parse(&s) {
                prop_assert_eq!(Roles::parse(&r.to_string()).unwrap(), r);
            }
        }
    }
}
