//! The system limits that would make a large run fail, checked before it
//! starts, each with one line saying what to do about it.

use super::settings::Settings;

/// Descriptors kept for the load generator itself (epoll, stdio, the JSON file).
const RESERVED_FDS: u64 = 64;

/// Raises the open-file soft limit as far as allowed, then checks that the
/// run fits the machine. `Err` is a one-line reason the run cannot work;
/// `Ok` carries warnings about limits that may hurt it.
pub fn check(settings: &Settings) -> Result<Vec<String>, String> {
    // An agent checks its own share (`--segment`): that is what it opens.
    let connections = settings.own_connections();
    let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let needed = connections as u64 + RESERVED_FDS;
    if soft > 0 && needed > soft {
        return Err(format!(
            "-c {} needs about {needed} descriptors but the open-file limit is {soft}: \
             lower -c, or raise the hard limit (ulimit -Hn) and run again",
            connections
        ));
    }
    let mut warnings = Vec::new();
    if let Some((low, high)) = port_range() {
        let ports = high.saturating_sub(low) + 1;
        let sources = settings.source_addrs.len().max(1);
        if connections > ports * sources {
            return Err(format!(
                "-c {} needs more local ports than {sources} source address(es) have \
                 ({ports} each, range {low}-{high}): spread them with --source-addrs 127.0.0.1-127.0.0.{}",
                connections,
                connections.div_ceil(ports).min(254)
            ));
        }
    }
    if let Some(somaxconn) = process_stats::sysctl_number("net/core/somaxconn")
        && settings.connect_rate.is_none()
        && connections as u64 > somaxconn
    {
        warnings.push(format!(
            "net.core.somaxconn is {somaxconn}: {} connects at once can overflow a listen \
             backlog, and a dropped SYN is retried a second later (use --connect-rate to ramp)",
            connections
        ));
    }
    Ok(warnings)
}

fn port_range() -> Option<(usize, usize)> {
    match process_stats::sysctl_numbers("net/ipv4/ip_local_port_range")?[..] {
        [low, high] => Some((usize::try_from(low).ok()?, usize::try_from(high).ok()?)),
        _ => None,
    }
}
