//! Checks shared by several tables: domain names and platform handles.

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

/// Checks an official handle for a platform; on failure gives (message, help).
pub fn check_handle(platform: &str, h: &str) -> Result<(), (String, &'static str)> {
    let word =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_.-".contains(c));
    let ok = match platform {
        "mastodon" => {
            let parts: Vec<&str> = h.strip_prefix('@').unwrap_or("").split('@').collect();
            parts.len() == 2 && word(parts[0]) && check_domain(parts[1]).is_ok()
        }
        "bluesky" => {
            h.strip_prefix("did:plc:")
                .is_some_and(|r| r.len() == 24 && r.chars().all(|c| c.is_ascii_alphanumeric()))
                || h.starts_with("did:web:") && check_domain(&h[8..]).is_ok()
                || check_domain(h.trim_start_matches('@')).is_ok()
        }
        // Platform user-name rules: (longest, allowed punctuation besides letters and digits).
        _ => {
            let name = h.strip_prefix('@').unwrap_or(h);
            let (max, punct) = match platform {
                "x" => (15, "_"),
                "telegram" => (32, "_"),
                "instagram" => (30, "._"),
                "tiktok" => (24, "._"),
                "youtube" => (100, "._-"),
                _ => (80, "._-"),
            };
            !name.is_empty()
                && name.chars().count() <= max
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || punct.contains(c))
        }
    };
    if ok {
        return Ok(());
    }
    let help = match platform {
        "mastodon" => {
            "Mastodon handles are written @user@instance, e.g. \"@anytown@social.example\""
        }
        "bluesky" => "Bluesky handles are domains (\"anytown.gov.uk\") or DIDs (\"did:plc:…\")",
        "x" => "X handles are up to 15 letters, digits or underscores, e.g. \"@AnytownBC\"",
        "telegram" => "Telegram user names are up to 32 letters, digits or underscores",
        "instagram" | "tiktok" => {
            "write the user name as shown on the profile: letters, digits, '.' and '_'"
        }
        _ => "write the handle as shown on the platform, e.g. \"@AnytownBC\"",
    };
    Err((format!("`{h}` is not a valid {platform} handle"), help))
}

pub(super) fn looks_like_mailbox(s: &str) -> bool {
    let addr = match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    let mut parts = addr.trim().splitn(2, '@');
    matches!((parts.next(), parts.next()), (Some(l), Some(d)) if !l.is_empty() && !l.contains(' ') && check_domain(d).is_ok())
}
