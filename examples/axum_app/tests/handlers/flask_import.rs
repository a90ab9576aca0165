//! Users imported from the Flask app by the CLI (`cli import-flask`, run as
//! a process on a temporary database) seen on the demo opened on the same
//! database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use super::*;
use demo_support::profiles::Profile;

/// The `cli` package's binary. Cargo gives a test the path of its own
/// package's binaries only, so this builds the CLI once with cargo (same
/// profile as these tests) and reads the path from cargo's JSON messages.
fn cli_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "cli", "--message-format=json"])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"))
            .stderr(Stdio::inherit());
        // Cargo sets these for the test process; a build script that watches
        // one (ring watches CARGO_MANIFEST_DIR) would rebuild half the tree.
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_PKG_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                    "OUT_DIR",
                ]
                .contains(&k.as_str())
            {
                cmd.env_remove(k);
            }
        }
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("cargo runs");
        assert!(out.status.success(), "cargo build -p cli failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "cli")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the CLI's executable")
    })
}

/// A temporary directory with the database the CLI and the demo share.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn db(&self) -> String {
        self.dir.path().join("app.db").display().to_string()
    }

    /// Runs `cli --json --db <tmp>/app.db ARGS` with `stdin`, console SMS and
    /// mail, checks its exit code and returns the JSON object it printed.
    fn expect(&self, args: &[&str], stdin: &str, code: i32) -> Value {
        let mut cmd = Command::new(cli_bin());
        cmd.arg("--json").arg("--db").arg(self.db()).args(args);
        cmd.current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("TWILIO_")
                || k.starts_with("SMTP_")
                || k.starts_with("TWOFA_")
                || k == "DATABASE_URL"
                || k == "BASE_URL"
            {
                cmd.env_remove(k);
            }
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the CLI starts");
        if let Some(mut s) = child.stdin.take() {
            let _ = s.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().expect("the CLI ends");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {stdout}\n{stderr}"
        );
        let json: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}\n{stderr}"));
        assert_eq!(json["ok"], code == 0, "{args:?}: {json}");
        assert_eq!(json["exit_code"], code, "{args:?}: {json}");
        json
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_imported_from_flask_see_their_about_me_on_the_demo() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/flask_users.db"
    );
    let d = Dir::new();
    std::fs::write(d.dir.path().join(".env"), "LEGACY_HASHES=werkzeug\n").unwrap();
    // The CLI as a process.
    let j = d.expect(&["import-flask", fixture], "", 0);
    assert_eq!(
        j["profiles"]["written"],
        serde_json::json!(["alice", "bob", "carol"]),
        "{j}"
    );

    // The demo on the same database: a new user looks alice up.
    let state = axum_app::state_for_tests_with(
        demo_support::Options {
            db: d.db(),
            ..Default::default()
        },
        axum_app::Config::for_tests(),
    )
    .await
    .unwrap();
    let mut c = Client::with_state(state.clone());
    c.register("viewer").await;
    c.login("viewer").await.redirect("/user/viewer");
    let p = c.get("/user/alice").await;
    p.assert(StatusCode::OK, "Hi, I am alice.");
    // last_seen 2021-03-01 10:00 UTC.
    assert!(p.body.contains("years ago"), "{}", p.body);
    assert!(p.body.contains("2021-03-01 10:00 UTC"), "{}", p.body);
    let bob = c.get("/user/bob").await;
    assert!(!bob.body.contains("id=\"about-me\""), "bob had none");

    // alice edits her profile on the demo; importing again keeps it.
    let alice = state.auth.user_by_username("alice").await.unwrap().unwrap();
    let mine = Profile {
        about_me: "Edited here".into(),
        ..Profile::default()
    };
    state.profiles.save(alice.id, &mine, 1).await.unwrap();
    let again = d.expect(&["import-flask", fixture], "", 0);
    assert_eq!(
        again["profiles"]["kept_edited"],
        serde_json::json!(["alice"])
    );
    assert_eq!(
        again["profiles"]["written"],
        serde_json::json!(["bob", "carol"])
    );
    c.get("/user/alice")
        .await
        .assert(StatusCode::OK, "Edited here");
    // Importing the same rows again left the others as they were.
    let carol = state.auth.user_by_username("carol").await.unwrap().unwrap();
    let p = state.profiles.get(carol.id).await.unwrap();
    assert_eq!(p.about_me, "Hi, I am carol.");
    assert_eq!(p.last_seen, Some(1_614_765_600_000)); // 2021-03-03 10:00 UTC
}
