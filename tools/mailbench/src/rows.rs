//! The benchmark rows. Each repetition starts from a fresh connection unless the
//! row says otherwise; set-up work (login, SELECT, filling a folder) is never
//! inside the timed part.

use crate::imap::{self, Imap};
use crate::mem;
use crate::msggen;
use crate::pop3::Pop3;
use crate::stats::Report;
use crate::{Error, Opts};
use std::time::{Duration, Instant};

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

fn session(o: &Opts, user: &str, pass: &str) -> Result<Imap, Error> {
    let mut c = Imap::connect(&o.target)?;
    c.login(user, pass)?;
    Ok(c)
}

/// SELECT in a new session, timed; returns (seconds, EXISTS).
fn timed_select(o: &Opts) -> Result<(f64, u32), Error> {
    let mut c = session(o, &o.user, &o.pass)?;
    let t = Instant::now();
    let n = c.select(&o.mailbox)?;
    let s = secs(t);
    c.logout();
    Ok((s, n))
}

/// `select`: SELECT after the `--before-each` reset (first) and again in a
/// second session (second).
pub fn select(o: &Opts) -> Result<Vec<Report>, Error> {
    let mut first = Report::new(&o.row_or("select_first"), &o.label, "s", 1.0);
    let mut second = Report::new(&o.row_or2("select_second"), &o.label, "s", 1.0);
    let mut exists = 0;
    for _ in o.reps_within_budget() {
        o.before_each()?;
        let (s, n) = timed_select(o)?;
        first.samples.push(s);
        let (s2, _) = timed_select(o)?;
        second.samples.push(s2);
        exists = n;
    }
    for r in [&mut first, &mut second] {
        r.extra("messages", exists);
        if o.before.is_none() {
            r.note = "no reset between repetitions: only the first one is cold".into();
        }
    }
    Ok(vec![first, second])
}

/// `fetch`: `FETCH 1:* <items>` repeated in one session.
pub fn fetch(o: &Opts) -> Result<Vec<Report>, Error> {
    let mut c = session(o, &o.user, &o.pass)?;
    let exists = c.select(&o.mailbox)?;
    let mut r = Report::new(&o.row_or("fetch"), &o.label, "s", f64::from(exists));
    let cmd = format!("FETCH 1:* {}", o.items);
    for _ in 0..o.warmup {
        c.simple(&cmd)?;
    }
    let mut bytes = 0u64;
    for _ in o.reps_within_budget() {
        o.before_each()?;
        let (mut n, mut b) = (0u32, 0u64);
        let t = Instant::now();
        let tag = c.command(&cmd, &mut |l| {
            if imap::untagged_number(l, b"FETCH").is_some() {
                n += 1;
            }
            b += l.len() as u64;
        })?;
        let s = secs(t);
        imap::ok(&cmd, tag)?;
        if n != exists {
            return Err(Error::protocol(format!(
                "{cmd}: {n} FETCH responses for {exists} messages"
            )));
        }
        bytes = b;
        r.samples.push(s);
    }
    c.logout();
    r.extra("messages", exists);
    r.extra("response_bytes", bytes);
    r.extra("warmup", o.warmup);
    r.note = cmd;
    Ok(vec![r])
}

/// `count` sequence numbers spread evenly over 1..=exists.
pub fn scattered(exists: u32, count: usize) -> Vec<u32> {
    let count = count.min(exists as usize);
    let mut v: Vec<u32> = (0..count)
        .map(|i| 1 + (i as u64 * u64::from(exists) / count as u64) as u32)
        .collect();
    v.dedup();
    v
}

/// `copy`: COPY (or, with `--move`, MOVE or its COPY+STORE+EXPUNGE fallback) of
/// `--count` scattered messages to `--dest`.
pub fn copy(o: &Opts) -> Result<Vec<Report>, Error> {
    let name = if o.mv { "move" } else { "copy" };
    let mut r = Report::new(&o.row_or(name), &o.label, "s", o.count as f64);
    for _ in o.reps_within_budget() {
        o.before_each()?;
        let mut c = session(o, &o.user, &o.pass)?;
        c.capability()?;
        let exists = c.select(&o.mailbox)?;
        let set = imap::seq_set(&scattered(exists, o.count));
        let t;
        if !o.mv {
            t = Instant::now();
            c.simple(&format!("COPY {set} {}", imap::quote(&o.dest)))?;
            r.note = format!("COPY of {} scattered of {exists}", o.count);
        } else if c.has_cap("MOVE") {
            t = Instant::now();
            c.simple(&format!("MOVE {set} {}", imap::quote(&o.dest)))?;
            r.note = format!("MOVE of {} scattered of {exists}", o.count);
        } else {
            let (_, lines) = c.collect(&format!("FETCH {set} (UID)"))?;
            let mut uids: Vec<u32> = lines.iter().filter_map(|l| imap::fetch_uid(l)).collect();
            uids.sort_unstable();
            let uidplus = c.has_cap("UIDPLUS");
            t = Instant::now();
            c.simple(&format!("COPY {set} {}", imap::quote(&o.dest)))?;
            c.simple(&format!("STORE {set} +FLAGS.SILENT (\\Deleted)"))?;
            if uidplus {
                c.simple(&format!("UID EXPUNGE {}", imap::seq_set(&uids)))?;
            } else {
                c.simple("EXPUNGE")?;
            }
            r.note = format!(
                "no MOVE: COPY+STORE \\Deleted+{}EXPUNGE of {} scattered of {exists}",
                if uidplus { "UID " } else { "" },
                o.count
            );
        }
        r.samples.push(secs(t));
        c.logout();
    }
    Ok(vec![r])
}

/// `append`: APPEND `--count` generated messages (synchronizing literals).
pub fn append(o: &Opts) -> Result<Vec<Report>, Error> {
    let mut r = Report::new(&o.row_or("append"), &o.label, "s", o.count as f64);
    let mut bytes = 0u64;
    for rep in o.reps_within_budget() {
        o.before_each()?;
        let msgs: Vec<Vec<u8>> = (0..o.count)
            .map(|i| msggen::message(o.seed, (rep * o.count + i) as u64))
            .collect();
        bytes = msgs.iter().map(|m| m.len() as u64).sum();
        let mut c = session(o, &o.user, &o.pass)?;
        let t = Instant::now();
        for m in &msgs {
            let tag = c.append(&o.mailbox, "", m)?;
            imap::ok("APPEND", tag)?;
        }
        r.samples.push(secs(t));
        c.logout();
    }
    r.extra("bytes_per_rep", bytes);
    r.note = "synchronizing literals, one APPEND per message".into();
    Ok(vec![r])
}

/// `expunge`: EXPUNGE of `--count` messages flagged \Deleted beforehand
/// (the folder is filled by APPEND first when it has fewer).
pub fn expunge(o: &Opts) -> Result<Vec<Report>, Error> {
    let mut r = Report::new(&o.row_or("expunge"), &o.label, "s", o.count as f64);
    for rep in o.reps_within_budget() {
        o.before_each()?;
        let mut c = session(o, &o.user, &o.pass)?;
        let mut exists = c.select(&o.mailbox)? as usize;
        if exists < o.count {
            for i in exists..o.count {
                let m = msggen::message(o.seed ^ 0x5eed, (rep * o.count + i) as u64);
                imap::ok("APPEND", c.append(&o.mailbox, "", &m)?)?;
            }
            exists = c.select(&o.mailbox)? as usize;
        }
        if exists < o.count {
            return Err(Error::protocol(format!(
                "{} has {exists} messages after filling it to {}",
                o.mailbox, o.count
            )));
        }
        c.simple(&format!("STORE 1:{} +FLAGS.SILENT (\\Deleted)", o.count))?;
        let mut n = 0usize;
        let t = Instant::now();
        let tag = c.command("EXPUNGE", &mut |l| {
            if imap::untagged_number(l, b"EXPUNGE").is_some() {
                n += 1;
            }
        })?;
        let s = secs(t);
        imap::ok("EXPUNGE", tag)?;
        if n != o.count {
            return Err(Error::protocol(format!(
                "EXPUNGE: {n} untagged EXPUNGE for {} deleted messages",
                o.count
            )));
        }
        r.samples.push(s);
        c.logout();
    }
    Ok(vec![r])
}

/// `idle`: time from a delivery to the `* n EXISTS` of an IDLE session.
pub fn idle(o: &Opts) -> Result<Vec<Report>, Error> {
    let mut r = Report::new(&o.row_or("idle_exists"), &o.label, "s", 1.0);
    let mut c = session(o, &o.user, &o.pass)?;
    c.capability()?;
    if !c.has_cap("IDLE") {
        return Err(Error::protocol("server does not advertise IDLE"));
    }
    c.select(&o.mailbox)?;
    let mut timeouts = 0;
    for rep in o.reps_within_budget() {
        let tag = c.idle_start(&mut |_| {})?;
        // Let the server arm its watcher (the same pause for every server).
        let _ = c.wait_for(Duration::from_millis(o.settle_ms), &mut |_| false)?;
        let msg = msggen::message(o.seed ^ 0x1d1e, rep as u64);
        let t = match (&o.maildir, &o.deliver_cmd) {
            (_, Some(cmd)) => {
                let t = Instant::now();
                crate::pipe_to(cmd, &msg)?;
                t
            }
            (Some(dir), None) => {
                msggen::deliver(dir, &msg, rep as u64)?;
                Instant::now()
            }
            (None, None) => {
                return Err(Error::usage(
                    "idle needs --maildir DIR or --deliver-cmd CMD",
                ));
            }
        };
        let got = c.wait_for(Duration::from_secs_f64(o.wait), &mut |l| {
            imap::untagged_number(l, b"EXISTS").is_some()
        })?;
        match got {
            Some((_, at)) => r.samples.push(at.duration_since(t).as_secs_f64()),
            None => timeouts += 1,
        }
        c.idle_done(&tag)?;
    }
    c.logout();
    r.note = match (&o.deliver_cmd, timeouts) {
        (Some(_), 0) => "delivery by --deliver-cmd (its run time included)".into(),
        (None, 0) => "delivery: file written to tmp/, renamed into new/".into(),
        (_, k) => format!(
            "{k} of {} deliveries not announced within {} s",
            o.reps, o.wait
        ),
    };
    r.extra("timeouts", timeouts);
    Ok(vec![r])
}

/// `memory`: PSS of the server processes that appear for `--sessions`
/// logged-in sessions with INBOX selected.
pub fn memory(o: &Opts) -> Result<Vec<Report>, Error> {
    if o.roots.is_empty() && o.marker.is_none() {
        return Err(Error::usage(
            "memory needs --server-pid PID and/or --env-marker K=V",
        ));
    }
    let before = mem::session_pids(&o.roots, o.marker.as_deref());
    let mut open = Vec::with_capacity(o.sessions);
    for i in 0..o.sessions {
        let (u, p) = o.user_n(i);
        let mut c = session(o, &u, &p).map_err(|e| {
            Error::protocol(format!("session {} of {} ({u}): {e}", i + 1, o.sessions))
        })?;
        c.select(&o.mailbox).map_err(|e| {
            Error::protocol(format!("session {} of {} ({u}): {e}", i + 1, o.sessions))
        })?;
        open.push(c);
    }
    std::thread::sleep(Duration::from_millis(o.settle_ms.max(500)));
    let after = mem::session_pids(&o.roots, o.marker.as_deref());
    let new: Vec<u32> = after.difference(&before).copied().collect();
    let mut total = 0u64;
    let mut kinds: std::collections::BTreeMap<String, (u32, u64)> = Default::default();
    for p in &new {
        if let Some(k) = mem::pss_kib(*p) {
            total += k;
            let e = kinds.entry(mem::comm(*p)).or_default();
            e.0 += 1;
            e.1 += k;
        }
    }
    for c in open {
        c.logout();
    }
    let mut r = Report::new(&o.row_or("memory"), &o.label, "KiB", o.sessions as f64);
    r.samples.push(total as f64);
    r.extra("sessions", o.sessions);
    r.extra("processes", new.len());
    r.extra(
        "per_session_kib",
        format!("{:.1}", total as f64 / o.sessions.max(1) as f64),
    );
    r.note = kinds
        .iter()
        .map(|(k, (n, kib))| format!("{n} x {k} {kib} KiB"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(vec![r])
}

/// `pop3`: STAT, UIDL and RETR of every message, one session per repetition.
pub fn pop3(o: &Opts) -> Result<Vec<Report>, Error> {
    let mut r = Report::new(&o.row_or("pop3_retr_all"), &o.label, "s", 0.0);
    let (mut msgs, mut bytes) = (0u32, 0u64);
    let mut partial = None;
    for _ in o.reps_within_budget() {
        o.before_each()?;
        let mut c = Pop3::connect(&o.target)?;
        c.login(&o.user, &o.pass)?;
        let t = Instant::now();
        let (n, _) = c.stat()?;
        let mut uidls = 0u32;
        c.multi("UIDL", &mut |_| uidls += 1)?;
        if uidls != n {
            return Err(Error::protocol(format!(
                "UIDL listed {uidls} of {n} messages"
            )));
        }
        let mut b = 0u64;
        let window = o.pipeline.max(1) as u32;
        let mut done = 0u32;
        while done < n {
            let upto = (done + window).min(n);
            let cmds: Vec<String> = (done + 1..=upto).map(|i| format!("RETR {i}")).collect();
            c.send_batch(&cmds)?;
            for cmd in &cmds {
                b += c.read_multi(cmd, &mut |_| {})?.bytes;
            }
            done = upto;
            // A very slow server: measure the rate on part of the folder.
            if o.budget.is_some_and(|bg| t.elapsed() > bg) && done < n {
                partial = Some((done, n));
                break;
            }
        }
        r.samples.push(secs(t));
        c.quit();
        msgs = done;
        bytes = b;
        if partial.is_some() {
            break;
        }
    }
    r.ops = f64::from(msgs);
    r.extra("messages", msgs);
    r.extra("bytes", bytes);
    r.extra("pipeline", o.pipeline.max(1));
    if let Some((_, n)) = partial {
        // What the whole folder would take at the measured rate is median * partial_of / ops.
        r.extra("partial_of", n);
    }
    r.note = match partial {
        Some((d, n)) => format!(
            "PARTIAL: stopped after {d} of {n} messages at the --budget; STAT + UIDL + RETR, login not timed"
        ),
        None if o.pipeline > 1 => {
            format!(
                "STAT + UIDL + RETR 1..n pipelined {} deep, login not timed",
                o.pipeline
            )
        }
        None => "STAT + UIDL + RETR 1..n one at a time, login not timed".into(),
    };
    Ok(vec![r])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scattered_spreads_167_of_6167_without_duplicates() {
        let v = scattered(6167, 167);
        assert_eq!(v.len(), 167);
        assert_eq!(v[0], 1);
        assert!(v.windows(2).all(|w| w[1] > w[0] + 30), "not scattered");
        assert!(*v.last().unwrap() <= 6167);
        assert_eq!(scattered(5, 167), vec![1, 2, 3, 4, 5]);
    }
}
