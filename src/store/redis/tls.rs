//! `rediss://` clients (feature `redis-tls`): the checks redis-rs leaves to
//! the connection (and, for the crypto provider, to a panic) made up front,
//! as `Error::Config`.

use redis::{ConnectionInfo, TlsCertificates};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::{Error, Result};

/// What `connect` says when the app has installed no rustls crypto
/// provider (redis-rs's `rustls::ClientConfig::builder()` would panic, in
/// the background task that reconnects).
pub(super) const NO_CRYPTO_PROVIDER: &str = "no rustls crypto provider is installed: \
    call `rustls::crypto::aws_lc_rs::default_provider().install_default()` (or `ring`'s) \
    once at start-up, before connecting to a rediss:// Redis";

/// A TLS client for `info` (a `rediss://` address), trusting the PEM CA
/// certificates `roots` if given, else the system's roots.
pub(super) fn client(info: ConnectionInfo, roots: Option<&[u8]>) -> Result<redis::Client> {
    match certificates(roots)? {
        None => redis::Client::open(info).map_err(Error::store),
        Some(certificates) => redis::Client::build_with_tls(info, certificates)
            .map_err(|e| Error::Config(format!("Redis root certificates: {e}"))),
    }
}

/// The checks before any TLS connection (a crypto provider, well-formed
/// PEM), and the CA certificates `roots` as redis-rs takes them (`None`:
/// the system's roots).
pub(super) fn certificates(roots: Option<&[u8]>) -> Result<Option<TlsCertificates>> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        return Err(Error::Config(NO_CRYPTO_PROVIDER.to_owned()));
    }
    let Some(pem) = roots else { return Ok(None) };
    check_pem(pem)?;
    Ok(Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }))
}

/// At least one certificate, every one well-formed: an empty or garbled
/// file would otherwise trust nothing and fail only at connect, as an
/// unreachable server.
fn check_pem(pem: &[u8]) -> Result<()> {
    let mut count = 0usize;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| Error::Config(format!("Redis root certificates: bad PEM: {e}")))?;
        count += 1;
    }
    if count == 0 {
        return Err(Error::Config(
            "Redis root certificates: no BEGIN CERTIFICATE block in the PEM".into(),
        ));
    }
    Ok(())
}
