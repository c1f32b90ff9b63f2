//! The pre-normalising rewrites, each on the smallest feed that needs it.

use std::borrow::Cow;

use super::*;

#[test]
fn rss_without_a_version_is_labelled_2_0_and_nothing_else_changes() {
    let xml = "<?xml version=\"1.0\"?>\n<rss xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><title>A &amp; B</title></channel></rss>";
    assert_eq!(
        prenormalise(xml),
        "<?xml version=\"1.0\"?>\n<rss xmlns:dc=\"http://purl.org/dc/elements/1.1/\" version=\"2.0\"><channel><title>A &amp; B</title></channel></rss>"
    );
    for v in ["0.93", "0.94", "2.01", " 2.0 ", ""] {
        let xml = format!("<rss version=\"{v}\"><channel/></rss>");
        assert_eq!(
            prenormalise(&xml),
            "<rss version=\"2.0\"><channel/></rss>",
            "{v}"
        );
    }
}

#[test]
fn feeds_feed_rs_reads_are_left_alone() {
    for xml in [
        "<rss version=\"2.0\"><channel/></rss>",
        "<rss version=\"0.91\"><channel/></rss>",
        "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title></feed>",
        "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\"><item rdf:about=\"https://a.test/1\"><link>https://a.test/1</link></item></rdf:RDF>",
        "{\"version\": \"https://jsonfeed.org/version/1.1\", \"items\": []}",
        "<rss version=\"2.0\"><channel><item>unclosed</channel>",
        "not a feed at all",
        "",
    ] {
        assert!(matches!(prenormalise(xml), Cow::Borrowed(_)), "{xml}");
    }
}

#[test]
fn rss_0_90_gets_the_rss_1_0_namespace() {
    let xml = "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://my.netscape.com/rdf/simple/0.9/\"><item><title>T</title><link>https://a.test/t</link></item></rdf:RDF>";
    assert_eq!(
        prenormalise(xml),
        "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\"><item><title>T</title><link>https://a.test/t</link></item></rdf:RDF>"
    );
}

#[test]
fn rss_1_0_items_without_a_link_get_their_rdf_about_or_a_placeholder() {
    let xml = "<rdf:RDF xmlns:rdf=\"r\" xmlns=\"http://purl.org/rss/1.0/\"><channel rdf:about=\"https://a.test/\"><link>https://a.test/</link></channel><item rdf:about=\"https://a.test/1?a=1&amp;b=2\"><title>One</title></item><item><title>Two</title></item><item><title>Three</title><link/><link> </link></item></rdf:RDF>";
    assert_eq!(
        prenormalise(xml),
        "<rdf:RDF xmlns:rdf=\"r\" xmlns=\"http://purl.org/rss/1.0/\"><channel rdf:about=\"https://a.test/\"><link>https://a.test/</link></channel><item rdf:about=\"https://a.test/1?a=1&amp;b=2\"><title>One</title><link xmlns=\"http://purl.org/rss/1.0/\">https://a.test/1?a=1&amp;b=2</link></item><item><title>Two</title><link xmlns=\"http://purl.org/rss/1.0/\">urn:ballotwatch:no-link</link></item><item><title>Three</title><link/><link> </link><link xmlns=\"http://purl.org/rss/1.0/\">urn:ballotwatch:no-link</link></item></rdf:RDF>"
    );
}

#[test]
fn atom_0_3_becomes_atom_1_0() {
    let xml = "<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><entry><title>T</title><issued>2026-05-07T10:00:00Z</issued><modified>2026-05-07T11:00:00Z</modified><x:modified xmlns:x=\"urn:x\">kept</x:modified><modified/></entry></feed>";
    assert_eq!(
        prenormalise(xml),
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>T</title><published>2026-05-07T10:00:00Z</published><updated>2026-05-07T11:00:00Z</updated><x:modified xmlns:x=\"urn:x\">kept</x:modified><updated/></entry></feed>"
    );
}

#[test]
fn deep_nesting_is_walked_without_recursion() {
    let depth = 100_000;
    let xml = format!(
        "<rdf:RDF xmlns=\"http://purl.org/rss/1.0/\"><item><title>deep</title>{}{}</item></rdf:RDF>",
        "<x>".repeat(depth),
        "</x>".repeat(depth)
    );
    let out = prenormalise(&xml);
    assert!(out.contains(
        "<link xmlns=\"http://purl.org/rss/1.0/\">urn:ballotwatch:no-link</link></item>"
    ));
}
