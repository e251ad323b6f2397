//! Memory of a server's session processes: PSS from /proc/<pid>/smaps_rollup.
//!
//! "Session processes" are found two ways, both read-only: the descendants of
//! given root pids (couriertcpd, Dovecot's master), and processes whose
//! environment carries a marker (`TCPLOCALPORT=30143`, or the anchors'
//! `ANCHORS_ID=...`), which catches sessions that left the tree. The caller
//! takes a snapshot before opening sessions and one after; the new pids are the
//! sessions' processes.

use std::collections::BTreeSet;
use std::fs;

/// PSS of `pid` in KiB, or None when it is gone or unreadable.
pub fn pss_kib(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// (pid, ppid) of every process.
fn all_parents() -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // The command may contain spaces and parentheses: fields start after the last ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok());
        if let Some(ppid) = ppid {
            v.push((pid, ppid));
        }
    }
    v
}

/// Descendants of `roots` plus processes whose environment contains `marker`
/// (a whole `KEY=value` entry).
pub fn session_pids(roots: &[u32], marker: Option<&str>) -> BTreeSet<u32> {
    let parents = all_parents();
    let mut set: BTreeSet<u32> = BTreeSet::new();
    let mut frontier: Vec<u32> = roots.to_vec();
    while let Some(p) = frontier.pop() {
        for (pid, ppid) in &parents {
            if *ppid == p && set.insert(*pid) {
                frontier.push(*pid);
            }
        }
    }
    if let Some(m) = marker {
        for (pid, _) in &parents {
            if set.contains(pid) || roots.contains(pid) {
                continue;
            }
            let env = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|kv| kv == m.as_bytes()) {
                set.insert(*pid);
            }
        }
    }
    set
}

/// The executable name of `pid` (for the report).
pub fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_a_pss_and_a_child_is_found_below_us() {
        let me = std::process::id();
        assert!(pss_kib(me).is_some_and(|k| k > 0));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let set = session_pids(&[me], None);
        assert!(set.contains(&child.id()), "{set:?}");
        let _ = child.kill();
        let _ = child.wait();
    }
}
