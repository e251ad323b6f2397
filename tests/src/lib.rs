//! Testkit for the workspace-level end-to-end tests (package `e2e`).
//!
//! Owns: finding our binaries and Debian's Courier binaries (the oracle), scratch
//! directories that Courier accepts (never sticky), running a program and capturing
//! (exit code, stdout, stderr), and snapshots of a maildir tree with the volatile parts
//! (unique message names, times, UIDVALIDITY, keyword generations) normalised, so that
//! the tree left by our program can be compared with the one left by Courier's.
//!
//! Does not: build anything. Our binaries must already be in `target/debug` (the CI
//! runs `cargo build --workspace --bins` first) or in `$COURIER_BIN_DIR`; a missing
//! binary is a test failure that says so. A missing Courier binary is a skip, printed
//! as a `SKIP: <reason>` line.
//!
//! Pointing `COURIER_BIN_DIR` at a directory of symlinks to Debian's binaries
//! (`maildirmake -> /usr/bin/maildirmake.courier`, ...) runs every test with Courier
//! on both sides: that is how the tests were checked to encode Courier's behaviour.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// Locating programs

/// The workspace root, derived from this crate's manifest directory (`<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of our program `name`: `$COURIER_BIN_DIR/<name>`, else
/// `<workspace root>/target/debug/<name>`. Panics with instructions when it is missing.
pub fn ours(name: &str) -> PathBuf {
    let path = match std::env::var_os("COURIER_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => workspace_root().join("target/debug").join(name),
    };
    assert!(
        path.exists(),
        "{}: our `{name}` binary is missing; run `cargo build --workspace --bins` first \
         (or set COURIER_BIN_DIR)",
        path.display()
    );
    path
}

/// Debian's file name for a Courier program we reimplement.
pub fn courier_path(name: &str) -> PathBuf {
    match name {
        "maildirmake" | "deliverquota" => PathBuf::from(format!("/usr/bin/{name}.courier")),
        "imapd" => PathBuf::from("/usr/bin/imapd"),
        other => PathBuf::from(format!("/usr/bin/{other}")),
    }
}

/// Debian's binary for `name`, or None (after printing `SKIP: <reason>` for `test`).
pub fn courier(name: &str, test: &str) -> Option<PathBuf> {
    let path = courier_path(name);
    if path.exists() {
        Some(path)
    } else {
        skip(
            test,
            &format!(
                "{} is not installed (apt-get install courier-imap)",
                path.display()
            ),
        );
        None
    }
}

/// Prints the skip line that the test summary cannot show by itself.
pub fn skip(test: &str, reason: &str) {
    println!("SKIP: {test}: {reason}");
    eprintln!("SKIP: {test}: {reason}");
}

/// Effective uid, read from /proc (no libc needed).
pub fn euid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

pub fn is_root() -> bool {
    euid() == 0
}

/// This machine's host name, as Courier puts it in message names.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Scratch directories

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A private scratch directory (mode 0700, never sticky, so Courier accepts it as a
/// home), removed on drop.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let base = std::env::temp_dir();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("e2e-{tag}-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        let mode = fs::metadata(&path).unwrap().mode();
        assert_eq!(
            mode & 0o1000,
            0,
            "{}: scratch dir is sticky",
            path.display()
        );
        Scratch { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Tests may leave read-only directories behind: make everything writable first.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+rwx")
            .arg(&self.path)
            .status();
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Running programs

/// What a program printed and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code; None when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Where a program's stdin comes from.
#[derive(Clone, Debug)]
pub enum Input {
    Null,
    /// Written through a pipe.
    Pipe(Vec<u8>),
    /// Written to a regular file first, which is then stdin (size known up front).
    File(Vec<u8>),
    /// An existing file.
    Path(PathBuf),
    /// `len` bytes of `line` repeated (cut at `len`), streamed through a pipe without
    /// ever being held in memory whole.
    Stream {
        len: u64,
        line: Vec<u8>,
    },
}

/// A command about to run, with Courier's program name as argv[0] whatever the binary
/// file is called (Debian's messages print argv[0]).
pub struct Run {
    cmd: Command,
    input: Input,
    timeout: Duration,
    scratch_for_input: Option<PathBuf>,
}

impl Run {
    pub fn new(program: &Path, argv0: &str) -> Run {
        let mut cmd = Command::new(program);
        cmd.arg0(argv0);
        // Keep the environment predictable: our programs and Courier's read few
        // variables, but an inherited MAILDIR/HOSTNAME/IMAP_* would change results.
        for var in [
            "MAILDIR",
            "HOSTNAME",
            "IMAPLOGINTAG",
            "AUTHENTICATED",
            "MAILDIRQUOTA",
        ] {
            cmd.env_remove(var);
        }
        Run {
            cmd,
            input: Input::Null,
            timeout: Duration::from_secs(60),
            scratch_for_input: None,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Run {
        self.cmd.current_dir(dir);
        self.scratch_for_input = Some(dir.to_path_buf());
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Run {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(mut self, k: &str) -> Run {
        self.cmd.env_remove(k);
        self
    }

    pub fn input(mut self, input: Input) -> Run {
        self.input = input;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Run {
        self.timeout = t;
        self
    }

    /// Access to the underlying command (e.g. to wrap it).
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Runs to completion (killed after the timeout, which fails the test).
    pub fn run(mut self) -> Outcome {
        let mut input_file = None;
        match &self.input {
            Input::Null => {
                self.cmd.stdin(Stdio::null());
            }
            Input::Pipe(_) | Input::Stream { .. } => {
                self.cmd.stdin(Stdio::piped());
            }
            Input::File(bytes) => {
                let dir = self
                    .scratch_for_input
                    .clone()
                    .unwrap_or_else(std::env::temp_dir);
                let n = COUNTER.fetch_add(1, Ordering::Relaxed);
                let p = dir.join(format!(".e2e-stdin-{}-{n}", std::process::id()));
                fs::write(&p, bytes).unwrap();
                self.cmd.stdin(fs::File::open(&p).unwrap());
                input_file = Some(p);
            }
            Input::Path(p) => {
                self.cmd
                    .stdin(fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
            }
        }
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.cmd));
        let writer = match (&self.input, child.stdin.take()) {
            (Input::Pipe(bytes), Some(mut stdin)) => {
                let bytes = bytes.clone();
                // The program may stop reading early (usage errors): ignore EPIPE.
                Some(std::thread::spawn(move || {
                    let _ = stdin.write_all(&bytes);
                }))
            }
            (Input::Stream { len, line }, Some(mut stdin)) => {
                let (len, line) = (*len, line.clone());
                Some(std::thread::spawn(move || {
                    let mut chunk = Vec::with_capacity(64 * 1024 + line.len());
                    while chunk.len() < 64 * 1024 {
                        chunk.extend_from_slice(&line);
                    }
                    let mut left = len;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        if stdin.write_all(&chunk[..n]).is_err() {
                            return;
                        }
                        left -= n as u64;
                    }
                }))
            }
            _ => None,
        };
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        let t_err = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        });
        let status = wait_timeout(&mut child, self.timeout, &format!("{:?}", self.cmd));
        if let Some(w) = writer {
            let _ = w.join();
        }
        let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
        if let Some(p) = input_file {
            let _ = fs::remove_file(p);
        }
        Outcome {
            code: status.code(),
            stdout,
            stderr,
        }
    }
}

/// Waits for `child`, killing it (by its own pid) and panicking after `timeout`.
pub fn wait_timeout(child: &mut std::process::Child, timeout: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {timeout:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// Differential pairs

/// Which implementation a sandbox runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Ours,
    Courier,
}

/// One scratch directory bound to one implementation. Commands run with the scratch
/// directory as cwd, so relative maildir paths (and the messages naming them) are the
/// same on both sides.
pub struct Sandbox {
    pub side: Side,
    pub dir: Scratch,
}

impl Sandbox {
    pub fn new(side: Side) -> Sandbox {
        let tag = match side {
            Side::Ours => "ours",
            Side::Courier => "courier",
        };
        Sandbox {
            side,
            dir: Scratch::new(tag),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.dir.join(p)
    }

    /// The binary of `prog` for this side.
    pub fn bin(&self, prog: &str) -> PathBuf {
        match self.side {
            Side::Ours => ours(prog),
            Side::Courier => courier_path(prog),
        }
    }

    /// A command for `prog` on this side, cwd = the sandbox.
    pub fn cmd(&self, prog: &str) -> Run {
        Run::new(&self.bin(prog), prog).cwd(self.path())
    }

    /// A command for `prog` on this side under `umask mask`.
    pub fn cmd_umask(&self, prog: &str, mask: &str) -> Run {
        with_umask(&self.bin(prog), prog, mask).cwd(self.path())
    }

    /// A command for Debian's `prog` whatever this side is, cwd = the sandbox.
    pub fn courier_cmd(&self, prog: &str) -> Run {
        Run::new(&courier_path(prog), prog).cwd(self.path())
    }

    /// Shorthand: run `prog args` with `input`.
    pub fn run(&self, prog: &str, args: &[&str], input: Input) -> Outcome {
        self.cmd(prog).args(args).input(input).run()
    }

    /// Normalised snapshot of `rel` (relative to the sandbox).
    pub fn snapshot(&self, rel: &str) -> String {
        snapshot(&self.join(rel))
    }
}

/// The same value computed on both sides.
#[derive(Debug)]
pub struct Both<T> {
    pub ours: T,
    pub courier: T,
}

impl<T: PartialEq + std::fmt::Debug> Both<T> {
    /// Asserts that both sides agree, showing both values otherwise.
    pub fn assert_same(&self, what: &str) {
        assert_eq!(
            self.ours, self.courier,
            "{what}: ours (left) differs from Courier's (right)"
        );
    }
}

/// A pair of sandboxes, one for our programs and one for Courier's.
pub struct Pair {
    pub ours: Sandbox,
    pub courier: Sandbox,
}

impl Pair {
    /// Both sides, or None (with a printed SKIP) when a needed Courier program is absent.
    pub fn new(test: &str, progs: &[&str]) -> Option<Pair> {
        for p in progs {
            courier(p, test)?;
            // Fail early, with the build hint, when ours is missing.
            ours(p);
        }
        Some(Pair {
            ours: Sandbox::new(Side::Ours),
            courier: Sandbox::new(Side::Courier),
        })
    }

    /// Runs `f` on each side (ours first).
    pub fn each<T>(&self, mut f: impl FnMut(&Sandbox) -> T) -> Both<T> {
        let ours = f(&self.ours);
        let courier = f(&self.courier);
        Both { ours, courier }
    }

    /// Runs `prog args` on each side and asserts equal exit codes and outputs.
    pub fn run_same(&self, prog: &str, args: &[&str], input: Input) -> Outcome {
        let both = self.each(|s| s.run(prog, args, input.clone()));
        both.assert_same(&format!("{prog} {args:?}"));
        both.ours
    }

    /// Asserts that the normalised trees under `rel` are equal.
    pub fn assert_same_tree(&self, rel: &str) {
        let both = self.each(|s| s.snapshot(rel));
        assert_eq!(
            both.ours, both.courier,
            "tree {rel}: ours (left) differs from Courier's (right)"
        );
    }
}

// ---------------------------------------------------------------------------
// Maildir helpers (test setup done without our programs)

/// Creates `dir` with tmp/new/cur (0700), like `maildirmake DIR`.
pub fn make_maildir(dir: &Path) {
    for sub in ["", "tmp", "new", "cur"] {
        let p = dir.join(sub);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).unwrap();
    }
}

/// Creates folder `.name` in `maildir`, like `maildirmake -f NAME`.
pub fn make_folder(maildir: &Path, name: &str) -> PathBuf {
    let f = maildir.join(format!(".{name}"));
    make_maildir(&f);
    fs::write(f.join("maildirfolder"), b"").unwrap();
    fs::set_permissions(f.join("maildirfolder"), fs::Permissions::from_mode(0o600)).unwrap();
    f
}

/// File names in `dir`, sorted; empty when the directory does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The only entry of `dir`, or a panic listing what is there.
pub fn only(dir: &Path) -> PathBuf {
    let v = names(dir);
    assert_eq!(
        v.len(),
        1,
        "{}: expected exactly one entry, found {v:?}",
        dir.display()
    );
    dir.join(&v[0])
}

/// Sum of the data lines of a `maildirsize` (bytes, count), and its first line.
pub fn maildirsize_totals(path: &Path) -> (String, i64, i64) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let spec = lines.next().unwrap_or("").to_string();
    let (mut b, mut c) = (0i64, 0i64);
    for l in lines {
        let mut it = l.split_whitespace();
        b += it.next().and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
        c += it.next().and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
    }
    (spec, b, c)
}

/// What a recalculation would find: bytes and count of the counted messages (new/ and
/// cur/ of the maildir and its folders except `.Trash`, `T`-flagged ones skipped).
pub fn counted_usage(maildir: &Path) -> (i64, i64) {
    let mut dirs = vec![maildir.to_path_buf()];
    for n in names(maildir) {
        let p = maildir.join(&n);
        if n.starts_with('.') && n != "." && n != ".." && n != ".Trash" && p.is_dir() {
            dirs.push(p);
        }
    }
    let (mut b, mut c) = (0i64, 0i64);
    for d in dirs {
        for sub in ["new", "cur"] {
            for n in names(&d.join(sub)) {
                if n.starts_with('.') {
                    continue;
                }
                if let Some((_, flags)) = n.split_once(":2,")
                    && flags.contains('T')
                {
                    continue;
                }
                b += fs::metadata(d.join(sub).join(&n)).unwrap().len() as i64;
                c += 1;
            }
        }
    }
    (b, c)
}

// ---------------------------------------------------------------------------
// Snapshots

/// Lists every path under `root` (sorted, relative, prefixed with the root's own name)
/// with its type, permission bits and, for regular files, a rendering of the contents;
/// volatile parts are normalised by [`normalise`].
pub fn snapshot(root: &Path) -> String {
    let mut entries = Vec::new();
    let label = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    walk(root, &label, &mut entries);
    let mut out = String::new();
    for (rel, meta, content) in &entries {
        let kind = if meta.file_type().is_symlink() {
            'l'
        } else if meta.is_dir() {
            'd'
        } else {
            'f'
        };
        let _ = write!(out, "{kind} {:04o} {rel}", meta.mode() & 0o7777);
        if let Some(c) = content {
            let _ = write!(out, " = {}", render(c));
        }
        out.push('\n');
    }
    // Sort by the normalised path: file-name order is not creation order (`M<usec>` is
    // not zero-padded), and the placeholders are numbered in creation order.
    let mut lines: Vec<String> = normalise(&out).lines().map(str::to_string).collect();
    lines.sort_by(|a, b| path_of(a).cmp(path_of(b)));
    let mut sorted = lines.join("\n");
    sorted.push('\n');
    sorted
}

/// The path field of a snapshot line (`<kind> <mode> <path>[ = <content>]`).
fn path_of(line: &str) -> &str {
    let rest = line.splitn(3, ' ').nth(2).unwrap_or("");
    rest.split(" = ").next().unwrap_or(rest)
}

fn walk(path: &Path, rel: &str, out: &mut Vec<(String, fs::Metadata, Option<Vec<u8>>)>) {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return,
    };
    let content = if meta.is_file() {
        fs::read(path).ok()
    } else if meta.file_type().is_symlink() {
        fs::read_link(path)
            .ok()
            .map(|t| t.to_string_lossy().into_owned().into_bytes())
    } else {
        None
    };
    let is_dir = meta.is_dir();
    out.push((rel.to_string(), meta, content));
    if is_dir {
        for n in names(path) {
            walk(&path.join(&n), &format!("{rel}/{n}"), out);
        }
    }
}

fn render(c: &[u8]) -> String {
    if c.len() > 2048 {
        // Big files: size and a hash are enough to compare.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in c {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
        }
        return format!("<{} bytes, fnv {h:016x}>", c.len());
    }
    format!("\"{}\"", c.escape_ascii())
}

/// One unique message name found in a text: `SEC.M<USEC>P<PID>[V..I..][_UNIQ].HOST[,S=n]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MsgName {
    sec: u64,
    usec: u64,
    pid: u64,
    devino: String,
    uniq: String,
    size: String,
}

/// Tries to parse a unique message name at the start of `s`; returns it and its length.
fn parse_msg_name(s: &[u8], host: &[u8]) -> Option<(MsgName, usize)> {
    fn digits(s: &[u8], i: &mut usize) -> Option<u64> {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == start || *i - start > 19 {
            return None;
        }
        std::str::from_utf8(&s[start..*i]).ok()?.parse().ok()
    }
    fn hex(s: &[u8], i: &mut usize) -> bool {
        let start = *i;
        while *i < s.len() && (s[*i].is_ascii_digit() || (b'A'..=b'F').contains(&s[*i])) {
            *i += 1;
        }
        *i > start
    }
    let mut i = 0;
    let sec = digits(s, &mut i)?;
    if s.get(i..i + 2)? != b".M" {
        return None;
    }
    i += 2;
    let usec = digits(s, &mut i)?;
    if *s.get(i)? != b'P' {
        return None;
    }
    i += 1;
    let pid = digits(s, &mut i)?;
    let mut devino = String::new();
    if s.get(i) == Some(&b'V') {
        let mut j = i + 1;
        if hex(s, &mut j) && s.get(j) == Some(&b'I') {
            j += 1;
            if hex(s, &mut j) {
                devino = "VI".into();
                i = j;
            }
        }
    }
    let mut uniq = String::new();
    if s.get(i) == Some(&b'_') {
        let start = i;
        i += 1;
        while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
            i += 1;
        }
        uniq = String::from_utf8_lossy(&s[start..i]).into_owned();
    }
    if s.get(i) != Some(&b'.') || !s[i + 1..].starts_with(host) {
        return None;
    }
    i += 1 + host.len();
    let mut size = String::new();
    if s[i..].starts_with(b",S=") {
        let start = i;
        i += 3;
        digits(s, &mut i)?;
        size = String::from_utf8_lossy(&s[start..i]).into_owned();
    }
    Some((
        MsgName {
            sec,
            usec,
            pid,
            devino,
            uniq,
            size,
        },
        i,
    ))
}

/// True when `name` (up to any `:`) is a whole Courier unique message name for this host:
/// `SEC.M<USEC>P<PID>V<DEV>I<INO>[_UNIQ].HOST[,S=n]`, with the `V…I…` part.
pub fn is_delivered_name(name: &str) -> bool {
    let base = name.split(':').next().unwrap_or(name);
    match parse_msg_name(base.as_bytes(), hostname().as_bytes()) {
        Some((m, len)) => len == base.len() && m.devino == "VI",
        None => false,
    }
}

/// The `,S=<n>` size in a message name, if any.
pub fn size_in_name(name: &str) -> Option<u64> {
    let base = name.split(':').next().unwrap_or(name);
    let pos = base.rfind(",S=")?;
    let digits: String = base[pos + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Replaces the volatile parts of a snapshot (or of any text about a maildir):
/// unique message names become `MSG<n><VI?><_uniq?>,S=<n>` numbered in creation order
/// (seconds, microseconds); keyword generations `.<N>.` become `.<GEN>.`; the
/// UIDVALIDITY in a uiddb header, and `Date:` / `Message-Id:` of quota warnings, become
/// placeholders; `NeWmAiLdIrSiZe` temp names lose their time and pid.
pub fn normalise(text: &str) -> String {
    let host = hostname();
    let bytes = text.as_bytes();
    // Pass 1: collect every message name, to number them in creation order.
    let mut found: BTreeMap<MsgName, usize> = BTreeMap::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary
            && bytes[i].is_ascii_digit()
            && let Some((m, len)) = parse_msg_name(&bytes[i..], host.as_bytes())
        {
            spans.push((i, len, m.clone()));
            found.insert(m, 0);
            i += len;
            continue;
        }
        i += 1;
    }
    // Number by (sec, usec, pid): the order the messages were written in.
    for (n, v) in found.values_mut().enumerate() {
        *v = n + 1;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, len, m) in spans {
        out.push_str(&text[last..start]);
        let _ = write!(out, "MSG{}{}{}{}", found[&m], m.devino, m.uniq, m.size);
        last = start + len;
    }
    out.push_str(&text[last..]);
    normalise_lines(&out)
}

fn normalise_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut l = line.to_string();
        // Keyword generations: courierimapkeywords/.<N>.<basename>
        if let Some(pos) = l.find("courierimapkeywords/.") {
            let start = pos + "courierimapkeywords/.".len();
            let end = start + l[start..].bytes().take_while(u8::is_ascii_digit).count();
            if end > start && l[end..].starts_with('.') {
                l.replace_range(start..end, "GEN");
            }
        }
        // uiddb header: "1 <uidvalidity> <nextuid>\n" rendered as "\"1 795302257 3\\n..."
        if l.contains("courierimapuiddb = \"1 ") {
            let start = l.find("= \"1 ").unwrap() + 5;
            let end = start + l[start..].bytes().take_while(u8::is_ascii_digit).count();
            l.replace_range(start..end, "UIDV");
        }
        // Quota warning headers inside a rendered message.
        if let Some(pos) = l.find("Date: ")
            && let Some(end) = l[pos..].find("\\n")
        {
            l.replace_range(pos..pos + end, "Date: DATE");
        }
        if let Some(pos) = l.find("Message-Id: <") {
            let start = pos + "Message-Id: <".len();
            let end = start + l[start..].bytes().take_while(u8::is_ascii_digit).count();
            l.replace_range(start..end, "TIME");
        }
        if let Some(pos) = l.find("_NeWmAiLdIrSiZe") {
            // tmp/<time>.<pid>_NeWmAiLdIrSiZe.<host>
            let head = &l[..pos];
            if let Some(slash) = head.rfind('/') {
                l.replace_range(slash + 1..pos, "TIME.PID");
            }
        }
        out.push_str(&l);
    }
    out
}

// ---------------------------------------------------------------------------
// Root-only helpers

/// A small tmpfs mounted on a fresh directory; unmounted on drop.
pub struct Tmpfs {
    pub dir: Scratch,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "1m"), or None with the reason.
    pub fn mount(size: &str) -> Result<Tmpfs, String> {
        if !is_root() {
            return Err("mounting a tmpfs needs root".into());
        }
        let dir = Scratch::new("tmpfs");
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .map_err(|e| format!("mount: {e}"))?;
        if !st.success() {
            return Err(format!("mount -t tmpfs failed ({st})"));
        }
        Ok(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A command that runs `program` as uid/gid 65534 (nobody) with no groups.
pub fn as_nobody(program: &Path) -> Run {
    let mut r = Run::new(Path::new("/usr/bin/setpriv"), "setpriv");
    r.command()
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    r.command().arg(program);
    r
}

/// A command that runs `program` (as argv[0] `argv0`) under `umask mask`, through bash.
pub fn with_umask(program: &Path, argv0: &str, mask: &str) -> Run {
    let mut r = Run::new(Path::new("/bin/bash"), "bash");
    r.command().args([
        "-c",
        &format!("umask {mask} && exec -a {argv0} \"$0\" \"$@\""),
    ]);
    r.command().arg(program);
    r
}

/// Gives everything under `path` to uid/gid 65534.
pub fn chown_nobody(path: &Path) {
    let st = Command::new("chown")
        .arg("-R")
        .arg("65534:65534")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "chown {}", path.display());
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Asserts that no message file is in tmp/, and that new/ and cur/ hold exactly
/// `expected` entries: nothing half-written was left.
pub fn assert_clean(maildir: &Path, expected_new_cur: usize) {
    let tmp = names(&maildir.join("tmp"));
    assert!(
        tmp.is_empty(),
        "{}/tmp not empty: {tmp:?}",
        maildir.display()
    );
    let mut nc = names(&maildir.join("new"));
    nc.extend(names(&maildir.join("cur")));
    assert_eq!(
        nc.len(),
        expected_new_cur,
        "{}: new/ + cur/ hold {nc:?}",
        maildir.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_message_names_numbers_them_in_creation_order() {
        let h = hostname();
        let text = format!(
            "f 0644 M/new/1795301594.M204366P7104V000000000000FE00I00000000000B800C_warn.{h},S=140 = \"x\"\n\
             f 0644 M/new/1795301594.M198693P7099V000000000000FE00I00000000000B8009.{h},S=17:2,S = \"y\"\n\
             f 0644 M/courierimapuiddb = \"1 795302257 3\\n1 1795301594.M198693P7099V000000000000FE00I00000000000B8009.{h},S=17\\n\"\n"
        );
        let n = normalise(&text);
        assert!(n.contains("M/new/MSG2VI_warn,S=140 ="), "{n}");
        assert!(n.contains("M/new/MSG1VI,S=17:2,S ="), "{n}");
        assert!(n.contains("\"1 UIDV 3\\n1 MSG1VI,S=17\\n\""), "{n}");
    }

    #[test]
    fn normalise_keyword_generation_becomes_placeholder() {
        let n = normalise_lines("f 0644 M/courierimapkeywords/.5984341.abc = \"x\"\n");
        assert_eq!(n, "f 0644 M/courierimapkeywords/.GEN.abc = \"x\"\n");
    }

    #[test]
    fn snapshot_sees_modes_types_and_contents() {
        let s = Scratch::new("snap");
        let m = s.join("M");
        make_maildir(&m);
        fs::write(m.join("maildirsize"), b"10S\n").unwrap();
        chmod(&m.join("maildirsize"), 0o644);
        let before = snapshot(&m);
        assert!(before.contains("d 0700 M/cur\n"), "{before}");
        assert!(
            before.contains("f 0644 M/maildirsize = \"10S\\n\"\n"),
            "{before}"
        );
        chmod(&m.join("cur"), 0o755);
        let after_mode = snapshot(&m);
        assert_ne!(before, after_mode);
        fs::write(m.join("maildirsize"), b"11S\n").unwrap();
        assert_ne!(after_mode, snapshot(&m));
    }

    #[test]
    fn delivered_name_parser_requires_dev_and_inode() {
        let h = hostname();
        assert!(is_delivered_name(&format!("17.M5P9V00FEI0A.{h},S=3:2,S")));
        assert!(!is_delivered_name(&format!("17.M5P9.{h},S=3")));
        assert!(!is_delivered_name(
            "17.M5P9V00FEI0A.otherhost-that-is-not-this,S=3"
        ));
        assert_eq!(size_in_name("1.M2P3.h,S=42:2,S"), Some(42));
        assert_eq!(size_in_name("1.M2P3.h"), None);
    }

    #[test]
    fn scratch_dir_is_private_and_not_sticky() {
        let s = Scratch::new("self");
        let m = fs::metadata(s.path()).unwrap().mode();
        assert_eq!(m & 0o7777, 0o700);
    }
}

// ---------------------------------------------------------------------------
// authdaemond in a private mount namespace
//
// Debian's authdaemond, makeuserdb, userdb, authtest and authenumerate have their
// paths compiled in (/etc/courier/..., /run/courier/authdaemon/socket). Each daemon
// therefore runs in its own mount namespace (`unshare --mount`) with tmpfs over
// /etc/courier and /run/courier, so nothing on the machine is touched and two
// daemons (Debian's and ours) can run side by side with identical paths. Programs
// that must see those paths run inside with `nsenter --mount`; the test process
// itself reaches the socket through `/proc/<pid>/root/run/courier/authdaemon/socket`.
// Root only: callers check [`auth_prereqs`] first.

/// Debian's authdaemond binary (not on $PATH).
pub const COURIER_AUTHDAEMOND: &str = "/usr/lib/courier/courier-authlib/authdaemond";

/// Whether the namespace harness can run: root, unshare/nsenter, and (for tests
/// that compare with Debian) Debian's authdaemond. Prints `SKIP:` and returns
/// false otherwise.
pub fn auth_prereqs(test: &str, need_debian: bool) -> bool {
    if !is_root() {
        skip(
            test,
            "needs root (private mount namespace over /etc/courier and /run/courier)",
        );
        return false;
    }
    for tool in ["/usr/bin/unshare", "/usr/bin/nsenter"] {
        if !Path::new(tool).exists() {
            skip(test, &format!("{tool} is missing (util-linux)"));
            return false;
        }
    }
    if need_debian {
        for p in [
            COURIER_AUTHDAEMOND,
            "/usr/sbin/makeuserdb",
            "/usr/sbin/authtest",
        ] {
            if !Path::new(p).exists() {
                skip(
                    test,
                    &format!(
                        "{p} is not installed (apt-get install courier-authdaemon courier-authlib-userdb)"
                    ),
                );
                return false;
            }
        }
    }
    true
}

/// What to put into a daemon's private /etc/courier before it starts.
#[derive(Clone, Debug)]
pub struct AuthSetup {
    /// /etc/courier/authdaemonrc.
    pub authdaemonrc: String,
    /// /etc/courier/userdb (a single file, mode 0600), compiled with `makeuserdb`
    /// before the daemon starts; None: no userdb at all.
    pub userdb: Option<String>,
    /// Extra files under /etc/courier: (relative path, content, mode).
    pub files: Vec<(String, Vec<u8>, u32)>,
    /// The makeuserdb that compiles `userdb`; None: the daemon side's own.
    pub makeuserdb: Option<PathBuf>,
    /// Start the daemon the way Debian's wrapper does (`set -a; . authdaemonrc`),
    /// so DEFAULTOPTIONS and DEBUG_LOGIN reach it through the environment too.
    pub source_rc: bool,
    /// Extra environment for the daemon.
    pub env: Vec<(String, String)>,
}

impl AuthSetup {
    /// authuserdb only, `daemons` workers, the given DEFAULTOPTIONS, and `userdb`.
    pub fn userdb(userdb: &str, daemons: u32, defaultoptions: &str) -> AuthSetup {
        AuthSetup {
            authdaemonrc: format!(
                "authmodulelist=\"authuserdb\"\ndaemons={daemons}\n\
                 authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\n\
                 DEFAULTOPTIONS=\"{defaultoptions}\"\nLOGGEROPTS=\"\"\n"
            ),
            userdb: Some(userdb.to_string()),
            files: Vec::new(),
            makeuserdb: None,
            source_rc: true,
            env: Vec::new(),
        }
    }
}

/// Our program `name`, or Debian's, for the auth side of a test.
pub fn auth_bin(side: Side, name: &str) -> PathBuf {
    match (side, name) {
        (Side::Ours, n) => ours(n),
        (Side::Courier, "authdaemond") => PathBuf::from(COURIER_AUTHDAEMOND),
        (Side::Courier, n) => PathBuf::from(format!("/usr/sbin/{n}")),
    }
}

/// One authdaemond (ours or Debian's) in its own mount namespace; stopped, with
/// its workers, on drop.
pub struct AuthDaemon {
    pub side: Side,
    /// Staging files, the ready marker and the daemon's stderr (`daemon.log`).
    pub dir: Scratch,
    child: std::process::Child,
}

impl AuthDaemon {
    /// Starts `side`'s daemon with `setup`; panics (with the daemon's log) when
    /// its socket does not appear within 10 s.
    pub fn start(side: Side, setup: &AuthSetup) -> AuthDaemon {
        let daemon = auth_bin(side, "authdaemond");
        let d = AuthDaemon::spawn(side, setup, &shell_quote(&daemon.to_string_lossy()));
        d.wait_ready(true);
        d
    }

    /// The same private /etc/courier and /run/courier, but no daemon: a `sleep`
    /// holds the namespace open, so a test can put its own socket (or none) at
    /// Debian's path and run clients against it. `side` picks the makeuserdb.
    pub fn namespace_only(side: Side, setup: &AuthSetup) -> AuthDaemon {
        let d = AuthDaemon::spawn(side, setup, "sleep 600");
        d.wait_ready(false);
        d
    }

    fn spawn(side: Side, setup: &AuthSetup, exec: &str) -> AuthDaemon {
        let tag = match side {
            Side::Ours => "authd-ours",
            Side::Courier => "authd-debian",
        };
        let dir = Scratch::new(tag);
        let etc = dir.join("etc");
        fs::create_dir(&etc).unwrap();
        fs::write(etc.join("authdaemonrc"), &setup.authdaemonrc).unwrap();
        if let Some(text) = &setup.userdb {
            fs::write(etc.join("userdb"), text).unwrap();
            chmod(&etc.join("userdb"), 0o600);
        }
        for (rel, content, mode) in &setup.files {
            let p = etc.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, content).unwrap();
            chmod(&p, *mode);
        }
        let makeuserdb = setup
            .makeuserdb
            .clone()
            .unwrap_or_else(|| auth_bin(side, "makeuserdb"));
        let q = |p: &Path| shell_quote(&p.to_string_lossy());
        let mut script = String::from(
            "set -e\n\
             mount -t tmpfs -o mode=0755 tmpfs /etc/courier\n\
             mount -t tmpfs -o mode=0755 tmpfs /run/courier\n\
             mkdir -p /run/courier/authdaemon\n",
        );
        script.push_str(&format!("cp -a {}/. /etc/courier/\n", q(&etc)));
        if setup.userdb.is_some() {
            script.push_str(&format!("{} >&2\n", q(&makeuserdb)));
        }
        if setup.source_rc {
            script.push_str("set -a\n. /etc/courier/authdaemonrc\nset +a\n");
        }
        script.push_str(&format!(": > {}\nexec {exec}\n", q(&dir.join("ready"))));
        fs::write(dir.join("start.sh"), &script).unwrap();
        let log = fs::File::create(dir.join("daemon.log")).unwrap();
        let mut cmd = Command::new("/usr/bin/unshare");
        cmd.args(["--mount", "--propagation", "private", "sh"])
            .arg(dir.join("start.sh"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        for (k, v) in &setup.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn unshare");
        AuthDaemon { side, dir, child }
    }

    fn wait_ready(&self, socket: bool) {
        let start = Instant::now();
        let mut child_exited = false;
        while start.elapsed() < Duration::from_secs(10) {
            if self.dir.join("ready").exists() && (!socket || self.socket().exists()) {
                return;
            }
            if fs::metadata(format!("/proc/{}", self.pid())).is_err() || child_exited {
                break;
            }
            // A zombie means the daemon already exited.
            let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
            child_exited = stat.contains(") Z ");
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{:?} authdaemond did not create its socket; log:\n{}",
            self.side,
            self.log()
        );
    }

    /// The daemon's pid (unshare and sh exec it, so it is the child's pid).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The socket, as seen from outside the namespace.
    pub fn socket(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/run/courier/authdaemon/socket",
            self.pid()
        ))
    }

    /// Everything the daemon (and the makeuserdb before it) wrote to stderr.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// `program args...` inside the daemon's mount namespace.
    pub fn inside(&self, program: &Path, args: &[&str]) -> Run {
        let pid = self.pid().to_string();
        Run::new(Path::new("/usr/bin/nsenter"), "nsenter")
            .args(["-t", pid.as_str(), "-m", "--"])
            .arg_os(program.as_os_str())
            .args(args)
    }

    /// A shell script inside the daemon's mount namespace.
    pub fn sh(&self, script: &str) -> Outcome {
        self.inside(Path::new("/bin/sh"), &["-c", script]).run()
    }

    /// The daemon's direct children (its workers).
    pub fn workers(&self) -> Vec<u32> {
        children_of(self.pid())
    }
}

impl Drop for AuthDaemon {
    fn drop(&mut self) {
        // The daemon and its workers share the process group we gave it.
        let pgid = format!("-{}", self.pid());
        let _ = Command::new("kill").args(["-TERM", "--", &pgid]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Run {
    /// One argument that need not be UTF-8.
    pub fn arg_os(mut self, arg: &OsStr) -> Run {
        self.cmd.arg(arg);
        self
    }
}

/// Pids whose parent is `pid` (from /proc/*/stat).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        if f.next().and_then(|s| s.parse::<u32>().ok()) == Some(pid) && state != "Z" {
            v.push(p);
        }
    }
    v.sort();
    v
}

/// Single-quotes `s` for sh.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One raw exchange on an authdaemond socket: sends `request`, then reads until
/// EOF or `wait` passes. Returns (reply bytes, whether the daemon closed the
/// connection within `wait`).
pub fn auth_exchange(socket: &Path, request: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    use std::os::unix::net::UnixStream;
    let mut s =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    // The daemon may drop us before it has read everything (oversized lines).
    let _ = s.write_all(request);
    let deadline = Instant::now() + wait;
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (reply, false);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (reply, true),
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (reply, false);
            }
            // A reset after the daemon dropped us counts as closed.
            Err(_) => return (reply, true),
        }
    }
}

/// Removes the variables libcourierauth's clients read (and ours), so only the
/// test decides them.
pub fn auth_client_env(r: Run) -> Run {
    [
        "TCPREMOTEIP",
        "DEBUG_LOGIN",
        "DEFDOMAIN",
        "DOMAINSEP",
        "TIMEOUT_SOCK",
        "TIMEOUT_READ",
        "TIMEOUT_WRITE",
        "AUTHDAEMON_SOCKET",
        "AUTHDAEMONRC",
    ]
    .iter()
    .fold(r, |r, k| r.env_remove(k))
}

/// `prog args` of `client`'s implementation, inside `d`'s namespace, with a
/// clean client environment.
pub fn auth_client(d: &AuthDaemon, client: Side, prog: &str, args: &[&str]) -> Outcome {
    auth_client_env(d.inside(&auth_bin(client, prog), args)).run()
}

/// The userdb the auth tests share (a single text file, compiled by each side's
/// makeuserdb). Passwords: alice `secret` (systempw, `$1$`) and `imapsecret`
/// (imappw, `$5$`), CRAM secrets of `secret` for md5/sha1/sha256 and an
/// imap-only sha256 secret of `imapsecret`; bob@example.com `bobpw` (`$6$`);
/// carol `carolpw` (`$y$`), pop3pw `carolpop` (`{SHA}`), imap-only CRAM-MD5
/// secret `carolcram`; dave has no password; toor has uid 0. A reverse-map line
/// for uid 5000 as makeuserdb accepts it.
pub fn auth_fixture_userdb() -> &'static str {
    concat!(
        "alice\tuid=5000|gid=5000|home=/home/vmail/alice|mail=/home/vmail/alice/Maildir",
        "|quota=1000000S|gecos=Alice Liddell,Room 1|options=disablepop3=0,group=staff",
        "|systempw=$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0",
        "|imappw=$5$imapsalt$wxqs4MSPQyTUeKGVHYF9Euts7KCW6MoqGtnkNiInySA",
        "|hmac-md5pw=cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
        "|hmac-sha1pw=091e0f4c6cb5277ee2beb639a60d0831b5c8adcdaee172433df3e96ba4f00fb1b6a490c3929d2034",
        "|hmac-sha256pw=5a84072aab37d22275b139adf7a92564c7f674be98e77d991f6f689d29e0524572804f31b042016804d3dea2f4e991a21b1c8906be161594b202fb74afc8ceb3",
        "|imap-hmac-sha256pw=cbf365f24362e4d9588666a43e5c18ff8570c3aaca400e84518a039e5b79049e93ccfb577e13c86bd9313abc93d130e00dc2309aa128c7faa7503a4f43945020\n",
        "bob@example.com\tuid=5001|gid=5000|home=/home/vmail/bob",
        "|systempw=$6$bobsalt1$D16fLzRaO33RFc1emx/NnX.kO8QwmpdQ7yBDNm5qsejB6FlCeMLsQsv67z96vTgpEKbPEc1gwEX6gN2.aEgh5.",
        "|options=disableshared=1,sharedgroup=sales\n",
        "carol\tuid=5002|gid=5001|home=/home/vmail/carol|mail=Maildir|gecos=Carol",
        "|systempw=$y$j9T$carolsaltcarolsa$XQ/rzefnDlShIZjPUyW0zMqH8kFoJgfLCviY3oqApHA",
        "|pop3pw={SHA}I+S/mPoiIEhZUbp0xFqoT18wRtk=",
        "|imap-hmac-md5pw=eae78e6332b89abe56f7a9f39b45d1a0c88283e010d1acbf595aeccd325d2496",
        "|options=disableshared=yes\n",
        "dave\tuid=5003|gid=5000|home=/home/vmail/dave\n",
        "toor\tuid=0|gid=0|home=/root|systempw=$1$w77Ai4nu$BK364YKYP9k8D4DosshDD0\n",
        "5000=\talice\n",
    )
}

/// authdaemonrc DEFAULTOPTIONS of the shared fixture.
pub const AUTH_FIXTURE_DEFAULTOPTIONS: &str = "disablewebmail=1,sharedgroup=zz";

impl AuthDaemon {
    /// Bind-mounts our `names` over Debian's `/usr/sbin/<name>` inside this
    /// daemon's namespace only, as a drop-in installation would have them: our
    /// authdaemond runs `/usr/sbin/userdb` and `/usr/sbin/makeuserdb` for PASSWD.
    pub fn install_ours_over_debian(&self, names: &[&str]) {
        for name in names {
            let target = format!("/usr/sbin/{name}");
            // A bind mount needs an existing target; creating one would touch
            // the real /usr/sbin, so a missing one is a failure that says so.
            assert!(
                Path::new(&target).exists(),
                "{target} is missing: install courier-authlib-userdb"
            );
            let o = self.sh(&format!(
                "mount --bind {} {}",
                shell_quote(&ours(name).to_string_lossy()),
                shell_quote(&target)
            ));
            assert_eq!(o.code, Some(0), "bind {name}: {o:?}");
        }
    }
}
