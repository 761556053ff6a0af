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
