//! The imapd transcript suite: every script in tests/transcripts/ runs against our imapd
//! and Debian's, each in a home built from tests/transcripts/fixture.txt, and the
//! normalised transcripts (and, for `@maildir` scripts, the maildirs left behind) must
//! agree, except for the intended differences listed in tests/transcripts/DIFFERENCES.md.
//!
//! Knobs: `IMAPKIT_ONLY=a,b` runs only those scripts; `IMAPKIT_SHOW=name` prints the
//! whole normalised transcripts of a script; `IMAPKIT_JOBS=n` scripts at once (default
//! 4); `IMAPKIT_REPORT=path` where the mismatch report goes (default
//! target/imapd-transcripts-report.md); `IMAPKIT_KEEP=1` keeps the scratch homes.

use e2e::imapkit::{
    Mismatch, Norm, ScriptResult, load_differences, load_fixture, load_scripts, render_transcript,
    run_both,
};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

const TEST: &str = "imapd_transcripts";

#[test]
fn transcripts_match_courier() {
    let Some(courier) = e2e::courier("imapd", TEST) else {
        return;
    };
    let ours = e2e::ours("imapd");
    // COURIER_BIN_DIR pointing at Debian's imapd runs Courier on both sides: that is how
    // the scripts and the normalisation are checked (no difference may appear then).
    let oracle = std::fs::canonicalize(&ours).ok() == std::fs::canonicalize(&courier).ok();
    let only: Option<Vec<String>> = std::env::var("IMAPKIT_ONLY")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let mut scripts = load_scripts();
    let total_interactions: usize = scripts.iter().map(|s| s.commands.len()).sum();
    println!(
        "{} scripts, {total_interactions} scripted interactions",
        scripts.len()
    );
    assert!(
        only.is_some() || total_interactions >= 150,
        "the suite must script at least 150 interactions, it has {total_interactions}"
    );
    if let Some(only) = &only {
        scripts.retain(|s| only.contains(&s.name));
        assert!(!scripts.is_empty(), "IMAPKIT_ONLY matches no script");
    }
    let fx = load_fixture();
    let diffs = load_differences();
    // Every row must name a script and a step that exist.
    for d in &diffs {
        let matching: Vec<_> = scripts
            .iter()
            .filter(|s| e2e::imapkit::glob(&d.script, &s.name))
            .collect();
        assert!(
            only.is_some() || !matching.is_empty(),
            "DIFFERENCES.md: no script matches `{}`",
            d.script
        );
        let pseudo = ["greeting", "eof", "log", "maildir"];
        if !d.step.contains('*') && !pseudo.contains(&d.step.as_str()) {
            for s in &matching {
                assert!(
                    s.commands.iter().any(|c| c.tag == d.step),
                    "DIFFERENCES.md: script {} has no step {}",
                    s.name,
                    d.step
                );
            }
        }
    }
    let jobs: usize = std::env::var("IMAPKIT_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(4)
        .max(1);

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<ScriptResult>> = Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..jobs {
            sc.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(s) = scripts.get(k) else { break };
                    let r = run_both(s, &fx, &courier, &ours, &diffs);
                    results.lock().unwrap().push(r);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.script.name.cmp(&b.script.name));

    if let Ok(show) = std::env::var("IMAPKIT_SHOW") {
        let norm = Norm::new(&fx);
        for r in results
            .iter()
            .filter(|r| show == "*" || show.split(',').any(|n| n == r.script.name))
        {
            println!(
                "----- {} (Courier) -----\n{}",
                r.script.name,
                render_transcript(&r.script, &norm.transcript(&r.courier))
            );
            println!(
                "----- {} (ours) -----\n{}",
                r.script.name,
                render_transcript(&r.script, &norm.transcript(&r.ours))
            );
            println!("----- Courier stderr -----\n{}", r.courier.stderr);
            println!("----- our stderr -----\n{}", r.ours.stderr);
        }
    }

    let mut unexpected: Vec<&Mismatch> = Vec::new();
    let mut used = vec![false; diffs.len()];
    let mut summary = String::new();
    for r in &results {
        let bad: Vec<&Mismatch> = r.mismatches.iter().filter(|m| !m.intended).collect();
        for m in &r.mismatches {
            if m.intended {
                for &i in &m.rows {
                    used[i] = true;
                }
            }
        }
        if r.ours.stderr.contains("panicked at") {
            let _ = writeln!(
                summary,
                "PANIC {}: our imapd panicked (see the step `log` below)",
                r.script.name
            );
        }
        let intended = r.mismatches.len() - bad.len();
        let status = if bad.is_empty() { "PASS" } else { "FAIL" };
        let _ = writeln!(
            summary,
            "{status} {:<24} {:>3} commands, {} unexpected, {} intended differences{}",
            r.script.name,
            r.script.commands.len(),
            bad.len(),
            intended,
            if bad.is_empty() {
                String::new()
            } else {
                format!(
                    " (steps {})",
                    bad.iter()
                        .map(|m| m.step.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        unexpected.extend(bad);
    }
    println!("{summary}");

    let mut unused = Vec::new();
    // Only a full run can tell that a row is stale (a wildcard row may belong to a script
    // that did not run).
    if !oracle && only.is_none() {
        for (d, u) in diffs.iter().zip(&used) {
            let ran = results
                .iter()
                .any(|r| e2e::imapkit::glob(&d.script, &r.script.name));
            if !u && ran {
                unused.push(format!(
                    "{} step {}: listed difference did not occur (Courier `{}`, ours `{}`)",
                    d.script, d.step, d.courier, d.ours
                ));
            }
        }
    }

    let mut report = String::new();
    let _ = writeln!(
        report,
        "# imapd transcripts: ours ({}) vs Courier ({})\n\n```\n{summary}```\n",
        ours.display(),
        courier.display()
    );
    for m in &unexpected {
        let _ = writeln!(report, "```\n{}```\n", m.render());
    }
    for u in &unused {
        let _ = writeln!(report, "- {u}");
    }
    let report_path = std::env::var_os("IMAPKIT_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|| e2e::workspace_root().join("target/imapd-transcripts-report.md"));
    if let Err(e) = std::fs::write(&report_path, &report) {
        eprintln!("{}: {e}", report_path.display());
    }

    let mut failure = String::new();
    for m in &unexpected {
        failure.push_str(&m.render());
    }
    for u in &unused {
        let _ = writeln!(failure, "{u}");
    }
    assert!(
        failure.is_empty(),
        "{} unexpected differences, {} listed differences that did not occur \
         (report: {}):\n{failure}",
        unexpected.len(),
        unused.len(),
        report_path.display()
    );
}
