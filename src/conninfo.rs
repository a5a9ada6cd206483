//! libpq connection strings: `key=value` conninfo and `postgres://` URIs, parsed the way
//! libpq parses them, into keyword/value pairs. Nothing here applies defaults or the
//! environment (see `libpq`), and no error message ever contains a value.

use std::collections::BTreeMap;

/// Keywords pgwait uses.
pub const USED: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "options",
    "application_name",
    "fallback_application_name",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "target_session_attrs",
];

/// libpq keywords that change nothing about where or whether pgwait connects; accepted so
/// that an app's connection string works unchanged.
pub const IGNORED: &[&str] = &[
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "client_encoding",
    "gssencmode",
    "sslcompression",
    "sslsni",
    "sslcertmode",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "load_balance_hosts",
    "channel_binding",
];

/// libpq keywords pgwait does not implement; ignoring them could connect somewhere else or
/// with less security than asked for, so they are refused.
pub const UNSUPPORTED: &[&str] = &[
    "service",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requirepeer",
    "require_auth",
    "replication",
    "sslnegotiation",
];

/// Keyword/value pairs; a later value of a keyword replaces an earlier one, as in libpq.
pub type Params = BTreeMap<String, String>;

/// Why a connection string could not be parsed. Never contains a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConninfoError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, ConninfoError> {
    Err(ConninfoError(message.into()))
}

/// Parses a `postgres://` / `postgresql://` URI or a `key=value` string.
pub fn parse(input: &str) -> Result<Params, ConninfoError> {
    let lower = input.get(..13).unwrap_or(input).to_ascii_lowercase();
    let params = if lower.starts_with("postgresql://") {
        parse_uri(&input[13..])?
    } else if lower.starts_with("postgres://") {
        parse_uri(&input[11..])?
    } else {
        parse_keywords(input)?
    };
    for (key, value) in &params {
        check_keyword(key)?;
        // Accepted-and-ignored keywords may not ask for something pgwait cannot do.
        if matches!(key.as_str(), "channel_binding" | "gssencmode") && value == "require" {
            return err(format!(
                "{key}=require is not supported by pgwait (it does no {})",
                if key == "channel_binding" {
                    "SCRAM channel binding"
                } else {
                    "GSSAPI encryption"
                }
            ));
        }
    }
    Ok(params)
}

fn check_keyword(key: &str) -> Result<(), ConninfoError> {
    if USED.contains(&key) || IGNORED.contains(&key) {
        Ok(())
    } else if UNSUPPORTED.contains(&key) {
        err(format!(
            "the connection option \"{key}\" is not supported by pgwait"
        ))
    } else {
        err(format!("invalid connection option \"{key}\""))
    }
}

/// libpq's `key = value` syntax: values may be single-quoted; a backslash escapes the
/// next character, quoted or not.
fn parse_keywords(input: &str) -> Result<Params, ConninfoError> {
    let mut params = Params::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(params);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return err(format!(
                "missing \"=\" after {} in connection info string",
                abbreviate_key(&key)
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return err("unterminated quoted string in connection info string"),
                    Some('\\') => {
                        if let Some(c) = chars.next() {
                            value.push(c);
                        }
                    }
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        params.insert(key, value);
    }
}

/// A word without "=" may be a pasted secret: it is named only when it is a keyword.
fn abbreviate_key(key: &str) -> String {
    if [USED, IGNORED, UNSUPPORTED]
        .iter()
        .any(|list| list.contains(&key))
    {
        format!("\"{key}\"")
    } else {
        "a word".to_string()
    }
}

/// `[user[:password]@][host[:port][,...]][/dbname][?param=value&...]`, percent-decoded.
fn parse_uri(rest: &str) -> Result<Params, ConninfoError> {
    let mut params = Params::new();
    let (main, query) = match rest.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match main.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (main, None),
    };
    let hostspec = match authority.rsplit_once('@') {
        Some((userinfo, hostspec)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                params.insert("user".into(), decode(user, "user name")?);
            }
            if let Some(password) = password {
                params.insert("password".into(), decode(password, "password")?);
            }
            hostspec
        }
        None => authority,
    };
    if !hostspec.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for spec in hostspec.split(',') {
            let (host, port) = split_host_port(spec)?;
            hosts.push(decode(host, "host")?);
            ports.push(port.to_string());
        }
        params.insert("host".into(), hosts.join(","));
        if ports.iter().any(|p| !p.is_empty()) {
            params.insert("port".into(), ports.join(","));
        }
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        params.insert("dbname".into(), decode(path, "database name")?);
    }
    if let Some(query) = query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return err(format!(
                    "missing \"=\" in URI query parameter {}",
                    abbreviate_key(pair)
                ));
            };
            let key = decode(key, "query parameter")?;
            let value = decode(value, "query parameter")?;
            // JDBC's ssl=true, which libpq accepts too.
            if key == "ssl" && value == "true" {
                params.insert("sslmode".into(), "require".into());
                continue;
            }
            if key == "ssl" {
                return err("invalid URI query parameter \"ssl\" (only ssl=true is accepted)");
            }
            params.insert(key, value);
        }
    }
    Ok(params)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(spec: &str) -> Result<(&str, &str), ConninfoError> {
    if let Some(rest) = spec.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return err("missing \"]\" after an IPv6 host in URI");
        };
        return match after {
            "" => Ok((host, "")),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, port)),
                None => err("unexpected character after an IPv6 host in URI"),
            },
        };
    }
    Ok(spec.split_once(':').unwrap_or((spec, "")))
}

/// Percent-decoding; `what` names the part in an error, never its value.
fn decode(s: &str, what: &str) -> Result<String, ConninfoError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => out.push(b),
                None => return err(format!("invalid percent-encoding in the {what} of the URI")),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).or_else(|_| err(format!("the {what} of the URI is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        parse(s).unwrap().into_iter().collect()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn keyword_strings_with_quotes_and_escapes() {
        assert_eq!(
            p(r"host=db port = 5433 password='a b\'c' user=o\ k dbname=''"),
            kv(&[
                ("dbname", ""),
                ("host", "db"),
                ("password", "a b'c"),
                ("port", "5433"),
                ("user", "o k"),
            ])
        );
    }

    #[test]
    fn uris_with_everything() {
        assert_eq!(
            p(
                "postgresql://us%40r:p%3Aw@db1:5432,[::1]:5433/my%20db?sslmode=require&application_name=x"
            ),
            kv(&[
                ("application_name", "x"),
                ("dbname", "my db"),
                ("host", "db1,::1"),
                ("password", "p:w"),
                ("port", "5432,5433"),
                ("sslmode", "require"),
                ("user", "us@r"),
            ])
        );
        assert_eq!(
            p("postgres:///app?host=/run/pg"),
            kv(&[("dbname", "app"), ("host", "/run/pg")])
        );
        assert_eq!(
            p("postgres://%2Frun%2Fpg/app"),
            kv(&[("dbname", "app"), ("host", "/run/pg")])
        );
        assert_eq!(
            p("postgres://h?ssl=true"),
            kv(&[("host", "h"), ("sslmode", "require")])
        );
        assert_eq!(p("postgres://"), kv(&[]));
    }

    #[test]
    fn errors_name_the_problem_never_a_value() {
        for (input, words) in [
            ("host=db password='s3cret", "unterminated quoted string"),
            ("host=db s3cret", "missing \"=\" after a word"),
            ("host=db port", "missing \"=\" after \"port\""),
            (
                "host=db bogus=s3cret",
                "invalid connection option \"bogus\"",
            ),
            ("service=prod", "\"service\" is not supported"),
            (
                "postgres://u:s3cret@h/d?bogus=1",
                "invalid connection option \"bogus\"",
            ),
            (
                "postgres://u:s3%zzcret@h/d",
                "invalid percent-encoding in the password",
            ),
            ("postgres://u@[::1/d", "missing \"]\""),
            (
                "host=h channel_binding=require",
                "channel_binding=require is not supported",
            ),
            (
                "host=h gssencmode=require",
                "gssencmode=require is not supported",
            ),
        ] {
            let e = parse(input).unwrap_err().0;
            assert!(e.contains(words), "{input}: {e}");
            assert!(!e.contains("s3cret"), "{input}: {e}");
        }
        // A pasted secret in key position is not echoed.
        let e = parse("host=db hunter2!pw").unwrap_err().0;
        assert!(!e.contains("hunter2"), "{e}");
    }
}
