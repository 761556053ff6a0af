//! Records what the binary was built from, for reports: the git revision
//! and the compiler.

use std::process::Command;

fn main() {
    let revision = output("git", &["describe", "--always", "--dirty", "--abbrev=12"]);
    println!("cargo:rustc-env=C10K_GIT_REVISION={revision}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    println!(
        "cargo:rustc-env=C10K_RUSTC_VERSION={}",
        output(&rustc, &["--version"])
    );
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/index");
}

/// What `program args` printed, or "unknown".
fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
