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
/// (1 / [`clock_ticks_per_second`], 10 ms on most systems). Context switches
/// are summed over every thread of the process (`/proc/<pid>/task/*`), not
/// just its main thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcSample {
    /// Resident memory in user space (not the kernel's memory for the process).
    pub rss_kib: u64,
    pub threads: u64,
    pub fds: u64,
    pub cpu_user_s: f64,
    pub cpu_system_s: f64,
    /// CPU seconds from the scheduler's nanosecond accounting, summed over
    /// the live threads ([`cpu_run_seconds`]); 0 where the kernel has none.
    #[serde(default)]
    pub cpu_run_s: f64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

/// What a process occupies. Counting descriptors lists `/proc/<pid>/fd`,
/// about 5 ms at 10,000 of them: read it at moments, not every 100 ms
/// beside a load ([`rss_and_threads`] is the cheap part).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Footprint {
    pub rss_kib: u64,
    pub threads: u64,
    pub fds: u64,
}

/// The kernel's own memory, machine-wide, from `/proc/meminfo` and
/// `/proc/net/sockstat`: what user-space RSS does not show (thread kernel
/// stacks, socket and epoll structures, socket buffers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelMemory {
    /// `KernelStack`: every thread's kernel stack.
    pub kernel_stack_kib: u64,
    /// `SUnreclaim`: slab memory the kernel cannot reclaim (sockets, epoll items, ...).
    pub slab_unreclaimable_kib: u64,
    /// TCP socket buffer memory (`sockstat` TCP `mem`, in KiB).
    pub tcp_buffers_kib: u64,
    /// TCP sockets in use.
    pub tcp_sockets: u64,
}

impl KernelMemory {
    /// Kernel stacks plus unreclaimable slab plus TCP buffers, in KiB.
    pub fn total_kib(&self) -> u64 {
        self.kernel_stack_kib + self.slab_unreclaimable_kib + self.tcp_buffers_kib
    }
}

impl ProcSample {
    /// User plus system CPU seconds, in clock ticks.
    pub fn cpu_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_system_s
    }

    /// CPU seconds used between `earlier` and this sample: from the
    /// scheduler's nanoseconds where both have them, else from clock ticks
    /// (10 ms each, too coarse for a short window at a low rate).
    pub fn cpu_since(&self, earlier: &ProcSample) -> f64 {
        if self.cpu_run_s > 0.0 && earlier.cpu_run_s > 0.0 {
            self.cpu_run_s - earlier.cpu_run_s
        } else {
            self.cpu_s() - earlier.cpu_s()
        }
    }
}

/// Reads `/proc/<pid>`; `None` once the process is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let footprint = footprint(pid)?;
    let (cpu_user_s, cpu_system_s) = cpu_times(pid)?;
    let (voluntary_switches, involuntary_switches) = context_switches(pid)?;
    Some(ProcSample {
        rss_kib: footprint.rss_kib,
        threads: footprint.threads,
        fds: footprint.fds,
        cpu_user_s,
        cpu_system_s,
        cpu_run_s: cpu_run_seconds(pid).unwrap_or(0.0),
        voluntary_switches,
        involuntary_switches,
    })
}

/// Reads RSS, threads and descriptors of `pid`.
pub fn footprint(pid: u32) -> Option<Footprint> {
    let (rss_kib, threads) = rss_and_threads(pid)?;
    Some(Footprint {
        rss_kib,
        threads,
        fds: open_fds(pid)?,
    })
}

/// `(RSS KiB, threads)` of `pid` from one read of `/proc/<pid>/status`:
/// tens of microseconds whatever the process holds, so it can be sampled
/// every 100 ms on the load's CPU without delaying its sends.
pub fn rss_and_threads(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((field(&status, "VmRSS:"), field(&status, "Threads:")))
}

/// The kernel's clock source (`tsc`, `kvm-clock`, ...), from `/sys`.
pub fn clock_source() -> Option<String> {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}

/// Threads io_uring runs inside `pid` on its own (`iou-wrk-*` workers for
/// operations that would block, an `iou-sqp-*` poller). The kernel starts
/// them on demand and reaps them after a few idle seconds, so they are not
/// the server's threads, and a check that threads came back to rest leaves
/// them out.
pub fn io_uring_threads(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let kernel_owned = |task: &std::fs::DirEntry| {
        std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with("iou-"))
    };
    tasks.flatten().filter(kernel_owned).count() as u64
}

/// `(voluntary, involuntary)` context switches of every thread of `pid`,
/// summed (`/proc/<pid>/status` alone counts only the main thread).
pub fn context_switches(pid: u32) -> Option<(u64, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let (mut voluntary, mut involuntary) = (0, 0);
    for task in tasks.flatten() {
        // A thread that ended meanwhile has no status any more: it is not counted.
        if let Ok(status) = std::fs::read_to_string(task.path().join("status")) {
            voluntary += field(&status, "voluntary_ctxt_switches:");
            involuntary += field(&status, "nonvoluntary_ctxt_switches:");
        }
    }
    Some((voluntary, involuntary))
}

/// The kernel's memory now, machine-wide.
pub fn kernel_memory() -> Option<KernelMemory> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    // `TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1`, mem in pages.
    let tcp = sockstat
        .lines()
        .find_map(|line| line.strip_prefix("TCP:"))?;
    let tcp_value = |name: &str| -> u64 {
        let mut words = tcp.split_whitespace();
        while let Some(word) = words.next() {
            if word == name {
                return words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            }
        }
        0
    };
    let page_kib = rustix::param::page_size() as u64 / 1024;
    Some(KernelMemory {
        kernel_stack_kib: field(&meminfo, "KernelStack:"),
        slab_unreclaimable_kib: field(&meminfo, "SUnreclaim:"),
        tcp_buffers_kib: tcp_value("mem") * page_kib,
        tcp_sockets: tcp_value("inuse"),
    })
}

/// Bytes in use in each of the kernel's slab caches, by name, from
/// `/proc/slabinfo` (active objects times object size); `None` where it is
/// not readable (it needs root). Machine-wide, like [`kernel_memory`], but
/// it tells a socket (`TCP`) from an epoll item (`eventpoll_epi`) from a
/// thread (`task_struct`).
pub fn slab_caches() -> Option<Vec<(String, u64)>> {
    std::fs::read_to_string("/proc/slabinfo")
        .ok()
        .map(|text| parse_slabinfo(&text))
}

/// `name <active_objs> <num_objs> <objsize> ...` lines, after two header lines.
fn parse_slabinfo(slabinfo: &str) -> Vec<(String, u64)> {
    slabinfo
        .lines()
        .filter(|line| !line.starts_with("slabinfo") && !line.starts_with('#'))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_string();
            let active: u64 = words.next()?.parse().ok()?;
            let _total = words.next()?;
            let size: u64 = words.next()?.parse().ok()?;
            Some((name, active * size))
        })
        .collect()
}

/// The first number after `name` on its line of a `/proc` status-like text.
fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user plus system) process `pid` has used so far, in clock ticks.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_times(pid).map(|(user, system)| user + system)
}

/// CPU seconds the live threads of `pid` have run, from the scheduler's
/// nanosecond accounting (`/proc/<pid>/task/*/schedstat`): precise where
/// clock ticks are 10 ms coarse. Threads that have exited are not counted,
/// so compare two readings only across a time when threads live on.
pub fn cpu_run_seconds(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut nanos: u64 = 0;
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat"))
            && let Some(run) = text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        {
            nanos += run;
        }
    }
    (nanos > 0).then(|| nanos as f64 / 1e9)
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
    fn io_uring_threads_are_told_apart_by_name() {
        // This test process runs no ring, so its only `iou-` thread is the
        // one named so here; the harness's own threads do not count.
        let me = std::process::id();
        assert_eq!(super::io_uring_threads(me), 0);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let lookalike = std::thread::Builder::new()
            .name("iou-wrk-test".into())
            .spawn(move || wait.recv())
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while super::io_uring_threads(me) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(super::io_uring_threads(me), 1);
        release.send(()).unwrap();
        lookalike.join().unwrap().unwrap();
        assert_eq!(super::io_uring_threads(u32::MAX), 0);
    }

    #[test]
    fn context_switches_count_every_thread() {
        let me = std::process::id();
        let (before, _) = super::context_switches(me).unwrap();
        let (slept, done) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        // A thread that sleeps switches voluntarily each time; the main
        // thread's own status would not show it. It stays alive (its task
        // entry with it) until it has been counted.
        let sleeper = std::thread::spawn(move || {
            for _ in 0..20 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            slept.send(()).unwrap();
            let _ = released.recv();
        });
        done.recv().unwrap();
        let (after, _) = super::context_switches(me).unwrap();
        release.send(()).unwrap();
        sleeper.join().unwrap();
        assert!(after >= before + 20, "{before} -> {after}");
        assert!(super::context_switches(u32::MAX).is_none());
    }

    #[test]
    fn kernel_memory_grows_with_open_sockets() {
        let before = super::kernel_memory().unwrap();
        assert!(before.kernel_stack_kib > 0 && before.slab_unreclaimable_kib > 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pairs: Vec<_> = (0..200)
            .map(|_| {
                let client = std::net::TcpStream::connect(addr).unwrap();
                (client, listener.accept().unwrap().0)
            })
            .collect();
        let during = super::kernel_memory().unwrap();
        assert!(
            during.tcp_sockets >= before.tcp_sockets + 300,
            "{before:?} {during:?}"
        );
        drop(pairs);
    }

    #[test]
    fn cpu_time_grows_while_spinning() {
        let before = super::cpu_seconds(std::process::id()).unwrap();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(60) {}
        let after = super::cpu_seconds(std::process::id()).unwrap();
        assert!(after > before, "{before} -> {after}");
        let run_before = super::cpu_run_seconds(std::process::id()).unwrap();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(20) {}
        let run_after = super::cpu_run_seconds(std::process::id()).unwrap();
        // Nanosecond accounting sees 20 ms of spinning, which ticks may round away.
        assert!(
            run_after - run_before >= 0.015,
            "{run_before} -> {run_after}"
        );
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

    #[test]
    fn slab_caches_are_active_objects_times_their_size() {
        let text = "slabinfo - version: 2.1\n\
            # name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables\n\
            TCP 20 26 2432 13 8 : tunables 0 0 0 : slabdata 2 2 0\n\
            eventpoll_epi 100 128 128 32 1 : tunables 0 0 0 : slabdata 4 4 0\n";
        assert_eq!(
            super::parse_slabinfo(text),
            vec![
                ("TCP".to_string(), 20 * 2432),
                ("eventpoll_epi".to_string(), 100 * 128)
            ]
        );
    }
}
