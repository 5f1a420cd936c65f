//! CPU time and resident memory of a process, from `/proc` (Linux).

use std::time::Instant;

/// Clock ticks per second of `utime`/`stime` in `/proc/PID/stat` (`USER_HZ`, 100 on
/// every Linux architecture this runs on).
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds used so far by process `pid` (all its threads), or by this
/// process when `pid` is `None`.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state(3) ... utime(14) stime(15).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Seconds the threads of process `pid` (this process when `None`) spent runnable but
/// waiting for a CPU: the sum of the second field of `/proc/PID/task/*/schedstat`. On a
/// shared machine this shows how much other work took the core from the measured one.
pub fn run_delay_seconds(pid: Option<u32>) -> Option<f64> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}/task"),
        None => "/proc/self/task".to_owned(),
    };
    let mut total_ns = 0u64;
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread may have exited since the directory was listed.
        if let Ok(stat) = std::fs::read_to_string(path) {
            total_ns += stat
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(total_ns as f64 / 1e9)
}

/// (CPU seconds, seconds waiting for a CPU) used so far by every thread of the processes
/// `pids`: the first two fields of `/proc/PID/task/*/schedstat`, in nanoseconds, so fine
/// enough for windows of a millisecond (`/proc/PID/stat` counts 10 ms ticks). Threads
/// that have exited are not counted: use it over windows in which the threads stay.
pub fn schedstat_seconds(pids: &[u32]) -> (f64, f64) {
    let (mut run_ns, mut wait_ns) = (0u64, 0u64);
    for pid in pids {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for entry in dir.flatten() {
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) {
                let mut fields = stat
                    .split_whitespace()
                    .map(|v| v.parse::<u64>().unwrap_or(0));
                run_ns += fields.next().unwrap_or(0);
                wait_ns += fields.next().unwrap_or(0);
            }
        }
    }
    (run_ns as f64 / 1e9, wait_ns as f64 / 1e9)
}

/// Resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The kernel's memory for all TCP sockets of this network namespace, in KiB: the
/// `mem` field of the `TCP:` line of `/proc/net/sockstat` (pages) × the page size. It
/// counts every socket of the namespace (on loopback, both ends of each connection, and
/// whatever else runs on the machine), and only memory charged to socket buffers
/// (queued data), not the socket structures themselves.
pub fn kernel_tcp_mem_kib() -> Option<u64> {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let pages = tcp_mem_pages(&sockstat)?;
    Some(pages * page_size()? / 1024)
}

/// The kernel slab caches an open TCP socket takes objects from: the socket itself, its
/// inode, and its epoll entry (each end of a loopback connection has all three).
const SOCKET_SLABS: [&str; 3] = ["TCP", "sock_inode_cache", "eventpoll_epi"];

/// Memory of the kernel objects behind TCP sockets, in KiB: active objects × object size
/// of the `SOCKET_SLABS` caches in `/proc/slabinfo` (machine-wide; `None` where it is
/// not readable). Unlike [`kernel_tcp_mem_kib`] this counts idle sockets too.
pub fn kernel_socket_slab_kib() -> Option<u64> {
    let slabinfo = std::fs::read_to_string("/proc/slabinfo").ok()?;
    socket_slab_bytes(&slabinfo).map(|b| b / 1024)
}

/// The bytes of active objects of the [`SOCKET_SLABS`] caches in a `/proc/slabinfo`
/// text; `None` when one of them is missing.
fn socket_slab_bytes(slabinfo: &str) -> Option<u64> {
    SOCKET_SLABS
        .iter()
        .map(|name| {
            slabinfo.lines().find_map(|line| {
                let mut fields = line.split_whitespace();
                if fields.next()? != *name {
                    return None;
                }
                let active: u64 = fields.next()?.parse().ok()?;
                let _total = fields.next()?;
                let size: u64 = fields.next()?.parse().ok()?;
                Some(active * size)
            })
        })
        .sum()
}

/// The `mem` field (pages) of the `TCP:` line of a `/proc/net/sockstat` text.
fn tcp_mem_pages(sockstat: &str) -> Option<u64> {
    let line = sockstat.lines().find_map(|l| l.strip_prefix("TCP:"))?;
    let mut fields = line.split_whitespace();
    while let Some(name) = fields.next() {
        let value = fields.next()?;
        if name == "mem" {
            return value.parse().ok();
        }
    }
    None
}

/// The page size in bytes, from the `KernelPageSize` of this process's first mapping
/// (`/proc/self/smaps`), without libc.
fn page_size() -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    smaps
        .lines()
        .find_map(|l| l.strip_prefix("KernelPageSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// CPU use over a measured window: the servers' and the load generator's own.
#[derive(Debug)]
pub struct CpuWindow {
    pids: Vec<u32>,
    servers_start: Option<f64>,
    own_start: Option<f64>,
    servers_wait_start: Option<f64>,
    own_wait_start: Option<f64>,
    wall_start: Instant,
}

/// What a [`CpuWindow`] measured.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    /// CPU seconds of all server processes together, if readable.
    pub server_s: Option<f64>,
    /// CPU seconds of the load generator.
    pub loadgen_s: Option<f64>,
    /// Seconds the server threads waited for a CPU (all threads added up).
    pub server_wait_s: Option<f64>,
    /// Seconds the load generator waited for a CPU.
    pub loadgen_wait_s: Option<f64>,
    /// Wall-clock seconds of the window.
    pub wall_s: f64,
}

fn sum(pids: &[u32], read: fn(Option<u32>) -> Option<f64>) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&pid| read(Some(pid))).sum()
}

fn delta(end: Option<f64>, start: Option<f64>) -> Option<f64> {
    end.zip(start).map(|(end, start)| end - start)
}

impl CpuWindow {
    /// Starts a window over the server processes `pids`.
    pub fn start(pids: &[u32]) -> Self {
        Self {
            pids: pids.to_vec(),
            servers_start: sum(pids, cpu_seconds),
            own_start: cpu_seconds(None),
            servers_wait_start: sum(pids, run_delay_seconds),
            own_wait_start: run_delay_seconds(None),
            wall_start: Instant::now(),
        }
    }

    /// Ends the window.
    pub fn stop(&self) -> CpuUse {
        let wall_s = self.wall_start.elapsed().as_secs_f64();
        CpuUse {
            server_s: delta(sum(&self.pids, cpu_seconds), self.servers_start),
            loadgen_s: delta(cpu_seconds(None), self.own_start),
            server_wait_s: delta(sum(&self.pids, run_delay_seconds), self.servers_wait_start),
            loadgen_wait_s: delta(run_delay_seconds(None), self.own_wait_start),
            wall_s,
        }
    }
}

impl CpuUse {
    /// The CPU fields of a result line, with the server's CPU per message for `messages`.
    pub fn json(&self, messages: u64) -> serde_json::Value {
        let per_message_us = self
            .server_s
            .filter(|_| messages > 0)
            .map(|s| s * 1e6 / messages as f64);
        let per_wall = |s: f64| s / self.wall_s.max(1e-9);
        let loadgen_util = self.loadgen_s.map(per_wall);
        let loadgen_wait = self.loadgen_wait_s.map(per_wall);
        serde_json::json!({
            "server_cpu_s": self.server_s,
            "server_cpu_util": self.server_s.map(per_wall),
            // Runnable but not running (other processes on the core): contention.
            "server_runq_wait_util": self.server_wait_s.map(per_wall),
            "loadgen_runq_wait_util": loadgen_wait,
            "server_cpu_us_per_msg": per_message_us,
            "loadgen_cpu_s": self.loadgen_s,
            "loadgen_cpu_util": loadgen_util,
            // One core for the load generator: running or runnable (waiting for the core)
            // more than 90 % of the time, it was never idle waiting for the server, so it,
            // not the server, set the pace.
            "loadgen_saturated": loadgen_util.map(|u| u + loadgen_wait.unwrap_or(0.0) > 0.9),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        assert!(cpu_seconds(None).is_some());
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(run_delay_seconds(None).is_some());
        assert!(kernel_tcp_mem_kib().is_some());
        assert_eq!(page_size().map(|p| p % 4096), Some(0));
    }

    #[test]
    fn reads_the_tcp_line_of_sockstat() {
        let text =
            "sockets: used 30\nTCP: inuse 11 orphan 0 tw 2 alloc 14 mem 37\nUDP: inuse 0 mem 5\n";
        assert_eq!(tcp_mem_pages(text), Some(37));
        assert_eq!(tcp_mem_pages("UDP: inuse 0 mem 5\n"), None);
    }

    #[test]
    fn adds_up_the_socket_slabs() {
        let text = "slabinfo - version: 2.1\n\
            TCP                  137    182   2368   13    8 : tunables    0    0    0 : slabdata 14 14 0\n\
            eventpoll_epi       1070   1600    128   32    1 : tunables    0    0    0 : slabdata 50 50 0\n\
            sock_inode_cache     228    228    832   19    4 : tunables    0    0    0 : slabdata 12 12 0\n";
        assert_eq!(
            socket_slab_bytes(text),
            Some(137 * 2368 + 1070 * 128 + 228 * 832)
        );
        assert_eq!(socket_slab_bytes("TCP 1 1 2368 13 8\n"), None);
    }
}
