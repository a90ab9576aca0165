//! The machine: cores, CPU model, CPU time used by other processes, RSS.

use std::time::Instant;

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub(crate) fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").to_owned())
}

pub(crate) fn machine() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// CPU ticks: (busy on the whole machine, used by this process).
pub(crate) fn cpu_ticks() -> (u64, u64) {
    let busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let l = s.lines().next()?.to_owned();
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            Some(f.iter().take(8).sum::<u64>() - f.get(3)? - f.get(4)?)
        })
        .unwrap_or(0);
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            // Fields after the command: 3 state, 4 ppid, ..., 14 utime, 15 stime.
            let f: Vec<&str> = rest.split_whitespace().collect();
            let n = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
            Some(n(14)? + n(15)?)
        })
        .unwrap_or(0);
    (busy, own)
}

/// Measures how many cores other processes kept busy during a phase.
pub(crate) struct CpuWatch {
    pub(crate) at: Instant,
    pub(crate) ticks: (u64, u64),
}

impl CpuWatch {
    pub(crate) fn start() -> Self {
        CpuWatch {
            at: Instant::now(),
            ticks: cpu_ticks(),
        }
    }
    /// (cores used by this process, cores used by others) on average.
    pub(crate) fn stop(&self) -> (f64, f64) {
        let (busy, own) = cpu_ticks();
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let tick = 100.0; // USER_HZ
        let own_c = own.saturating_sub(self.ticks.1) as f64 / tick / secs;
        let all_c = busy.saturating_sub(self.ticks.0) as f64 / tick / secs;
        (own_c, (all_c - own_c).max(0.0))
    }
}

/// (VmRSS, VmHWM) in KiB, from /proc/self/status.
pub(crate) fn rss_kib() -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
