//! authload: drives an authdaemond socket for the authentication benchmark
//! (scripts/bench-auth). Standard library only, compiled with plain rustc.
//!
//! usage: authload SOCKET SECONDS CLIENTS KIND [USER PASSWORD | USERS]
//!   KIND pre:  `PRE . imap user<N>` for random N < USERS
//!   KIND auth: `AUTH` login for USER / PASSWORD on service imap
//! Each request is one connection (as every Courier client does). Prints
//! `ok=<n> bad=<n> seconds=<f>`; a reply that is not an account record is bad.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn one(socket: &str, req: &[u8]) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    if s.write_all(req).is_err() {
        return false;
    }
    let mut reply = Vec::with_capacity(512);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.ends_with(b"\n.\n") || reply == b"FAIL\n" {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    reply.starts_with(b"UID=") && reply.ends_with(b"\n.\n")
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        eprintln!("usage: authload SOCKET SECONDS CLIENTS pre USERS | auth USER PASSWORD");
        std::process::exit(2);
    }
    let socket = a[1].clone();
    let seconds: f64 = a[2].parse().expect("SECONDS");
    let clients: usize = a[3].parse().expect("CLIENTS");
    let kind = a[4].clone();
    let users: u64 = if kind == "pre" { a[5].parse().expect("USERS") } else { 0 };
    let auth = if kind == "auth" {
        let (u, p) = (&a[5], &a[6]);
        let n = "imap".len() + "login".len() + u.len() + p.len() + 4;
        format!("AUTH {n}\nimap\nlogin\n{u}\n{p}\n").into_bytes()
    } else {
        Vec::new()
    };
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let (socket, auth, ok, bad) = (socket.clone(), auth.clone(), ok.clone(), bad.clone());
            std::thread::spawn(move || {
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1);
                while Instant::now() < deadline {
                    let req = if users > 0 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        format!("PRE . imap user{:05}\n", x % users).into_bytes()
                    } else {
                        auth.clone()
                    };
                    if one(&socket, &req) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    println!(
        "ok={} bad={} seconds={:.3}",
        ok.load(Ordering::Relaxed),
        bad.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
}
