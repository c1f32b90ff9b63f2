//! Checks shared by several tables: domain names, mailboxes, environment variable names.

/// Checks a bare domain name such as `anytown.gov.uk`.
pub fn check_domain(d: &str) -> Result<(), String> {
    if d.contains("://") || d.contains('/') {
        return Err(format!("`{d}` is a URL, not a domain"));
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
        return Err(format!("`{d}` is not a valid domain name"));
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
