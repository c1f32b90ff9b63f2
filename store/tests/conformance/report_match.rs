//! Report matching on both back ends: URL keys name the first item, and a picture hash finds
//! the nearest stored one within the distance through the chunk index, as the linear scan does.

use ballotwatch_store::{Hash256, PipelineStore};

/// A deterministic pseudo-random hash (xorshift64*).
fn hash(seed: u64) -> Hash256 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        chunk.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_be_bytes());
    }
    out
}

/// `h` with bits `bits` flipped.
fn flipped(h: &Hash256, bits: impl IntoIterator<Item = usize>) -> Hash256 {
    let mut out = *h;
    for b in bits {
        out[b / 8] ^= 0x80 >> (b % 8);
    }
    out
}

pub(super) fn report_keys_and_picture_hashes_match(env: &super::Env) {
    let s: &dyn PipelineStore = &*env.store;
    assert_eq!(s.report_key_item("url:https://a.example/p").unwrap(), None);
    assert!(s
        .add_report_key("url:https://a.example/p", "item-a")
        .unwrap());
    assert!(!s
        .add_report_key("url:https://a.example/p", "item-b")
        .unwrap());
    assert_eq!(
        s.report_key_item("url:https://a.example/p")
            .unwrap()
            .as_deref(),
        Some("item-a")
    );

    for i in 0..200u64 {
        assert!(s.add_report_hash(&format!("item-{i}"), &hash(i)).unwrap());
    }
    assert!(!s.add_report_hash("item-7", &hash(7)).unwrap());
    // 31 bits flipped, two in each of fifteen chunks and one in the last: the same picture.
    let near = flipped(&hash(7), (0..31).map(|k| k * 8 + 3));
    let m = s.nearest_report_hash(&near, 31).unwrap().unwrap();
    assert_eq!((m.item_id.as_str(), m.distance), ("item-7", 31));
    assert_eq!(Some(m), s.report_hashes_scan(&near, 31).unwrap());
    // 40 bits flipped: another picture, on both paths.
    let far = flipped(&hash(7), (0..40).map(|k| k * 6));
    assert_eq!(s.nearest_report_hash(&far, 31).unwrap(), None);
    assert_eq!(s.report_hashes_scan(&far, 31).unwrap(), None);
    // A second item with the same picture: the first stored wins a tie.
    assert!(s.add_report_hash("item-late", &hash(7)).unwrap());
    let m = s.nearest_report_hash(&hash(7), 31).unwrap().unwrap();
    assert_eq!((m.item_id.as_str(), m.distance), ("item-7", 0));
}

/// Reports recorded and closed on both back ends; `count` of them within the window raise the
/// incident's severity one step, once per burst, and queue what the plan decides.
pub(super) fn report_bursts_raise_severity_once_per_burst(env: &super::Env) {
    use ballotwatch_core::Severity;
    use ballotwatch_store::{AlertPlan, OutboxKind};
    use std::time::Duration;

    let s = &*env.store;
    s.record_poll("Echo", super::poll(s, &[("r", "reported post")], 0))
        .unwrap();
    super::classify_all(s, &["r"]);
    let seq = s.get_item("r").unwrap().unwrap().seq;
    let (ctx, _) = s
        .record_sighting(
            &super::sighting(seq, Some("r"), Severity::Low),
            &mut super::alert_plan,
        )
        .unwrap()
        .unwrap();
    let incident = ctx.incident.id;
    let report = |n: u32| {
        for _ in 0..n {
            let detail = serde_json::json!({ "note": "seen in the ward group" });
            let id = s
                .open_report("resident@example.org", true, &detail)
                .unwrap();
            s.close_report(id, "r", &serde_json::json!({ "joined": true }))
                .unwrap();
        }
    };
    let within = Duration::from_secs(3600);
    let mut planned = 0;
    let mut burst = |s: &dyn PipelineStore| {
        s.record_report_burst(incident, "r", 3, within, &mut |ctx, b| {
            planned += 1;
            AlertPlan {
                outbox: vec![super::msg(
                    &format!("incident:{}:burst:{}", ctx.incident.id, b.number),
                    "email",
                    Some(ctx.incident.id),
                )],
                digest: vec![],
            }
        })
        .unwrap()
    };
    report(2);
    assert!(burst(s).is_none(), "two reports are not a burst of three");
    report(1);
    let (ctx, b, plan) = burst(s).unwrap();
    assert_eq!((b.number, b.reports), (1, 3));
    assert_eq!((b.from, b.to), (Severity::Low, Severity::Medium));
    assert_eq!(ctx.incident.severity, Severity::Medium);
    assert_eq!(plan.outbox[0].kind, OutboxKind::Alert);
    assert!(burst(s).is_none(), "the next burst needs three new reports");
    report(3);
    let (_, b, _) = burst(s).unwrap();
    assert_eq!((b.number, b.reports, b.to), (2, 3, Severity::High));
    assert_eq!(planned, 2);
    assert!(s
        .record_report_burst(999_999, "r", 1, within, &mut |_, _| AlertPlan::default())
        .unwrap()
        .is_none());
    let keys: Vec<String> = s
        .outbox_rows(100)
        .unwrap()
        .into_iter()
        .map(|r| r.idempotency_key)
        .filter(|k| k.contains(":burst:"))
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let bursts = s
        .audit_entries(100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "incident.burst")
        .count();
    assert_eq!(bursts, 2);
    assert_eq!(s.reports_of_item("r").unwrap().len(), 6);
}
