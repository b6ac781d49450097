//! Admin access, CSRF on forms, the launchpad's rate limit and cap, and the
//! limit on admin login attempts, over HTTP against the sandbox.

use crate::support;

use reqwest::redirect::Policy;

/// A client like a browser that never loaded a form: no CSRF cookie.
fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn status(r: reqwest::RequestBuilder) -> u16 {
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn admin_routes_refuse_no_credentials_a_wrong_token_and_other_addresses() {
    let app = support::start(&[]).await;
    let c = bare();
    // No credentials: the browser goes to the login page, nothing is shown.
    let r = c.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/admin/login");
    assert_eq!(status(c.get(app.url("/admin/api/ops"))).await, 303);
    // A wrong bearer token.
    assert_eq!(
        status(c.get(app.url("/admin/api/ops")).bearer_auth("nope")).await,
        401
    );
    assert_eq!(
        status(c.post(app.url("/admin/jobs/backup")).bearer_auth("nope")).await,
        401
    );
    assert!(
        !app.dir.path().join("backups").exists(),
        "nothing ran for a wrong token"
    );
    // The right one.
    assert_eq!(
        status(
            c.get(app.url("/admin/api/ops"))
                .bearer_auth("test-admin-token")
        )
        .await,
        200
    );

    // ADMIN_IPS: loopback is not in it, so even the right token is refused.
    let app = support::start(&[("ADMIN_IPS", "10.0.0.0/8")]).await;
    for path in ["/admin", "/admin/api/ops", "/admin/audit"] {
        assert_eq!(
            status(c.get(app.url(path)).bearer_auth("test-admin-token")).await,
            403,
            "{path}"
        );
    }
    assert_eq!(
        status(c.get(app.url("/stats?token=test-admin-token"))).await,
        403
    );
    assert_eq!(status(c.get(app.url("/admin/login"))).await, 200);
    let login = c
        .post(app.url("/admin/login"))
        .header("cookie", format!("nc_csrf={}", support::CSRF))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(support::with_csrf("token=test-admin-token"));
    assert_eq!(
        status(login).await,
        403,
        "no session from outside ADMIN_IPS"
    );

    // Behind a trusted proxy, its X-Forwarded-For is believed (and only then).
    let app = support::start(&[("ADMIN_IPS", "10.0.0.0/8"), ("TRUSTED_PROXY", "127.0.0.1")]).await;
    let from = |ip: &str| {
        c.get(app.url("/admin/api/ops"))
            .bearer_auth("test-admin-token")
            .header("x-forwarded-for", ip)
    };
    assert_eq!(status(from("10.1.2.3")).await, 200);
    assert_eq!(status(from("192.0.2.9")).await, 403);
    let app = support::start(&[("ADMIN_IPS", "10.0.0.0/8")]).await;
    assert_eq!(
        status(
            c.get(app.url("/admin/api/ops"))
                .bearer_auth("test-admin-token")
                .header("x-forwarded-for", "10.1.2.3")
        )
        .await,
        403,
        "no trusted proxy: the header is not believed"
    );
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = support::start(&[]).await;
    let id = app.open("guarded").await;
    let events = app.state.store.events(&id).unwrap().len();
    let ops = app.state.store.operations().unwrap().len();
    let c = bare();
    let form = |path: &str, body: String, cookie: Option<&str>| {
        let mut r = c
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(v) = cookie {
            r = r.header("cookie", v);
        }
        r
    };
    let good_cookie = format!("nc_csrf={}", support::CSRF);
    let other = "nc_csrf=0000000000000000aaaaaaaaaaaaaaaa";
    // No cookie, no field: the launchpad.
    let r = form("/launchpad", "codename=forged&region=ams3".into(), None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("reload the page"), "{page}");
    assert!(page.contains("</html>"), "the site's own page: {page}");
    // A form too large to read: refused on the site's page too.
    let r = form(
        "/launchpad",
        format!("codename=x&pad={}", "a".repeat(70 * 1024)),
        Some(&good_cookie),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("The form is too large.") && page.contains("</html>"),
        "{page}"
    );
    // A cookie and a field that do not match: a payment (sandbox) and the launchpad.
    assert_eq!(
        status(form(
            &format!("/sandbox/operation/{id}/pay"),
            support::with_csrf("amount_xmr=5"),
            Some(other)
        ))
        .await,
        403
    );
    assert_eq!(
        status(form(
            "/launchpad",
            "codename=forged&region=ams3&csrf_token=".into(),
            Some(&good_cookie)
        ))
        .await,
        403
    );
    // An admin form with a good session but no token.
    let r = form(
        "/admin/login",
        support::with_csrf("token=test-admin-token"),
        Some(&good_cookie),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let session = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        status(form(
            &format!("/admin/operation/{id}/cancel"),
            String::new(),
            Some(&session)
        ))
        .await,
        403
    );
    assert_eq!(app.state.store.operations().unwrap().len(), ops);
    assert_eq!(app.state.store.events(&id).unwrap().len(), events);
    let op = app.op(&id);
    assert_eq!(op.state, nodecannon::domain::state::State::AwaitingFunds);

    // The pages hand out the token: a form loaded, then sent, goes through.
    let r = c.get(app.url("/launchpad")).send().await.unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let cookie = set.split(';').next().unwrap().to_string();
    let token = cookie.trim_start_matches("nc_csrf=").to_string();
    let page = r.text().await.unwrap();
    // The page carries the token masked (a fresh mask per response), never as is.
    assert!(page.contains("name=\"csrf_token\" value=\"") && !page.contains(&token));
    let r = form(
        "/launchpad",
        format!("codename=welcome&region=ams3&csrf_token={token}"),
        Some(&cookie),
    );
    assert_eq!(status(r).await, 303);
}

#[tokio::test]
async fn opening_operations_faster_than_the_limit_answers_429_per_client() {
    let app = support::start(&[("LAUNCHPAD_RATE", "3/hour"), ("TRUSTED_PROXY", "127.0.0.1")]).await;
    let open = |ip: &'static str, name: String| {
        app.http
            .post(app.url("/launchpad"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", ip)
            .body(support::with_csrf(&format!("codename={name}&region=ams3")))
    };
    for i in 0..3 {
        assert_eq!(
            status(open("198.51.100.7", format!("first-{i}"))).await,
            303
        );
    }
    let r = open("198.51.100.7", "first-3".into()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let page = r.text().await.unwrap();
    assert!(
        page.contains(
            "You have opened 3 operations in 1 h already; you can open another in 20 min"
        ),
        "{page}"
    );
    assert!(app.state.store.find_operation("first-3").unwrap().is_none());
    // Another client has its own allowance; loopback (the onion service) its shared one.
    assert_eq!(status(open("203.0.113.5", "second-0".into())).await, 303);
    for i in 0..30 {
        let r = app
            .http
            .post(app.url("/launchpad"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(support::with_csrf(&format!(
                "codename=onion-{i}&region=ams3"
            )));
        assert_eq!(status(r).await, 303, "the onion bucket holds 10 × 3");
    }
    // A third of the hour later, one more for the first client.
    app.advance(20 * 60);
    assert_eq!(status(open("198.51.100.7", "first-4".into())).await, 303);
    assert_eq!(status(open("198.51.100.7", "first-5".into())).await, 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_on_operations_awaiting_funds_holds_under_concurrent_requests() {
    let app = std::sync::Arc::new(support::start(&[("MAX_AWAITING_FUNDS", "5")]).await);
    let mut tasks = Vec::new();
    for i in 0..25 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.post_form("/launchpad", &format!("codename=rush-{i}&region=ams3"))
                .await
                .0
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 303).count(), 5, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 503).count(), 20, "{codes:?}");
    assert_eq!(app.state.store.operations().unwrap().len(), 5);
}

#[tokio::test]
async fn admin_login_attempts_are_limited_per_address() {
    let app = support::start(&[]).await;
    let login = |token: &str| {
        app.http
            .post(app.url("/admin/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(support::with_csrf(&format!("token={token}")))
    };
    for _ in 0..10 {
        assert_eq!(status(login("guess")).await, 401);
    }
    let r = login("test-admin-token").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429, "even the right token waits");
    assert!(r.text().await.unwrap().contains("Too many login attempts"));
    app.advance(15 * 60);
    assert_eq!(status(login("test-admin-token")).await, 303);
}
