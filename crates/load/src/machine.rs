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

/// The clock an agent's `--start-at` was read from, so that the windows of
/// agents on different machines can be judged: the kernel's clock source,
/// and the offset from NTP time where chrony reports one.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Clock {
    /// `current_clocksource` (`tsc`, `kvm-clock`, ...).
    pub source: Option<String>,
    /// Seconds this machine's clock is ahead of NTP time (`chronyc tracking`'s
    /// system time), if chrony runs here.
    pub ntp_offset_s: Option<f64>,
}

/// Reads this machine's clock source and, if chrony runs, its offset.
pub fn clock() -> Clock {
    Clock {
        source: process_stats::clock_source(),
        ntp_offset_s: chrony_offset(),
    }
}

/// `chronyc -c tracking`: CSV whose fifth field is the system time's offset
/// from NTP time in seconds (positive: fast).
fn chrony_offset() -> Option<f64> {
    let output = std::process::Command::new("chronyc")
        .args(["-c", "tracking"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    String::from_utf8_lossy(&output.stdout)
        .split(',')
        .nth(4)?
        .trim()
        .parse()
        .ok()
}

/// Describes this machine.
pub fn describe() -> Machine {
    let open_file_limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(0);
    Machine {
        cpu: process_stats::cpu_model().unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        cores: cores(),
        kernel: process_stats::kernel_release().unwrap_or_else(|| "unknown".into()),
        open_file_limit,
        rustc: env!("C10K_RUSTC_VERSION").to_string(),
    }
}

/// The cores this process may run on (it honours CPU affinity).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
