//! The CLI's "who am I": a small session file written by `login`.
//!
//! A terminal has no cookie, so `login` writes a file (mode 0600) holding
//! the user id, the id of a session record in the authenticator's state
//! store, the session stamp of the user's credentials at login, an expiry
//! ([`SESSION_TTL`] ahead) and an HMAC-SHA-256 of them all under a key
//! derived from the application's secret key: editing the file (another
//! user id, a later expiry, another stamp) makes it invalid. The stamp lets
//! the authenticator end the session when the password or a factor changes
//! anywhere else. `logout` deletes the session's record (and removes it
//! from the file): a copy of the file taken before stops working too, as a
//! copied cookie does after a web logout. The file also keeps a
//! pending login (the challenge token of a login waiting for its
//! second-factor code) so that `login --code` can finish it in a later
//! invocation, and the token of this terminal when it is remembered
//! (`login --remember-device`), which outlives `logout`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use twofa_verify::clock::Clock;
use twofa_verify::web::SessionRecords;
use twofa_verify::{SecretKey, StateStore, Timestamp, UserId};

/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);

type HmacSha256 = Hmac<Sha256>;

/// The file's contents.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SessionFile {
    /// The logged-in user, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    /// A login waiting for its second-factor code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// This terminal, remembered for a user: their next logins here skip
    /// the second factor. Kept at logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
}

/// A signed session.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    /// The user's id.
    pub user: i64,
    /// The id of the session's record in the state store (secret, like a
    /// session cookie; the file is private to its owner). Files from before
    /// records existed have none and are refused.
    #[serde(default)]
    id: String,
    /// Expiry, milliseconds since the epoch.
    pub expires_at: i64,
    /// The user's session stamp when the session was made (or last
    /// re-stamped after a change made through this CLI). Files from before
    /// stamps existed have none and are refused.
    #[serde(default)]
    pub stamp: String,
    nonce: String,
    mac: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("id", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("stamp", &self.stamp)
            .finish_non_exhaustive()
    }
}

/// A login waiting for its code.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The username or email the login was started with.
    pub user: String,
    /// The challenge token (secret; the file is private to its owner).
    pub token: String,
    /// When the challenge expires, milliseconds since the epoch.
    pub expires_at: i64,
    /// `--remember-device` was given when the login started.
    #[serde(default)]
    pub remember: bool,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("user", &self.user)
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("remember", &self.remember)
            .finish()
    }
}

/// This terminal as a remembered device of one user.
#[derive(Clone, Serialize, Deserialize)]
pub struct Device {
    /// The user it is remembered for.
    pub user: i64,
    /// The device's id in `cli devices`.
    pub id: String,
    /// The device token (secret; the file is private to its owner).
    pub token: String,
    /// When it stops working, milliseconds since the epoch.
    pub expires_at: i64,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("user", &self.user)
            .field("id", &self.id)
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Reads, writes and checks the session file, and keeps the sessions'
/// records in the state store.
pub struct Sessions {
    path: PathBuf,
    key: SecretBox<[u8; 32]>,
    records: SessionRecords,
}

/// A shared clock as a [`Clock`] (the records take one by value).
#[derive(Debug)]
struct SharedClock(Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// What a session's record holds: the user it belongs to.
fn record_value(user: i64) -> [u8; 8] {
    user.to_be_bytes()
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Result<HmacSha256, String> {
    let mut m = HmacSha256::new_from_slice(key).map_err(|e| format!("session key: {e}"))?;
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    Ok(m)
}

impl Sessions {
    /// The session file at `path`, signed with a key derived from `secret`;
    /// the sessions' records in `state` (the authenticator's), timed by
    /// `clock`.
    pub fn new(
        path: PathBuf,
        secret: &SecretKey,
        state: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let key = secret.derive("twofa-verify cli session key v1");
        let records = SessionRecords::from_arc(state, secret).with_clock(SharedClock(clock));
        Sessions { path, key, records }
    }

    /// The default file for a database: `<db file>.session` beside a SQLite
    /// file, else `.twofa-cli-session` in the current directory.
    pub fn default_path(db: &str) -> PathBuf {
        match demo_support::sqlite_file(db) {
            Some(file) => PathBuf::from(format!("{}.session", file.display())),
            None => PathBuf::from(".twofa-cli-session"),
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's contents; empty when absent or unreadable as a session.
    pub fn load(&self) -> io::Result<SessionFile> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(SessionFile::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the file (private to its owner, replaced atomically), or
    /// removes it when there is nothing to keep.
    pub fn save(&self, file: &SessionFile) -> io::Result<()> {
        if file.session.is_none() && file.pending.is_none() && file.device.is_none() {
            return self.remove();
        }
        let bytes = serde_json::to_vec_pretty(file).map_err(io::Error::other)?;
        let mut suffix = [0u8; 8];
        rand::rng().fill_bytes(&mut suffix);
        let tmp = PathBuf::from(format!(
            "{}.tmp-{}",
            self.path.display(),
            data_encoding::HEXLOWER.encode(&suffix)
        ));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let written = opts.open(&tmp).and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        });
        match written.and_then(|()| std::fs::rename(&tmp, &self.path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Deletes the file (no error when absent).
    pub fn remove(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn tag(&self, s: &Session, nonce: &[u8]) -> Result<HmacSha256, String> {
        mac(
            self.key.expose_secret(),
            &[
                b"session v3",
                &s.user.to_be_bytes(),
                s.id.as_bytes(),
                &s.expires_at.to_be_bytes(),
                s.stamp.as_bytes(),
                nonce,
            ],
        )
    }

    /// A new session for `user` with the user's session `stamp`, valid for
    /// [`SESSION_TTL`] from `now`: its record goes into the state store.
    pub async fn issue(
        &self,
        user: UserId,
        stamp: &str,
        now: Timestamp,
    ) -> twofa_verify::Result<Session> {
        let expires_at = now.plus(SESSION_TTL);
        let id = self
            .records
            .create_random(&record_value(user.0), expires_at)
            .await?;
        self.sign(Session {
            user: user.0,
            id,
            expires_at: expires_at.as_millis(),
            stamp: stamp.to_owned(),
            nonce: String::new(),
            mac: String::new(),
        })
    }

    /// The same session with a new stamp, after a change made through this
    /// CLI (the change moved the user's credentials on). The record and the
    /// expiry stay.
    pub fn restamp(&self, s: &Session, stamp: &str) -> twofa_verify::Result<Session> {
        self.sign(Session {
            stamp: stamp.to_owned(),
            ..s.clone()
        })
    }

    fn sign(&self, mut s: Session) -> twofa_verify::Result<Session> {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let tag = self
            .tag(&s, &nonce)
            .map_err(twofa_verify::Error::Internal)?
            .finalize()
            .into_bytes();
        s.nonce = data_encoding::HEXLOWER.encode(&nonce);
        s.mac = data_encoding::HEXLOWER.encode(&tag);
        Ok(s)
    }

    /// The user of a session that is intact and not expired. Whether it
    /// was revoked is [`is_live`](Self::is_live)'s to say, and whether its
    /// stamp still matches the user's credentials the authenticator's
    /// ([`session_user`](twofa_verify::Authenticator::session_user)).
    pub fn check(&self, s: &Session, now: Timestamp) -> Option<UserId> {
        if s.expires_at <= now.as_millis() || s.id.is_empty() {
            return None;
        }
        let nonce = data_encoding::HEXLOWER.decode(s.nonce.as_bytes()).ok()?;
        let tag = data_encoding::HEXLOWER.decode(s.mac.as_bytes()).ok()?;
        self.tag(s, &nonce).ok()?.verify_slice(&tag).ok()?;
        Some(UserId(s.user))
    }

    /// Whether the session's record is still in the store, for its user:
    /// not revoked (`logout`, `sign-out-everywhere`, a new login here) and
    /// not expired.
    pub async fn is_live(&self, s: &Session) -> twofa_verify::Result<bool> {
        let record = self.records.load(s.id.as_bytes()).await?;
        Ok(record.is_some_and(|v| v == record_value(s.user)))
    }

    /// Deletes the session's record: every copy of the file stops working.
    pub async fn revoke(&self, s: &Session) -> twofa_verify::Result<()> {
        if s.id.is_empty() {
            return Ok(());
        }
        self.records.delete(s.id.as_bytes()).await
    }
}
