//! Runs the `cli` example as a process (the binary cargo built for these
//! tests) in a temporary directory of its own.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A finished invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON object on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {self:?}"))
    }

    /// The newest console SMS code sent to `phone` (printed on stderr).
    pub fn sms_code(&self, phone: &str) -> String {
        let prefix = format!("[sms to {phone}]");
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no SMS to {phone}: {self:?}"));
        line.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap_or_else(|| panic!("no code in {line}"))
            .to_owned()
    }
}

/// A temporary directory with its own database, key and session file.
pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A directory whose database exists (made by registering `owner`):
    /// every command but `register` and `import-flask` needs one.
    pub fn with_database() -> Self {
        let d = Dir::new();
        d.register("owner", "owner's long passphrase\n");
        d
    }

    /// Registers `name` (address `name@example.com`) with the password on
    /// stdin (`password` ends with a newline); it must succeed.
    pub fn register(&self, name: &str, password: &str) -> Run {
        let email = format!("{name}@example.com");
        self.expect(
            &[
                "register",
                "--username",
                name,
                "--email",
                &email,
                "--password-stdin",
            ],
            password,
            0,
        )
    }

    /// The path of a file in the directory.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// The names of the files in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    pub fn db(&self) -> String {
        self.dir.path().join("app.db").display().to_string()
    }

    /// Runs `cli --db <tmp>/app.db ARGS` (unless ARGS give a `--db`) with
    /// `stdin`, console SMS and mail.
    pub fn run(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
        if !args.contains(&"--db") {
            cmd.arg("--db").arg(self.db());
        }
        cmd.args(args);
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
        let mut child = cmd.spawn().expect("the example starts");
        if let Some(mut s) = child.stdin.take() {
            let _ = s.write_all(stdin.as_bytes());
        }
        let out: Output = child.wait_with_output().expect("the example ends");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `run` with `--json`, checking the exit code and that stdout is one
    /// JSON object with the matching `ok` and `exit_code`.
    pub fn expect(&self, args: &[&str], stdin: &str, code: i32) -> Run {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let r = self.run(&a, stdin);
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        let j = r.json();
        assert_eq!(j["ok"], code == 0 || code == 6, "{args:?}: {r:?}");
        assert_eq!(j["exit_code"], code, "{args:?}: {r:?}");
        r
    }

    /// `expect`, then the error kind of a failure.
    pub fn fails(&self, args: &[&str], stdin: &str, code: i32, kind: &str) -> Value {
        let j = self.expect(args, stdin, code).json();
        assert_eq!(j["error"]["kind"], kind, "{args:?}: {j}");
        j
    }
}
