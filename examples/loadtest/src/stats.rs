//! Medians, percentiles and latency summaries.

use serde_json::{Value, json};

pub(crate) fn median(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
}

/// Nearest-rank percentile (sorts `v`).
pub(crate) fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[derive(Clone, Copy)]
pub(crate) struct Lat {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) n: usize,
}

impl Lat {
    pub(crate) fn of(mut secs: Vec<f64>) -> Lat {
        let n = secs.len();
        Lat {
            p50_ms: percentile(&mut secs, 0.5) * 1e3,
            p99_ms: percentile(&mut secs, 0.99) * 1e3,
            max_ms: percentile(&mut secs, 1.0) * 1e3,
            n,
        }
    }
    pub(crate) fn json(&self) -> Value {
        json!({ "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms, "samples": self.n })
    }
}
