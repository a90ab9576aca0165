//! `METRICS=1`: the library's counters (`twofa_verify::metrics::MetricsSink`)
//! as Prometheus text at `/metrics`, on a listener of its own bound to
//! 127.0.0.1 only: the site's own port never serves them, and nothing off
//! this machine can reach them (a scraper runs beside the app, or reaches
//! it through a tunnel).

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::SetupError;

/// Installs the process's Prometheus recorder (once per process).
pub fn install() -> Result<PrometheusHandle, SetupError> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| SetupError::from(format!("cannot install the metrics recorder: {e}")))
}

/// The metrics site: `GET /metrics`, the text exposition format.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

/// Binds the metrics listener on 127.0.0.1:`port` (0: any free port):
/// loopback only, whatever `--bind` says.
pub async fn listen(port: u16) -> Result<tokio::net::TcpListener, SetupError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| SetupError::from(format!("cannot listen for metrics on {addr}: {e}")))
}

/// Serves `router(handle)` on `listener` until the process ends.
pub fn spawn(listener: tokio::net::TcpListener, handle: PrometheusHandle) {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(handle)).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
}
