//! # ballotwatch-web
//!
//! Ballotwatch's web UI and JSON API, served by `ballotwatch serve` on `[server] bind`.
//!
//! - **Pages** (server-rendered HTML, no JavaScript): login, dashboard (incidents over time as
//!   SVG charts, incidents by status, top narratives, newest high-severity incidents, source
//!   health), search (the index's query language, filters, facets, highlighted snippets,
//!   paging), items and incidents (the captured item as sanitized HTML, media only from the
//!   capture store, verdicts with explanation and rebuttal, sightings, status workflow,
//!   assignee, notes, history), sources, the audit log and user administration (admins:
//!   disable, enable, delete, set passwords, revoke API tokens).
//! - **JSON API** under `/api/v1/` with bearer tokens (`ballotwatch user token NAME`), described
//!   by `/api/v1/openapi.json`.
//! - **Operations**: `/healthz`, `/readyz`, and Prometheus `/metrics` (on its own listener when
//!   `[server] metrics_bind` is set, so it can be kept to localhost).
//!
//! ## Security
//! Every route but `/login`, `/healthz`, `/readyz`, `/metrics`, `/static/` and the public
//! report form (`/report`, 404 unless `[reports] public_form`; see [`reports`]) needs a login
//! session (pages) or an API token (API). Sessions and tokens are random 256-bit values kept
//! only as SHA-256 hashes; passwords as argon2id hashes. The session cookie is `HttpOnly`,
//! `SameSite=Strict` and `Secure` when `public_url` is https. Every form carries the session's
//! CSRF token (the login form a cookie-bound one). Logins are limited per client address (IPv6:
//! per /64), more strictly than accounts lock after repeated failures (with exponential
//! back-off), so one address cannot lock an account; every refused login answers the same.
//! Every response carries a Content-Security-Policy without `unsafe-inline` (and no script
//! source at all), `frame-ancestors 'none'`,
//! `X-Frame-Options: DENY`, `nosniff` and `Referrer-Policy: no-referrer`. Everything from
//! sources is untrusted: escaped by default, captured HTML sanitized with an allow-list, images
//! only from the capture store. Logins, searches, incident views and changes go to the audit log.

#![warn(missing_docs)]

mod api;
mod auth;
mod chart;
pub mod config;
pub mod demo;
mod error;
mod export;
mod fakes;
mod metrics;
mod openapi;
mod pages;
pub mod reports;
mod sanitize;
mod search;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use ballotwatch_index::SearchIndex;
use ballotwatch_store::WebStore;
pub use config::{BurstConfig, ReportsConfig, ServerConfig};
use tokio_util::sync::CancellationToken;

pub use auth::{
    choose_password, hash_password, new_secret, token_hash, verify_password, PasswordError,
    MIN_PASSWORD_CHARS,
};
pub use error::WebError;
pub use fakes::{FakeMarker, FakeMarkerHandle, MarkFakeError};
pub use reports::{ReportIntake, ReportIntakeHandle};

/// How the web server behaves: where it listens, its login rules and its evidence export.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Address of the UI and API.
    pub bind: SocketAddr,
    /// Address of `/metrics` alone; `None` serves it on `bind`.
    pub metrics_bind: Option<SocketAddr>,
    /// Mark cookies `Secure` (the UI is reached over https).
    pub secure_cookies: bool,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// When failed logins lock an account, and for how long.
    pub login: ballotwatch_store::LoginPolicy,
    /// Login attempts one client address (an IPv6 /64) may make within `login.window`.
    pub login_attempts_per_address: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see [`ServerConfig`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What the "Export evidence pack" button needs; `None` answers it with 503.
    pub export: Option<ballotwatch_evidence::ExportSettings>,
    /// The demo's extras (the Demo mail page and a one-time login link); only `ballotwatch
    /// demo` sets this.
    pub demo: Option<Arc<demo::DemoSettings>>,
    /// What the "Mark media as confirmed fake" button calls; `None` answers it with 503.
    pub fake_marker: Option<FakeMarkerHandle>,
    /// `[reports]`: the report forms' limits and whether the public form is served.
    pub reports: ReportsConfig,
    /// What stores reports; `None` answers them with 503.
    pub report_intake: Option<ReportIntakeHandle>,
}

impl WebConfig {
    /// The web settings of a `[server]` table.
    pub fn from_server(server: &ServerConfig) -> WebConfig {
        WebConfig {
            bind: server.bind,
            metrics_bind: server.metrics_bind,
            secure_cookies: server
                .public_url
                .as_ref()
                .is_some_and(|u| u.scheme() == "https"),
            session_ttl: server.session_ttl,
            login: ballotwatch_store::LoginPolicy {
                max_failures: server.login_max_failures,
                window: server.login_window,
                lockout: server.login_lockout,
                max_lockout: server.login_max_lockout,
            },
            login_attempts_per_address: server.attempts_per_address(),
            trusted_proxies: server.trusted_proxies.clone(),
            export: None,
            demo: None,
            fake_marker: None,
            reports: ReportsConfig::default(),
            report_intake: None,
        }
    }
}

/// A check `/healthz` and `/readyz` run besides the store's (a cluster node's NATS connection):
/// `Err` with the reason while that dependency is unreachable. Cheap and non-blocking.
pub type DependencyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What every handler shares. Every handler reaches the store through [`WebStore`], so the same
/// server runs on SQLite (embedded mode) and on PostgreSQL (a cluster's web role).
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn WebStore>,
    pub(crate) index: SearchIndex,
    pub(crate) config: Arc<WebConfig>,
    pub(crate) limiter: Arc<auth::LoginLimiter>,
    /// What `/healthz` and `/readyz` check besides the store, by name; empty in embedded mode.
    pub(crate) dependencies: Arc<Vec<(String, DependencyCheck)>>,
    /// The public report form's per-address limit.
    pub(crate) report_limiter: Arc<auth::LoginLimiter>,
}

impl AppState {
    /// The shared state of a server over `store` and `index` (the unit tests' way in).
    #[cfg(test)]
    pub(crate) fn new<S: WebStore + 'static>(
        store: S,
        index: SearchIndex,
        config: WebConfig,
    ) -> AppState {
        AppState::shared(Arc::new(store), index, config)
    }

    /// The shared state of a server over a store shared with the rest of the process.
    pub(crate) fn shared(
        store: Arc<dyn WebStore>,
        index: SearchIndex,
        config: WebConfig,
    ) -> AppState {
        AppState {
            store,
            index,
            dependencies: Arc::new(Vec::new()),
            limiter: Arc::new(auth::LoginLimiter::new(
                config.login_attempts_per_address,
                config.login.window,
            )),
            report_limiter: Arc::new(auth::LoginLimiter::new(
                config.reports.public_per_address,
                config.reports.public_window,
            )),
            config: Arc::new(config),
        }
    }

    /// Runs a store (or other blocking) call off the async threads.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, WebError>
    where
        F: FnOnce(&dyn WebStore) -> Result<T, WebError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| WebError::Internal(format!("a background task failed: {e}")))?
    }
}

/// The whole application: pages, API and (unless it has its own listener) metrics.
fn app(state: AppState, with_metrics: bool) -> Router {
    let staff_body = reports::Limits::staff(&state.config.reports).body();
    let public_body = reports::Limits::public(&state.config.reports).body();
    let pages = Router::new()
        .route(
            "/reports",
            get(reports::page)
                .post(reports::submit_page)
                .layer(DefaultBodyLimit::max(staff_body)),
        )
        .route("/", get(pages::dashboard::page))
        .route("/search", get(pages::search::page))
        .route("/incidents", get(pages::incident::list))
        .route("/incidents/{id}", get(pages::incident::page))
        .route("/incidents/{id}/status", post(pages::incident::set_status))
        .route(
            "/incidents/{id}/assignee",
            post(pages::incident::set_assignee),
        )
        .route("/incidents/{id}/notes", post(pages::incident::add_note))
        .route("/incidents/{id}/export", post(pages::incident::export))
        .route("/incidents/{id}/fakes", post(fakes::mark))
        .route("/items/{id}", get(pages::incident::item_page))
        .route("/media/{sha256}", get(pages::incident::media))
        .route("/sources", get(pages::sources::page))
        .route("/audit", get(pages::audit::page))
        .route("/users", get(pages::users::page))
        .route("/users/disable", post(pages::users::disable))
        .route("/users/enable", post(pages::users::enable))
        .route("/users/delete", post(pages::users::delete))
        .route("/users/password", post(pages::users::set_password))
        .route("/tokens/revoke", post(pages::users::revoke_token))
        .route("/logout", post(pages::login::logout))
        .route("/demo/mail", get(demo::mail_page))
        .route("/demo/mail.json", get(demo::mail_json))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_session,
        ));
    let api = api::router()
        .route(
            "/reports",
            post(reports::api_submit).layer(DefaultBodyLimit::max(staff_body)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let mut open = Router::new()
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/login/once/{token}", get(demo::one_time_login))
        .route(
            "/report",
            get(reports::public_page)
                .post(reports::public_submit)
                .layer(DefaultBodyLimit::max(public_body)),
        )
        .route("/healthz", get(metrics::healthz))
        .route("/readyz", get(metrics::readyz))
        .route("/static/app.css", get(pages::stylesheet));
    if with_metrics {
        open = open.route("/metrics", get(metrics::metrics));
    }
    Router::new()
        .merge(pages)
        .nest("/api/v1", api)
        .merge(open)
        .fallback(pages::not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Every route of the UI and API that needs a login, as `(method, path)` with `{id}`-style
/// parameters: what the "refused without login" test walks.
pub const PROTECTED_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/search"),
    ("GET", "/reports"),
    ("POST", "/reports"),
    ("GET", "/incidents"),
    ("GET", "/incidents/{id}"),
    ("POST", "/incidents/{id}/status"),
    ("POST", "/incidents/{id}/assignee"),
    ("POST", "/incidents/{id}/notes"),
    ("POST", "/incidents/{id}/export"),
    ("POST", "/incidents/{id}/fakes"),
    ("GET", "/items/{id}"),
    ("GET", "/media/{sha256}"),
    ("GET", "/sources"),
    ("GET", "/audit"),
    ("GET", "/users"),
    ("POST", "/users/disable"),
    ("POST", "/users/enable"),
    ("POST", "/users/delete"),
    ("POST", "/users/password"),
    ("POST", "/tokens/revoke"),
    ("POST", "/logout"),
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/incidents"),
    ("GET", "/api/v1/incidents/{id}"),
    ("POST", "/api/v1/incidents/{id}"),
    ("POST", "/api/v1/incidents/{id}/export"),
    ("GET", "/api/v1/items/{id}"),
    ("GET", "/api/v1/sources"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/reports"),
];

/// Adds the security headers to every response.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}

/// A bound but not yet running web server.
pub struct WebServer {
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    state: AppState,
}

impl WebServer {
    /// Binds the UI (and metrics) addresses over `store` (the SQLite `Store` in embedded mode).
    /// Fails, naming the address, when one is taken.
    pub async fn bind<S: WebStore + 'static>(
        config: WebConfig,
        store: S,
        index: SearchIndex,
    ) -> Result<Self, WebError> {
        WebServer::bind_shared(config, Arc::new(store), index).await
    }

    /// [`WebServer::bind`] over a store shared with other parts of the process (a cluster
    /// node's `PgStore`).
    pub async fn bind_shared(
        config: WebConfig,
        store: Arc<dyn WebStore>,
        index: SearchIndex,
    ) -> Result<Self, WebError> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| WebError::Bind {
                what: "server.bind",
                addr: config.bind,
                source: e,
            })?;
        let metrics_listener = match config.metrics_bind {
            Some(addr) => {
                Some(
                    tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| WebError::Bind {
                            what: "server.metrics_bind",
                            addr,
                            source: e,
                        })?,
                )
            }
            None => None,
        };
        let state = AppState::shared(store, index, config);
        Ok(WebServer {
            listener,
            metrics_listener,
            state,
        })
    }

    /// Adds a dependency `/healthz` reports and `/readyz` requires (a cluster node's NATS);
    /// with one, both also name the store's back end and whether it answers.
    pub fn with_dependency(mut self, name: &str, check: DependencyCheck) -> Self {
        let mut deps = self.state.dependencies.as_ref().clone();
        deps.push((name.to_string(), check));
        self.state.dependencies = Arc::new(deps);
        self
    }

    /// The address the UI listens on (useful when bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, WebError> {
        self.listener
            .local_addr()
            .map_err(|e| WebError::Internal(format!("cannot read the listening address: {e}")))
    }

    /// The address `/metrics` listens on when it has its own listener.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` is cancelled, then finishes the requests in flight.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WebError> {
        let separate_metrics = self.metrics_listener.is_some();
        let main = app(self.state.clone(), !separate_metrics)
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = shutdown.clone();
        let main = axum::serve(self.listener, main)
            .with_graceful_shutdown(async move { stop.cancelled().await });
        let serve_metrics = async {
            match self.metrics_listener {
                Some(l) => {
                    let m = Router::new()
                        .route("/metrics", get(metrics::metrics))
                        .layer(middleware::from_fn(security_headers))
                        .with_state(self.state.clone());
                    axum::serve(l, m)
                        .with_graceful_shutdown(async move { shutdown.cancelled().await })
                        .await
                }
                None => Ok(()),
            }
        };
        let (a, b) = tokio::join!(main, serve_metrics);
        a.and(b)
            .map_err(|e| WebError::Internal(format!("the web server stopped: {e}")))
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A router over a fresh store and index, and request helpers.

    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use ballotwatch_store::Store;
    use tower::ServiceExt;

    /// A store, an empty index and the app over them (metrics on the main listener).
    pub struct TestApp {
        pub _dir: tempfile::TempDir,
        pub store: Store,
        pub router: Router,
    }

    pub fn test_app() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let index = SearchIndex::open_or_create(&dir.path().join("index")).unwrap();
        let state = AppState::new(
            store.clone(),
            index,
            WebConfig {
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                metrics_bind: None,
                secure_cookies: true,
                session_ttl: Duration::from_secs(3600),
                login: ballotwatch_store::LoginPolicy {
                    max_failures: 3,
                    window: Duration::from_secs(900),
                    lockout: Duration::from_secs(900),
                    max_lockout: Duration::from_secs(4 * 3600),
                },
                login_attempts_per_address: 2,
                trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
                export: None,
                demo: None,
                fake_marker: None,
                reports: ReportsConfig::default(),
                report_intake: None,
            },
        );
        TestApp {
            router: app(state, true),
            store,
            _dir: dir,
        }
    }

    /// A session cookie (`name=value`) and CSRF token for a new user with `role`.
    pub fn session(t: &TestApp, name: &str, role: ballotwatch_store::Role) -> (String, String) {
        let user = t.store.create_user(name, role, "x").unwrap();
        let token = format!("tok-{name}");
        let csrf = format!("csrf-{name}");
        t.store
            .create_session(
                &user,
                &crate::auth::token_hash(&token),
                &csrf,
                Duration::from_secs(600),
                &serde_json::json!({}),
            )
            .unwrap();
        (format!("{}={token}", crate::auth::SESSION_COOKIE), csrf)
    }

    /// A form POST with a session cookie.
    pub fn post_form(cookie: &str, path: &str, body: String) -> Request<Body> {
        Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(Body::from(body))
            .unwrap()
    }

    /// A GET with a session cookie.
    pub fn get_with(cookie: &str, path: &str) -> Request<Body> {
        Request::get(path)
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap()
    }

    /// Sends a request from 127.0.0.1 and returns status, headers and body text.
    pub async fn send(
        router: &Router,
        req: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = req;
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from((
                [127, 0, 0, 1],
                4000,
            ))));
        let res = router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 10 << 20)
            .await
            .unwrap();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};

    #[tokio::test]
    async fn every_protected_route_refuses_anonymous_requests() {
        let t = test_app();
        for (method, path) in PROTECTED_ROUTES {
            let path = path
                .replace("{id}", "1")
                .replace("{sha256}", &"a".repeat(64));
            let req = Request::builder()
                .method(*method)
                .uri(&path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("csrf=x&status=escalated&note=x&assignee=x"))
                .unwrap();
            let (status, headers, body) = send(&t.router, req).await;
            if path.starts_with("/api/") {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
                assert!(headers.contains_key("www-authenticate"), "{path}");
            } else {
                assert_eq!(status, StatusCode::SEE_OTHER, "{method} {path}");
                assert_eq!(headers["location"], "/login", "{path}");
            }
            assert!(!body.contains("Incident"), "{path} leaked: {body}");
        }
    }

    #[tokio::test]
    async fn a_cluster_node_reports_its_dependencies_and_is_not_ready_without_them() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let t = test_app();
        let mut state = AppState::new(
            t.store.clone(),
            SearchIndex::open_or_create(&t._dir.path().join("i2")).unwrap(),
            WebConfig::from_server(&Default::default()),
        );
        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        let nats: DependencyCheck = Arc::new(move || {
            if flag.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("connection state Disconnected".into())
            }
        });
        state.dependencies = Arc::new(vec![("nats".into(), nats)]);
        let router = app(state, true);
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let (status, _, body) = send(&router, get("/healthz")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok\nnats: reachable\nsqlite: reachable\n");
        let (status, _, body) = send(&router, get("/readyz")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ready\nnats: reachable\nsqlite: reachable\n");

        up.store(false, Ordering::SeqCst);
        let (status, _, body) = send(&router, get("/healthz")).await;
        assert_eq!(status, StatusCode::OK, "the process itself is fine");
        assert!(
            body.contains("nats: unreachable: connection state Disconnected"),
            "{body}"
        );
        let (status, _, body) = send(&router, get("/readyz")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.starts_with("not ready\n"), "{body}");
        assert!(body.contains("nats: unreachable") && body.contains("sqlite: reachable"));
        // Embedded mode (no dependencies) answers as it always did.
        let (_, _, body) = send(&t.router, get("/healthz")).await;
        assert_eq!(body, "ok\n");
    }

    #[tokio::test]
    async fn open_routes_answer_and_carry_security_headers() {
        let t = test_app();
        for path in [
            "/login",
            "/healthz",
            "/readyz",
            "/metrics",
            "/static/app.css",
        ] {
            let req = Request::get(path).body(Body::empty()).unwrap();
            let (status, h, _) = send(&t.router, req).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(!csp.contains("unsafe-inline"), "{csp}");
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["referrer-policy"], "no-referrer");
        }
    }
}
