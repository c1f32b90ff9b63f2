//! Checks shared by several tables: domain names, mailboxes, environment variable names.

/// Why a name is not a bare domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A URL (or a path) where a domain belongs.
    #[error("`{0}` is a URL, not a domain")]
    Url(String),
    /// Labels that no domain has (empty, too long, bad characters, one label only).
    #[error("`{0}` is not a valid domain name")]
    Invalid(String),
}

/// Checks a bare domain name such as `anytown.gov.uk`.
pub fn check_domain(d: &str) -> Result<(), DomainError> {
    if d.contains("://") || d.contains('/') {
        return Err(DomainError::Url(d.to_string()));
    }
    let labels: Vec<&str> = d.trim_end_matches('.').split('.').collect();
    let ok_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(ok_label) || d.len() > 253 {
        return Err(DomainError::Invalid(d.to_string()));
    }
    Ok(())
}

/// Whether `s` is an email address, bare or as `Name <address>`.
pub fn looks_like_mailbox(s: &str) -> bool {
    let addr = match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    let mut parts = addr.trim().splitn(2, '@');
    matches!((parts.next(), parts.next()), (Some(l), Some(d)) if !l.is_empty() && !l.contains(' ') && check_domain(d).is_ok())
}

/// Whether `name` can be an environment variable name.
pub fn env_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
