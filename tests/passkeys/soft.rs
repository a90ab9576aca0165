//! A software WebAuthn authenticator for the tests: ES256 keys, "none"
//! attestation, discoverable credentials with user handles, a signature
//! counter that can be turned off, and knobs to lie (origin, RP id, user
//! verification). webauthn-authenticator-rs's `SoftPasskey` keeps no user
//! handle (no passwordless sign-in), hence this one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use data_encoding::BASE64URL_NOPAD as B64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

static NEXT: AtomicU64 = AtomicU64::new(1);

#[derive(Clone)]
pub struct Cred {
    pub id: Vec<u8>,
    key: SigningKey,
    rp_id: String,
    user_handle: Vec<u8>,
    pub counter: u32,
}

/// What a ceremony should claim.
#[derive(Clone)]
pub struct Claims {
    pub origin: String,
    /// Sign for this RP id instead of the one asked for.
    pub rp_id: Option<String>,
    pub user_verified: bool,
}

#[derive(Clone)]
pub struct SoftAuthenticator {
    pub creds: Vec<Cred>,
    /// Counts signatures (false: always 0, as many passkeys do).
    pub counting: bool,
    pub backed_up: bool,
    pub claims: Claims,
    /// Registers the last credential's id and key again.
    pub reuse_last: bool,
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n < 256 {
        out.extend([m | 24, n as u8]);
    } else if n < 65536 {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    }
}

fn int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        head(out, 0, v as u64);
    } else {
        head(out, 1, (-1 - v) as u64);
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend(b);
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend(s.as_bytes());
}

fn cose_key(key: &SigningKey) -> Vec<u8> {
    let point = key.verifying_key().to_sec1_point(false);
    let raw = point.as_bytes();
    let mut out = Vec::new();
    head(&mut out, 5, 5);
    int(&mut out, 1);
    int(&mut out, 2); // kty EC2
    int(&mut out, 3);
    int(&mut out, -7); // ES256
    int(&mut out, -1);
    int(&mut out, 1); // P-256
    int(&mut out, -2);
    bytes(&mut out, &raw[1..33]);
    int(&mut out, -3);
    bytes(&mut out, &raw[33..65]);
    out
}

impl SoftAuthenticator {
    pub fn new(origin: &str) -> Self {
        SoftAuthenticator {
            creds: Vec::new(),
            counting: true,
            backed_up: false,
            claims: Claims {
                origin: origin.to_owned(),
                rp_id: None,
                user_verified: true,
            },
            reuse_last: false,
        }
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut f = 0x01; // user present
        if self.claims.user_verified {
            f |= 0x04;
        }
        if self.backed_up {
            f |= 0x08 | 0x10;
        }
        if attested {
            f |= 0x40;
        }
        f
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.claims.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// Answers `navigator.credentials.create(options)`: the JSON a page posts.
    pub fn register(&mut self, options: &Value) -> String {
        let pk = &options["publicKey"];
        let challenge = pk["challenge"].as_str().unwrap();
        let asked_rp = pk["rp"]["id"].as_str().unwrap().to_owned();
        let rp_id = self.claims.rp_id.clone().unwrap_or(asked_rp.clone());
        let user_handle = B64
            .decode(pk["user"]["id"].as_str().unwrap().as_bytes())
            .unwrap();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let seed = sha256(format!("soft-{}-{n}", std::process::id()).as_bytes());
        let (id, key) = match self.creds.last() {
            Some(last) if self.reuse_last => (last.id.clone(), last.key.clone()),
            _ => (
                sha256(&seed)[..16].to_vec(),
                SigningKey::from_slice(&seed).unwrap(),
            ),
        };
        let mut auth_data = sha256(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(true));
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(cose_key(&key));
        let mut att = Vec::new();
        head(&mut att, 5, 3);
        text(&mut att, "fmt");
        text(&mut att, "none");
        text(&mut att, "attStmt");
        head(&mut att, 5, 0);
        text(&mut att, "authData");
        bytes(&mut att, &auth_data);
        let client_data = self.client_data("webauthn.create", challenge);
        self.creds.push(Cred {
            id: id.clone(),
            key,
            rp_id: asked_rp,
            user_handle,
            counter: 0,
        });
        json!({
            "id": B64.encode(&id),
            "rawId": B64.encode(&id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(&att),
                "clientDataJSON": B64.encode(&client_data),
            },
            "extensions": {},
        })
        .to_string()
    }

    /// Answers `navigator.credentials.get(options)` with the newest
    /// matching credential (one of `allowCredentials`, or any of the RP's
    /// when the list is empty: a discoverable sign-in).
    pub fn assert(&mut self, options: &Value) -> String {
        let pk = &options["publicKey"];
        let challenge = pk["challenge"].as_str().unwrap().to_owned();
        let asked_rp = pk["rpId"].as_str().unwrap().to_owned();
        let allowed: Vec<Vec<u8>> = pk["allowCredentials"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| B64.decode(c["id"].as_str().unwrap().as_bytes()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let flags = self.flags(false);
        let counting = self.counting;
        let rp_id = self.claims.rp_id.clone().unwrap_or(asked_rp.clone());
        let client_data = self.client_data("webauthn.get", &challenge);
        let cred = self
            .creds
            .iter_mut()
            .rev()
            .find(|c| c.rp_id == asked_rp && (allowed.is_empty() || allowed.contains(&c.id)))
            .expect("no credential for these options");
        if counting {
            cred.counter += 1;
        }
        let mut auth_data = sha256(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend(cred.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let sig: Signature = cred.key.sign(&signed);
        json!({
            "id": B64.encode(&cred.id),
            "rawId": B64.encode(&cred.id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(&auth_data),
                "clientDataJSON": B64.encode(&client_data),
                "signature": B64.encode(sig.to_der().as_bytes()),
                "userHandle": B64.encode(&cred.user_handle),
            },
            "extensions": {},
        })
        .to_string()
    }
}
