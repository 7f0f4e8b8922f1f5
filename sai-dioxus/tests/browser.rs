//! The todo app in a real browser: headless Debian chromium driven over WebDriver
//! (chromedriver) against the liveview server on 127.0.0.1. Clicks through: add a todo, go
//! offline, set an estimate the server refuses, go online, read the refusal, add a todo
//! offline (shown pending), dismiss the refusal, go online; and saves a screenshot.
//!
//! Needs `SAI_TEST_CHROMEDRIVER` (the chromedriver binary; `.ci/run` installs Debian's
//! `chromium` and `chromium-driver` and sets it). `SAI_TEST_CHROMIUM` names the browser
//! (default `/usr/bin/chromium`). Without the driver the test prints why and passes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

// The test uses only part of the app module the example shares.
#[path = "../examples/support/todo_app.rs"]
#[allow(dead_code)]
mod todo_app;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// How long one wait for the page may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// The W3C WebDriver element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[test]
fn the_app_clicks_through_add_offline_edit_rejection_dismiss() -> Result<(), AnyError> {
    let Ok(driver) = std::env::var("SAI_TEST_CHROMEDRIVER") else {
        eprintln!(
            "skipped: SAI_TEST_CHROMEDRIVER is not set (CI sets it after installing chromium-driver)"
        );
        return Ok(());
    };
    let chromium =
        std::env::var("SAI_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());

    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let app = runtime.block_on(todo_app::serve(
        dir.path(),
        "127.0.0.1:0".parse()?,
        Duration::from_millis(200),
    ))?;
    let driver = Driver::start(&driver, &chromium)?;
    let started = Instant::now();

    driver.go(&format!("http://{}/", app.addr))?;
    driver.wait_for("the page", |d| d.exists("#new-title"))?;

    // Add: shown at once, then synced by the loop.
    driver.type_into("#new-title", "Buy milk")?;
    driver.click("#add")?;
    driver.wait_text("Buy milk")?;
    driver.wait_for("the todo to sync", |d| d.exists("li.todo .badge.synced"))?;

    // Offline: the edit is applied and shown as pending.
    driver.click("#toggle-online")?;
    driver.wait_text("offline")?;
    driver.type_into("li.todo .estimate-input", "80")?;
    driver.click("li.todo .set-estimate")?;
    driver.wait_for("the estimate to show", |d| {
        Ok(d.text_of("li.todo .estimate")? == "80 h")
    })?;
    driver.wait_for("the edit to show as pending", |d| {
        d.exists("li.todo .badge.pending")
    })?;
    assert!(!app.connectivity.online());

    // Online: the server refuses; the message names what and on which todo.
    driver.click("#toggle-online")?;
    driver.wait_text(
        "The server refused an estimate of 80 hours on “Buy milk”: estimates above 40 hours need a split.",
    )?;
    driver.wait_for("the estimate to roll back", |d| {
        Ok(d.text_of("li.todo .estimate")?.is_empty() && d.exists("li.todo .badge.synced")?)
    })?;
    // Offline again, a second todo waits for the server beside the refusal: the screenshot.
    driver.click("#toggle-online")?;
    driver.wait_text("offline")?;
    driver.type_into("#new-title", "Walk the dog")?;
    driver.click("#add")?;
    driver.wait_for("the new todo to show as pending", |d| {
        d.exists("li.todo:nth-child(2) .badge.pending")
    })?;
    driver.wait_text("1 pending")?;
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sai-dioxus-todo.png");
    std::fs::write(&shot, driver.screenshot()?)?;
    println!("screenshot: {}", shot.display());

    // Dismissed: gone from the page and from the store.
    driver.click(".rejection .dismiss")?;
    driver.wait_for("the message to go", |d| Ok(!d.exists(".rejection")?))?;
    let store = app.client.store();
    assert!(store.rejections::<todo_app::Todo>()?.is_empty());

    // Online: the second todo syncs too.
    driver.click("#toggle-online")?;
    driver.wait_for("both todos to sync", |d| {
        Ok(d.find_all("li.todo .badge.synced")?.len() == 2)
    })?;
    println!("browser click-through took {:?}", started.elapsed());
    Ok(())
}

/// A chromedriver process and one headless chromium session.
struct Driver {
    process: Child,
    addr: SocketAddr,
    session: String,
}

impl Driver {
    fn start(driver: &str, chromium: &str) -> Result<Self, AnyError> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let process = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut driver = Driver {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: String::new(),
        };
        let deadline = Instant::now() + PATIENCE;
        while driver.call("GET", "/status", None).is_err() {
            if Instant::now() > deadline {
                return Err("chromedriver did not start".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let created = driver.call(
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=720,520"]
                }
            }}})),
        )?;
        driver.session = created["sessionId"]
            .as_str()
            .ok_or("no session id")?
            .to_owned();
        Ok(driver)
    }

    /// One WebDriver command; its `value`, or the error it reported.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, AnyError> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )?;
        let payload = read_response(&mut stream)?;
        let reply: Value = serde_json::from_slice(&payload)?;
        let value = reply["value"].clone();
        if let Some(error) = value.get("error") {
            return Err(format!("{method} {path}: {error} {}", value["message"]).into());
        }
        Ok(value)
    }

    fn session_call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, AnyError> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn go(&self, url: &str) -> Result<(), AnyError> {
        self.session_call("POST", "/url", Some(json!({ "url": url })))?;
        Ok(())
    }

    fn find_all(&self, css: &str) -> Result<Vec<String>, AnyError> {
        let found = self.session_call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(found
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn exists(&self, css: &str) -> Result<bool, AnyError> {
        Ok(!self.find_all(css)?.is_empty())
    }

    fn one(&self, css: &str) -> Result<String, AnyError> {
        self.find_all(css)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("no element matches {css}").into())
    }

    fn click(&self, css: &str) -> Result<(), AnyError> {
        let id = self.one(css)?;
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})))?;
        Ok(())
    }

    fn type_into(&self, css: &str, text: &str) -> Result<(), AnyError> {
        let id = self.one(css)?;
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )?;
        Ok(())
    }

    /// The page's visible text.
    fn text(&self) -> Result<String, AnyError> {
        let text = self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return document.body.innerText", "args": []})),
        )?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// The visible text of the first element matching `css`.
    fn text_of(&self, css: &str) -> Result<String, AnyError> {
        let id = self.one(css)?;
        let text = self.session_call("GET", &format!("/element/{id}/text"), None)?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    fn screenshot(&self) -> Result<Vec<u8>, AnyError> {
        let png = self.session_call("GET", "/screenshot", None)?;
        Ok(base64::engine::general_purpose::STANDARD.decode(png.as_str().ok_or("no PNG")?)?)
    }

    fn wait_text(&self, text: &str) -> Result<(), AnyError> {
        self.wait_for(&format!("{text:?}"), |d| Ok(d.text()?.contains(text)))
    }

    /// Polls `done` until it holds; fails after [`PATIENCE`] with the page's text.
    fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&Self) -> Result<bool, AnyError>,
    ) -> Result<(), AnyError> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if done(self)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}; page: {}", self.text()?).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.session_call("DELETE", "", None);
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The body of one HTTP/1.1 response. chromedriver keeps the connection open whatever the
/// request asks, so the body ends where its length says, not at end of stream.
fn read_response(stream: &mut TcpStream) -> Result<Vec<u8>, AnyError> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err("connection closed before the headers ended".into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = raw[split + 4..].to_vec();
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == "content-length").then(|| value.trim().parse::<usize>().ok())?
    });
    match length {
        Some(length) => {
            while body.len() < length {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    return Err("connection closed inside the body".into());
                }
                body.extend_from_slice(&buf[..n]);
            }
            body.truncate(length);
            Ok(body)
        }
        None if head.contains("transfer-encoding: chunked") => {
            stream.read_to_end(&mut body)?;
            unchunk(&body)
        }
        None => {
            stream.read_to_end(&mut body)?;
            Ok(body)
        }
    }
}

/// The body of a chunked HTTP/1.1 response.
fn unchunk(mut raw: &[u8]) -> Result<Vec<u8>, AnyError> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end])?.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        let start = line_end + 2;
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}
