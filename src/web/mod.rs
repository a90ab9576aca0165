//! Framework-neutral pieces of a web integration, for any framework
//! (axum, actix-web, ...): nothing here knows a request type.
//!
//! - [`csrf`]: synchronizer tokens for a session, signed double-submit
//!   tokens for visitors without one, and the decision for a request.
//! - [`safe_next`] and [`LocalPath`]: redirect targets that stay on the
//!   site (`?next=` after a login).
//! - [`ErrorResponse`]: the HTTP status, body and `Retry-After` of an
//!   [`Error`](crate::Error), without leaking provider or store detail.
//! - [`SessionRecords`]: web sessions kept in a [`StateStore`](crate::StateStore)
//!   under keyed-hash keys, for a framework's session-store trait.
//! - [`cookie_name`]: `__Host-` cookies on https sites.
//!
//! The `twofa_verify::axum` module (feature `axum`) is built on these; an
//! app on another framework uses them directly (the repository's
//! `examples/actix_app` does, for actix-web).

mod cookie;
pub mod csrf;
mod redirect;
mod sessions;
pub(crate) mod status;

pub use cookie::cookie_name;
pub use csrf::CsrfTokens;
pub use redirect::{LocalPath, safe_next};
pub use sessions::SessionRecords;
pub use status::ErrorResponse;
