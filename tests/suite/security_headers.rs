//! Every response carries the security headers (a strict CSP, no framing, no
//! sniffing, no referrer), HSTS only when the site is served over https, and
//! a request body over the global limit is refused before anything is created.

use crate::support;

use reqwest::header::HeaderMap;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Status and headers of `GET path`.
async fn head(app: &support::TestApp, path: &str) -> (u16, HeaderMap) {
    let r = app.http.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.headers().clone())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

fn assert_secure(path: &str, h: &HeaderMap) {
    for (name, want) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        assert_eq!(header(h, name), Some(want), "{path}: {name} in {h:?}");
        assert_eq!(h.get_all(name).iter().count(), 1, "{path}: one {name}");
    }
    let pp = header(h, "permissions-policy").unwrap_or_default();
    assert!(
        pp.contains("camera=()") && pp.contains("geolocation=()"),
        "{path}: permissions-policy {pp:?}"
    );
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = support::start(&[]).await;
    let id = app.open("alpha").await;
    for (path, status) in [
        ("/".to_string(), 200),
        ("/launchpad".to_string(), 200),
        (format!("/operation/{id}"), 200),
        (format!("/operation/{id}/qr.png"), 200),
        ("/static/style.css".to_string(), 200),
        ("/api/nodes".to_string(), 200),
        // 200 or 503 (the test server runs no scheduler): headers either way.
        ("/status".to_string(), 0),
        ("/no/such/page".to_string(), 404),
        ("/static/no-such-asset.css".to_string(), 404),
        ("/admin".to_string(), 303),
    ] {
        let (code, h) = head(&app, &path).await;
        assert!(status == 0 || code == status, "{path}: {code}");
        assert_secure(&path, &h);
        assert!(
            h.get("strict-transport-security").is_none(),
            "{path}: HSTS over http"
        );
    }
    // A handler's own headers stay (the asset's cache header beside them).
    let (_, h) = head(&app, "/static/style.css").await;
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=3600"));
}

#[tokio::test]
async fn the_pages_need_nothing_the_csp_forbids() {
    let app = support::start(&[]).await;
    let id = app.open("alpha").await;
    for path in ["/", "/launchpad", "/info", &format!("/operation/{id}")] {
        let (code, body) = app.get(path).await;
        assert_eq!(code, 200, "{path}");
        let lower = body.to_lowercase();
        for banned in [
            "<script",
            "<style",
            "style=",
            "javascript:",
            "onclick=",
            "onload=",
            "onerror=",
            "onsubmit=",
            "onchange=",
            "src=\"http",
        ] {
            assert!(!lower.contains(banned), "{path}: {banned} in {body}");
        }
    }
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_public_url_is_https() {
    let app = support::start(&[("PUBLIC_URL", "https://example.com")]).await;
    for path in ["/", "/api/nodes", "/no/such/page"] {
        let (_, h) = head(&app, path).await;
        assert_eq!(
            header(&h, "strict-transport-security"),
            Some("max-age=31536000"),
            "{path}"
        );
        assert_secure(path, &h);
    }
    let app = support::start(&[("PUBLIC_URL", "http://example.com")]).await;
    let (_, h) = head(&app, "/").await;
    assert!(h.get("strict-transport-security").is_none());
}

#[tokio::test]
async fn a_body_over_the_limit_answers_413_and_creates_nothing() {
    let app = support::start(&[]).await;
    let big = format!(
        "codename=bigbody&region=ams3&refund_address={}",
        "a".repeat(100 * 1024)
    );
    // A script (bearer token, no CSRF check): the handler's body limit.
    let r = app
        .http
        .post(app.url("/launchpad"))
        .header("content-type", "application/x-www-form-urlencoded")
        .bearer_auth("test-admin-token")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_secure("/launchpad (413)", r.headers());

    // A browser with the form's cookie and field (its own client: no cookies yet).
    let browser = reqwest::Client::new();
    let r = browser.get(app.url("/launchpad")).send().await.unwrap();
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(String::from))
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("nc_csrf="))
        .map(|t| format!("&csrf_token={t}"))
        .unwrap_or_default();
    let r = browser
        .post(app.url("/launchpad"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookies.join("; "))
        .body(format!("{big}{csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);

    assert!(app.state.store.operations().unwrap().is_empty());
    // The limit is on the size, not the form: a normal one still works.
    app.open("small").await;
    assert_eq!(app.state.store.operations().unwrap().len(), 1);
}

#[tokio::test]
async fn the_node_report_keeps_its_own_smaller_limit() {
    let app = support::start(&[]).await;
    let id = app.open("alpha").await;
    let r = app
        .http
        .post(app.url(&format!("/api/nodes/{id}/report")))
        .header("content-type", "application/json")
        .body(format!("{{\"step\":\"{}\"}}", "x".repeat(4 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}
