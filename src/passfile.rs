//! libpq's password file (`~/.pgpass`, `PGPASSFILE`, `passfile=`):
//! `hostname:port:database:username:password` lines, `*` matches anything, `\` escapes
//! `:` and `\`, the first matching line wins, and a file that group or others can read is
//! ignored with a warning, as libpq does.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::secret::Secret;

/// libpq's compiled-in socket directory, which a password file calls `localhost`.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

#[derive(Debug)]
pub struct PassFile {
    pub path: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    fields: [String; 4],
    password: Secret,
    line: usize,
}

/// What the lookup found: the password and the line it came from.
#[derive(Debug, Clone)]
pub struct Match {
    pub password: Secret,
    pub line: usize,
}

impl PassFile {
    /// Reads the file. `Ok(None)` when it does not exist (libpq is silent then);
    /// `Err(warning)` when it exists but must be ignored.
    pub fn load(path: &Path) -> Result<Option<PassFile>, String> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(format!(
                    "password file \"{}\" cannot be read ({}); ignoring it",
                    path.display(),
                    crate::probe::net::describe_io(&e)
                ));
            }
        };
        if !meta.is_file() {
            return Err(format!(
                "password file \"{}\" is not a plain file; ignoring it",
                path.display()
            ));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "password file \"{}\" has group or world access; permissions should be u=rw \
                 (0600) or less; ignoring it",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "password file \"{}\" cannot be read ({}); ignoring it",
                path.display(),
                crate::probe::net::describe_io(&e)
            )
        })?;
        Ok(Some(PassFile {
            path: path.to_path_buf(),
            entries: parse(&text),
        }))
    }

    /// The first line matching host, port, database and user. `host` is the host name as
    /// given, or a socket directory (the default one matches `localhost`).
    pub fn lookup(&self, host: &str, port: u16, database: &str, user: &str) -> Option<Match> {
        let host = if host.is_empty() || host == DEFAULT_SOCKET_DIR {
            "localhost"
        } else {
            host
        };
        let port = port.to_string();
        let wanted = [host, port.as_str(), database, user];
        self.entries
            .iter()
            .find(|entry| {
                entry
                    .fields
                    .iter()
                    .zip(wanted)
                    .all(|(field, value)| field == "*" || field == value)
            })
            .map(|entry| Match {
                password: entry.password.clone(),
                line: entry.line,
            })
    }
}

fn parse(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        field.push(next);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        if fields.len() < 4 {
            continue; // malformed lines are skipped, as libpq does
        }
        let [host, port, db, user]: [String; 4] = fields.try_into().expect("four fields");
        entries.push(Entry {
            fields: [host, port, db, user],
            password: Secret::new(field),
            line: index + 1,
        });
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> PassFile {
        PassFile {
            path: PathBuf::from("/x"),
            entries: parse(text),
        }
    }

    fn pw(f: &PassFile, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
        f.lookup(host, port, db, user)
            .map(|m| m.password.expose().to_string())
    }

    #[test]
    fn first_match_wins_with_wildcards_and_escapes() {
        let f = file(
            "# comment\n\
             db:5432:app:app:first\n\
             *:*:app:app:second\n\
             weird\\:host:*:*:*:p\\:w\\\\d\n\
             *:*:*:*:fallback:with:colons\n\
             short:line\n",
        );
        assert_eq!(pw(&f, "db", 5432, "app", "app").as_deref(), Some("first"));
        assert_eq!(
            pw(&f, "other", 5433, "app", "app").as_deref(),
            Some("second")
        );
        assert_eq!(pw(&f, "weird:host", 1, "x", "y").as_deref(), Some("p:w\\d"));
        assert_eq!(
            pw(&f, "z", 1, "x", "y").as_deref(),
            Some("fallback:with:colons")
        );
        assert_eq!(f.lookup("z", 1, "x", "y").unwrap().line, 5);
    }

    #[test]
    fn the_default_socket_directory_is_localhost() {
        let f = file("localhost:5432:*:*:sock\n/tmp:5432:*:*:tmp\n");
        assert_eq!(
            pw(&f, DEFAULT_SOCKET_DIR, 5432, "d", "u").as_deref(),
            Some("sock")
        );
        assert_eq!(pw(&f, "/tmp", 5432, "d", "u").as_deref(), Some("tmp"));
        assert_eq!(pw(&f, "/other", 5432, "d", "u"), None);
    }

    #[test]
    fn group_readable_files_are_ignored_with_a_warning() {
        let dir = std::env::temp_dir().join(format!("pgwait-passfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pgpass");
        std::fs::write(&path, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let warning = PassFile::load(&path).unwrap_err();
        assert!(warning.contains("has group or world access"), "{warning}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(PassFile::load(&path).unwrap().is_some());
        assert!(PassFile::load(&dir.join("missing")).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
