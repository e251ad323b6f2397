//! Benchmark helper for scripts/bench-maildir: what an IMAP session pays for a
//! batch of keyword changes. Opens FOLDER's keyword store the way imapd does (one
//! read of `:list`), adds KEYWORD to every message named on stdin (one basename per
//! line), then consolidates once, and prints `<seconds for the changes>
//! <seconds for the consolidation> <list_reads> <list_writes> <update_writes>`.
//! Courier's imapd also writes one update file per change and leaves the
//! consolidation to the next folder scan, so the first figure is the comparable one.
//!
//! Usage: kw_batch FOLDER KEYWORD < basenames

use courier_maildir::keywords::{KeywordStore, Options};
use std::io::BufRead;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(folder), Some(keyword)) = (args.next(), args.next()) else {
        return Err("usage: kw_batch FOLDER KEYWORD < basenames".into());
    };
    let names: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
    let mut store = KeywordStore::open(&folder, Options::IMAP)?;
    let start = Instant::now();
    for name in &names {
        store.add(name.as_bytes(), [keyword.as_bytes()])?;
    }
    let secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    store.consolidate()?;
    let consolidate = start.elapsed().as_secs_f64();
    let s = store.stats();
    println!(
        "{secs:.6} {consolidate:.6} {} {} {}",
        s.list_reads, s.list_writes, s.update_writes
    );
    Ok(())
}
