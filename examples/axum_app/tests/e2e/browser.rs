//! The browser the walkthrough drives (fantoccini over chromedriver), and
//! what it checks on every page: axe-core's WCAG 2.2 AA rules and no
//! sideways scrolling, at 1280 px and at 375 px, with a screenshot of each.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

/// axe-core, vendored (`tests/axe/README.md`).
const AXE: &str = include_str!("../axe/axe.min.js");
/// Its SHA-256, as the README gives it: the file run is the file reviewed.
const AXE_SHA256: &str = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c";

/// The two widths every page is checked at: a desktop and a small phone.
pub const WIDE: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (375, 812);

/// Runs axe with the WCAG 2.0, 2.1 and 2.2 A and AA rules, and the
/// best-practice rule on heading order; answers the violations, each with
/// up to five of its elements.
const RUN_AXE: &str = r#"
    const done = arguments[arguments.length - 1];
    axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] },
        rules: { "heading-order": { enabled: true } },
        resultTypes: ["violations"],
    }).then(
        (r) => done(r.violations.map((v) => ({
            id: v.id,
            help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + n.failureSummary),
        }))),
        (e) => done([{ id: "axe-error", help: String(e), nodes: [] }]),
    );
"#;

/// The pages whose screenshots go into the demo's docs
/// (`docs/screenshots/`, with `UPDATE_DOCS_SCREENSHOTS=1`): the ones
/// issues 20 and 21 changed.
const DOC_PAGES: &[&str] = &[
    "passkeys",
    "login-passkey",
    "verify-2fa-passkey",
    "sign-out-everywhere-passkey",
    "security-activity-passkeys",
    "enroll-2fa-passkey",
    "home-logged-in",
    "login-wait",
    "verify-resend-wait",
    "enable-sms-phone",
    "enable-sms-code",
    "enable-totp-step-up",
    "change-email-send-code",
    "profile-long-username",
];

pub struct Browser {
    pub c: Client,
    pub base: String,
    shots: PathBuf,
    /// Where the docs' screenshots go, when they are to be updated.
    docs: Option<PathBuf>,
    n: u32,
    /// What the audits found, page by page.
    pub findings: Vec<String>,
    /// The pages audited.
    pub audited: Vec<String>,
}

impl Browser {
    pub fn new(c: Client, base: String, shots: PathBuf, docs: Option<PathBuf>) -> Self {
        use sha2::{Digest, Sha256};
        let hash = data_encoding::HEXLOWER.encode(&Sha256::digest(AXE.as_bytes()));
        assert_eq!(
            hash, AXE_SHA256,
            "tests/axe/axe.min.js is not the reviewed file"
        );
        Browser {
            c,
            base,
            shots,
            docs,
            n: 0,
            findings: Vec::new(),
            audited: Vec::new(),
        }
    }

    pub async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let u = self.c.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        }
    }

    /// Waits until the browser is on `path` (after a click or a submit).
    pub async fn wait_path(&self, path: &str) {
        let start = Instant::now();
        loop {
            let p = self.path().await;
            if p == path && self.loaded().await {
                return;
            }
            if start.elapsed() > Duration::from_secs(15) {
                let src = self.c.source().await.unwrap_or_default();
                panic!("expected to be on {path}, still on {p}:\n{src}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// True when the current document has finished loading.
    pub async fn loaded(&self) -> bool {
        matches!(
            self.c.execute("return document.readyState", vec![]).await,
            Ok(serde_json::Value::String(s)) if s == "complete"
        )
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.c.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    /// The current value of the field `css`.
    pub async fn value(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn text(&self) -> Option<String> {
        self.c
            .find(Locator::Css("body"))
            .await
            .ok()?
            .text()
            .await
            .ok()
    }

    /// The text of the element `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Waits (a page may still be loading) until the page shows `needle`.
    pub async fn expect_text(&self, needle: &str) {
        let start = Instant::now();
        loop {
            let t = self.text().await.unwrap_or_default();
            if t.contains(needle) {
                return;
            }
            if start.elapsed() > Duration::from_secs(15) {
                panic!("expected {needle:?} on the page:\n{t}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn shot(&mut self, name: &str) -> PathBuf {
        self.n += 1;
        let png = self.c.screenshot().await.unwrap();
        let path = self.shots.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Submits the form whose action is `action` with its submit button.
    pub async fn submit(&self, action: &str) {
        self.click(&format!("form[action=\"{action}\"] button[type=submit]"))
            .await;
    }

    /// Submits the form whose action is `action` and waits for the next
    /// page, wherever it is (the same path too).
    pub async fn submit_and_wait(&self, action: &str) {
        self.c
            .execute("document.documentElement.dataset.left = '1'", vec![])
            .await
            .unwrap();
        self.submit(action).await;
        let start = Instant::now();
        loop {
            let fresh = self
                .c
                .execute(
                    "return document.readyState === 'complete' && !document.documentElement.dataset.left",
                    vec![],
                )
                .await;
            if matches!(fresh, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no new page after posting {action}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the text of `css` contains `needle`; answers it.
    pub async fn wait_text_of(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let t = match self.c.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if t.contains(needle) {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "expected {needle:?} in {css}, got {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn log_out(&self) {
        self.click("header form[action=\"/logout\"] button").await;
        self.wait_path("/").await;
    }

    pub async fn log_in(&self, username: &str, password: &str, then: &str) {
        self.go("/login").await;
        self.fill("input[name=username]", username).await;
        self.fill("input[name=password]", password).await;
        self.submit("/login").await;
        self.wait_path(then).await;
    }

    pub async fn resize(&self, (w, h): (u32, u32)) {
        self.c.set_window_size(w, h).await.unwrap();
        // Until the layout has the new width.
        let start = Instant::now();
        while self
            .c
            .execute("return window.innerWidth", vec![])
            .await
            .unwrap()
            != serde_json::json!(w)
        {
            assert!(start.elapsed() < Duration::from_secs(5), "no resize to {w}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Checks the page as it is at both widths: axe-core's WCAG 2.2 AA
    /// rules (and heading order), and nothing wider than the window; takes
    /// a screenshot at each (`name-1280.png`, `name-375.png`), into the
    /// docs too for the pages of [`DOC_PAGES`]. Findings are collected for
    /// the end of the walk.
    pub async fn audit(&mut self, name: &str) {
        assert!(self.loaded().await, "{name}: not loaded");
        self.c
            .execute(&format!("{AXE}\nreturn true;"), vec![])
            .await
            .unwrap_or_else(|e| panic!("{name}: axe did not load: {e}"));
        if self.audited.is_empty() {
            self.axe_finds_a_planted_violation().await;
        }
        self.audited.push(name.to_owned());
        for size in [WIDE, PHONE] {
            self.resize(size).await;
            let width = size.0;
            let found = self
                .c
                .execute_async(RUN_AXE, vec![])
                .await
                .unwrap_or_else(|e| panic!("{name}: axe did not run: {e}"));
            for v in found.as_array().into_iter().flatten() {
                self.findings.push(format!(
                    "{name} at {width} px: {} ({}): {}",
                    v["id"].as_str().unwrap_or("?"),
                    v["help"].as_str().unwrap_or(""),
                    v["nodes"]
                ));
            }
            let overflow = self
                .c
                .execute(
                    "return document.documentElement.scrollWidth - window.innerWidth",
                    vec![],
                )
                .await
                .unwrap();
            if overflow.as_i64().unwrap_or(0) > 0 {
                self.findings.push(format!(
                    "{name} at {width} px: {overflow} px wider than the window"
                ));
            }
            let png = self.c.screenshot().await.unwrap();
            let file = format!("{name}-{width}.png");
            std::fs::write(self.shots.join(&file), &png).unwrap();
            if let Some(docs) = &self.docs
                && DOC_PAGES.contains(&name)
            {
                std::fs::write(docs.join(&file), &png).unwrap();
            }
        }
        self.resize(WIDE).await;
    }

    /// The checker can fail: a button without a name, planted in the
    /// page, is found (and removed).
    async fn axe_finds_a_planted_violation(&self) {
        self.c
            .execute(
                "const b = document.createElement('button'); b.id = 'planted'; document.body.append(b);",
                vec![],
            )
            .await
            .unwrap();
        let found = self.c.execute_async(RUN_AXE, vec![]).await.unwrap();
        self.c
            .execute("document.getElementById('planted').remove()", vec![])
            .await
            .unwrap();
        let ids: Vec<&str> = found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["id"].as_str())
            .collect();
        assert!(
            ids.contains(&"button-name"),
            "axe missed a planted violation: {found}"
        );
    }

    /// The audit's verdict: every page clean at both widths.
    pub fn assert_accessible(&self) {
        eprintln!(
            "axe-core: {} pages at 1280 px and 375 px, {} finding(s)",
            self.audited.len(),
            self.findings.len()
        );
        assert!(
            self.findings.is_empty(),
            "{} finding(s) on {} pages:\n{}",
            self.findings.len(),
            self.audited.len(),
            self.findings.join("\n")
        );
    }
}

/// Where the docs' screenshots go: `examples/axum_app/docs/screenshots/`
/// when `UPDATE_DOCS_SCREENSHOTS` is set.
pub fn docs_dir(manifest: &Path) -> Option<PathBuf> {
    std::env::var_os("UPDATE_DOCS_SCREENSHOTS")?;
    let dir = manifest.join("docs").join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}
