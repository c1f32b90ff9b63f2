//! End to end: the README's "A ten-minute tour of the demo", step by step, in headless
//! Chromium against the real `ballotwatch demo` (started as the README says, on a temporary data
//! folder and a free port). Each step checks what the README says the reader will see, takes
//! the screenshot the README shows (`target/screenshots/tour-*.png`; `scripts/screenshots`
//! copies them into `docs/screenshots/`) and audits the page's DOM for anything that could run
//! or load from elsewhere. The evidence pack the incident page downloads is checked with
//! `ballotwatch verify`, intact and with one byte changed.

use crate::common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::browser::*;
use common::demo::Demo;
use common::tools::Tool;
use fantoccini::{Client, Locator};
use serde_json::json;

/// The incidents the dashboard must show before the tour goes on: title words of incidents of
/// each kind (impersonation, misinformation, synthetic media) in the demo's recording.
const INCIDENT_TITLES: &[&str] = &[
    "lookalike domain: anytown-gov.uk",
    "impersonated account",
    "election process claim: pen-pencil",
    "ai generated provenance",
];

/// How long the demo may take to show what a step waits for. It takes seconds on a developer
/// machine; this is generous for a loaded CI runner.
const DEMO_DEADLINE: Duration = Duration::from_secs(240);

/// The text of the page's `<main>`.
async fn main_text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Follows the navigation link `text` and waits for the page whose `<h1>` starts with
/// `heading`.
async fn nav(c: &Client, text: &str, heading: &str) {
    let link = c
        .find(Locator::XPath(&format!(
            "//nav[@aria-label='Main']//a[normalize-space()='{text}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("no `{text}` link in the navigation: {e}"));
    link.click().await.unwrap();
    wait_heading(c, heading).await;
}

/// Waits until the page's `<h1>` starts with `heading`.
async fn wait_heading(c: &Client, heading: &str) {
    wait_for(&format!("the page `{heading}`"), || async {
        let h = c
            .find(Locator::Css("main h1"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        h.starts_with(heading).then_some(())
    })
    .await;
}

/// Takes the step's screenshot and checks the page is inert.
async fn shot_and_audit(c: &Client, name: &str) {
    let bad = c.execute(DOM_AUDIT, vec![]).await.unwrap();
    assert_eq!(bad, json!([]), "{name}: dangerous markup reached the DOM");
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    let path = screenshot(c, name).await;
    let png = std::fs::read(&path).unwrap();
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(
        width, WINDOW.0,
        "{name}: the screenshot is the window's width"
    );
}

/// Types `query` into the search box and submits it; waits for the results.
async fn search(c: &Client, query: &str) -> String {
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.clear().await.unwrap();
    q.send_keys(query).await.unwrap();
    c.find(Locator::Css("form[role='search'] button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&format!("results for {query:?}"), || async {
        let u = c.current_url().await.ok()?;
        let asked = u.query_pairs().any(|(k, v)| k == "q" && v == query);
        let h2 = c
            .find(Locator::Css("main h2"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (asked && (h2.ends_with(" result") || h2.ends_with(" results"))).then_some(())
    })
    .await;
    main_text(c).await
}

/// Clicks the first link `css` selects whose text contains `words`; `false` when none does.
async fn click_link(c: &Client, css: &str, words: &str) -> bool {
    for link in c.find_all(Locator::Css(css)).await.unwrap() {
        if link.text().await.unwrap().contains(words) {
            link.click().await.unwrap();
            return true;
        }
    }
    false
}

/// The search hits on the page: (title, source and flags line).
async fn hits(c: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for hit in c.find_all(Locator::Css("article.hit")).await.unwrap() {
        let title = hit
            .find(Locator::Css("h3"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let meta = hit
            .find(Locator::Css("p.muted"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        out.push((title, meta));
    }
    out
}

/// The incident page's history: (when, who, what, from, to) per row.
async fn history(c: &Client) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let rows = c
        .find_all(Locator::Css(
            "section[aria-labelledby='h-history'] tbody tr",
        ))
        .await
        .unwrap();
    for row in rows {
        let mut cells = Vec::new();
        for cell in row.find_all(Locator::Css("td")).await.unwrap() {
            cells.push(cell.text().await.unwrap());
        }
        out.push(cells);
    }
    out
}

/// Waits for a finished download in `dir` (Chromium writes `*.crdownload` until it is done).
async fn downloaded(dir: &Path) -> PathBuf {
    wait_for("the evidence pack download", || async {
        let entries = std::fs::read_dir(dir).ok()?;
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "zip"))
    })
    .await
}

/// A copy of the ZIP at `from` with one byte changed inside the stored `entry`'s data.
fn change_a_byte(from: &Path, entry: &str, to: &Path) {
    let mut bytes = std::fs::read(from).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let file = zip.by_name(entry).unwrap();
    let start = file.data_start().unwrap() as usize;
    let size = file.compressed_size() as usize;
    assert!(size > 0, "{entry} is empty");
    bytes[start + size / 2] ^= 0x01;
    std::fs::File::create(to)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_works_as_written_in_chromium() {
    if !common::tools::needs(&[
        Tool::Chromium,
        Tool::Chromedriver,
        Tool::Models,
        Tool::DejaVuFont,
    ]) {
        return;
    }
    // `ballotwatch demo`: it prints the web UI's address and a one-time login link.
    let demo = Demo::start();
    let downloads = tempfile::tempdir().unwrap();
    let driver = chromedriver();
    let c = browser_with_downloads(driver, Some(downloads.path())).await;

    // 1. The one-time link lands on the dashboard, with the demo banner; within seconds it
    // shows the incidents.
    c.goto(&demo.login).await.unwrap();
    wait_url(&c, "the dashboard", |u| u == format!("{}/", demo.web)).await;
    wait_heading(&c, "Dashboard").await;
    let banner = c
        .find(Locator::Css("p.demo-banner"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(banner.contains("fictional council"), "{banner}");
    let who = c
        .find(Locator::Css("form.logout span"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(who.trim(), "demo (admin)");
    let last = std::sync::Mutex::new(String::new());
    let shown = poll_until(DEMO_DEADLINE, || async {
        c.goto(&format!("{}/incidents", demo.web)).await.ok()?;
        let page = main_text(&c).await;
        let all = INCIDENT_TITLES.iter().all(|t| page.contains(t));
        *last.lock().unwrap() = page;
        all.then_some(())
    })
    .await;
    assert!(
        shown.is_some(),
        "after {DEMO_DEADLINE:?} the incidents page still lacks one of {INCIDENT_TITLES:?}:\n{}",
        last.lock().unwrap()
    );
    c.goto(&format!("{}/", demo.web)).await.unwrap();
    wait_heading(&c, "Dashboard").await;
    let new_bar = c
        .find(Locator::Css("#chart-status rect[data-label='new']"))
        .await
        .unwrap();
    let new: u32 = new_bar
        .attr("data-count")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert!(new >= INCIDENT_TITLES.len() as u32, "new incidents: {new}");
    let dashboard = main_text(&c).await;
    for part in [
        "Incidents by status",
        "Newest high-severity incidents",
        "Top false narratives",
        "Source health",
        "all healthy.",
    ] {
        assert!(
            dashboard.contains(part),
            "{part:?} not on the dashboard:\n{dashboard}"
        );
    }
    shot_and_audit(&c, "tour-01-dashboard").await;

    // 2. Incidents lists them.
    nav(&c, "Incidents", "Incidents").await;
    shot_and_audit(&c, "tour-02-incidents").await;

    // 3. The lookalike-domain incident: why it was flagged; work on it.
    let link = c
        .find(Locator::XPath(
            "//main//table//a[contains(., 'lookalike domain: anytown-gov.uk')]",
        ))
        .await
        .expect("the incident list links the lookalike-domain incident");
    link.click().await.unwrap();
    wait_heading(&c, "Incident ").await;
    let url = c.current_url().await.unwrap();
    let incident: i64 = url
        .path()
        .rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an incident page: {url}"));
    let page = main_text(&c).await;
    // Why it was flagged: each verdict's detector, label, score and the evidence in words.
    let why = c
        .find(Locator::Css("section[aria-labelledby='h-why']"))
        .await
        .expect("the incident page says why it was flagged")
        .text()
        .await
        .unwrap();
    assert!(
        why.contains("impersonation / lookalike_domain: mentions anytown-gov.uk"),
        "{why}"
    );
    for why in [
        "Verdicts — flagged high",
        "impersonation / lookalike_domain",
        "anytown-gov.uk, a lookalike of anytown.gov.uk (Anytown Borough Council): dot replaced by hyphen",
        "Captured from http://",
        ", HTTP 200, SHA-256 ",
        "— score 0.",
    ] {
        assert!(
            page.contains(why),
            "{why:?} not on the incident page:\n{page}"
        );
    }

    // The demo presents its recorded sites under their own names, as a council would see
    // them, not the replay server's 127.0.0.1.
    assert!(
        !page.contains("Captured from http://127.0.0.1"),
        "a capture names the replay server:\n{page}"
    );

    // Set it to "investigating" with a note, assign it, add a note.
    set_incident_status(&c, "investigating", "Reported to the domain registrar").await;
    let assignee = c.find(Locator::Id("assignee")).await.unwrap();
    assignee.clear().await.unwrap();
    assignee.send_keys("demo").await.unwrap();
    c.find(Locator::Css("form[action$='/assignee'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for("the assignee", || async {
        let facts = c
            .find(Locator::Css("dl.facts"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        facts.contains("Assignee\ndemo").then_some(())
    })
    .await;
    c.find(Locator::Id("note"))
        .await
        .unwrap()
        .send_keys("Asked the platform to take the post down")
        .await
        .unwrap();
    c.find(Locator::Css("form[action$='/notes'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notes = wait_for("the note", || async {
        let n = c
            .find(Locator::Css("pre.notes"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        n.contains("Asked the platform").then_some(n)
    })
    .await;
    assert!(
        notes.contains("demo: Reported to the domain registrar")
            && notes.contains("demo: Asked the platform to take the post down"),
        "{notes}"
    );
    let history = history(&c).await;
    for row in [
        ["demo", "status", "new", "investigating"],
        ["demo", "assignee", "", "demo"],
        [
            "demo",
            "note",
            "",
            "Asked the platform to take the post down",
        ],
    ] {
        assert!(
            history.iter().any(|h| h[1..] == row),
            "the history has no {row:?}: {history:?}"
        );
    }
    shot_and_audit(&c, "tour-03-incident").await;

    // 4. Export evidence pack: a ZIP that `ballotwatch verify` accepts, and refuses with one
    // byte changed, naming the file.
    c.find(Locator::Css("form[action$='/export'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let pack = downloaded(downloads.path()).await;
    let name = pack.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("ballotwatch-incident-{incident}-")),
        "{name}"
    );
    let key = common::signing_public_key(&demo.config());
    let verify = demo.run(&["verify", pack.to_str().unwrap(), "--public-key", &key]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let mut manifest = String::new();
    zip::ZipArchive::new(std::fs::File::open(&pack).unwrap())
        .unwrap()
        .by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    assert!(manifest.contains("anytown-gov.uk"), "{manifest}");
    let tampered = downloads.path().join("tampered.zip");
    change_a_byte(&pack, "report.html", &tampered);
    let verify = demo.run(&["verify", tampered.to_str().unwrap()]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(
        format!("{}{}", verify.stdout, verify.stderr).contains("report.html"),
        "verify names the changed file: {}{}",
        verify.stdout,
        verify.stderr
    );

    // 5. Search `pencil`: the myth is flagged, the Anytown Echo's fact check is found but not.
    nav(&c, "Search", "Search").await;
    search(&c, "pencil").await;
    let found = hits(&c).await;
    assert_eq!(found.len(), 2, "{found:?}");
    let facets = c
        .find(Locator::Css("nav.facets"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for facet in ["Kind", "Severity", "Source", "Label", "Anytown Echo (1)"] {
        assert!(
            facets.contains(facet),
            "{facet:?} not in the facets:\n{facets}"
        );
    }
    assert!(
        found
            .iter()
            .any(|(_, meta)| meta.contains("flagged") && meta.contains("incident")),
        "the pen-versus-pencil myth is flagged: {found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(_, meta)| meta.starts_with("Anytown Echo") && !meta.contains("flagged")),
        "the Anytown Echo's fact check is found and not flagged: {found:?}"
    );
    shot_and_audit(&c, "tour-04-search").await;
    search(&c, "flagged:true kind:impersonation").await;
    let found = hits(&c).await;
    assert!(found.len() >= 3, "{found:?}");
    assert!(
        found.iter().all(|(_, meta)| meta.contains("flagged")),
        "{found:?}"
    );
    search(&c, "source:\"Telegram: Anytown Votes\"").await;
    let found = hits(&c).await;
    assert!(!found.is_empty());
    assert!(
        found
            .iter()
            .all(|(_, meta)| meta.starts_with("Telegram: Anytown Votes")),
        "{found:?}"
    );

    // 6. Demo mail: the lookalike-domain incident's alert, with its explanation.
    nav(&c, "Demo mail", "Demo mail").await;
    let mail = wait_for("the lookalike-domain alert email", || async {
        c.refresh().await.ok()?;
        let articles = c.find_all(Locator::Css("article.mail")).await.ok()?;
        for a in articles {
            let subject = a.find(Locator::Css("h2")).await.ok()?.text().await.ok()?;
            if subject.ends_with(&format!("incident #{incident}")) {
                return Some((subject, a.text().await.ok()?));
            }
        }
        None
    })
    .await;
    assert!(
        mail.0.starts_with("[HIGH] impersonation: lookalike domain"),
        "{}",
        mail.0
    );
    for part in ["Source: ", "Link: ", "a lookalike of anytown.gov.uk"] {
        assert!(
            mail.1.contains(part),
            "{part:?} not in the email:\n{}",
            mail.1
        );
    }
    shot_and_audit(&c, "tour-05-demo-mail").await;

    // 7. Sources: each source's health, last success, items today, last error, next poll.
    nav(&c, "Sources", "Sources").await;
    let sources = main_text(&c).await;
    for name in [
        "Anytown Echo",
        "Telegram: Anytown Votes",
        "Council polling stations page",
        "Bluesky (jetstream)",
    ] {
        assert!(
            sources.contains(name),
            "{name} not on the sources page:\n{sources}"
        );
    }
    assert!(!sources.contains("Failing"), "{sources}");
    for column in [
        "Health",
        "Last success",
        "Items today",
        "Last error",
        "Next poll",
    ] {
        assert!(
            sources.contains(column),
            "{column:?} not on the sources page"
        );
    }
    shot_and_audit(&c, "tour-06-sources").await;

    // 8. The polling-station page's second version and what changed since the first.
    nav(&c, "Search", "Search").await;
    wait_for_within(
        "the polling-station page's second version",
        DEMO_DEADLINE,
        || async {
            search(&c, "source:\"Council polling stations page\"").await;
            let link = c.find(Locator::Css("article.hit h3 a")).await.ok()?;
            link.click().await.ok()?;
            wait_heading(&c, "Item: Polling stations for the 7 May 2026 elections").await;
            let page = main_text(&c).await;
            if page.contains("What changed since version 1") {
                Some(())
            } else {
                nav(&c, "Search", "Search").await;
                None
            }
        },
    )
    .await;
    let diff = c
        .find(Locator::Css("pre.diff"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        diff.contains("+Riverside Methodist Church")
            && diff.contains("-Mill Lane Community Centre"),
        "{diff}"
    );
    shot_and_audit(&c, "tour-07-page-change").await;

    // 9. The live Bluesky stream's posts, among them two threats, are found and flagged.
    nav(&c, "Search", "Search").await;
    let found = wait_for_within(
        "the live stream's two threats in search",
        DEMO_DEADLINE,
        || async {
            search(&c, "source:Bluesky flagged:true").await;
            let found = hits(&c).await;
            let flagged = |words: &str| {
                found
                    .iter()
                    .any(|(title, meta)| title.contains(words) && meta.contains("flagged"))
            };
            (flagged("free lifts") && flagged("Heads up Riverside ward")).then_some(found)
        },
    )
    .await;
    assert!(
        found.iter().all(|(_, meta)| meta.starts_with("Bluesky")),
        "{found:?}"
    );

    // 10. The elections inbox's forwarded reports: both flagged; the WhatsApp picture's
    // incident shows the report with the text read from the picture.
    nav(&c, "Search", "Search").await;
    let found = wait_for_within(
        "the elections inbox's two reports in search",
        DEMO_DEADLINE,
        || async {
            search(&c, "source:\"Elections inbox\"").await;
            let found = hits(&c).await;
            (found.len() == 2 && found.iter().all(|(_, meta)| meta.contains("flagged")))
                .then_some(found)
        },
    )
    .await;
    assert!(
        found
            .iter()
            .any(|(title, _)| title.contains("Riverside parents WhatsApp")),
        "{found:?}"
    );
    assert!(
        click_link(&c, "article.hit h3 a", "Riverside parents WhatsApp").await,
        "{found:?}"
    );
    // A flagged hit opens its incident, where the report is one of the sightings.
    wait_heading(&c, "Incident ").await;
    let page = main_text(&c).await;
    for expected in [
        "Is this real?? going round the Riverside parents WhatsApp",
        "Text read from the image",
        "Riverside Community Hall",
        "Elections inbox",
    ] {
        assert!(page.contains(expected), "{expected:?} not in {page}");
    }
    shot_and_audit(&c, "tour-08-elections-inbox").await;
    // Its heading opens the item's own page, where the report names who forwarded it.
    assert!(
        click_link(&c, "article.item h3 a", "Riverside parents WhatsApp").await,
        "no item heading links to the report"
    );
    wait_heading(
        &c,
        "Item: Is this real?? going round the Riverside parents WhatsApp",
    )
    .await;
    let page = main_text(&c).await;
    for expected in ["Reports (1)", "from Priya Shah <priya.shah@example.net>"] {
        assert!(page.contains(expected), "{expected:?} not in {page}");
    }

    // 11. Report a link someone sent in: the page is captured at once and the report gets a
    // reference; its item names who reported it.
    nav(&c, "Report", "Report a link or upload").await;
    let reported = "http://voter-reregistration.co.uk/lookalike/postal-vote";
    c.find(Locator::Id("url"))
        .await
        .unwrap()
        .send_keys(reported)
        .await
        .unwrap();
    c.find(Locator::Id("note"))
        .await
        .unwrap()
        .send_keys("A neighbour sent me this link: is it really the council?")
        .await
        .unwrap();
    c.find(Locator::Id("platform"))
        .await
        .unwrap()
        .send_keys("WhatsApp")
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_heading(&c, "Report R-").await;
    let page = main_text(&c).await;
    assert!(
        page.contains(&format!("{reported} — captured (HTTP 200)")),
        "{page}"
    );
    shot_and_audit(&c, "tour-09-report").await;
    c.find(Locator::LinkText("See the report item"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_heading(&c, "Item: ").await;
    let page = main_text(&c).await;
    for expected in [
        "Reports (1)",
        "from demo",
        "A neighbour sent me this link",
        "Seen on WhatsApp",
    ] {
        assert!(page.contains(expected), "{expected:?} not in {page}");
    }
    // Classified like any item, it joins an incident (reload until it has).
    let item_url = c.current_url().await.unwrap();
    wait_for_within("the report item in an incident", DEMO_DEADLINE, || async {
        c.goto(item_url.as_str()).await.ok()?;
        let page = main_text(&c).await;
        page.contains("Part of incident").then_some(())
    })
    .await;

    c.close().await.unwrap();
}
