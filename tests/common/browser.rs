//! A real browser for dashboard tests: Debian's chromium, headless, driven through its
//! chromedriver with the W3C WebDriver protocol (plain JSON over HTTP: a handful of
//! commands, so no WebDriver crate and its second TLS stack).

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

#[derive(Clone)]
pub struct Element(String);

fn find_program(names: &[&str]) -> String {
    for n in names {
        for dir in ["/usr/bin", "/usr/lib/chromium", "/usr/local/bin"] {
            let p = format!("{dir}/{n}");
            if std::path::Path::new(&p).exists() {
                return p;
            }
        }
    }
    panic!("none of {names:?} is installed (Debian: apt-get install chromium chromium-driver)");
}

impl Browser {
    /// Starts chromedriver and a headless chromium session. Screenshots go to the test
    /// output folder, under `name`.
    pub async fn start(name: &str) -> Browser {
        let port = super::free_port();
        let driver = Command::new(find_program(&["chromedriver"]))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready {
                let v: Value = r.json().await.expect("status json");
                if v["value"]["ready"] == json!(true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": find_program(&["chromium"]),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let r = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session");
        let v: Value = r.json().await.expect("session json");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {v}"))
            .to_string();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("dashboard-screenshots")
            .join(name);
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
            shots,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("webdriver {path}: {e}"))
    }

    /// A WebDriver call; an error answer is returned as text (status and document).
    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("webdriver call");
        let status = r.status();
        let v: Value = r.json().await.expect("webdriver json");
        match status.is_success() {
            true => Ok(v["value"].clone()),
            false => Err(format!("{status} {v}")),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The element a CSS selector names, waiting a little for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let r = self
            .http
            .post(url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .expect("find element");
        let ok = r.status().is_success();
        let v: Value = r.json().await.expect("element json");
        ok.then(|| v["value"][ELEMENT].as_str().map(|s| Element(s.to_string())))
            .flatten()
    }

    /// The text of the element a selector names. A page that replaces the element between
    /// finding and reading it (the live panel refreshing, a navigation ending) makes it
    /// stale: it is found again.
    pub async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.find(css).await;
            if let Some(t) = self.fresh_text(&e).await {
                return t;
            }
            assert!(Instant::now() < deadline, "{css} kept being replaced");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn element_text(&self, e: &Element) -> String {
        let path = format!("/element/{}/text", e.0);
        self.try_call(reqwest::Method::GET, &path, None)
            .await
            .unwrap_or_else(|err| panic!("webdriver {path}: {err}"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// An element's text, or `None` when the page replaced the element since it was
    /// found (any other failure panics).
    async fn fresh_text(&self, e: &Element) -> Option<String> {
        let path = format!("/element/{}/text", e.0);
        match self.try_call(reqwest::Method::GET, &path, None).await {
            Ok(v) => Some(v.as_str().unwrap_or_default().to_string()),
            // Chrome words a replaced node two ways, depending on when the page swapped it.
            Err(err)
                if err.contains("stale element reference")
                    || err.contains("does not belong to the document") =>
            {
                None
            }
            Err(err) => panic!("webdriver {path}: {err}"),
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", e.0),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Signs in to `server`'s dashboard with its admin token.
    pub async fn sign_in(&self, server: &super::Server) {
        self.goto(&format!("{}/dashboard", server.admin)).await;
        self.type_into("#token", &server.token).await;
        self.click("#sign-in").await;
        self.find("#role").await;
    }

    /// The flash message after an action, which must say `expected`.
    /// The page after a click may still be the old one (with the previous flash) for a
    /// moment on a loaded machine: wait for the new message, up to 15 s.
    pub async fn flash(&self, expected: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let t = self.text(".flash").await;
            if t.contains(expected) {
                return t;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "flash {t:?} lacks {expected:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 15 s) until the page's text contains `expected`.
    pub async fn wait_for_text(&self, expected: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let t = self.page_text().await;
            if t.contains(expected) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page never said {expected:?}: {t}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// A property of the element `css` names (an input's `value`, say).
    pub async fn property(&self, css: &str, name: &str) -> String {
        let e = self.find(css).await;
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/property/{name}", e.0),
                None,
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Where the element `css` names is drawn: (x, y, width, height) in CSS pixels.
    pub async fn rect(&self, css: &str) -> (f64, f64, f64, f64) {
        let e = self.find(css).await;
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/rect", e.0),
                None,
            )
            .await;
        let n = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("rect {k}: {v}"));
        (n("x"), n("y"), n("width"), n("height"))
    }

    /// Chooses files in an `<input type=file>` (absolute paths).
    pub async fn choose_files(&self, css: &str, paths: &[&std::path::Path]) {
        let e = self.find(css).await;
        let text = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join("\n");
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.click_element(&e).await;
    }

    pub async fn click_element(&self, e: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(json!({})),
        )
        .await;
    }

    /// Selects the `<option>` of a `<select>` whose visible text is `label`.
    pub async fn select(&self, select_css: &str, label: &str) {
        let options = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": format!("{select_css} option")})),
            )
            .await;
        for o in options.as_array().cloned().unwrap_or_default() {
            let e = Element(o[ELEMENT].as_str().unwrap_or_default().to_string());
            if self.element_text(&e).await == label {
                self.click_element(&e).await;
                return;
            }
        }
        panic!("no option {label} in {select_css}");
    }

    /// The whole page's visible text.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        within: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let t = match self.try_find(css).await {
                Some(e) => self.fresh_text(&e).await.unwrap_or_default(),
                None => String::new(),
            };
            if ok(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never matched; last text: {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The browser's cookies (HttpOnly ones included), as WebDriver reports them.
    pub async fn cookies(&self) -> Vec<Value> {
        self.call(reqwest::Method::GET, "/cookie", None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Saves a PNG screenshot of the page; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("screenshot data"))
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }
}

/// Signs in with plain HTTP (the sign-in form's CSRF value comes with its cookie); returns
/// a client without redirects and the session's Cookie header.
pub async fn dashboard_session(server: &super::Server) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http
        .get(format!("{}/dashboard/login", server.admin))
        .send()
        .await
        .unwrap();
    let login_cookie = form.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = form.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf field")
        .to_string();
    // Without the sign-in form's cookie, the right token is still refused (login CSRF).
    let no_cookie = http
        .post(format!("{}/dashboard/login", server.admin))
        .form(&[("csrf", csrf.as_str()), ("token", server.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 403);
    let signed = http
        .post(format!("{}/dashboard/login", server.admin))
        .header("cookie", &login_cookie)
        .form(&[("csrf", csrf.as_str()), ("token", server.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bascule_session="))
        .expect("session cookie")
        .to_string();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    (http, session.split(';').next().unwrap().to_string())
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends chromium with its session (a blocking request: drop cannot await), then
        // the driver.
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut conn) = std::net::TcpStream::connect(&addr) {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                conn,
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = conn.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The session's CSRF token, as a page's forms carry it.
pub async fn csrf_of(http: &reqwest::Client, cookie: &str, url: &str) -> String {
    let html = http
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf field")
        .to_string()
}
