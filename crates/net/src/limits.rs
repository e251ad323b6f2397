//! couriertcpd's accounting of running children: the `-maxprocs` total with its WARN and
//! ALERT lines, `-maxperip` (overridable per address by the access file's `MAXCPERIP`)
//! and `-maxperc` (programs.md "couriertcpd"; courier-libs `tcpd/tcpd.c`).
//!
//! Semantics kept from Courier:
//! - a new connection from IP is refused when `maxperip` children for IP already run;
//!   likewise for the C block (all address bytes but the last) and `maxperc`;
//! - after a child is added, if all `maxprocs` slots are busy: `ALERT: N maximum active
//!   connections.`, else if at least `warn` are: `WARN: N active connections.`; each at
//!   most once a minute.
//!
//! The clock is passed in (seconds), so the table is tested without sleeping.

use crate::addr::same_c_block;
use std::collections::HashMap;
use std::net::Ipv6Addr;

/// The configured limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `-maxprocs` (default 40).
    pub maxprocs: usize,
    /// `-warn` (default `maxprocs - (maxprocs / 10 + 1)`).
    pub warn: usize,
    /// `-maxperip` (default 4).
    pub maxperip: usize,
    /// `-maxperc` (default `maxprocs`).
    pub maxperc: usize,
}

impl Limits {
    /// Courier's defaults for a given `-maxprocs`.
    pub fn with_maxprocs(maxprocs: usize) -> Limits {
        Limits {
            maxprocs,
            warn: maxprocs - (maxprocs / 10 + 1).min(maxprocs),
            maxperip: 4,
            maxperc: maxprocs,
        }
    }
}

/// Why a connection was refused by the accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many children for this address.
    PerIp,
    /// Too many children for this C block.
    PerCBlock,
}

/// A line the caller should log after adding a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pressure {
    /// Every slot is busy (ALERT).
    Full(usize),
    /// At or above the warning level (WARN).
    High(usize),
}

impl std::fmt::Display for Pressure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pressure::Full(n) => write!(f, "ALERT: {n} maximum active connections."),
            Pressure::High(n) => write!(f, "WARN: {n} active connections."),
        }
    }
}

/// The running children and the peers they serve.
#[derive(Debug)]
pub struct Table {
    limits: Limits,
    children: HashMap<i32, Ipv6Addr>,
    last_alert: Option<u64>,
    last_warn: Option<u64>,
}

impl Table {
    /// An empty table.
    pub fn new(limits: Limits) -> Table {
        Table {
            limits,
            children: HashMap::new(),
            last_alert: None,
            last_warn: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Running children.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// True when no child runs.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// True when every slot is busy (stop accepting).
    pub fn is_full(&self) -> bool {
        self.children.len() >= self.limits.maxprocs
    }

    /// Whether a connection from `ip` may start a child; `maxperip` replaces the
    /// configured per-IP limit when positive (the access file's `MAXCPERIP`).
    pub fn admit(&self, ip: Ipv6Addr, maxperip: Option<usize>) -> Result<(), Refusal> {
        let maxperip = maxperip.filter(|n| *n > 0).unwrap_or(self.limits.maxperip);
        let same_ip = self.children.values().filter(|a| **a == ip).count();
        if same_ip >= maxperip {
            return Err(Refusal::PerIp);
        }
        let same_c = self
            .children
            .values()
            .filter(|a| same_c_block(**a, ip))
            .count();
        if same_c >= self.limits.maxperc {
            return Err(Refusal::PerCBlock);
        }
        Ok(())
    }

    /// Records a new child; returns the ALERT/WARN line due, if any (`now` in seconds).
    pub fn add(&mut self, pid: i32, ip: Ipv6Addr, now: u64) -> Option<Pressure> {
        self.children.insert(pid, ip);
        let n = self.children.len();
        // Once a minute at most; a clock that went backwards re-arms the line.
        let due = |last: Option<u64>| last.is_none_or(|t| t > now || t + 60 < now);
        if n >= self.limits.maxprocs {
            if due(self.last_alert) {
                self.last_alert = Some(now);
                return Some(Pressure::Full(self.limits.maxprocs));
            }
        } else if n >= self.limits.warn && due(self.last_warn) {
            self.last_warn = Some(now);
            return Some(Pressure::High(n));
        }
        None
    }

    /// The pids of the running children.
    pub fn pids(&self) -> Vec<i32> {
        self.children.keys().copied().collect()
    }

    /// Forgets a child that exited; false when it was not ours.
    pub fn remove(&mut self, pid: i32) -> bool {
        self.children.remove(&pid).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(d: u8) -> Ipv6Addr {
        Ipv4Addr::new(10, 0, 0, d).to_ipv6_mapped()
    }

    #[test]
    fn courier_default_warn_level() {
        assert_eq!(Limits::with_maxprocs(40).warn, 35);
        assert_eq!(Limits::with_maxprocs(3).warn, 2);
        assert_eq!(Limits::with_maxprocs(1).warn, 0);
    }

    #[test]
    fn per_ip_limit_counts_running_children() {
        let mut t = Table::new(Limits {
            maxperip: 2,
            ..Limits::with_maxprocs(10)
        });
        assert_eq!(t.admit(ip(1), None), Ok(()));
        t.add(100, ip(1), 0);
        assert_eq!(t.admit(ip(1), None), Ok(()));
        t.add(101, ip(1), 0);
        assert_eq!(t.admit(ip(1), None), Err(Refusal::PerIp));
        assert_eq!(t.admit(ip(2), None), Ok(()));
        // MAXCPERIP from the access file raises (or lowers) the limit for this peer.
        assert_eq!(t.admit(ip(1), Some(3)), Ok(()));
        assert_eq!(t.admit(ip(1), Some(0)), Err(Refusal::PerIp));
        assert!(t.remove(100));
        assert!(!t.remove(100));
        assert_eq!(t.admit(ip(1), None), Ok(()));
    }

    #[test]
    fn per_c_block_limit() {
        let mut t = Table::new(Limits {
            maxperc: 2,
            ..Limits::with_maxprocs(10)
        });
        t.add(1, ip(1), 0);
        t.add(2, ip(2), 0);
        assert_eq!(t.admit(ip(3), None), Err(Refusal::PerCBlock));
        assert_eq!(
            t.admit(Ipv4Addr::new(10, 0, 1, 3).to_ipv6_mapped(), None),
            Ok(())
        );
    }

    #[test]
    fn warn_and_alert_lines_once_a_minute() {
        let mut t = Table::new(Limits {
            warn: 1,
            ..Limits::with_maxprocs(3)
        });
        assert_eq!(t.add(1, ip(1), 1000), Some(Pressure::High(1)));
        assert_eq!(t.add(2, ip(2), 1001), None);
        assert_eq!(t.add(3, ip(3), 1002), Some(Pressure::Full(3)));
        assert!(t.is_full());
        t.remove(3);
        assert_eq!(t.add(4, ip(3), 1010), None);
        t.remove(4);
        assert_eq!(t.add(5, ip(3), 1100), Some(Pressure::Full(3)));
        assert_eq!(
            Pressure::Full(3).to_string(),
            "ALERT: 3 maximum active connections."
        );
        assert_eq!(Pressure::High(1).to_string(), "WARN: 1 active connections.");
    }
}
