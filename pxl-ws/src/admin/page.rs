//! The dashboard's HTTP side: `GET <admin.path>` answers the page (one self-contained
//! HTML document with its CSS and script, embedded in the crate), `GET
//! <admin.path>/pxl-ws.js` the browser client it imports. The page loads nothing from
//! the network; its Content-Security-Policy allows only this origin and the page's own
//! inline script (by a nonce drawn per response). The page itself is not secret: what
//! it shows comes over the socket, through the `admin` controller's access check.

use axum::Router as AxumRouter;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page, with `{{…}}` placeholders filled per response.
const PAGE: &str = include_str!("admin.html");

/// The route serving the page and its browser client at `path`; `ws_path` is the
/// socket the page connects to.
pub(crate) fn route(path: &str, ws_path: &str) -> AxumRouter {
    let page = PAGE
        .replace("{{ADMIN_PATH}}", &js_string(path))
        .replace("{{WS_PATH}}", &js_string(ws_path));
    let client_path = format!("{path}/pxl-ws.js");
    AxumRouter::new()
        .route(path, get(move || std::future::ready(page_response(&page))))
        .route(
            &client_path,
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-cache"),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    ],
                    crate::server::BROWSER_JS,
                )
                    .into_response()
            }),
        )
}

fn page_response(page: &str) -> Response {
    let nonce = format!("{:032x}", rand::random::<u128>());
    let csp = format!(
        "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        page.replace("{{NONCE}}", &nonce),
    )
        .into_response()
}

/// `s` as the inside of a JavaScript string literal in an HTML script element.
fn js_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' | '<' | '>' | '&' | '\'' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::js_string;

    #[test]
    fn paths_cannot_leave_the_string_literal() {
        assert_eq!(js_string("/admin"), "/admin");
        assert_eq!(js_string("/a\"</script>"), "/a\\u0022\\u003c/script\\u003e");
    }
}
