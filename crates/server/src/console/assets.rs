//! The console's static files, embedded in the binary: its own HTML, JS and
//! CSS (`web/console/`), and xterm.js with its fit addon, committed under
//! `web/vendor/` at the versions `web/package-lock.json` pins (refreshed by
//! `scripts/vendor-xterm.sh`; a missing file fails the build, and the build
//! never runs npm). Every response carries the console's
//! security headers: a strict Content-Security-Policy (scripts from this
//! origin only, nothing from any other origin, no inline script), no
//! framing, no sniffing, no referrer.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::iam::ids;

macro_rules! web {
    ($f:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../web/console/",
            $f
        ))
    };
}
macro_rules! vendor {
    ($f:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../web/vendor/",
            $f
        ))
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `/console/assets/{path}`: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.js", JS, web!("app.js")),
    ("api.js", JS, web!("api.js")),
    ("dom.js", JS, web!("dom.js")),
    ("nodes.js", JS, web!("nodes.js")),
    ("terminal.js", JS, web!("terminal.js")),
    ("sessions.js", JS, web!("sessions.js")),
    ("replay.js", JS, web!("replay.js")),
    ("clusters.js", JS, web!("clusters.js")),
    ("preferences.js", JS, web!("preferences.js")),
    ("audit.js", JS, web!("audit.js")),
    ("signin.js", JS, web!("signin.js")),
    ("console.css", CSS, web!("console.css")),
    ("favicon.svg", "image/svg+xml", web!("favicon.svg")),
    ("vendor/xterm.js", JS, vendor!("@xterm/xterm/lib/xterm.js")),
    (
        "vendor/xterm.css",
        CSS,
        vendor!("@xterm/xterm/css/xterm.css"),
    ),
    (
        "vendor/addon-fit.js",
        JS,
        vendor!("@xterm/addon-fit/lib/addon-fit.js"),
    ),
    (
        "vendor/LICENSE.xterm",
        "text/plain; charset=utf-8",
        vendor!("@xterm/xterm/LICENSE"),
    ),
    (
        "vendor/LICENSE.addon-fit",
        "text/plain; charset=utf-8",
        vendor!("@xterm/addon-fit/LICENSE"),
    ),
];

const INDEX: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../web/console/index.html"
));
const SIGNIN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../web/console/signin.html"
));

/// The policy for one page; `style_nonce` admits the `<style>` elements
/// xterm.js creates (stamped by `dom.js`'s `openTerminal`). Style *attributes* stay
/// allowed because xterm.js positions and colours cells with them.
pub fn csp(style_nonce: Option<&str>) -> String {
    let elem = match style_nonce {
        Some(n) => format!("'self' 'nonce-{n}'"),
        None => "'self'".into(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src {elem}; style-src-elem {elem}; \
         style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Adds the security headers every console response carries.
pub fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(v) = HeaderValue::from_str(&csp(None))
    {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn page(template: &str) -> Response {
    let nonce = ids::random_hex(16);
    let body = template.replace("{{STYLE_NONCE}}", &nonce);
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp(Some(&nonce))) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// `/console/`: the single page (nodes, terminal, sessions, clusters).
pub async fn index() -> Response {
    page(INDEX)
}

/// `/console/signin`: redeems the token in the URL fragment.
pub async fn signin_page() -> Response {
    page(SIGNIN)
}

/// `/console/assets/{*path}`.
pub async fn asset(Path(path): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == path) {
        Some((_, ctype, bytes)) => (
            [
                (header::CONTENT_TYPE, *ctype),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such console asset\n").into_response(),
    }
}
