//! Load generation: `--clients` threads, each repeating a login or a short
//! session until `--seconds` pass or `--max-ops` operations are done in all.

use crate::imap::{self, Imap};
use crate::pop3::Pop3;
use crate::stats::{Report, percentile};
use crate::{Error, Opts};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one client repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// connect, LOGIN, LOGOUT (POP3: USER, PASS, QUIT with `--pop3`).
    Login,
    /// connect, LOGIN, SELECT, FETCH flags of up to 50 messages, FETCH one
    /// whole message, NOOP, LOGOUT (POP3: STAT, UIDL, RETR 1, QUIT).
    Session,
}

fn one(o: &Opts, kind: Kind, i: usize) -> Result<(), Error> {
    let (u, p) = o.user_n(i);
    if o.pop3 {
        let mut c = Pop3::connect(&o.target)?;
        c.login(&u, &p)?;
        if kind == Kind::Session {
            let (n, _) = c.stat()?;
            c.multi("UIDL", &mut |_| {})?;
            if n > 0 {
                c.multi("RETR 1", &mut |_| {})?;
            }
        }
        c.quit();
        return Ok(());
    }
    let mut c = Imap::connect(&o.target)?;
    c.login(&u, &p)?;
    if kind == Kind::Session {
        let n = c.select(&o.mailbox)?;
        if n > 0 {
            let lo = n.saturating_sub(49).max(1);
            c.simple(&format!("FETCH {lo}:{n} (UID FLAGS RFC822.SIZE)"))?;
            c.simple(&format!("FETCH {n} BODY.PEEK[]"))?;
        }
        c.simple("NOOP")?;
    }
    let tag = c.command("LOGOUT", &mut |_| {})?;
    imap::ok("LOGOUT", tag)?;
    Ok(())
}

/// Runs the load and reports latency per operation and the overall rate.
pub fn run(o: &Opts, kind: Kind) -> Result<Vec<Report>, Error> {
    let done = Arc::new(AtomicU64::new(0));
    // Operations begun: reserving one before starting keeps `--max-ops` exact.
    let begun = AtomicU64::new(0);
    let failed = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(Mutex::new(Vec::<f64>::new()));
    let first_err = Arc::new(Mutex::new(None::<String>));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(o.seconds);
    let max = o.max_ops.unwrap_or(u64::MAX);
    std::thread::scope(|s| {
        for t in 0..o.clients {
            let (done, failed, lat, first_err, begun) = (&done, &failed, &lat, &first_err, &begun);
            s.spawn(move || {
                let mut mine = Vec::new();
                let mut i = t;
                while Instant::now() < end && begun.fetch_add(1, Ordering::Relaxed) < max {
                    let t0 = Instant::now();
                    match one(o, kind, i) {
                        Ok(()) => {
                            mine.push(t0.elapsed().as_secs_f64());
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut f) = first_err.lock()
                                && f.is_none()
                            {
                                *f = Some(e.to_string());
                            }
                            // Do not spin on a refusing server.
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    i += o.clients;
                }
                if let Ok(mut l) = lat.lock() {
                    l.extend(mine);
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    let bad = failed.load(Ordering::Relaxed);
    let samples = lat.lock().map(|l| l.clone()).unwrap_or_default();
    let name = match (kind, o.pop3) {
        (Kind::Login, false) => "login",
        (Kind::Session, false) => "session",
        (Kind::Login, true) => "pop3_login",
        (Kind::Session, true) => "pop3_session",
    };
    let mut r = Report::new(&o.row_or(name), &o.label, "s", 1.0);
    r.extra("clients", o.clients);
    r.extra("completed", ok);
    r.extra("failed", bad);
    r.extra("elapsed_s", format!("{elapsed:.3}"));
    r.extra(
        "throughput_per_s",
        format!("{:.2}", ok as f64 / elapsed.max(1e-9)),
    );
    r.extra("p99_s", format!("{:.6}", percentile(&samples, 99.0)));
    r.samples = samples;
    r.note = match first_err.lock().ok().and_then(|f| f.clone()) {
        Some(e) => format!(
            "{ok} done, {bad} failed (first: {e}); {:.1}/s",
            ok as f64 / elapsed.max(1e-9)
        ),
        None => format!(
            "{ok} done, {:.1}/s with {} clients",
            ok as f64 / elapsed.max(1e-9),
            o.clients
        ),
    };
    Ok(vec![r])
}
