//! Account handles per platform: what `[[identity]] handles` and the sources' account lists
//! may name, and each platform's rules for them.

use ballotwatch_core::config::check_domain;

/// The platforms `[[identity]] handles` may name.
pub const HANDLE_PLATFORMS: [&str; 9] = [
    "mastodon",
    "bluesky",
    "x",
    "threads",
    "facebook",
    "instagram",
    "tiktok",
    "youtube",
    "telegram",
];

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
                // Threads user names are the Instagram account's.
                "instagram" | "threads" => (30, "._"),
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
        "instagram" | "threads" | "tiktok" => {
            "write the user name as shown on the profile: letters, digits, '.' and '_'"
        }
        _ => "write the handle as shown on the platform, e.g. \"@AnytownBC\"",
    };
    Err((format!("`{h}` is not a valid {platform} handle"), help))
}
