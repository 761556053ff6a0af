//! What `/proc` says about a process and its machine: memory, threads,
//! descriptors, CPU time and context switches in one [`ProcSample`]; the
//! kernel's settings ([`sysctl`]); the CPU and kernel a figure was measured on.
//!
//! ```
//! let me = process_stats::sample(std::process::id()).expect("this process is alive");
//! assert!(me.fds >= 3 && me.threads >= 1);
//! assert!(process_stats::sysctl_number("kernel/pid_max").is_some());
//! ```
//!
//! This is the one place in the workspace that parses `/proc`: the bench
//! samples its servers with it, the conformance suite checks that a
//! server's descriptors and threads come back to where they started, the
//! load generator checks the machine's limits. It reads files and does
//! nothing else; a process that is gone is `None`.

use serde::{Deserialize, Serialize};

/// One reading of `/proc/<pid>`. CPU times have the kernel's tick resolution
/// (1 / [`clock_ticks_per_second`], 10 ms on most systems).
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
    let (cpu_user_s, cpu_system_s) = cpu_times(pid)?;
    Some(ProcSample {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
        fds: open_fds(pid)?,
        cpu_user_s,
        cpu_system_s,
        voluntary_switches: field("voluntary_ctxt_switches:"),
        involuntary_switches: field("nonvoluntary_ctxt_switches:"),
    })
}

/// CPU seconds (user plus system) process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_times(pid).map(|(user, system)| user + system)
}

/// Descriptors process `pid` holds open.
pub fn open_fds(pid: u32) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|dir| dir.count() as u64)
}

/// The kernel's clock tick, the unit of `/proc/<pid>/stat`'s CPU times.
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// `(user, system)` CPU seconds from `/proc/<pid>/stat`.
fn cpu_times(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after its ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let hz = clock_ticks_per_second().max(1) as f64;
    let ticks = |i: usize| -> Option<f64> { Some(fields.get(i)?.parse::<u64>().ok()? as f64 / hz) };
    Some((ticks(11)?, ticks(12)?))
}

/// A kernel setting, `/proc/sys/<name>` (`net/core/somaxconn`), trimmed.
pub fn sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{name}"))
        .ok()
        .map(|text| text.trim().to_string())
}

/// A kernel setting that is one number.
pub fn sysctl_number(name: &str) -> Option<u64> {
    sysctl(name)?.parse().ok()
}

/// A kernel setting that is a list of numbers (`net/ipv4/tcp_rmem`).
pub fn sysctl_numbers(name: &str) -> Option<Vec<u64>> {
    sysctl(name)?
        .split_whitespace()
        .map(|part| part.parse().ok())
        .collect()
}

/// The CPU's model name, from `/proc/cpuinfo`.
pub fn cpu_model() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
}

/// The running kernel's release (`6.18.44`).
pub fn kernel_release() -> Option<String> {
    sysctl("kernel/osrelease")
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let me = super::sample(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.threads >= 1 && me.fds >= 3);
        assert!(super::sample(u32::MAX).is_none());
    }

    #[test]
    fn cpu_time_grows_while_spinning() {
        let before = super::cpu_seconds(std::process::id()).unwrap();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(60) {}
        let after = super::cpu_seconds(std::process::id()).unwrap();
        assert!(after > before, "{before} -> {after}");
        assert!(super::cpu_seconds(u32::MAX).is_none());
    }

    #[test]
    fn kernel_settings() {
        let range = super::sysctl_numbers("net/ipv4/ip_local_port_range").unwrap();
        assert!(range.len() == 2 && range[0] <= range[1], "{range:?}");
        assert!(super::sysctl_number("net/core/somaxconn").is_some_and(|n| n > 0));
        assert!(super::sysctl("no/such/setting").is_none());
        assert!(super::kernel_release().is_some_and(|release| !release.is_empty()));
        assert!(super::clock_ticks_per_second() > 0);
    }
}
