//! Name resolution and TCP connects shared by every probe.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::{Failure, Pace, Phase, diagnosis};
use crate::target::{Address, Endpoint};

/// The socket addresses of an endpoint, resolved anew at every attempt: in a Docker
/// network a service name appears only once its container runs.
pub async fn resolve(endpoint: &Endpoint) -> Result<Vec<SocketAddr>, Failure> {
    match &endpoint.address {
        Address::Ip(ip) => Ok(vec![SocketAddr::new(*ip, endpoint.port)]),
        Address::Name(name) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), endpoint.port))
                .await
                .map_err(|e| {
                    diagnosis::unresolvable(
                        name,
                        format!("cannot resolve \"{name}\": {}", describe_io(&e)),
                    )
                })?
                .collect();
            if addrs.is_empty() {
                return Err(diagnosis::unresolvable(
                    name,
                    format!("\"{name}\" resolves to no address"),
                ));
            }
            Ok(addrs)
        }
        Address::Socket(_) => unreachable!("socket directories are not resolved"),
    }
}

/// Connects to the first address that accepts, as libpq does with a name that resolves to
/// several addresses. Reports the last address's error when none accepts.
pub async fn connect(endpoint: &Endpoint, addrs: &[SocketAddr]) -> Result<TcpStream, Failure> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Startup messages are small; do not let Nagle delay them.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.expect("resolve never returns an empty list");
    let message = match &endpoint.address {
        Address::Name(_) => format!("{} (at {addr})", describe_io(&e)),
        _ => describe_io(&e),
    };
    Err(match e.kind() {
        io::ErrorKind::ConnectionRefused => diagnosis::refused(endpoint, message),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            diagnosis::unreachable(endpoint, message)
        }
        _ => Failure::new(Phase::Connect, Pace::Poll, message),
    })
}

/// An I/O error in lowercase words, without the `(os error N)` suffix.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        io::ErrorKind::ConnectionAborted => "connection aborted".to_string(),
        io::ErrorKind::UnexpectedEof => "server closed the connection".to_string(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_string(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_string(),
        io::ErrorKind::TimedOut => "timed out".to_string(),
        io::ErrorKind::BrokenPipe => "connection closed by the server (broken pipe)".to_string(),
        _ => {
            let raw = e.to_string();
            let raw = raw
                .strip_prefix("failed to lookup address information: ")
                .unwrap_or(&raw);
            let raw = match raw.find(" (os error") {
                Some(i) => &raw[..i],
                None => raw,
            };
            lowercase_first(raw)
        }
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_plain_words() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe_io(&refused), "connection refused");
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(describe_io(&dns), "name or service not known");
        let raw = io::Error::from_raw_os_error(2);
        assert_eq!(describe_io(&raw), "no such file or directory");
    }
}
