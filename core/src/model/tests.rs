//! The data model: ids, hashing, JSON shapes and the contract's examples.

use super::*;

#[test]
fn contract_item_round_trips() {
    let json = r#"{"id": "x1", "source": {"kind": "rss", "name": "Leeds Live"},
      "url": "https://a.example/1", "published_at": "2026-05-01T08:00:00Z",
      "author": {"handle": "@someone", "display_name": "Someone", "platform": "bluesky", "url": "https://b.example"},
      "title": "T", "text": "plain text", "links": ["https://c.example"],
      "media": [{"url": "https://d.example/i.jpg", "path": "/local/file.jpg", "mime": "image/jpeg"}]}"#;
    let item: Item = serde_json::from_str(json).unwrap();
    assert_eq!(item.source.name, "Leeds Live");
    assert_eq!(
        item.media[0].path.as_deref(),
        Some(std::path::Path::new("/local/file.jpg"))
    );
    let back: Item = serde_json::from_str(&serde_json::to_string(&item).unwrap()).unwrap();
    assert_eq!(back, item);
}

#[test]
fn normalise_derives_id_from_source_and_url() {
    let item = Item {
        source: SourceRef {
            kind: "rss".into(),
            name: "Echo".into(),
        },
        url: Some("https://echo.example/a".into()),
        text: Some("hello".into()),
        ..Item::default()
    };
    let a = item.clone().normalise().unwrap();
    assert_eq!(a.id, Item::derive_id("Echo", "https://echo.example/a"));
    assert_eq!(a.id.len(), 32);
    let mut other = item.clone();
    other.source.name = "Other".into();
    assert_ne!(other.normalise().unwrap().id, a.id);
}

#[test]
fn items_without_id_or_url_get_a_stable_content_id() {
    let json = r#"{"source": {"kind": "rss", "name": "Echo"}, "text": "Polling day moved",
        "author": {"handle": "@a"}, "published_at": "2026-05-01T08:00:00Z",
        "media": [{"path": "/tmp/x.jpg"}]}"#;
    let item: Item = serde_json::from_str(json).unwrap();
    let id = item.clone().normalise().unwrap().id;
    // Pinned: the id must not change between versions (it is how results are matched up).
    assert_eq!(id, "9c95b25e7226ed11f0327e85ccc94bce");
    assert_eq!(id.len(), 32);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    // Same content, same id; any published field changed, another id.
    let again: Item = serde_json::from_str(json).unwrap();
    assert_eq!(again.normalise().unwrap().id, id);
    let mut changes: Vec<Item> = Vec::new();
    for f in [
        |i: &mut Item| i.text = Some("Polling day moved!".into()),
        |i: &mut Item| i.title = Some("t".into()),
        |i: &mut Item| i.source.name = "Other".into(),
        |i: &mut Item| i.author = None,
        |i: &mut Item| i.published_at = None,
        |i: &mut Item| i.media.clear(),
        |i: &mut Item| i.links.push("https://x.example".into()),
    ] {
        let mut c = item.clone();
        f(&mut c);
        changes.push(c);
    }
    for c in changes {
        assert_ne!(c.normalise().unwrap().id, id);
    }
    // Fields moved between title and text do not collide.
    let a = Item {
        title: Some("ab".into()),
        text: Some("c".into()),
        ..Item::default()
    };
    let b = Item {
        title: Some("a".into()),
        text: Some("bc".into()),
        ..Item::default()
    };
    assert_ne!(a.derive_content_id(), b.derive_content_id());
    // An id given is kept.
    let mut given = item.clone();
    given.id = "mine".into();
    assert_eq!(given.normalise().unwrap().id, "mine");
}

#[test]
fn normalise_rejects_empty_items() {
    assert_eq!(Item::default().normalise(), Err(ItemError::Empty));
    let no_url = Item {
        text: Some("x".into()),
        ..Item::default()
    };
    // No id and no URL: the id comes from the content.
    assert_eq!(
        no_url.clone().normalise().unwrap().id,
        no_url.derive_content_id()
    );
    let blank = Item {
        text: Some("  ".into()),
        url: Some("u".into()),
        ..Item::default()
    };
    assert_eq!(blank.normalise(), Err(ItemError::Empty));
}

#[test]
fn limit_text_cuts_title_and_text_at_a_char_boundary_and_says_so() {
    let mut item = Item {
        title: Some("Poll".into()),
        text: Some("é".repeat(10)),
        html: Some(format!("<p>{}</p>", "é".repeat(10))),
        ..Item::default()
    };
    let before = item.content_hash();
    let mut same = item.clone();
    assert!(!same.limit_text(100));
    assert_eq!(same, item);

    assert!(item.limit_text(9));
    // 4 bytes of title, then 5 of text: "éé" (4 bytes), not half an "é".
    assert_eq!(item.title.as_deref(), Some("Poll"));
    assert_eq!(item.text.as_deref(), Some("éé"));
    assert_eq!(
        item.html, None,
        "HTML longer than the limit is dropped, never cut"
    );
    let reason = item.truncated.clone().unwrap();
    assert!(
        reason.contains("max_item_text") && reason.contains("8 of 24"),
        "{reason}"
    );
    assert_ne!(
        item.content_hash(),
        before,
        "the cut text is what is hashed"
    );
    let mut again = item.clone();
    again.truncated = None;
    assert_eq!(
        again.content_hash(),
        item.content_hash(),
        "the reason is not"
    );

    // A title alone over the limit: the text goes.
    let mut item = Item {
        title: Some("x".repeat(20)),
        text: Some("body".into()),
        truncated: Some("nested too deep".into()),
        ..Item::default()
    };
    assert!(item.limit_text(5));
    assert_eq!(item.title.as_deref(), Some("xxxxx"));
    assert_eq!(item.text, None);
    assert!(item
        .truncated
        .unwrap()
        .starts_with("nested too deep; the text was cut"));
}

#[test]
fn content_hash_ignores_why_media_failed_but_not_a_capture() {
    let failed = |reason: &str| Item {
        id: "1".into(),
        media: vec![Media {
            url: Some("https://a.example/i.png".into()),
            capture_error: Some(reason.into()),
            ..Media::default()
        }],
        ..Item::default()
    };
    let a = failed("https://a.example/i.png answered HTTP 404");
    let b = failed("could not fetch https://a.example/i.png: connection refused");
    assert_eq!(a.content_hash(), b.content_hash());
    let mut captured = a.clone();
    captured.media[0].capture_error = None;
    captured.media[0].sha256 = Some("ab".repeat(32));
    assert_ne!(a.content_hash(), captured.content_hash());
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(
        json["media"][0]["capture_error"],
        "https://a.example/i.png answered HTTP 404"
    );
    assert!(json["media"][0].get("frame_of").is_none());
}

#[test]
fn content_hash_ignores_bookkeeping_but_not_edits() {
    let a = Item {
        id: "1".into(),
        text: Some("x".into()),
        ..Item::default()
    };
    let mut b = a.clone();
    b.version = 3;
    b.matched_terms = vec!["x".into()];
    b.ingested_at = Some(Utc::now());
    assert_eq!(a.content_hash(), b.content_hash());
    b.text = Some("y".into());
    assert_ne!(a.content_hash(), b.content_hash());
}

#[test]
fn severity_orders_and_parses() {
    assert!(Severity::High > Severity::Medium && Severity::Low > Severity::None);
    for s in Severity::ALL {
        assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
        assert_eq!(Severity::from_rank(s.rank()), Some(s));
    }
    assert!("urgent".parse::<Severity>().is_err());
    assert_eq!(
        serde_json::to_string(&Severity::Medium).unwrap(),
        "\"medium\""
    );
}

#[test]
fn incident_status_names_match_the_contract() {
    let names: Vec<_> = IncidentStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "new",
            "investigating",
            "escalated",
            "reported_to_platform",
            "resolved",
            "false_alarm"
        ]
    );
    for s in IncidentStatus::ALL {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, format!("\"{}\"", s.as_str()));
    }
}
