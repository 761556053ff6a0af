//! What a measurement ran on, for every report.

/// The git revision the binary was built from (`-dirty` if it had local changes).
pub const GIT_REVISION: &str = env!("C10K_GIT_REVISION");
/// The c10k version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The machine, as far as a measurement depends on it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// The open-file limit (soft, after raising it to the hard limit).
    pub open_file_limit: u64,
    /// The Rust compiler the binary was built with.
    pub rustc: String,
}

/// Reads the machine description from `/proc`.
pub fn describe() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let open_file_limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(0);
    Machine {
        cpu,
        cores: model::config::cores(),
        kernel,
        open_file_limit,
        rustc: rustc_version(),
    }
}

fn rustc_version() -> String {
    std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// CPU time (user + system) a process has used so far: `None` is this
/// process. Read from `/proc/<pid>/stat`, whose clock ticks are `USER_HZ`,
/// 100 per second on every Linux ABI.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may contain spaces; fields resume after its ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_used_some_cpu() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {}
        assert!(super::cpu_seconds(None).unwrap() > 0.0);
        assert!(super::cpu_seconds(Some(u32::MAX)).is_none());
    }
}
