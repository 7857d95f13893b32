//! The web dashboard, on the admin listener: server-rendered pages (maud) over the same
//! operations the admin API and CLI use (`admin::ops`, the zone service), reading
//! counters, never scanning objects.

mod bucket_settings;
mod buckets_page;
pub mod capacity;
mod capacity_page;
mod chart;
mod checks_panel;
mod console;
pub mod format;
mod history;
mod keys_panel;
pub mod lag;
mod layout;
mod objects_page;
pub mod session;
mod throttle;
pub mod traffic;
mod traffic_page;
mod users_page;
mod zone_page;

use crate::admin::state::AdminState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use layout::{page, respond};
use maud::html;
use serde::de::DeserializeOwned;
use serde::Deserialize;
pub use session::Dashboard;
use session::Session;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(zone_page::show))
        .route("/dashboard/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard/static/app.css", get(stylesheet))
        .route("/dashboard/static/app.js", get(script))
        .route("/dashboard/login", get(login_form).post(login))
        .route("/dashboard/logout", post(logout))
        .merge(zone_page::routes())
        .merge(checks_panel::routes())
        .merge(keys_panel::routes())
        .merge(buckets_page::routes())
        .merge(objects_page::routes())
        .merge(console::routes())
        .merge(bucket_settings::routes())
        .merge(users_page::routes())
        .merge(traffic_page::routes())
        .merge(capacity_page::routes())
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("static/app.css"))
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("static/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("cache-control", HeaderValue::from_static("max-age=300"));
    r
}

/// A signed-in request. Without a live session, the page answers with the sign-in page.
pub struct Signed(pub Session);

impl FromRequestParts<AdminState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AdminState) -> Result<Self, Response> {
        session::cookie(&parts.headers, session::COOKIE)
            .and_then(|id| s.dashboard.sessions.get(id))
            .map(Signed)
            .ok_or_else(|| Redirect::to("/dashboard/login").into_response())
    }
}

/// A form posted by a signed-in user, its CSRF token checked: every action goes through
/// this one check.
pub struct Action<T> {
    pub session: Session,
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Forms are small; anything larger is refused unread.
const MAX_FORM: usize = 64 * 1024;

impl<T: DeserializeOwned + Send> FromRequest<AdminState> for Action<T> {
    type Rejection = Response;

    async fn from_request(req: Request, s: &AdminState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Signed(session) = Signed::from_request_parts(&mut parts, s).await?;
        let raw = axum::body::to_bytes(body, MAX_FORM)
            .await
            .map_err(|_| problem(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
        let given: CsrfField = serde_urlencoded::from_bytes(&raw).map_err(|_| forged())?;
        if !bascule_api::sigv4::signatures_match(&session.csrf, &given.csrf) {
            return Err(forged());
        }
        let form = serde_urlencoded::from_bytes(&raw)
            .map_err(|e| problem(StatusCode::BAD_REQUEST, &format!("Bad form: {e}")))?;
        Ok(Action { session, form })
    }
}

fn forged() -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "This form was stale or did not come from this dashboard (CSRF check failed). Reload the page and try again.",
    )
}

/// A plain error page.
fn problem(status: StatusCode, message: &str) -> Response {
    respond(
        status,
        page(
            "Error",
            None,
            None,
            html! {
                h1 { "Error" }
                p { (message) }
                p { a href="/dashboard" { "Back to the dashboard" } }
            },
        ),
    )
}

impl<T> Action<T> {
    /// Notes the outcome for the next page and sends the browser there (303: the
    /// reloaded page does not post the form again).
    pub fn done<E: std::fmt::Display>(
        &self,
        s: &AdminState,
        outcome: Result<String, E>,
        to: &str,
    ) -> Response {
        let (ok, text) = match outcome {
            Ok(text) => (true, text),
            Err(e) => (false, e.to_string()),
        };
        s.dashboard.sessions.set_flash(&self.session.id, ok, text);
        Redirect::to(to).into_response()
    }
}

/// Users, keys and grants change only on the zone that takes writes (they replicate from
/// there), as the admin API refuses them elsewhere. `change` is not started otherwise.
pub async fn on_writable_zone<T>(
    s: &AdminState,
    change: impl std::future::Future<Output = Result<T, crate::admin::error::AdminError>>,
) -> Result<T, crate::admin::error::AdminError> {
    crate::admin::state::refuse_unless_writable(s)?;
    change.await
}

/// The sign-in page. Its form's CSRF value is a fresh random one, also set as a cookie.
async fn login_form(State(s): State<AdminState>) -> Response {
    login_page(&s, StatusCode::OK, None)
}

fn login_page(s: &AdminState, status: StatusCode, error: Option<&str>) -> Response {
    let token = session::random_token();
    let body = html! {
        section.card.login {
            h1 { "Sign in" }
            p.muted {
                "Use the admin token: the file " code { "admin.token" }
                " in the data folder, or the token the zone was configured with."
            }
            @if let Some(e) = error { div.flash.bad role="alert" { (e) } }
            form method="post" action="/dashboard/login" {
                input type="hidden" name="csrf" value=(token);
                p {
                    label for="token" { "Admin token" } br;
                    input #token type="password" name="token" autocomplete="current-password"
                        required autofocus;
                }
                button.primary #sign-in type="submit" { "Sign in" }
            }
        }
    };
    let mut r = respond(status, page("Sign in", None, None, body));
    let cookie = session::set_cookie(
        session::LOGIN_COOKIE,
        Some(&token),
        s.dashboard.secure_cookies,
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append("set-cookie", v);
    }
    r
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

async fn login(
    State(s): State<AdminState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<Login>(&body) else {
        return login_page(&s, StatusCode::BAD_REQUEST, Some("Bad form."));
    };
    let expected = session::cookie(&headers, session::LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !bascule_api::sigv4::signatures_match(expected, &form.csrf) {
        return login_page(
            &s,
            StatusCode::FORBIDDEN,
            Some("The sign-in form was stale; try again."),
        );
    }
    // Guessing is throttled per client address: the token is not even compared while the
    // address must wait.
    let addr = peer.ip();
    if let Err(wait) = s.dashboard.sign_in.begin(addr) {
        let seconds = wait.as_secs() + 1;
        let mut r = login_page(
            &s,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many sign-in attempts from your address; try again in {seconds} s."
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        return r;
    }
    if !bascule_api::sigv4::signatures_match(s.token.as_str(), form.token.trim()) {
        tracing::warn!(%addr, "dashboard: sign-in with a wrong admin token");
        return login_page(&s, StatusCode::UNAUTHORIZED, Some("Wrong admin token."));
    }
    s.dashboard.sign_in.succeeded(addr);
    let session = s.dashboard.sessions.create();
    let mut r = Redirect::to("/dashboard").into_response();
    let secure = s.dashboard.secure_cookies;
    for cookie in [
        session::set_cookie(session::COOKIE, Some(&session.id), secure),
        session::set_cookie(session::LOGIN_COOKIE, None, secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().append("set-cookie", v);
        }
    }
    r
}

async fn logout(State(s): State<AdminState>, action: Action<CsrfField>) -> Response {
    s.dashboard.sessions.end(&action.session.id);
    let mut r = Redirect::to("/dashboard/login").into_response();
    let cookie = session::set_cookie(session::COOKIE, None, s.dashboard.secure_cookies);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append("set-cookie", v);
    }
    r
}

use layout::Tab;

fn signed_page(
    s: &AdminState,
    session: &Session,
    tab: Tab,
    title: &str,
    body: maud::Markup,
) -> Response {
    let flash = s.dashboard.sessions.take_flash(&session.id);
    respond(
        StatusCode::OK,
        page(title, Some((session, tab)), flash, body),
    )
}
