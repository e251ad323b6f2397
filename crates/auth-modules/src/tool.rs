//! Running Courier's helper programs (`userdb`, `makeuserdb`, `authsystem.passwd`)
//! for `PASSWD`, as authuserdbpwd.c and authsyschangepwd.c do.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Longest piece of a helper's stderr quoted in an error.
const MAX_STDERR: usize = 300;

/// Runs `program args…`, optionally feeding `stdin` and switching to `(uid, gid)` first
/// (std drops supplementary groups when it does, as Courier's `libmail_changeuidgid`).
/// Success is exit status 0. The error names the program, its status and the start of
/// its stderr; stdout is discarded.
pub(crate) fn run(
    program: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    as_user: Option<(u32, u32)>,
) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = as_user {
        cmd.gid(gid).uid(uid);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A helper that exits without reading gives EPIPE here; its exit status below
        // is what counts.
        let _ = pipe.write_all(data);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr: String = stderr
        .trim()
        .chars()
        .take(MAX_STDERR)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Err(if stderr.is_empty() {
        format!("{} failed: {}", program.display(), out.status)
    } else {
        format!("{} failed: {} [{stderr}]", program.display(), out.status)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_helper_is_reported_with_status_and_stderr() {
        let err = run(
            Path::new("/bin/sh"),
            &["-c", "echo 'no such user' >&2; exit 3"],
            None,
            None,
        )
        .unwrap_err();
        assert!(err.contains("/bin/sh failed"), "{err}");
        assert!(err.contains("3"), "{err}");
        assert!(err.contains("[no such user]"), "{err}");
    }

    #[test]
    fn helper_gets_stdin_and_missing_program_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("cat > {}", out.display());
        run(
            Path::new("/bin/sh"),
            &["-c", &script],
            Some(b"a\nb\n"),
            None,
        )
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"a\nb\n");
        let err = run(Path::new("/nonexistent/tool"), &[], None, None).unwrap_err();
        assert!(err.starts_with("/nonexistent/tool: "), "{err}");
    }
}
