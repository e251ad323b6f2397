//! courier-config: Courier's `KEY=value` configuration files, and the typed settings
//! each program reads from them and from its environment.
//!
//! Owns: the parser authdaemond uses for `authdaemonrc` (authdaemon-protocol.md §5),
//! the names of the environment variables and their defaults (Debian's paths).
//!
//! Does not: open sockets or act on the settings.
//!
//! Rule for every setting: the environment wins (Debian's start scripts export the
//! whole file with `set -a`), then the file, then the built-in default.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authdaemon;

use std::path::{Path, PathBuf};

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line that is not `NAME=value` (Courier refuses to start).
    #[error("Bad line in {}: {line}", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The offending line.
        line: String,
    },
    /// A value that is not what the setting needs.
    #[error("{}: {key}={value}: {reason}", path.display())]
    BadValue {
        /// The file (or `environment`).
        path: PathBuf,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// Parses a file the way authdaemond does: each line is cut at the first `#` (even
/// inside quotes), blank lines are skipped, a line without `=` is an error; in
/// `NAME=value` leading blanks of the value are skipped and a value starting with
/// `"` ends at the next `"`. Later assignments win.
pub fn parse_courier_vars(path: &Path, text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("");
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(ConfigError::BadLine {
                path: path.to_path_buf(),
                line: raw.to_string(),
            });
        };
        let name = name.trim().to_string();
        let value = value.trim_start();
        let value = match value.strip_prefix('"') {
            Some(rest) => rest.split('"').next().unwrap_or("").to_string(),
            None => value.trim_end().to_string(),
        };
        out.retain(|(n, _)| *n != name);
        out.push((name, value));
    }
    Ok(out)
}

/// Reads and parses a file with [`parse_courier_vars`].
pub fn read_courier_vars(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_courier_vars(path, &text)
}

/// Variables of a file with the environment on top.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    file: Vec<(String, String)>,
    env: Vec<(String, String)>,
}

impl Vars {
    /// File variables overlaid by the process environment.
    pub fn new(file: Vec<(String, String)>) -> Self {
        let env = std::env::vars().collect();
        Vars { file, env }
    }

    /// File variables overlaid by an explicit environment (tests).
    pub fn with_env(file: Vec<(String, String)>, env: Vec<(String, String)>) -> Self {
        Vars { file, env }
    }

    /// The value of `name`: environment first, then file.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| self.file.iter().find(|(n, _)| n == name))
            .map(|(_, v)| v.as_str())
    }

    /// The file's own variables, in order (for exporting before an exec).
    pub fn file_vars(&self) -> &[(String, String)] {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_authdaemonrc_lines() {
        let text = "##NAME: authmodulelist:2\n\
authmodulelist=\"authuserdb authpam\"\n\
daemons=5 # trailing comment\n\
DEFAULTOPTIONS=\"\"\n\
DEBUG_LOGIN=0\n\
  \n\
X=\"a#b\"\n";
        let v = parse_courier_vars(Path::new("rc"), text).unwrap();
        assert_eq!(
            v,
            vec![
                ("authmodulelist".into(), "authuserdb authpam".into()),
                ("daemons".into(), "5".into()),
                ("DEFAULTOPTIONS".into(), "".into()),
                ("DEBUG_LOGIN".into(), "0".into()),
                ("X".into(), "a".into()),
            ]
        );
    }

    #[test]
    fn a_line_without_equals_is_an_error_naming_the_file() {
        let e =
            parse_courier_vars(Path::new("/etc/courier/authdaemonrc"), "garbage\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Bad line in /etc/courier/authdaemonrc: garbage"
        );
    }

    #[test]
    fn environment_wins_over_file() {
        let v = Vars::with_env(
            vec![("a".into(), "file".into()), ("b".into(), "file".into())],
            vec![("a".into(), "env".into())],
        );
        assert_eq!(v.get("a"), Some("env"));
        assert_eq!(v.get("b"), Some("file"));
        assert_eq!(v.get("c"), None);
    }
}
