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

pub mod clientkit;
pub mod imapkit;
pub mod pop3kit;

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

// ---------------------------------------------------------------------------
// The login chain: couriertcpd → [couriertls] → imaplogin / courierpop3login
// → authdaemond → exec of the per-user program
//
// A `ChainServer` is one couriertcpd in the foreground on 127.0.0.1 (a free
// port), optionally inside an `AuthDaemon`'s mount namespace so that Debian's
// login programs find the socket at their compiled-in path. Its stderr, and
// so the stderr of every program it starts, goes to a log file the test can
// read. On drop, couriertcpd and every process below it are killed by pid.
//
// `E2E_CHAIN_ORACLE=1` makes `chain_side()` return Debian's side, so the chain
// tests run against Courier's own programs: that is how their expectations
// were checked. Tests of features Courier does not have skip in that mode.

/// Debian's file for a program of the chain.
pub fn debian_chain_path(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "couriertcpd" | "courierlogger" | "makeimapaccess" => format!("/usr/sbin/{name}"),
        "couriertls" | "imapd" => format!("/usr/bin/{name}"),
        "imaplogin" | "courierpop3login" | "courierpop3d" => {
            format!("/usr/lib/courier/courier/{name}")
        }
        "makedat" => "/usr/bin/makedat.courier".to_string(),
        "authdaemond" => COURIER_AUTHDAEMOND.to_string(),
        "maildirmake" => "/usr/bin/maildirmake.courier".to_string(),
        other => format!("/usr/sbin/{other}"),
    })
}

/// The side whose chain programs the chain tests call "ours": ours, or
/// Debian's with `E2E_CHAIN_ORACLE=1`.
pub fn chain_side() -> Side {
    match std::env::var("E2E_CHAIN_ORACLE").as_deref() {
        Ok("1") => Side::Courier,
        _ => Side::Ours,
    }
}

/// Program `name` of the chain for `side`. In oracle mode,
/// `E2E_CHAIN_OURS=couriertls,imaplogin` swaps our programs of those names
/// into Debian's chain (to try one of ours at a time).
pub fn chain_bin(side: Side, name: &str) -> PathBuf {
    let swapped = std::env::var("E2E_CHAIN_OURS")
        .unwrap_or_default()
        .split(',')
        .any(|n| n.trim() == name);
    match side {
        Side::Ours => ours(name),
        Side::Courier if swapped => ours(name),
        Side::Courier => debian_chain_path(name),
    }
}

/// Whether Debian's `names` are all installed; prints a SKIP line otherwise.
pub fn debian_installed(test: &str, names: &[&str]) -> bool {
    for n in names {
        let p = debian_chain_path(n);
        if !p.exists() {
            skip(
                test,
                &format!(
                    "{} is not installed (apt-get install courier-imap courier-pop courier-authdaemon courier-authlib-userdb)",
                    p.display()
                ),
            );
            return false;
        }
    }
    true
}

/// For tests of our own additions: false (with a SKIP line) in oracle mode.
pub fn ours_only(test: &str) -> bool {
    if chain_side() == Side::Courier {
        skip(test, "a courier-rs feature; Courier has no equivalent");
        return false;
    }
    true
}

/// The test helper that stands in for imapd/pop3d: prints its identity
/// (tests/src/bin/report-env.rs).
pub fn report_env() -> PathBuf {
    ours("report-env")
}

/// A directory with mode 0755 (so accounts can reach homes below it),
/// removed on drop.
pub fn open_scratch(tag: &str) -> Scratch {
    let s = Scratch::new(tag);
    chmod(s.path(), 0o755);
    s
}

/// Makes `dir` an account's home holding `Maildir` (our maildirmake), owned by
/// uid:gid. Returns the home.
pub fn make_home(dir: &Path, uid: u32, gid: u32) -> PathBuf {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    chmod(dir, 0o700);
    let o = Run::new(&ours("maildirmake"), "maildirmake")
        .arg_os(dir.join("Maildir").as_os_str())
        .run();
    assert_eq!(o.code, Some(0), "maildirmake: {o:?}");
    chown_tree(dir, uid, gid);
    dir.to_path_buf()
}

/// chown -R uid:gid.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let st = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "chown {}", path.display());
}

/// A userdb line: `name<TAB>uid=..|gid=..|home=..|systempw=..` plus `extra`
/// fields (`|field=value...`, may be empty).
pub fn userdb_line(name: &str, uid: u32, gid: u32, home: &Path, pw: &str, extra: &str) -> String {
    format!(
        "{name}\tuid={uid}|gid={gid}|home={}|systempw={pw}{extra}\n",
        home.display()
    )
}

/// Pids of every live process below `pid` (children, grandchildren, ...).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children_of(p) {
            if !all.contains(&c) {
                all.push(c);
                todo.push(c);
            }
        }
    }
    all.sort();
    all
}

/// The four uids (real, effective, saved, fs) of a live process.
pub fn proc_uids(pid: u32) -> Option<Vec<u32>> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    Some(
        line.split_whitespace()
            .filter_map(|u| u.parse().ok())
            .collect(),
    )
}

/// The command line of a live process, arguments joined by spaces.
pub fn proc_cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// SIGKILLs `pid` and everything below it, by pid (children first seen
/// before the parent dies, so none escapes by being re-parented).
pub fn kill_tree(pid: u32) {
    let mut pids = descendants(pid);
    pids.push(pid);
    for p in pids {
        let _ = Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it
/// again at once).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Whether process `pid` itself listens on TCP `port` (any address): a
/// listening socket in /proc/net/tcp{,6} whose inode is one of its fds.
pub fn port_listening(pid: u32, port: u16) -> bool {
    let needle = format!(":{port:04X}");
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    (cols.len() > 9 && cols[3] == "0A" && cols[1].ends_with(&needle))
                        .then(|| format!("socket:[{}]", cols[9]))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            fs::read_link(e.path())
                .is_ok_and(|t| inodes.iter().any(|i| t.as_os_str() == i.as_str()))
        })
}

/// The variables a sample configuration file sets, read the way the start
/// scripts read them (`set -a; . file`), in order: later files win.
pub fn dist_env(files: &[&str]) -> Vec<(String, String)> {
    let mut script = String::from("set -a\n");
    for f in files {
        let p = workspace_root().join("etc").join(format!("{f}.dist"));
        script.push_str(&format!(". {}\n", shell_quote(&p.to_string_lossy())));
    }
    script.push_str("exec env -0\n");
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .env_clear()
        .output()
        .expect("sh");
    assert!(out.status.success(), "sourcing {files:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !matches!(*k, "PWD" | "SHLVL" | "_" | "OLDPWD"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// How to start one couriertcpd.
#[derive(Clone, Debug)]
pub struct ChainSpec {
    /// couriertcpd to run.
    pub tcpd: PathBuf,
    /// Options before the port (e.g. `-maxprocs=2`); `-address=127.0.0.1`,
    /// `-nodnslookup`, `-noidentlookup` are always given first.
    pub tcpd_opts: Vec<String>,
    /// The program and its arguments (after the port).
    pub program: Vec<std::ffi::OsString>,
    /// The whole environment of couriertcpd (it starts from an empty one,
    /// like Debian's start scripts).
    pub env: Vec<(String, String)>,
}

impl ChainSpec {
    /// couriertcpd of `side` running `program args...`, environment = the
    /// sample files `dist` (e.g. `["imapd", "imapd-ssl"]`).
    pub fn new(side: Side, dist: &[&str], program: &[&OsStr]) -> ChainSpec {
        ChainSpec {
            tcpd: chain_bin(side, "couriertcpd"),
            tcpd_opts: Vec::new(),
            program: program.iter().map(|s| s.to_os_string()).collect(),
            env: dist_env(dist),
        }
    }

    /// Sets (or replaces) one environment variable.
    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> ChainSpec {
        let v = v.as_ref().to_string_lossy().into_owned();
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.to_string(), v));
        self
    }

    /// Removes one environment variable.
    pub fn env_remove(mut self, k: &str) -> ChainSpec {
        self.env.retain(|(n, _)| n != k);
        self
    }

    /// Adds a couriertcpd option.
    pub fn opt(mut self, o: &str) -> ChainSpec {
        self.tcpd_opts.push(o.to_string());
        self
    }
}

/// One running couriertcpd (see the section comment).
pub struct ChainServer {
    pub port: u16,
    /// Holds `tcpd.log` (stderr of couriertcpd and of every program below it).
    pub dir: Scratch,
    /// `timeout`, the watchdog that SIGKILLs couriertcpd after
    /// [`CHAIN_SERVER_LIMIT`] even if this process dies without dropping it.
    child: std::process::Child,
    /// couriertcpd, the watchdog's child.
    tcpd: u32,
}

/// Programs that Debian's imapd leaves behind on purpose: `gam_server`, the
/// file-notification daemon libfam starts for the account (shared by its
/// sessions, it exits on its own when idle). Not part of the login chain.
pub const SESSION_HELPERS: &[&str] = &["gam_server"];

/// The longest a test's couriertcpd may live.
pub const CHAIN_SERVER_LIMIT: &str = "900";

impl ChainServer {
    /// Starts `spec` on a free port, inside `ns`'s mount namespace when given;
    /// waits until it listens (panics with the log after 10 s).
    pub fn start(spec: &ChainSpec, ns: Option<&AuthDaemon>) -> ChainServer {
        let dir = Scratch::new("tcpd");
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("tcpd.log"))
                .unwrap();
            let mut cmd = match ns {
                Some(d) => {
                    let mut c = Command::new("/usr/bin/nsenter");
                    c.args(["-t", &d.pid().to_string(), "-m", "--", "/usr/bin/timeout"]);
                    c
                }
                None => Command::new("/usr/bin/timeout"),
            };
            cmd.args(["-s", "KILL", CHAIN_SERVER_LIMIT]).arg(&spec.tcpd);
            cmd.args(["-address=127.0.0.1", "-nodnslookup", "-noidentlookup"])
                .args(&spec.tcpd_opts)
                .arg(port.to_string())
                .args(&spec.program)
                .env_clear()
                .envs(spec.env.iter().map(|(k, v)| (k, v)))
                .current_dir("/")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0);
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", spec.tcpd.display()));
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Some(tcpd) = children_of(child.id()).first().copied()
                    && port_listening(tcpd, port)
                {
                    return ChainServer {
                        port,
                        dir,
                        child,
                        tcpd,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            kill_tree(child.id());
            let _ = child.wait();
            last_log = fs::read_to_string(dir.join("tcpd.log")).unwrap_or_default();
        }
        panic!("{} did not listen; log:\n{last_log}", spec.tcpd.display());
    }

    /// couriertcpd's pid.
    pub fn pid(&self) -> u32 {
        self.tcpd
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("tcpd.log")).unwrap_or_default()
    }

    /// Waits up to `timeout` for a log line containing `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The processes below couriertcpd (one or more per open connection).
    pub fn connection_processes(&self) -> Vec<u32> {
        descendants(self.pid())
    }

    /// The processes of this listener's connections wherever they are: below
    /// couriertcpd, or detached from it (re-parented to init) but carrying
    /// the `TCPLOCALPORT` couriertcpd gave the connection. Not counted: the
    /// [`SESSION_HELPERS`] Debian's imapd starts (they are killed on drop).
    pub fn connection_processes_anywhere(&self) -> Vec<u32> {
        self.tagged_processes()
            .into_iter()
            .filter(|p| {
                let exe = fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
                !SESSION_HELPERS
                    .iter()
                    .any(|h| exe.file_name() == Some(OsStr::new(h)))
            })
            .collect()
    }

    /// Every process below couriertcpd or carrying its connections' tag.
    fn tagged_processes(&self) -> Vec<u32> {
        let mut v = self.connection_processes();
        let needle = format!("TCPLOCALPORT={}", self.port);
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if p == self.pid() || v.contains(&p) {
                continue;
            }
            let env = fs::read(e.path().join("environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                v.push(p);
            }
        }
        v.sort();
        v
    }

    /// Processes of this listener's connections (see
    /// [`ChainServer::connection_processes_anywhere`]) that run with uid 0 in
    /// any of their uids, as "pid cmdline" strings.
    pub fn root_processes(&self) -> Vec<String> {
        self.connection_processes_anywhere()
            .into_iter()
            .filter(|p| proc_uids(*p).is_some_and(|u| u.contains(&0)))
            .map(|p| format!("{p} {}", proc_cmdline(p)))
            .collect()
    }

    /// Waits up to `timeout` until no process is left for any connection
    /// (below couriertcpd or detached from it).
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.connection_processes_anywhere().is_empty() {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain connection.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.port)
    }
}

impl Drop for ChainServer {
    fn drop(&mut self) {
        let mut pids = descendants(self.child.id());
        // Detached processes of our connections (and imapd's helpers).
        for p in self.tagged_processes() {
            if !pids.contains(&p) {
                pids.push(p);
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        let mut reaped = false;
        while start.elapsed() < Duration::from_secs(2) {
            if let Ok(Some(_)) = self.child.try_wait() {
                reaped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        pids.extend(descendants(self.pid()));
        if !reaped {
            // Still running: couriertcpd ignored SIGTERM; neither pid is free.
            pids.extend(descendants(self.child.id()));
            pids.push(self.pid());
            pids.push(self.child.id());
        }
        for p in pids {
            let _ = Command::new("kill")
                .args(["-KILL", &p.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.wait();
    }
}

/// What one read of a line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    Line(String),
    Eof,
    Timeout,
}

/// A plain TCP client that reads CRLF lines.
pub struct Conn {
    pub stream: std::net::TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(port: u16) -> Conn {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: std::net::TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends raw bytes (errors ignored: the server may have closed).
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Sends `text` + CRLF.
    pub fn cmd(&mut self, text: &str) {
        self.send(format!("{text}\r\n").as_bytes());
    }

    /// The next line (without CR LF), EOF, or a timeout after `wait`.
    pub fn read_line(&mut self, wait: Duration) -> Got {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Got::Line(String::from_utf8_lossy(&line).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Got::Timeout;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) if !self.buf.is_empty() => {
                    // A last line without LF.
                    let rest: Vec<u8> = std::mem::take(&mut self.buf);
                    return Got::Line(String::from_utf8_lossy(&rest).into_owned());
                }
                Ok(0) => return Got::Eof,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Got::Timeout;
                }
                Err(_) => return Got::Eof,
            }
        }
    }

    /// The next line; panics on EOF or after 15 s.
    pub fn line(&mut self) -> String {
        match self.read_line(Duration::from_secs(15)) {
            Got::Line(l) => l,
            other => panic!("expected a line, got {other:?}"),
        }
    }

    /// Lines until one starts with `prefix` (included); panics on EOF/timeout.
    pub fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut v = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(prefix);
            v.push(l);
            if done {
                return v;
            }
        }
    }

    /// Everything until EOF (true) or until `wait` passes (false).
    pub fn rest(&mut self, wait: Duration) -> (String, bool) {
        let deadline = Instant::now() + wait;
        let mut text = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_line(left) {
                Got::Line(l) => {
                    text.push_str(&l);
                    text.push('\n');
                }
                Got::Eof => return (text, true),
                Got::Timeout => return (text, false),
            }
        }
    }
}

/// What report-env printed (see tests/src/bin/report-env.rs).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Real, effective, saved, fs.
    pub uid: Vec<u32>,
    pub gid: Vec<u32>,
    pub groups: Vec<u32>,
    pub capeff: String,
    pub cwd: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

impl Report {
    /// Parses the first report in `text`, or None when there is none.
    pub fn parse(text: &str) -> Option<Report> {
        let start = text.find("REPORT-ENV BEGIN")?;
        let body = &text[start..];
        let end = body.find("REPORT-ENV END")?;
        let nums = |v: &str| -> Vec<u32> {
            v.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        };
        let mut r = Report::default();
        for line in body[..end].lines().skip(1) {
            // Python transcripts prefix received lines with "S: ".
            let line = line.strip_prefix("S: ").unwrap_or(line);
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "uid" => r.uid = nums(v),
                "gid" => r.gid = nums(v),
                "groups" => r.groups = nums(v),
                "capeff" => r.capeff = v.to_string(),
                "cwd" => r.cwd = v.to_string(),
                "arg" => r.args.push(v.to_string()),
                "env" => {
                    if let Some((n, val)) = v.split_once('=') {
                        r.env.insert(n.to_string(), val.to_string());
                    }
                }
                _ => {}
            }
        }
        Some(r)
    }

    /// One variable, or "" when unset.
    pub fn var(&self, name: &str) -> &str {
        self.env.get(name).map(String::as_str).unwrap_or("")
    }

    /// Asserts that every uid is `uid`, every gid `gid`, the supplementary
    /// groups are exactly `groups` (any order), and no capability is left.
    pub fn assert_identity(&self, uid: u32, gid: u32, groups: &[u32]) {
        assert_eq!(self.uid, vec![uid; 4], "uids of the session: {self:?}");
        assert_eq!(self.gid, vec![gid; 4], "gids of the session: {self:?}");
        let mut have = self.groups.clone();
        have.sort();
        let mut want = groups.to_vec();
        want.sort();
        assert_eq!(have, want, "supplementary groups of the session: {self:?}");
        assert_eq!(
            self.capeff, "0000000000000000",
            "the session kept capabilities: {self:?}"
        );
    }
}

/// One step of a Python client dialogue (see [`py_dialogue`]).
#[derive(Clone, Debug)]
pub enum Step {
    /// Read one line; prints `S: <line>` or `EOF`.
    Read,
    /// Send a line (CRLF added); prints `C: <line>`.
    Send(String),
    /// Start TLS now (client side) with this SNI name (None: no SNI);
    /// prints `TLS: <version>` and `CERT: <sha256 of the server certificate>`,
    /// or `TLSERR: <reason>` and stops.
    Tls(Option<String>),
    /// Read lines until EOF or N seconds; prints them, then `EOF` or `TIMEOUT`.
    ReadAll(u32),
}

const PY_CLIENT: &str = r#"
import hashlib, json, socket, ssl, sys
a = json.loads(sys.argv[1])
s = socket.create_connection(("127.0.0.1", a["port"]), timeout=15)
f = s.makefile("rb")
def out(x):
    print(x, flush=True)
def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c
if a.get("tls_first"):
    try:
        s = ctx().wrap_socket(s, server_hostname=a.get("sni"))
    except Exception as e:
        out("TLSERR: %s" % e); sys.exit(0)
    f = s.makefile("rb")
    out("TLS: " + s.version())
    out("CERT: " + hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest())
for st in a["steps"]:
    op = st[0]
    if op == "read":
        try:
            l = f.readline()
        except Exception as e:
            out("ERR: %s" % e); break
        out("S: " + l.decode("latin-1").rstrip("\r\n") if l else "EOF")
    elif op == "send":
        try:
            s.sendall(st[1].encode("latin-1") + b"\r\n")
        except Exception as e:
            out("ERR: %s" % e); break
        out("C: " + st[1])
    elif op == "tls":
        try:
            s = ctx().wrap_socket(s, server_hostname=st[1])
        except Exception as e:
            out("TLSERR: %s" % e); break
        f = s.makefile("rb")
        out("TLS: " + s.version())
        out("CERT: " + hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest())
    elif op == "readall":
        s.settimeout(st[1])
        try:
            while True:
                l = f.readline()
                if not l:
                    out("EOF"); break
                out("S: " + l.decode("latin-1").rstrip("\r\n"))
        except Exception:
            out("TIMEOUT")
        s.settimeout(15)
"#;

/// Runs a Python 3 client on 127.0.0.1:`port` (TLS from the first byte when
/// `tls_first`, with `sni`), performing `steps`; returns its transcript.
pub fn py_dialogue(port: u16, tls_first: bool, sni: Option<&str>, steps: &[Step]) -> String {
    let mut js = String::from("[");
    for (i, st) in steps.iter().enumerate() {
        if i > 0 {
            js.push(',');
        }
        match st {
            Step::Read => js.push_str("[\"read\"]"),
            Step::Send(t) => js.push_str(&format!("[\"send\",{}]", json_str(t))),
            Step::Tls(None) => js.push_str("[\"tls\",null]"),
            Step::Tls(Some(n)) => js.push_str(&format!("[\"tls\",{}]", json_str(n))),
            Step::ReadAll(n) => js.push_str(&format!("[\"readall\",{n}]")),
        }
    }
    js.push(']');
    let sni = sni.map(json_str).unwrap_or_else(|| "null".into());
    let arg = format!("{{\"port\":{port},\"tls_first\":{tls_first},\"sni\":{sni},\"steps\":{js}}}");
    py(PY_CLIENT, &[&arg])
}

/// Runs a Python 3 program (`-c`) with arguments; returns stdout (stderr
/// appended after a `STDERR:` line when not empty). Panics after 90 s.
pub fn py(program: &str, args: &[&str]) -> String {
    let o = Run::new(Path::new("/usr/bin/env"), "env")
        .args(["python3", "-c", program])
        .args(args)
        .timeout(Duration::from_secs(90))
        .run();
    if o.stderr.trim().is_empty() {
        o.stdout
    } else {
        format!("{}STDERR:\n{}", o.stdout, o.stderr)
    }
}

/// `s` as a JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// SHA-256 of the (first) certificate in a PEM file, lower-case hex, as
/// [`Step::Tls`] prints it.
pub fn cert_sha256(pem: &Path) -> String {
    let o = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&o.stdout);
    text.split('=')
        .nth(1)
        .unwrap_or("")
        .trim()
        .replace(':', "")
        .to_lowercase()
}

/// A self-signed certificate + key PEM for `cn`, made by our
/// scripts/mkimapdcert (2048-bit RSA to keep it quick). `base` is the file
/// name without `.pem`.
pub fn make_cert(base: &Path, cn: &str) -> PathBuf {
    let dir = base.parent().unwrap();
    let name = base.file_name().unwrap().to_string_lossy().into_owned();
    // mkimapdcert reads its subject from <sysconfdir>/imapd.cnf.
    let cnfdir = Scratch::new("cnf");
    fs::write(
        cnfdir.join("imapd.cnf"),
        format!("cn = \"{cn}\"\norganization = \"e2e\"\nexpiration_days = 30\n"),
    )
    .unwrap();
    let o = Run::new(&workspace_root().join("scripts/mkimapdcert"), "mkimapdcert")
        .arg_os(dir.join(&name).as_os_str())
        .env("COURIER_SYSCONFDIR", cnfdir.path())
        .env("BITS", "2048")
        .run();
    assert_eq!(o.code, Some(0), "mkimapdcert: {o:?}");
    dir.join(format!("{name}.pem"))
}

/// A system account made with useradd/chpasswd (root only), with its own
/// group and one extra supplementary group; removed (with its groups) on drop.
pub struct SystemAccount {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The extra group's gid.
    pub extra_gid: u32,
    extra_group: String,
    pub home: PathBuf,
}

impl SystemAccount {
    /// Creates the account with `home` (must exist; it is chowned to the
    /// account) and password `password`.
    pub fn create(home: &Path, password: &str) -> SystemAccount {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("e2ec{}x{n}", std::process::id() % 100_000);
        let extra_group = format!("{name}g");
        let ok = |c: &mut Command| {
            let o = c.output().expect("spawn");
            assert!(o.status.success(), "{c:?}: {o:?}");
        };
        ok(Command::new("groupadd").arg(&extra_group));
        ok(Command::new("useradd")
            .args(["-M", "-U", "-s", "/usr/sbin/nologin", "-d"])
            .arg(home)
            .args(["-G", &extra_group, &name]));
        let mut c = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("{name}:{password}\n").as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success(), "chpasswd");
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        let gid_of = |g: &str| -> u32 {
            let o = Command::new("getent").args(["group", g]).output().unwrap();
            String::from_utf8_lossy(&o.stdout)
                .split(':')
                .nth(2)
                .unwrap_or("")
                .parse()
                .unwrap()
        };
        let acct = SystemAccount {
            uid: id("-u"),
            gid: id("-g"),
            extra_gid: gid_of(&extra_group),
            name,
            extra_group,
            home: home.to_path_buf(),
        };
        chown_tree(home, acct.uid, acct.gid);
        acct
    }
}

impl Drop for SystemAccount {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = Command::new("groupdel").arg(&self.extra_group).output();
        // useradd -U made a group of the account's name; userdel removes it
        // when it is empty, but make sure.
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// Root, unshare/nsenter, python3 and openssl: what the chain tests need.
/// Prints a SKIP line and returns false otherwise.
pub fn chain_prereqs(test: &str) -> bool {
    if !auth_prereqs(test, false) {
        return false;
    }
    for tool in ["python3", "openssl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            skip(test, &format!("{tool} is not installed"));
            return false;
        }
    }
    if chain_side() == Side::Courier {
        return debian_installed(
            test,
            &["couriertcpd", "couriertls", "imaplogin", "courierpop3login"],
        );
    }
    true
}

/// The usual setup of a chain test: an authdaemond of the chain side in its
/// own namespace with one userdb account (`vuser`, uid/gid 5000, a home with
/// a maildir under a 0755 scratch directory) plus `extra_userdb` lines, and a
/// self-signed certificate for the TLS tests.
pub struct Fixture {
    pub side: Side,
    /// 0755; homes, certificates and hook scripts go here.
    pub dir: Scratch,
    pub auth: AuthDaemon,
    pub user: String,
    pub password: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// Certificate + key (CN localhost), readable by user courier's group.
    pub cert: PathBuf,
}

/// The password of the fixture's `vuser`, and its `$1$` hash.
pub const VUSER_PASSWORD: &str = "vsecret";
pub const VUSER_HASH: &str = "$1$e2esalt$rewc29F3jNU7Bup/DFH/E.";

impl Fixture {
    pub fn new(extra_userdb: &str) -> Fixture {
        Fixture::with_auth(chain_side(), extra_userdb)
    }

    /// The fixture with `side`'s authdaemond (and makeuserdb); the chain
    /// programs of `imap_spec` and friends are `side`'s too (change them in
    /// the returned spec for mixed chains).
    pub fn with_auth(side: Side, extra_userdb: &str) -> Fixture {
        let dir = open_scratch("chain");
        let (uid, gid) = (5000, 5000);
        let home = make_home(&dir.join("vuser"), uid, gid);
        let userdb = format!(
            "{}{extra_userdb}",
            userdb_line("vuser", uid, gid, &home, VUSER_HASH, "")
        );
        let setup = AuthSetup {
            authdaemonrc: "authmodulelist=\"authuserdb authpam\"\ndaemons=3\n\
                 authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\n\
                 DEFAULTOPTIONS=\"\"\nLOGGEROPTS=\"\"\n"
                .to_string(),
            userdb: Some(userdb),
            files: Vec::new(),
            makeuserdb: None,
            source_rc: true,
            env: Vec::new(),
        };
        let auth = AuthDaemon::start(side, &setup);
        let certs = dir.join("certs");
        fs::create_dir(&certs).unwrap();
        chmod(&certs, 0o755);
        let cert = make_cert(&certs.join("imapd"), "localhost");
        Fixture::share_with_courier(&cert);
        Fixture {
            side,
            dir,
            auth,
            user: "vuser".to_string(),
            password: VUSER_PASSWORD.to_string(),
            uid,
            gid,
            home,
            cert,
        }
    }

    /// Mode 0640, group courier (when it exists): what couriertls -user=courier
    /// needs, as Debian installs imapd.pem.
    pub fn share_with_courier(path: &Path) {
        chmod(path, 0o640);
        let _ = Command::new("chgrp")
            .arg("courier")
            .arg(path)
            .stderr(Stdio::null())
            .status();
    }

    /// Common environment: TLS settings pointing at the fixture's certificate
    /// and the side's couriertls, no session cache, no DH parameter file.
    fn tls_env(&self, spec: ChainSpec) -> ChainSpec {
        spec.env("COURIERTLS", chain_bin(self.side, "couriertls"))
            .env("TLS_CERTFILE", &self.cert)
            .env_remove("TLS_CACHEFILE")
            .env_remove("TLS_DHPARAMS")
    }

    /// couriertcpd → imaplogin → `session` Maildir, configured by our
    /// imapd + imapd-ssl samples, IMAP_STARTTLS=YES as the 143 script sets.
    pub fn imap_spec(&self, session: &Path) -> ChainSpec {
        let login = chain_bin(self.side, "imaplogin");
        let spec = ChainSpec::new(
            self.side,
            &["imapd", "imapd-ssl"],
            &[
                login.as_os_str(),
                session.as_os_str(),
                OsStr::new("Maildir"),
            ],
        )
        .env("IMAP_STARTTLS", "YES");
        self.tls_env(spec)
    }

    /// couriertcpd → couriertls -server -tcpd → imaplogin → `session`, with
    /// IMAP_TLS=1 as the 993 script sets.
    pub fn imaps_spec(&self, session: &Path) -> ChainSpec {
        let tls = chain_bin(self.side, "couriertls");
        let login = chain_bin(self.side, "imaplogin");
        let spec = ChainSpec::new(
            self.side,
            &["imapd", "imapd-ssl"],
            &[
                tls.as_os_str(),
                OsStr::new("-server"),
                OsStr::new("-tcpd"),
                login.as_os_str(),
                session.as_os_str(),
                OsStr::new("Maildir"),
            ],
        )
        .env("IMAP_TLS", "1");
        self.tls_env(spec)
    }

    /// couriertcpd → courierpop3login → `session` Maildir (pop3d + pop3d-ssl).
    pub fn pop3_spec(&self, session: &Path) -> ChainSpec {
        let login = chain_bin(self.side, "courierpop3login");
        let spec = ChainSpec::new(
            self.side,
            &["pop3d", "pop3d-ssl"],
            &[
                login.as_os_str(),
                session.as_os_str(),
                OsStr::new("Maildir"),
            ],
        );
        self.tls_env(spec)
    }

    /// couriertcpd → couriertls -server -tcpd → courierpop3login → `session`,
    /// with what the 995 script forces.
    pub fn pop3s_spec(&self, session: &Path) -> ChainSpec {
        let tls = chain_bin(self.side, "couriertls");
        let login = chain_bin(self.side, "courierpop3login");
        let spec = ChainSpec::new(
            self.side,
            &["pop3d", "pop3d-ssl"],
            &[
                tls.as_os_str(),
                OsStr::new("-server"),
                OsStr::new("-tcpd"),
                login.as_os_str(),
                session.as_os_str(),
                OsStr::new("Maildir"),
            ],
        )
        .env("POP3_TLS", "1")
        .env("POP3_STARTTLS", "NO")
        .env("POP3_TLS_REQUIRED", "0");
        self.tls_env(spec)
    }

    /// Starts `spec` inside the fixture's namespace.
    pub fn start(&self, spec: &ChainSpec) -> ChainServer {
        ChainServer::start(spec, Some(&self.auth))
    }

    /// Delivers a small message with `subject` into the fixture account's
    /// INBOX (our deliverquota), owned by the account.
    pub fn deliver(&self, subject: &str) {
        let msg = format!(
            "From: e2e@example.org\nTo: vuser@example.org\nSubject: {subject}\n\
             Message-ID: <{subject}@e2e>\n\nBody of {subject}.\n"
        );
        let o = Run::new(&ours("deliverquota"), "deliverquota")
            .arg_os(self.home.join("Maildir").as_os_str())
            .input(Input::Pipe(msg.into_bytes()))
            .run();
        assert_eq!(o.code, Some(0), "deliverquota: {o:?}");
        chown_tree(&self.home, self.uid, self.gid);
    }
}

/// Logs in with `a LOGIN user password` on a fresh plain IMAP connection and
/// returns (greeting, everything after the LOGIN until EOF or 15 s).
pub fn imap_login_report(port: u16, user: &str, password: &str) -> (String, String) {
    let mut c = Conn::connect(port);
    let greeting = c.line();
    c.cmd(&format!("a LOGIN {user} {password}"));
    let (rest, _) = c.rest(Duration::from_secs(15));
    (greeting, rest)
}

/// For tests of our additions to one program: true when the chain runs our
/// `name` (always, unless oracle mode without `E2E_CHAIN_OURS=<name>`);
/// prints a SKIP line otherwise.
pub fn chain_runs_ours(test: &str, name: &str) -> bool {
    if chain_side() == Side::Ours || chain_bin(Side::Courier, name) != debian_chain_path(name) {
        return true;
    }
    skip(
        test,
        &format!("a courier-rs feature of {name}; Debian's has none"),
    );
    false
}
