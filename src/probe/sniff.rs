//! A stream wrapper that remembers the first bytes the server sent, so that a failed
//! handshake can tell "closed before answering" (Docker's port proxy with no container
//! behind it) and "something that is not PostgreSQL answered" from a real server's error.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many leading bytes are kept.
const KEEP: usize = 32;

pub struct Sniff<S> {
    inner: S,
    first: Arc<Mutex<Vec<u8>>>,
}

/// The bytes a [`Sniff`] saw, readable after the stream was handed away.
#[derive(Clone, Default)]
pub struct FirstBytes(Arc<Mutex<Vec<u8>>>);

impl FirstBytes {
    pub fn get(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl<S> Sniff<S> {
    pub fn new(inner: S) -> (Self, FirstBytes) {
        let first = Arc::new(Mutex::new(Vec::new()));
        (
            Sniff {
                inner,
                first: first.clone(),
            },
            FirstBytes(first),
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniff<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let new = &buf.filled()[before..];
            if let Ok(mut first) = self.first.lock()
                && first.len() < KEEP
            {
                let take = new.len().min(KEEP - first.len());
                first.extend_from_slice(&new[..take]);
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniff<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Whether a server's first bytes can start a PostgreSQL answer: the one-byte answers to
/// an SSL request, or an authentication request, error, notice or protocol negotiation
/// message with a plausible length.
pub fn looks_like_postgres(first: &[u8]) -> bool {
    match first {
        [b'S'] | [b'N'] => true,
        [b'R' | b'E' | b'N' | b'v', rest @ ..] => match rest.get(..4) {
            Some(len) => {
                (4..=1 << 20).contains(&u32::from_be_bytes([len[0], len[1], len[2], len[3]]))
            }
            None => true,
        },
        _ => false,
    }
}

/// The first bytes as printable text for a message: `"HTTP/1.1 400 Bad Request"`.
pub fn printable(first: &[u8]) -> String {
    let line = first
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    line.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_not_postgres() {
        assert!(!looks_like_postgres(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(looks_like_postgres(b"R\0\0\0\x08\0\0\0\0"));
        assert!(looks_like_postgres(b"E\0\0\0\x50SFATAL"));
        assert!(looks_like_postgres(b"S"));
        assert!(!looks_like_postgres(b"SSH-2.0-OpenSSH_9.2"));
        assert!(!looks_like_postgres(b"RFB 003.008\n"));
        assert_eq!(printable(b"HTTP/1.1 400 Bad\r\nX"), "HTTP/1.1 400 Bad");
        assert_eq!(printable(b"\x00\x01ab"), "..ab");
    }
}
