//! Where passwords and codes come from: a terminal (passwords without
//! echo), standard input (`--password-stdin`) or another file descriptor
//! (`--password-fd N`), one password per line.

use std::io::{self, BufRead, IsTerminal, Write};

use secrecy::SecretString;

use crate::output::CliError;

/// Asks a person. Implemented by the terminal, and by scripts in tests.
pub trait Prompter {
    /// True when someone can answer (a terminal, and `--no-input` not given).
    fn interactive(&self) -> bool;
    /// A secret, not echoed. `None`: nobody to ask.
    fn secret(&mut self, prompt: &str) -> io::Result<Option<String>>;
    /// A line of text (echoed). `None`: nobody to ask, or end of input.
    fn line(&mut self, prompt: &str) -> io::Result<Option<String>>;
}

/// The real terminal.
#[derive(Debug)]
pub struct Terminal {
    enabled: bool,
}

impl Terminal {
    /// Prompts only when standard input is a terminal and `allowed`.
    pub fn new(allowed: bool) -> Self {
        Terminal {
            enabled: allowed && io::stdin().is_terminal(),
        }
    }
}

impl Prompter for Terminal {
    fn interactive(&self) -> bool {
        self.enabled
    }

    fn secret(&mut self, prompt: &str) -> io::Result<Option<String>> {
        if !self.enabled {
            return Ok(None);
        }
        rpassword::prompt_password(prompt).map(Some)
    }

    fn line(&mut self, prompt: &str) -> io::Result<Option<String>> {
        if !self.enabled {
            return Ok(None);
        }
        let mut err = io::stderr();
        write!(err, "{prompt}")?;
        err.flush()?;
        let mut s = String::new();
        if io::stdin().lock().read_line(&mut s)? == 0 {
            return Ok(None);
        }
        Ok(Some(s.trim().to_owned()))
    }
}

/// A reader of passwords, one per line, and its name for messages.
pub type PasswordSource = (Box<dyn BufRead>, String);

/// Passwords and codes for one command.
pub struct Input {
    passwords: Option<PasswordSource>,
    prompter: Box<dyn Prompter>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("passwords", &self.passwords.as_ref().map(|p| &p.1))
            .field("interactive", &self.prompter.interactive())
            .finish()
    }
}

fn strip_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

impl Input {
    /// Passwords from `passwords` (named `source` in messages) when given,
    /// else from the prompter.
    pub fn new(passwords: Option<PasswordSource>, prompter: Box<dyn Prompter>) -> Self {
        Input {
            passwords,
            prompter,
        }
    }

    /// True when a person can be asked for what is missing.
    pub fn interactive(&self) -> bool {
        self.prompter.interactive()
    }

    /// A password: the next line of the password source, or a prompt.
    pub fn password(&mut self, prompt: &str) -> Result<SecretString, CliError> {
        if let Some((reader, source)) = &mut self.passwords {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(|e| {
                CliError::bad_input("password_unreadable", format!("cannot read {source}: {e}"))
            })? == 0
            {
                return Err(CliError::bad_input(
                    "missing_password",
                    format!("no password on {source} (give one per line)"),
                ));
            }
            return non_empty(strip_newline(line));
        }
        match self.prompter.secret(prompt)? {
            Some(p) => non_empty(p),
            None => Err(CliError::bad_input(
                "missing_password",
                "a password is needed: use --password-stdin or --password-fd N, or run in a terminal",
            )),
        }
    }

    /// A new password; typed twice when prompted.
    pub fn new_password(&mut self, prompt: &str) -> Result<SecretString, CliError> {
        if self.passwords.is_some() {
            return self.password(prompt);
        }
        let first = self.password(prompt)?;
        let again = self.password("Repeat it: ")?;
        use secrecy::ExposeSecret;
        if first.expose_secret() != again.expose_secret() {
            return Err(CliError::bad_input(
                "password_mismatch",
                "the passwords do not match",
            ));
        }
        Ok(first)
    }

    /// A line of text when someone can be asked; `None` otherwise.
    pub fn text(&mut self, prompt: &str) -> Result<Option<String>, CliError> {
        Ok(self
            .prompter
            .line(prompt)?
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()))
    }
}

fn non_empty(p: String) -> Result<SecretString, CliError> {
    if p.is_empty() {
        return Err(CliError::bad_input(
            "missing_password",
            "the password is empty",
        ));
    }
    Ok(SecretString::from(p))
}

/// The password source named by the flags: standard input, or a file
/// descriptor opened through `/dev/fd/N` (no unsafe code needed).
pub fn password_source(stdin: bool, fd: Option<u32>) -> Result<Option<PasswordSource>, CliError> {
    if stdin {
        return Ok(Some((
            Box::new(io::BufReader::new(io::stdin())),
            "standard input".to_owned(),
        )));
    }
    let Some(fd) = fd else { return Ok(None) };
    let path = format!("/dev/fd/{fd}");
    let file = std::fs::File::open(&path).map_err(|e| {
        CliError::bad_input(
            "password_unreadable",
            format!("cannot read file descriptor {fd}: {e}"),
        )
    })?;
    Ok(Some((
        Box::new(io::BufReader::new(file)),
        format!("file descriptor {fd}"),
    )))
}
