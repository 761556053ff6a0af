//! A process as `/proc` sees it: memory, threads, descriptors, CPU time and
//! context switches, in one [`ProcSample`].
//!
//! ```
//! let me = process_stats::sample(std::process::id()).expect("this process is alive");
//! assert!(me.fds >= 3 && me.threads >= 1);
//! ```
//!
//! The bench samples its servers with it; the conformance suite checks that
//! a server's descriptors and threads come back to where they started. It
//! reads files and does nothing else; a process that is gone is `None`.

use serde::{Deserialize, Serialize};

/// One reading of `/proc/<pid>`. CPU times have the kernel's tick resolution (10 ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcSample {
    pub rss_kib: u64,
    pub threads: u64,
    pub fds: u64,
    pub cpu_user_s: f64,
    pub cpu_system_s: f64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

impl ProcSample {
    /// User plus system CPU seconds.
    pub fn cpu_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_system_s
    }
}

/// Reads `/proc/<pid>`; `None` once the process is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0) as f64
            / 100.0
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count() as u64);
    Some(ProcSample {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
        fds,
        cpu_user_s: ticks(11),
        cpu_system_s: ticks(12),
        voluntary_switches: field("voluntary_ctxt_switches:"),
        involuntary_switches: field("nonvoluntary_ctxt_switches:"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let me = super::sample(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.threads >= 1 && me.fds >= 3);
        assert!(super::sample(u32::MAX).is_none());
    }
}
