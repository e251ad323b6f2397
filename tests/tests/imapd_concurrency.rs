//! Two IMAP sessions of our imapd on one folder (PREAUTH over pipes) while our
//! deliverquota delivers into it, with expunges and flag changes on both sides,
//! interleaved by a deterministic PRNG; a third session sits in IDLE.
//!
//! At the end every delivered message is accounted for (present or expunged,
//! never both, never lost), no UID was handed out twice (every FETCH UID seen by
//! either session, and courierimapuiddb), both sessions were told about the
//! other's expunges and flag changes with untagged responses, and the IDLE
//! session was told about deliveries with `* n EXISTS`.
//!
//! `E2E_CONC_SEED=<n>` runs another schedule (the default one is fixed).
//! Runs `ours("imapd")` and `ours("deliverquota")`: pointing COURIER_BIN_DIR at
//! Debian's imapd (and deliverquota.courier) runs the same test against Courier.

use e2e::clientkit::*;
use e2e::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Deterministic PRNG (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const STEPS: usize = 300;
const IDLE_BOUND: Duration = Duration::from_secs(5);
const FETCH_NEW: &str = "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])";

fn session_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("IMAP_KEYWORDS", "1"),
        ("IMAP_ENHANCEDIDLE", "1"),
        ("IMAP_IDLE_TIMEOUT", "60"),
        ("IMAP_USELOCKS", "1"),
    ]
}

fn deliver(maildir: &Path, k: usize) -> String {
    let mid = format!("<conc{k}@e2e.test>");
    let msg = format!(
        "From: e2e@example.org\nTo: conc@example.org\nSubject: concurrency {k}\n\
         Message-ID: {mid}\n\nBody {k}.\n"
    );
    let o = Run::new(&ours("deliverquota"), "deliverquota")
        .arg_os(maildir.as_os_str())
        .input(Input::Pipe(msg.into_bytes()))
        .run();
    assert_eq!(o.code, Some(0), "deliverquota: {o:?}");
    mid
}

/// One of the two working sessions with what it has seen.
struct Worker {
    s: ImapPipe,
    view: View,
    /// EXPUNGE responses outside its own EXPUNGE commands (the other's doing).
    other_expunges: u32,
    /// FETCH FLAGS responses to its NOOPs (it changed nothing itself then).
    other_flag_changes: u32,
    /// UID -> Message-ID of everything it ever fetched.
    all_mids: BTreeMap<u32, String>,
}

impl Worker {
    fn new(name: &str, imapd: &Path, home: &Path) -> Worker {
        let env = session_env();
        let mut w = Worker {
            s: ImapPipe::start(name, imapd, home, &env),
            view: View::default(),
            other_expunges: 0,
            other_flag_changes: 0,
            all_mids: BTreeMap::new(),
        };
        let lines = w.s.ok("SELECT INBOX");
        w.view.apply(&lines);
        w.catch_up();
        w
    }

    /// Fetches UID, flags and Message-ID of messages it has not identified yet.
    fn catch_up(&mut self) {
        while let Some(first) = self.view.unknown() {
            let lines = self.s.ok(&format!("FETCH {first}:* {FETCH_NEW}"));
            let seen = self.view.apply(&lines);
            self.other_expunges += seen.expunges;
            for (u, m) in &self.view.mids {
                if let Some(old) = self.all_mids.insert(*u, m.clone()) {
                    assert_eq!(
                        &old,
                        m,
                        "{}: UID {u} was {old}, now {m}\n{}",
                        self.s.name,
                        self.s.tail(30)
                    );
                }
            }
            if self.view.unknown() == Some(first) {
                panic!(
                    "{}: FETCH {first}:* did not identify message {first}\n{}",
                    self.s.name,
                    self.s.tail(30)
                );
            }
        }
    }

    fn noop(&mut self) {
        let lines = self.s.ok("NOOP");
        let seen = self.view.apply(&lines);
        self.other_expunges += seen.expunges;
        self.other_flag_changes += seen.flag_fetches;
        self.catch_up();
    }

    /// A flag change on a random message.
    fn change_flags(&mut self, rng: &mut Rng) {
        let n = self.view.uids.len() as u64;
        if n == 0 {
            return self.noop();
        }
        let seq = 1 + rng.below(n);
        let op = match rng.below(4) {
            0 => "+FLAGS (\\Flagged)",
            1 => "-FLAGS (\\Flagged)",
            2 => "+FLAGS (\\Seen)",
            _ => "+FLAGS (\\Answered \\Draft)",
        };
        let lines = self.s.ok(&format!("STORE {seq} {op}"));
        let seen = self.view.apply(&lines);
        self.other_expunges += seen.expunges;
        self.catch_up();
    }

    /// Expunges one random message; returns its Message-ID.
    fn expunge_one(&mut self, rng: &mut Rng) -> Option<String> {
        // Catch up first, so the message picked is not one the other session
        // has expunged already (that EXPUNGE would be the other's).
        self.noop();
        let n = self.view.uids.len() as u64;
        if n == 0 {
            self.noop();
            return None;
        }
        let seq = 1 + rng.below(n);
        let uid = self.view.uids[seq as usize - 1];
        let mid = self.view.mids.get(&uid).cloned().unwrap_or_else(|| {
            panic!("{}: no Message-ID for UID {uid}", self.s.name);
        });
        let lines = self
            .s
            .ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"));
        let seen = self.view.apply(&lines);
        self.other_expunges += seen.expunges;
        let before = self.view.uids.len();
        let lines = self.s.ok("EXPUNGE");
        let seen = self.view.apply(&lines);
        assert!(
            seen.expunges >= 1 && !self.view.uids.contains(&uid),
            "{}: EXPUNGE of UID {uid} not reported ({before} before)\n{}",
            self.s.name,
            self.s.tail(30)
        );
        // Only this one message carried \Deleted: any other EXPUNGE here is the
        // other session's.
        self.other_expunges += seen.expunges - 1;
        self.catch_up();
        Some(mid)
    }
}

/// The IDLE session's message count, from EXISTS and EXPUNGE.
struct Idler {
    s: ImapPipe,
    count: i64,
    exists_seen: u32,
}

impl Idler {
    fn absorb(&mut self, lines: &[String]) {
        for l in lines {
            if let Some(n) = untagged_num(l, "EXISTS") {
                self.count = i64::from(n);
                self.exists_seen += 1;
            } else if untagged_num(l, "EXPUNGE").is_some() {
                self.count -= 1;
            }
        }
    }

    /// Reads what has arrived, without waiting.
    fn poll(&mut self) {
        let lines = self.s.drain(Duration::from_millis(0));
        self.absorb(&lines);
    }

    /// Waits up to [`IDLE_BOUND`] for an EXISTS announcing at least `n` messages.
    fn wait_exists(&mut self, n: i64) -> bool {
        let deadline = Instant::now() + IDLE_BOUND;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(l) = self.s.line(left.min(Duration::from_millis(100))) {
                let exists = untagged_num(&l, "EXISTS");
                self.absorb(std::slice::from_ref(&l));
                if exists.is_some_and(|e| i64::from(e) >= n) {
                    return true;
                }
            }
        }
        false
    }
}

#[test]
fn two_sessions_and_deliveries_interleaved_lose_nothing_and_see_each_other() {
    let imapd = ours("imapd");
    let home = Scratch::new("imapd-conc");
    let maildir = home.join("Maildir");
    make_maildir(&maildir);
    let mut delivered: Vec<String> = (0..12).map(|k| deliver(&maildir, k)).collect();
    let mut expunged: Vec<String> = Vec::new();
    let mut a = Worker::new("A", &imapd, home.path());
    let mut b = Worker::new("B", &imapd, home.path());
    let env = session_env();
    let mut c = Idler {
        s: ImapPipe::start("C", &imapd, home.path(), &env),
        count: 0,
        exists_seen: 0,
    };
    let lines = c.s.ok("SELECT INBOX");
    c.absorb(&lines);
    assert_eq!(c.count, 12, "{}", c.s.tail(20));
    c.s.send("c99 IDLE");
    let cont = c.s.line(LINE_WAIT);
    assert!(
        cont.as_deref().is_some_and(|l| l.starts_with('+')),
        "IDLE: {cont:?}\n{}",
        c.s.tail(20)
    );

    // Fixed, so a failure replays; E2E_CONC_SEED explores other schedules.
    let seed = std::env::var("E2E_CONC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c0_ffee);
    let mut rng = Rng(seed);
    for _ in 0..STEPS {
        let pick = rng.below(100);
        let w = if rng.below(2) == 0 { &mut a } else { &mut b };
        match pick {
            0..25 => {
                let k = delivered.len();
                delivered.push(deliver(&maildir, k));
            }
            25..50 => w.change_flags(&mut rng),
            50..62 => {
                if let Some(mid) = w.expunge_one(&mut rng) {
                    expunged.push(mid);
                }
            }
            _ => w.noop(),
        }
        c.poll();
    }
    a.noop();
    b.noop();

    // Both sessions agree with each other and with the disk.
    assert_eq!(a.view.uids, b.view.uids, "A and B disagree on the UID list");
    // \Recent is per session (RFC 3501 §2.3.2): compare the rest.
    let durable = |v: &View| -> BTreeMap<u32, Vec<String>> {
        v.flags
            .iter()
            .map(|(u, f)| (*u, f.iter().filter(|x| *x != "\\Recent").cloned().collect()))
            .collect()
    };
    assert_eq!(
        durable(&a.view),
        durable(&b.view),
        "A and B disagree on flags"
    );
    let files = message_files(&maildir);
    let present: Vec<String> = files
        .iter()
        .map(|f| file_message_id(f).unwrap_or_else(|| panic!("{}: no Message-ID", f.display())))
        .collect();
    assert_eq!(
        a.view.uids.len(),
        present.len(),
        "A's view vs files on disk"
    );

    // delivered = present + expunged, as sets and in number.
    let dset: BTreeSet<&String> = delivered.iter().collect();
    let pset: BTreeSet<&String> = present.iter().collect();
    let eset: BTreeSet<&String> = expunged.iter().collect();
    assert_eq!(dset.len(), delivered.len(), "a Message-ID delivered twice");
    assert_eq!(pset.len(), present.len(), "a message present twice");
    assert_eq!(eset.len(), expunged.len(), "a message expunged twice");
    assert!(pset.is_disjoint(&eset), "expunged yet present");
    let union: BTreeSet<&String> = pset.union(&eset).copied().collect();
    assert_eq!(union, dset, "lost or invented messages");
    assert_eq!(delivered.len(), present.len() + expunged.len());
    assert!(
        expunged.len() >= 10 && delivered.len() >= 50,
        "the PRNG schedule is too tame: {} delivered, {} expunged",
        delivered.len(),
        expunged.len()
    );

    // No UID was given twice: per session and across sessions.
    let mut by_mid: BTreeMap<&String, u32> = BTreeMap::new();
    for (uid, mid) in a.all_mids.iter().chain(b.all_mids.iter()) {
        if let Some(other) = by_mid.insert(mid, *uid) {
            assert_eq!(other, *uid, "{mid} has UIDs {other} and {uid}");
        }
    }
    for (uid, mid) in &a.all_mids {
        if let Some(m) = b.all_mids.get(uid) {
            assert_eq!(m, mid, "UID {uid} is {mid} for A and {m} for B");
        }
    }
    let (next, db) = read_uiddb(&maildir).expect("courierimapuiddb after the sessions");
    let mut db_uids = BTreeSet::new();
    for (uid, name) in &db {
        assert!(db_uids.insert(*uid), "UID {uid} twice in courierimapuiddb");
        assert!(*uid < next, "UID {uid} >= nextuid {next} ({name})");
    }
    let max_seen = a.all_mids.keys().chain(b.all_mids.keys()).max().copied();
    assert!(
        max_seen.is_some_and(|m| m < next),
        "a FETCH UID {max_seen:?} >= nextuid {next}"
    );
    let live: BTreeSet<u32> = a.view.uids.iter().copied().collect();
    assert!(
        live.is_subset(&db_uids),
        "live UIDs missing from courierimapuiddb: {:?}",
        live.difference(&db_uids).collect::<Vec<_>>()
    );

    // Each session was told about the other's changes.
    for w in [&a, &b] {
        assert!(
            w.other_expunges > 0,
            "{} never saw the other's EXPUNGE",
            w.s.name
        );
        assert!(
            w.other_flag_changes > 0,
            "{} never saw the other's flag changes",
            w.s.name
        );
    }

    // The IDLE session was told about deliveries.
    c.poll();
    assert!(
        c.exists_seen > 0,
        "IDLE session saw no EXISTS during the run"
    );
    for k in 0..3 {
        let target = present.len() as i64 + k + 1;
        let n = delivered.len();
        delivered.push(deliver(&maildir, n));
        assert!(
            c.wait_exists(target),
            "IDLE: no `* {target} EXISTS` within {IDLE_BOUND:?}\n{}",
            c.s.tail(20)
        );
    }
    c.s.send("DONE");
    let mut done = Vec::new();
    while let Some(l) = c.s.line(LINE_WAIT) {
        let end = l.starts_with("c99 ");
        done.push(l);
        if end {
            break;
        }
    }
    c.absorb(&done);
    assert!(
        done.last().is_some_and(|l| l.starts_with("c99 OK")),
        "{}",
        c.s.tail(20)
    );
    let lines = c.s.ok("NOOP");
    c.absorb(&lines);
    assert_eq!(
        c.count,
        present.len() as i64 + 3,
        "IDLE session's count\n{}",
        c.s.tail(40)
    );
    for s in [a.s, b.s, c.s] {
        s.close();
    }
}
