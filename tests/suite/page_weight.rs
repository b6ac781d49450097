//! Page weight (issue 9): pages and text assets are gzipped for clients that
//! accept it, embedded assets are linked by content version and cached for a
//! year with a strong `ETag`, every public page with its stylesheet and images
//! crosses the wire in under 100 KB, and the CSRF token in compressed pages is
//! masked per response (BREACH) while forms still go through.
//!
//! `cargo test --release --features test-hooks --test page_weight -- --nocapture`
//! prints the measured sizes.

use crate::support;

use std::io::Read;

use reqwest::header::HeaderMap;

/// The most a page may weigh, compressed, with its stylesheets and images.
const PAGE_BUDGET: usize = 100 * 1024;

/// What crossed the wire for one `GET`.
struct Got {
    status: u16,
    headers: HeaderMap,
    /// The body as sent (gzip when `content-encoding: gzip`).
    wire: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn gzipped(&self) -> bool {
        self.header("content-encoding") == Some("gzip")
    }

    /// The body once decoded.
    fn decoded(&self) -> Vec<u8> {
        if self.gzipped() {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.wire[..])
                .read_to_end(&mut out)
                .expect("a gzip body that gunzips");
            out
        } else {
            self.wire.clone()
        }
    }

    fn text(&self) -> String {
        String::from_utf8(self.decoded()).expect("utf-8 body")
    }
}

async fn get(app: &support::TestApp, path: &str, extra: &[(&str, &str)]) -> Got {
    let mut req = app.http.get(app.url(path));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    Got {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        wire: r.bytes().await.unwrap().to_vec(),
    }
}

const GZIP: &[(&str, &str)] = &[("accept-encoding", "gzip")];

/// `attr`'s values in every `tag` of `html` (`&amp;` decoded).
fn attr_values(html: &str, tag: &str, attr: &str) -> Vec<String> {
    let key = format!("{attr}=\"");
    html.split(tag)
        .skip(1)
        .filter_map(|t| {
            let t = &t[..t.find('>').unwrap_or(t.len())];
            let v = &t[t.find(&key)? + key.len()..];
            Some(v[..v.find('"')?].replace("&amp;", "&"))
        })
        .collect()
}

/// The stylesheet the page links.
fn stylesheet(html: &str) -> String {
    html.split("<link")
        .skip(1)
        .find(|t| t.contains("rel=\"stylesheet\""))
        .map(|t| attr_values(&format!("<link{t}"), "<link", "href"))
        .and_then(|v| v.into_iter().next())
        .expect("a stylesheet link")
}

/// An operation with a launched node and a few payouts, so its pages are as
/// long as they get.
async fn story(app: &support::TestApp) -> String {
    let id = app.open("heavy-lifter").await;
    app.pay(&id, "3").await;
    app.advance(400);
    app.run_job("launch-funded").await;
    app.advance(60);
    app.run_job("launch-funded").await;
    for _ in 0..10 {
        app.advance(60);
        app.run_job("health").await;
    }
    for _ in 0..4 {
        app.advance(3 * 3600);
        app.run_job("process-payouts").await;
    }
    assert_eq!(app.op(&id).state, nodecannon::domain::state::State::Active);
    for name in ["second-node", "third-node"] {
        app.open(name).await;
    }
    id
}

#[tokio::test]
async fn pages_are_gzipped_for_clients_that_accept_it() {
    let app = support::start(&[]).await;
    let plain = get(&app, "/", &[]).await;
    let zipped = get(&app, "/", GZIP).await;
    assert_eq!((plain.status, zipped.status), (200, 200));
    assert!(!plain.gzipped(), "{:?}", plain.headers);
    assert!(zipped.gzipped(), "{:?}", zipped.headers);
    assert!(zipped.wire.len() < plain.wire.len());
    assert_eq!(zipped.text(), plain.text());
    for g in [&plain, &zipped] {
        let vary = g.header("vary").unwrap_or_default().to_ascii_lowercase();
        assert!(vary.contains("accept-encoding"), "{:?}", g.headers);
    }
    // The stylesheet too; PNGs are sent as they are.
    let css = stylesheet(&plain.text());
    assert!(get(&app, &css, GZIP).await.gzipped());
    let png = get(&app, "/static/logo.png", GZIP).await;
    assert_eq!(png.status, 200);
    assert!(!png.gzipped());
}

#[tokio::test]
async fn assets_are_linked_by_version_and_cached_for_a_year() {
    let app = support::start(&[]).await;
    let html = get(&app, "/", &[]).await.text();
    let css = stylesheet(&html);
    let (path, version) = css.split_once("?v=").expect("a versioned stylesheet URL");
    assert_eq!(path, "/static/style.css");
    assert_eq!(version.len(), 16, "{css}");
    assert!(html.contains("/static/favicon.png?v=") && html.contains("/static/logo.png?v="));

    let first = get(&app, &css, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = first.header("etag").expect("an ETag").to_string();
    assert_eq!(etag, format!("\"{version}\""));
    assert!(
        first
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/css")
    );

    // Revalidation: 304 and nothing else.
    for extra in [
        [("if-none-match", etag.as_str())],
        [("if-none-match", "\"x\", W/\"y\"")],
    ] {
        let again = get(&app, &css, &extra).await;
        if extra[0].1 == etag {
            assert_eq!(again.status, 304);
            assert!(again.wire.is_empty(), "{} bytes", again.wire.len());
            assert_eq!(again.header("etag"), Some(etag.as_str()));
        } else {
            assert_eq!(again.status, 200);
        }
    }
    // 304 through the compression layer too.
    let again = get(&app, &css, &[("if-none-match", etag.as_str()), GZIP[0]]).await;
    assert_eq!(again.status, 304);
    assert!(again.wire.is_empty());

    // An old or missing version: the file, but only for an hour.
    for url in ["/static/style.css?v=0000000000000000", "/static/style.css"] {
        let old = get(&app, url, &[]).await;
        assert_eq!(old.status, 200, "{url}");
        assert_eq!(
            old.header("cache-control"),
            Some("public, max-age=3600"),
            "{url}"
        );
        assert_eq!(old.header("etag"), Some(etag.as_str()), "{url}");
        assert_eq!(old.wire, first.wire, "{url}");
    }
    assert_eq!(get(&app, "/static/no-such.css?v=1", &[]).await.status, 404);
}

/// Bytes on the wire (gzip) and decoded for a page plus what it links.
async fn weigh(app: &support::TestApp, path: &str) -> (usize, usize) {
    let page = get(app, path, GZIP).await;
    assert_eq!(page.status, 200, "{path}");
    assert!(page.gzipped(), "{path} not compressed");
    let html = page.text();
    let (mut wire, mut plain) = (page.wire.len(), page.decoded().len());
    let mut linked: Vec<String> = attr_values(&html, "<link", "href")
        .into_iter()
        .filter(|h| h.starts_with("/static/"))
        .collect();
    linked.extend(attr_values(&html, "<img", "src"));
    linked.sort();
    linked.dedup();
    for href in linked.iter().filter(|h| !h.starts_with("data:")) {
        let got = get(app, href, GZIP).await;
        assert_eq!(got.status, 200, "{path} links {href}");
        wire += got.wire.len();
        plain += got.decoded().len();
    }
    (wire, plain)
}

#[tokio::test]
async fn every_public_page_crosses_the_wire_in_under_100_kb() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "3")]).await;
    let id = story(&app).await;
    let pages = [
        "/".to_string(),
        "/launchpad".into(),
        "/info".into(),
        format!("/operation/{id}"),
        format!("/operation/{id}/payouts"),
    ];
    eprintln!("page weight with stylesheet and images (gzip on the wire / decoded):");
    for path in &pages {
        let (wire, plain) = weigh(&app, path).await;
        eprintln!("  {path:<50} {wire:>7} B / {plain:>7} B");
        assert!(
            wire < PAGE_BUDGET,
            "{path} weighs {wire} bytes compressed with its CSS and images"
        );
    }
    // JSON and Atom are compressed too.
    for path in [
        "/api/nodes".to_string(),
        format!("/operation/{id}/feed.xml"),
    ] {
        let got = get(&app, &path, GZIP).await;
        assert_eq!(got.status, 200, "{path}");
        assert!(got.gzipped(), "{path}: {:?}", got.headers);
        assert_eq!(got.decoded(), get(&app, &path, &[]).await.wire, "{path}");
    }
    for path in [
        "/static/style.css",
        "/static/logo.png",
        "/static/favicon.png",
    ] {
        let got = get(&app, path, GZIP).await;
        eprintln!(
            "  {path:<50} {:>7} B / {:>7} B",
            got.wire.len(),
            got.decoded().len()
        );
    }
}

/// The `csrf_token` field's value in a page.
fn field_token(html: &str) -> String {
    let key = "name=\"csrf_token\" value=\"";
    let s = html.find(key).expect("a csrf_token field") + key.len();
    html[s..s + html[s..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn the_csrf_token_is_masked_per_response_and_still_accepted() {
    let app = support::start(&[]).await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A fresh visitor gets a cookie; the page carries the token masked.
    let r = c.get(app.url("/launchpad")).send().await.unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    let token = cookie.trim_start_matches("nc_csrf=").to_string();
    let first = field_token(&r.text().await.unwrap());
    assert_eq!(first.len(), 64, "{first}");
    assert!(
        !first.contains(&token),
        "the token shows in the page: {first}"
    );

    // The same cookie, another load: another mask, no new cookie.
    let r = c
        .get(app.url("/launchpad"))
        .header("cookie", &cookie)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    let got = Got {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        wire: r.bytes().await.unwrap().to_vec(),
    };
    assert_eq!(got.status, 200);
    assert!(got.gzipped());
    let second = field_token(&got.text());
    assert_eq!(second.len(), 64);
    assert_ne!(first, second, "the mask is the same on two loads");

    // Opens an operation with this visitor's cookie and the given field.
    let open = |name: &str, token: &str| {
        c.post(app.url("/launchpad"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("codename={name}&region=ams3&csrf_token={token}"))
            .send()
    };
    // Either masked value sends the form.
    for (name, value) in [("masked-one", &first), ("masked-two", &second)] {
        let r = open(name, value).await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{name}");
    }
    // A masked token of another visitor's page is refused.
    let other = support::CSRF;
    let r = c
        .get(app.url("/launchpad"))
        .header("cookie", format!("nc_csrf={other}"))
        .send()
        .await
        .unwrap();
    let foreign = field_token(&r.text().await.unwrap());
    let r = open("forged", &foreign).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(app.state.store.find_operation("forged").unwrap().is_none());
    assert!(
        app.state
            .store
            .find_operation("masked-two")
            .unwrap()
            .is_some()
    );
}

/// An operation page is rendered and compressed once for all the views that
/// show the same thing: two loads in one second differ only in their CSRF
/// mask, either mask sends the sandbox form, and what the form changed
/// shows on the next load, still within that second.
#[tokio::test]
async fn an_operation_page_is_made_once_yet_masked_per_response_and_never_stale() {
    let app = support::start(&[]).await;
    let id = app.open("made-once").await;
    let path = format!("/operation/{id}");
    let zipped = get(&app, &path, GZIP).await;
    let plain = get(&app, &path, &[]).await;
    assert!(zipped.gzipped() && !plain.gzipped());
    assert_eq!(zipped.header("vary"), Some("accept-encoding"));
    let (a, b) = (zipped.text(), plain.text());
    assert!(a.contains("Nothing seen yet"), "{a}");
    let (ta, tb) = (field_token(&a), field_token(&b));
    assert_eq!((ta.len(), tb.len()), (64, 64));
    assert_ne!(ta, tb, "one mask for two responses");
    assert_eq!(a.replace(&ta, "T"), b.replace(&tb, "T"));
    assert!(!a.contains(nodecannon::web::csrf::HOLE));
    // Rendered once: the second load found the first one's page.
    let renders = || app.state.metrics.cache_lookups("op_page", false);
    let reuses = || app.state.metrics.cache_lookups("op_page", true);
    assert_eq!((renders(), reuses()), (1, 1));
    // Compressed about as well as the whole page at once: the token (64
    // random hex digits, stored) and the flush before it cost little.
    let whole = {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(a.as_bytes()).unwrap();
        z.finish().unwrap().len()
    };
    assert!(
        zipped.wire.len() <= whole + 64,
        "{} bytes sent, {whole} for the whole page at once",
        zipped.wire.len()
    );

    for t in [&ta, &tb] {
        let r = app
            .http
            .post(app.url(&format!("/sandbox/operation/{id}/pay")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("amount_xmr=1&csrf_token={t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303);
    }
    // The payments change no stored operation (the wallet holds them), so
    // it is the account, not the store, that makes the page new.
    for extra in [GZIP, &[]] {
        let after = get(&app, &path, extra).await.text();
        assert!(after.contains("transfers in: 2, payouts out: 0"), "{after}");
        assert!(!after.contains("Nothing seen yet"));
    }
    assert_eq!((renders(), reuses()), (2, 2));
    // A second later the page is made again (it shows times relative to
    // now): once for twenty loads at once.
    app.advance(1);
    let loads = (0..20).map(|_| get(&app, &path, GZIP));
    for got in futures_util::future::join_all(loads).await {
        assert!(got.text().contains("transfers in: 2"));
    }
    assert_eq!(renders(), 3);
}
