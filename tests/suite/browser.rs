//! The public pages in a real browser, as a Tor Browser visitor sees them:
//! Debian's headless Chromium with JavaScript off, at desktop and phone widths,
//! against a sandbox with a story (nodes in orbit, one syncing, one awaiting
//! funds). Screenshots land in `target/browser-shots/` for a developer to look at.
//!
//! Needs `/usr/bin/chromium` (Debian's `chromium` package; `CHROMIUM` overrides
//! the path) and fails, not skips, without it.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodecannon::domain::state::State;
use tokio::sync::Semaphore;

/// The most one Chromium run may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(30);
/// Chromium runs at once.
const PARALLEL: usize = 6;
/// The most a page may weigh with its stylesheets and images.
const PAGE_BUDGET: usize = 100 * 1024;
/// A screenshot smaller than this is taken for blank.
const MIN_PNG_BYTES: u64 = 4 * 1024;

const DESKTOP: (u32, u32) = (1200, 900);
const PHONE: (u32, u32) = (390, 844);

fn chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string()),
    );
    assert!(
        path.is_file(),
        "headless Chromium not found at {}: the browser test needs Debian's `chromium` \
         package (apt-get install chromium) or CHROMIUM=/path/to/chromium",
        path.display()
    );
    path
}

fn shots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser-shots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What Chromium is asked to do with a page.
#[derive(Clone)]
enum Task {
    /// A PNG of the window at this size, into this file.
    Shot(PathBuf, (u32, u32)),
    /// The DOM after loading, on stdout.
    Dom,
}

/// Runs Chromium once on `url`, killing it after [`CHROMIUM_TIMEOUT`];
/// returns its stdout.
fn run_chromium(bin: &Path, url: &str, task: &Task) -> String {
    let profile = tempfile::tempdir().unwrap();
    // JavaScript off, as at Tor Browser's safest level, through the profile's
    // content settings: `--blink-settings=scriptEnabled=false` would also stop
    // the script headless Chromium itself uses for `--dump-dom` and
    // `--screenshot`, which then print and write nothing.
    std::fs::create_dir_all(profile.path().join("Default")).unwrap();
    std::fs::write(
        profile.path().join("Default/Preferences"),
        r#"{"profile":{"default_content_setting_values":{"javascript":2}}}"#,
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match task {
        Task::Shot(file, (w, h)) => {
            cmd.arg(format!("--screenshot={}", file.display()))
                .arg(format!("--window-size={w},{h}"));
        }
        Task::Dom => {
            cmd.arg("--dump-dom").arg("--window-size=1200,900");
        }
    }
    cmd.arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    // Read the pipes on threads so a chatty Chromium cannot block on them.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took over {CHROMIUM_TIMEOUT:?} on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_t.join().unwrap();
    let stderr = err_t.join().unwrap();
    assert!(
        status.success(),
        "chromium failed ({status}) on {url}:\n{stderr}"
    );
    stdout
}

/// Checks that `file` is a PNG of `width` pixels across with something on it.
fn check_png(file: &Path, width: u32) {
    let len = std::fs::metadata(file)
        .unwrap_or_else(|e| panic!("no screenshot {}: {e}", file.display()))
        .len();
    assert!(
        len > MIN_PNG_BYTES,
        "screenshot {} is {len} bytes: blank?",
        file.display()
    );
    let bytes = std::fs::read(file).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        file.display()
    );
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, width, "{} width", file.display());
    // Not blank: many distinct pixels (text, buttons, a table).
    let px = info.color_type.samples();
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 16,
        "screenshot {} has only {} colours: blank?",
        file.display(),
        colours.len()
    );
}

/// The values of `attr="..."` on tags that start with `tag` in `html`.
fn attr_values(html: &str, tag: &str, attr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in html.match_indices(tag) {
        let end = html[i..].find('>').map_or(html.len(), |e| i + e);
        let t = &html[i..end];
        let key = format!("{attr}=\"");
        if let Some(s) = t.find(&key) {
            let v = &t[s + key.len()..];
            if let Some(e) = v.find('"') {
                out.push(v[..e].replace("&amp;", "&"));
            }
        }
    }
    out
}

/// A page's body plus the stylesheets and images it links, in bytes
/// (uncompressed: an upper bound on what crosses Tor).
async fn page_weight(app: &support::TestApp, path: &str) -> usize {
    let body = app
        .http
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&body).into_owned();
    let mut total = body.len();
    let mut linked: Vec<String> = attr_values(&html, "<link", "href")
        .into_iter()
        .filter(|h| h.ends_with(".css") || h.contains("/static/"))
        .collect();
    linked.extend(attr_values(&html, "<img", "src"));
    linked.sort();
    linked.dedup();
    for href in linked {
        let url = if href.starts_with("http") {
            href.clone()
        } else {
            app.url(&href)
        };
        let r = app.http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path} links {href}");
        total += r.bytes().await.unwrap().len();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn public_pages_render_without_javascript_at_desktop_and_phone_widths() {
    let bin = chromium();
    let started = Instant::now();
    let app = support::start(&[("PAYOUT_FREQUENCY", "3")]).await;

    // The demo's story: three nodes in orbit, one still syncing, one awaiting funds.
    let mut active = Vec::new();
    for (name, xmr) in [("satoshi-lab", "3"), ("moneroj", "2"), ("nyc-relay", "1")] {
        active.push(app.open(name).await);
        app.pay(active.last().unwrap(), xmr).await;
        app.advance(400);
    }
    app.run_job("launch-funded").await;
    app.advance(60);
    app.run_job("launch-funded").await;
    for _ in 0..16 {
        app.advance(60);
        app.run_job("health").await;
    }
    for _ in 0..2 {
        app.advance(3 * 3600);
        app.run_job("process-payouts").await;
        app.run_job("health").await;
    }
    let syncing = app.open("fresh-tide").await;
    app.pay(&syncing, "2").await;
    app.advance(200);
    app.run_job("launch-funded").await;
    app.advance(60);
    app.run_job("launch-funded").await;
    for _ in 0..3 {
        app.advance(60);
        app.run_job("health").await;
    }
    let waiting = app.open("quiet-comet").await;
    app.advance(60);
    app.run_job("health").await;

    let op = app.op(&active[0]);
    assert_eq!(op.state, State::Active, "{}", op.codename);
    let wait_op = app.op(&waiting);
    assert_eq!(wait_op.state, State::AwaitingFunds);

    let pages: Vec<(&str, String)> = vec![
        ("index", "/".into()),
        ("launchpad", "/launchpad".into()),
        ("info", "/info".into()),
        ("operation-active", format!("/operation/{}", active[0])),
        ("operation-syncing", format!("/operation/{syncing}")),
        ("operation-awaiting", format!("/operation/{waiting}")),
        ("payouts", format!("/operation/{}/payouts", active[0])),
        ("not-found", "/no-such-page".into()),
        ("admin-login", "/admin/login".into()),
    ];

    // Every page through Chromium: a DOM and two screenshots each, a few at once.
    // The browser really runs with JavaScript off.
    let canary = "data:text/html,<p id=x>static</p><script>x.textContent='JS%20RAN'</script>";
    let b = bin.clone();
    let out = tokio::task::spawn_blocking(move || run_chromium(&b, canary, &Task::Dom))
        .await
        .unwrap();
    assert!(
        out.contains("id=\"x\">static<") && !out.contains(">JS RAN<"),
        "chromium ran JavaScript though it should be off:\n{out}"
    );

    let dir = shots_dir();
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let mut runs = Vec::new();
    for (name, path) in &pages {
        let mut tasks = vec![(format!("{name} dom"), Task::Dom)];
        for (label, size) in [("desktop", DESKTOP), ("phone", PHONE)] {
            let file = dir.join(format!("{name}-{label}.png"));
            tasks.push((format!("{name} {label}"), Task::Shot(file, size)));
        }
        for (label, task) in tasks {
            let (bin, url, permits) = (bin.clone(), app.url(path), permits.clone());
            runs.push((
                name.to_string(),
                label,
                task.clone(),
                tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await.unwrap();
                    tokio::task::spawn_blocking(move || run_chromium(&bin, &url, &task))
                        .await
                        .unwrap()
                }),
            ));
        }
    }
    let mut doms = std::collections::HashMap::new();
    for (name, label, task, run) in runs {
        let out = run
            .await
            .unwrap_or_else(|e| panic!("chromium run {label}: {e}"));
        match task {
            Task::Dom => {
                assert!(
                    out.contains("</html>"),
                    "{label}: no DOM from chromium:\n{out}"
                );
                doms.insert(name, out);
            }
            Task::Shot(file, (w, _)) => check_png(&file, w),
        }
    }
    let dom = |name: &str| doms[name].as_str();

    // No page has a script, in the DOM or as served.
    for (name, path) in &pages {
        assert!(!dom(name).contains("<script"), "{name} has a <script>");
        let r = app.http.get(app.url(path)).send().await.unwrap();
        // A second guard: the policy keeps any script from running.
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{path}: CSP allows scripts: {csp}"
        );
        let body = r.text().await.unwrap();
        assert!(!body.contains("<script"), "{path} serves a <script>");
    }

    // The 404 page is a 404 with a page on it.
    let r = app.http.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // Awaiting funds: the funding address and its QR code, which is a PNG.
    let d = dom("operation-awaiting");
    assert!(
        d.contains(&wait_op.address),
        "awaiting-funds page lacks its funding address {}",
        wait_op.address
    );
    let qr = format!("/operation/{waiting}/qr.png");
    assert!(
        attr_values(d, "<img", "src").contains(&qr),
        "awaiting-funds page lacks <img src=\"{qr}\">"
    );
    let r = app.http.get(app.url(&qr)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{qr}");
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "image/png",
        "{qr}"
    );
    assert!(r.bytes().await.unwrap().starts_with(b"\x89PNG"), "{qr}");

    // The index lists every node in orbit with its status.
    let nodes: Vec<serde_json::Value> = app
        .http
        .get(app.url("/api/nodes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nodes.len(), 4, "nodes in orbit: {nodes:?}");
    let statuses: Vec<&str> = nodes
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"synced"), "{statuses:?}");
    assert!(statuses.contains(&"syncing"), "{statuses:?}");
    let d = dom("index");
    for n in &nodes {
        let codename = n["codename"].as_str().unwrap();
        let text = n["status_text"].as_str().unwrap();
        assert!(d.contains(codename), "index lacks node {codename}");
        let status = n["status"].as_str().unwrap();
        assert!(
            d.contains(&format!("class=\"status {status}\">{text}<")),
            "index lacks {codename}'s status {status:?} {text:?}"
        );
    }

    // The launchpad's form, with its CSRF field.
    let d = dom("launchpad");
    assert!(d.contains("action=\"/launchpad\""), "launchpad has no form");
    for field in [
        "name=\"codename\"",
        "name=\"region\"",
        "name=\"csrf_token\"",
    ] {
        assert!(d.contains(field), "launchpad form lacks {field}");
    }

    // Light enough for Tor.
    for (name, path) in &pages {
        let w = page_weight(&app, path).await;
        assert!(
            w < PAGE_BUDGET,
            "{name} ({path}) weighs {w} bytes with its CSS and images, over {PAGE_BUDGET}"
        );
    }

    app.stop().await;
    eprintln!(
        "browser test: {} pages, screenshots in {}, {:?}",
        pages.len(),
        dir.display(),
        started.elapsed()
    );
}
