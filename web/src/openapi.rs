//! The OpenAPI 3.1 document of the JSON API, served at `/api/v1/openapi.json`. A test checks
//! that it lists exactly the API routes the router serves.

use serde_json::{json, Value};

/// A JSON-body response with a schema reference.
fn ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    })
}

fn errors() -> Value {
    let e = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    json!({
        "400": e("The request is wrong; `error` says how."),
        "401": e("No valid bearer token."),
        "403": e("The token's user lacks the role."),
        "404": e("No such incident or item."),
    })
}

fn with_errors(mut responses: Value) -> Value {
    if let (Some(r), Some(e)) = (responses.as_object_mut(), errors().as_object()) {
        for (k, v) in e {
            r.insert(k.clone(), v.clone());
        }
    }
    responses
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn path_id(description: &str, schema: Value) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": description, "schema": schema })
}

/// The whole document.
pub(crate) fn document() -> Value {
    let s = json!({ "type": "string" });
    let statuses = json!({ "type": "string", "enum": ["new", "investigating", "escalated", "reported_to_platform", "resolved", "false_alarm"] });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ballotwatch API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Search, incidents, sources and the audit log of a Ballotwatch deployment. \
                            Authenticate with `Authorization: Bearer TOKEN` (create a token with \
                            `ballotwatch user token NAME`). Viewers read; analysts also change incidents; \
                            admins also read the audit log. Analysts and admins send reports (`POST /reports`)."
        },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "bearer": [] }],
        "paths": {
            "/search": { "get": {
                "summary": "Search items with the index's query language and filters.",
                "parameters": [
                    query("q", "Query: words, \"phrases\", OR, -word, *, field:value filters.", s.clone()),
                    query("kind", "Verdict kind.", s.clone()),
                    query("label", "Verdict label.", s.clone()),
                    query("severity", "Severity: none, low, medium, high.", s.clone()),
                    query("source", "Source name.", s.clone()),
                    query("from", "Published on or after (YYYY-MM-DD).", json!({ "type": "string", "format": "date" })),
                    query("to", "Published on or before (YYYY-MM-DD).", json!({ "type": "string", "format": "date" })),
                    query("flagged", "true or false.", json!({ "type": "string", "enum": ["true", "false"] })),
                    query("status", "Status of the item's incident.", statuses.clone()),
                    query("sort", "relevance (default) or newest.", json!({ "type": "string", "enum": ["relevance", "newest"] })),
                    query("page", "Page from 1 (100 hits a page).", json!({ "type": "integer", "minimum": 1 })),
                ],
                "responses": with_errors(json!({ "200": ok("A page of hits with facet counts.", "SearchResults") })),
            } },
            "/incidents": { "get": {
                "summary": "Incidents, most recently changed first.",
                "parameters": [
                    query("status", "Only incidents with this status.", statuses.clone()),
                    query("limit", "At most this many (default 100, at most 1000).", json!({ "type": "integer", "minimum": 0 })),
                ],
                "responses": with_errors(json!({ "200": ok("Incidents.", "IncidentList") })),
            } },
            "/incidents/{id}": {
                "get": {
                    "summary": "One incident with its items and history (recorded in the audit log).",
                    "parameters": [path_id("Incident id.", json!({ "type": "integer" }))],
                    "responses": with_errors(json!({ "200": ok("The incident.", "IncidentFull") })),
                },
                "post": {
                    "summary": "Change an incident's status, assignee and/or add a note (analysts).",
                    "parameters": [path_id("Incident id.", json!({ "type": "integer" }))],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/IncidentChange" } } } },
                    "responses": with_errors(json!({ "200": ok("The incident after the change.", "Incident") })),
                },
            },
            "/incidents/{id}/export": { "post": {
                "summary": "Export the incident's signed evidence pack (analysts; recorded in the audit log). `ballotwatch verify` checks it.",
                "parameters": [path_id("Incident id.", json!({ "type": "integer" }))],
                "responses": with_errors(json!({ "200": {
                    "description": "The evidence pack (ZIP); header `X-Ballotwatch-Pack-Sha256` is its SHA-256, `X-Ballotwatch-Signing-Key-Fingerprint` the SHA-256 of the raw Ed25519 key that signed it (what `ballotwatch verify` names the signer by).",
                    "content": { "application/zip": { "schema": { "type": "string", "format": "binary" } } },
                } })),
            } },
            "/reports": { "post": {
                "summary": "Report a link or upload (analysts): each URL is captured (page, raw bytes, screenshot), each picture or video kept as media, each PDF kept as a capture with its text read into the report's, and the report stored as one item of source `Reports`, classified like any item — unless the same page (URL without tracking parameters) or the same picture (PDQ within `[reports] same_picture_distance`) was reported before: then the report joins that item and its incident (`joined`), and a burst of such reports raises the incident's severity. The reporter is recorded in the audit log, never in the item.",
                "requestBody": { "required": true, "content": { "multipart/form-data": { "schema": { "$ref": "#/components/schemas/ReportForm" } } } },
                "responses": with_errors(json!({
                    "201": ok("The report's reference number, its item, and what became of each URL and file.", "ReportReceipt"),
                    "413": { "description": "Over a `[reports]` limit (files, bytes per file, URLs, 16 KiB per text field); `error` names it.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
                })),
            } },
            "/items/{id}": { "get": {
                "summary": "One item (latest version) with its verdicts.",
                "parameters": [path_id("Item id.", s.clone())],
                "responses": with_errors(json!({ "200": ok("The item.", "Item") })),
            } },
            "/sources": { "get": {
                "summary": "Every source's polling state and counters.",
                "responses": with_errors(json!({ "200": ok("Sources.", "SourceList") })),
            } },
            "/audit": { "get": {
                "summary": "The audit log, newest first (admins).",
                "parameters": [query("limit", "At most this many (default 500, at most 5000).", json!({ "type": "integer", "minimum": 0 }))],
                "responses": with_errors(json!({ "200": ok("Audit entries.", "AuditList") })),
            } },
            "/openapi.json": { "get": {
                "summary": "This document.",
                "responses": with_errors(json!({ "200": { "description": "OpenAPI 3.1 document.", "content": { "application/json": {} } } })),
            } },
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "Item": { "type": "object", "description": "An item as stored (like `ballotwatch search --json`).",
                    "required": ["id", "source"],
                    "properties": {
                        "id": s.clone(), "source": { "type": "object" }, "url": s.clone(), "title": s.clone(), "text": s.clone(),
                        "published_at": { "type": "string", "format": "date-time" },
                        "flagged": { "type": "boolean" }, "severity": s.clone(),
                        "verdicts": { "type": "array", "items": { "$ref": "#/components/schemas/Verdict" } },
                        "incident_id": { "type": "integer", "description": "The incident the item joined most recently." },
                        "incident_ids": { "type": "array", "items": { "type": "integer" }, "description": "Every incident the item is in, most recently joined first (present with incident_id)." },
                        "snippet": { "type": "string", "description": "Search only: HTML with <b> around matches." },
                        "score": { "type": "number", "description": "Search only." }
                    } },
                "ReportForm": { "type": "object", "description": "At least one url, file or note.", "properties": {
                    "url": { "type": "array", "items": { "type": "string", "format": "uri" }, "description": "Reported web addresses (http/https); repeat the field or give one per line." },
                    "file": { "type": "array", "items": { "type": "string", "format": "binary" }, "description": "Screenshots, videos or PDFs (a PDF's text is read with pdftotext, at most 4 per report, 50 pages and 256 KiB of text each)." },
                    "note": { "type": "string", "description": "What the reporter saw." },
                    "seen_on": { "type": "string", "description": "Where it was seen, in the reporter's words." },
                    "platform": { "type": "string", "description": "The platform it was seen on." },
                    "group": { "type": "string", "description": "The group, page or chat it was seen in." } } },
                "ReportReceipt": { "type": "object", "required": ["reference", "item_id", "urls", "files"], "properties": {
                    "reference": { "type": "string", "description": "e.g. R-000042" }, "item_id": s.clone(),
                    "urls": { "type": "array", "items": { "type": "object", "required": ["url", "captured"], "properties": {
                        "url": s.clone(), "captured": { "type": "boolean" }, "status": { "type": "integer" }, "title": s.clone(),
                        "error": { "type": "string", "description": "Why it was not captured (SSRF guard, HTTP status, timeout…)." } } } },
                    "files": { "type": "array", "items": { "type": "object", "properties": {
                        "name": s.clone(), "mime": s.clone(), "sha256": s.clone(),
                        "error": { "type": "string", "description": "Why it was not kept as media (or, for a PDF, why its text was not read)." } } } },
                    "joined": { "type": "object", "description": "Present when the same page or picture was reported before: the report joined that item (`item_id`) and its incident.",
                        "required": ["by", "detail"], "properties": {
                        "by": { "type": "string", "enum": ["url", "picture"] },
                        "detail": { "type": "string", "description": "The URL's normal form, or the PDQ distance in bits." },
                        "incident_id": { "type": "integer" } } } } },
                "Verdict": { "type": "object", "required": ["kind", "label", "score", "detector", "explanation"],
                    "properties": { "kind": s.clone(), "label": s.clone(), "score": { "type": "number" }, "detector": s.clone(),
                        "explanation": s.clone(), "evidence": {}, "rebuttal": s.clone() } },
                "SearchResults": { "type": "object", "required": ["query", "total", "page", "page_size", "facets", "hits"],
                    "properties": { "query": s.clone(), "total": { "type": "integer" }, "page": { "type": "integer" },
                        "page_size": { "type": "integer" }, "facets": { "type": "object" },
                        "hits": { "type": "array", "items": { "$ref": "#/components/schemas/Item" } } } },
                "Incident": { "type": "object", "required": ["id", "title", "kind", "severity", "status", "created_at", "updated_at", "sightings", "notes"],
                    "properties": { "id": { "type": "integer" }, "title": s.clone(), "kind": s.clone(), "severity": s.clone(),
                        "status": statuses, "assignee": s.clone(),
                        "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" },
                        "sightings": { "type": "integer" }, "last_seen_at": { "type": ["string", "null"], "format": "date-time" },
                        "notes": s.clone(),
                        "reports": { "$ref": "#/components/schemas/ReportCount" } } },
                "ReportCount": { "type": "object", "description": "Reports (Report page, API, public form) that became the incident's items: how many, first and last received. In the incident list and the incident.",
                    "properties": { "count": { "type": "integer" }, "first": { "type": ["string", "null"], "format": "date-time" }, "last": { "type": ["string", "null"], "format": "date-time" } } },
                "IncidentFull": { "allOf": [ { "$ref": "#/components/schemas/Incident" }, { "type": "object", "properties": {
                    "items": { "type": "array", "items": { "$ref": "#/components/schemas/Item" } },
                    "report_bursts": { "type": "array", "description": "Each `[reports] burst` that raised its severity, oldest first.", "items": { "type": "object", "properties": {
                        "number": { "type": "integer" }, "reports": { "type": "integer" }, "from": s.clone(), "to": s.clone(),
                        "at": { "type": "string", "format": "date-time" } } } },
                    "history": { "type": "array", "items": { "type": "object", "properties": {
                        "at": { "type": "string", "format": "date-time" }, "actor": s.clone(), "field": s.clone(),
                        "old": { "type": ["string", "null"] }, "new": { "type": ["string", "null"] } } } } } } ] },
                "IncidentChange": { "type": "object", "additionalProperties": false, "properties": {
                    "status": { "$ref": "#/components/schemas/Incident/properties/status" },
                    "assignee": { "type": "string", "description": "Empty unassigns." },
                    "note": { "type": "string" } } },
                "IncidentList": { "type": "object", "properties": { "incidents": { "type": "array", "items": { "$ref": "#/components/schemas/Incident" } } } },
                "SourceList": { "type": "object", "properties": { "sources": { "type": "array", "items": { "type": "object" } } } },
                "AuditList": { "type": "object", "properties": { "entries": { "type": "array", "items": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "at": { "type": "string", "format": "date-time" }, "actor": s.clone(),
                    "action": s, "detail": {} } } } } },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_exactly_the_api_routes() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.to_uppercase(), format!("/api/v1{p}")))
            })
            .collect();
        documented.sort();
        let mut served: Vec<(String, String)> = crate::PROTECTED_ROUTES
            .iter()
            .filter(|(_, p)| p.starts_with("/api/v1/"))
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        assert_eq!(documented, served);
        // Every schema reference resolves.
        let text = doc.to_string();
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = r.split(['"', '/']).next().unwrap();
            assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
        }
    }
}
