//! Reading a new password the way Courier's `userdbpw` and `authpasswd` do
//! (authdaemon-protocol.md §6.4, §7.2; observed on Debian 12).
//!
//! * Standard input not a terminal: one line, read like `fgets(buf, 8192, stdin)`: at
//!   most 8191 bytes, the newline dropped, the text cut at the first NUL (C strings).
//!   No prompt. EOF before any byte → no password.
//! * A terminal: `Password: ` on standard error, echo off, read a line, echo back on,
//!   `\n`; the same with `Reenter password: `; if the two differ,
//!   `Passwords don't match.\n\n` and start over. EOF at either prompt → no password
//!   (nothing more is printed).
//!
//! The echo switch is the only `unsafe` here: `tcgetattr`/`tcsetattr` on fd 0.
#![allow(unsafe_code)] // termios calls in `EchoOff`; each block states its precondition

use std::io::{self, BufRead, IsTerminal, Write};
use std::mem::MaybeUninit;

/// `fgets(buf, BUFSIZ, …)` with glibc's BUFSIZ of 8192 reads at most this many bytes.
pub const LINE_MAX: usize = 8191;

/// Courier's first prompt.
pub const PROMPT: &str = "Password: ";
/// Courier's second prompt.
pub const REPROMPT: &str = "Reenter password: ";
/// Printed when the two entries differ, before prompting again.
pub const MISMATCH: &str = "Passwords don't match.\n\n";

/// Reads one `fgets`-style line: up to and including `\n`, at most [`LINE_MAX`] bytes.
/// Returns `None` at EOF before any byte. The result has the newline removed and is
/// cut at the first NUL, as the C string Courier then works with.
pub fn read_line(input: &mut dyn BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let mut eof = false;
    while line.len() < LINE_MAX {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            eof = true;
            break;
        }
        let want = (LINE_MAX - line.len()).min(buf.len());
        let (n, done) = match buf[..want].iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (want, false),
        };
        line.extend_from_slice(&buf[..n]);
        input.consume(n);
        if done {
            break;
        }
    }
    if eof && line.is_empty() {
        return Ok(None);
    }
    if let Some(cut) = line.iter().position(|&b| b == b'\n' || b == 0) {
        line.truncate(cut);
    }
    Ok(Some(line))
}

/// Asks for a new password.
///
/// With `interactive` false this is [`read_line`]. With `interactive` true it runs the
/// terminal dialogue described in the module docs, writing prompts to `prompts`; if
/// `echo` is given, terminal echo is switched off on it around each read.
pub fn read_new_password(
    input: &mut dyn BufRead,
    prompts: &mut dyn Write,
    interactive: bool,
    echo: Option<&dyn Fn(bool) -> io::Result<()>>,
) -> io::Result<Option<Vec<u8>>> {
    if !interactive {
        return read_line(input);
    }
    // Echo goes off before the prompt appears, so nothing typed after the prompt can
    // be echoed, however fast it comes.
    let ask = |prompts: &mut dyn Write,
               input: &mut dyn BufRead,
               prompt: &str|
     -> io::Result<Option<Vec<u8>>> {
        if let Some(set) = echo {
            set(false)?;
        }
        let r = prompts
            .write_all(prompt.as_bytes())
            .and_then(|()| prompts.flush())
            .and_then(|()| read_line(input));
        if let Some(set) = echo {
            set(true)?;
        }
        let line = r?;
        if line.is_some() {
            prompts.write_all(b"\n")?;
        }
        Ok(line)
    };
    loop {
        let Some(first) = ask(prompts, input, PROMPT)? else {
            return Ok(None);
        };
        let Some(second) = ask(prompts, input, REPROMPT)? else {
            return Ok(None);
        };
        if first == second {
            prompts.flush()?;
            return Ok(Some(first));
        }
        prompts.write_all(MISMATCH.as_bytes())?;
    }
}

/// The process-level version: standard input, prompts on standard error, echo off on
/// fd 0 when standard input is a terminal.
pub fn read_new_password_stdio() -> io::Result<Option<Vec<u8>>> {
    let stdin = io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut err = io::stderr();
    let saved = if interactive { EchoOff::saved(0) } else { None };
    let set = |on: bool| match &saved {
        Some(s) => s.set(on),
        None => Ok(()),
    };
    let r = read_new_password(&mut input, &mut err, interactive, Some(&set));
    // Whatever happened, leave the terminal as we found it.
    if let Some(s) = &saved {
        let _ = s.set(true);
    }
    r
}

/// The terminal settings of one fd as found, to switch echo off and back.
struct EchoOff {
    fd: libc::c_int,
    orig: libc::termios,
}

impl EchoOff {
    /// Saves the settings of `fd`; `None` if it is not a terminal.
    fn saved(fd: libc::c_int) -> Option<EchoOff> {
        let mut t = MaybeUninit::<libc::termios>::uninit();
        // SAFETY: `t` points to writable memory the size of a termios; tcgetattr fills
        // it completely on success (return 0), and we only read it in that case.
        let rc = unsafe { libc::tcgetattr(fd, t.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: tcgetattr returned 0, so it initialised the whole struct.
        let orig = unsafe { t.assume_init() };
        Some(EchoOff { fd, orig })
    }

    /// `on`: the original settings; off: the original minus ECHO (and the echo of
    /// erase/kill characters), in canonical mode so editing still works.
    fn set(&self, on: bool) -> io::Result<()> {
        let mut t = self.orig;
        if !on {
            t.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
        }
        // SAFETY: `t` is a fully initialised termios copied from tcgetattr's result;
        // tcsetattr only reads it. TCSANOW keeps typed-ahead input.
        let rc = unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &t) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The shared body of `userdbpw` and `authpasswd`: reads a new password from
/// standard input (prompting twice on a terminal), turns it into a line with
/// `render`, prints it; errors go to stderr as `<argv0>: <error>`. Returns the exit
/// code: 0, or 1 for end of input, an error, or a failed write.
pub fn print_new_password_line<E: std::fmt::Display>(
    argv0: &str,
    render: impl FnOnce(&[u8]) -> Result<String, E>,
) -> u8 {
    use std::io::Write;
    let mut err = io::stderr();
    let password = match read_new_password_stdio() {
        Ok(Some(p)) => p,
        Ok(None) => return 1,
        Err(e) => {
            let _ = writeln!(err, "{argv0}: {e}");
            return 1;
        }
    };
    match render(&password) {
        Ok(line) => {
            let mut out = io::stdout().lock();
            match writeln!(out, "{line}").and_then(|()| out.flush()) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
        Err(e) => {
            let _ = writeln!(err, "{argv0}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn line(input: &[u8]) -> Option<Vec<u8>> {
        read_line(&mut &input[..]).unwrap()
    }

    #[test]
    fn read_line_is_fgets_then_c_string() {
        assert_eq!(line(b""), None);
        assert_eq!(line(b"\n"), Some(vec![]));
        assert_eq!(line(b"secret"), Some(b"secret".to_vec()));
        assert_eq!(line(b"secret\nmore\n"), Some(b"secret".to_vec()));
        assert_eq!(line(b"secret\r\n"), Some(b"secret\r".to_vec()));
        assert_eq!(line(b"ab\0cd\n"), Some(b"ab".to_vec()));
        assert_eq!(line(b"\0\n"), Some(vec![]));
        let long = vec![b'a'; 20000];
        assert_eq!(line(&long).map(|l| l.len()), Some(LINE_MAX));
    }

    #[test]
    fn long_line_leaves_the_rest_for_the_next_read() {
        let mut data = vec![b'a'; LINE_MAX];
        data.extend_from_slice(b"bc\nx\n");
        let mut r = &data[..];
        assert_eq!(read_line(&mut r).unwrap().map(|l| l.len()), Some(LINE_MAX));
        assert_eq!(read_line(&mut r).unwrap(), Some(b"bc".to_vec()));
    }

    fn dialogue(input: &[u8]) -> (Option<Vec<u8>>, String, Vec<bool>) {
        let mut err = Vec::new();
        let log = RefCell::new(Vec::new());
        let set = |on: bool| {
            log.borrow_mut().push(on);
            Ok(())
        };
        let r = read_new_password(&mut &input[..], &mut err, true, Some(&set)).unwrap();
        (r, String::from_utf8(err).unwrap(), log.into_inner())
    }

    #[test]
    fn terminal_dialogue_prompts_twice_and_repeats_on_mismatch() {
        let (r, err, echo) = dialogue(b"secret\nsecret\n");
        assert_eq!(r, Some(b"secret".to_vec()));
        assert_eq!(err, "Password: \nReenter password: \n");
        assert_eq!(echo, [false, true, false, true]);

        let (r, err, _) = dialogue(b"secret\nother\nx\nx\n");
        assert_eq!(r, Some(b"x".to_vec()));
        assert_eq!(
            err,
            "Password: \nReenter password: \nPasswords don't match.\n\n\
             Password: \nReenter password: \n"
        );
    }

    #[test]
    fn terminal_eof_stops_without_newline() {
        assert_eq!(
            dialogue(b""),
            (None, "Password: ".into(), vec![false, true])
        );
        let (r, err, _) = dialogue(b"abc\n");
        assert_eq!((r, err.as_str()), (None, "Password: \nReenter password: "));
    }

    #[test]
    fn pipe_reads_one_line_without_prompt() {
        let mut err = Vec::new();
        let r = read_new_password(&mut &b"a\nb\n"[..], &mut err, false, None).unwrap();
        assert_eq!((r, err), (Some(b"a".to_vec()), vec![]));
    }
}
