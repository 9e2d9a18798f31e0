//! One URL of an http or https check: a `GET` over an open stream (plain TCP or TLS), and the
//! response judged as keepalived's HTTP_GET judges it (check_http.c).
//!
//! The request is keepalived's, HTTP/1.0 with `Connection: close`: a response to HTTP/1.0 is never
//! chunked, so the body bytes are the entity itself and `digest` matches what genhash prints. The
//! `Host` header is the virtualhost when one is set, else the probed address and port.
//!
//! The response is judged in keepalived's order: the status code, then the MD5 digest of the body
//! (the bytes after the header block, up to `Content-Length` when given), then the body substring.
//! The body is read to its end (or `Content-Length`) only when a digest or a substring needs it;
//! the probe's deadline bounds every read.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::digest::BodyHasher;
use super::probe::ProbeFailure;
use super::UrlCheck;

/// The most of a response body kept to look for the `body` substring (the digest covers all).
pub const MAX_BODY: usize = 1 << 20;
/// The longest status line and header block accepted.
const MAX_HEAD: usize = 64 << 10;

/// The request for `path` with `Host: host`.
pub fn request(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.0\r\nUser-Agent: ulvs-health-check\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

/// Sends the request for `url` on `stream` and judges the response. `set_timeout` sets the
/// stream's read and write timeouts; it is given the time left before `deadline` before every
/// blocking call, so a server that trickles bytes cannot stretch the probe past it.
pub fn get(
    stream: &mut impl ReadWrite,
    url: &UrlCheck,
    host: &str,
    deadline: Instant,
    set_timeout: &dyn Fn(Duration) -> io::Result<()>,
) -> Result<(), ProbeFailure> {
    let io_error = |err: io::Error| {
        if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            ProbeFailure::Http(format!("GET {}: no answer in time", url.path))
        } else {
            ProbeFailure::Http(format!("GET {}: {err}", url.path))
        }
    };
    let left = |deadline: Instant| -> Result<Duration, ProbeFailure> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(ProbeFailure::Http(format!("GET {}: no complete answer in time", url.path)))
        } else {
            Ok(left)
        }
    };
    set_timeout(left(deadline)?).map_err(io_error)?;
    stream.write_all(request(&url.path, host).as_bytes()).map_err(io_error)?;
    stream.flush().map_err(io_error)?;

    let mut reader = Reader { stream, deadline, set_timeout, left: &left };
    let mut buffer = Vec::with_capacity(4096);
    let (status, limit, body_start) = loop {
        match parse_head(&buffer) {
            Ok(Some(head)) => break head,
            Ok(None) => {}
            Err(err) => return Err(ProbeFailure::Http(format!("GET {}: not an HTTP response ({err})", url.path))),
        }
        if buffer.len() > MAX_HEAD {
            return Err(ProbeFailure::Http(format!("GET {}: response headers longer than {MAX_HEAD} bytes", url.path)));
        }
        if reader.read_more(&mut buffer).map_err(|e| e.into_failure(&io_error))? == 0 {
            return Err(ProbeFailure::Http(if buffer.is_empty() {
                format!("GET {}: connection closed without an answer", url.path)
            } else {
                format!("GET {}: connection closed inside the response headers", url.path)
            }));
        }
    };
    if !url.status.contains(status) {
        return Err(ProbeFailure::Status { path: url.path.clone(), got: status, expected: url.status.clone() });
    }
    if url.digest.is_none() && url.body.is_none() {
        return Ok(());
    }
    let mut body = Body::new(limit, url.body.is_some());
    body.take(&buffer[body_start..]);
    let mut chunk = vec![0u8; 16 << 10];
    while !body.complete() {
        let n = reader.read_into(&mut chunk).map_err(|e| e.into_failure(&io_error))?;
        if n == 0 {
            break;
        }
        body.take(&chunk[..n]);
    }
    let (digest, kept) = body.finish();
    if let Some(expected) = url.digest {
        if digest != expected {
            return Err(ProbeFailure::Digest { path: url.path.clone(), got: digest, expected });
        }
    }
    if let Some(needle) = &url.body {
        if !contains(&kept, needle.as_bytes()) {
            return Err(ProbeFailure::Body { path: url.path.clone(), needle: needle.clone() });
        }
    }
    Ok(())
}

/// What `get` needs of a stream.
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

enum ReadError {
    Io(io::Error),
    Late(ProbeFailure),
}

impl ReadError {
    fn into_failure(self, io_error: &dyn Fn(io::Error) -> ProbeFailure) -> ProbeFailure {
        match self {
            ReadError::Io(err) => io_error(err),
            ReadError::Late(failure) => failure,
        }
    }
}

struct Reader<'a, S> {
    stream: &'a mut S,
    deadline: Instant,
    set_timeout: &'a dyn Fn(Duration) -> io::Result<()>,
    left: &'a dyn Fn(Instant) -> Result<Duration, ProbeFailure>,
}

impl<S: Read> Reader<'_, S> {
    fn read_into(&mut self, chunk: &mut [u8]) -> Result<usize, ReadError> {
        let left = (self.left)(self.deadline).map_err(ReadError::Late)?;
        (self.set_timeout)(left).map_err(ReadError::Io)?;
        loop {
            match self.stream.read(chunk) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // A TLS peer that closes without close_notify: the data before it still counts
                // (keepalived reads to the end of the connection the same way).
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                other => return other.map_err(ReadError::Io),
            }
        }
    }

    fn read_more(&mut self, buffer: &mut Vec<u8>) -> Result<usize, ReadError> {
        let mut chunk = [0u8; 4096];
        let n = self.read_into(&mut chunk)?;
        buffer.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

/// The body as it streams in: digested up to its length, and its head kept for the substring.
struct Body {
    hasher: BodyHasher,
    /// Bytes still expected, with a `Content-Length`.
    remaining: Option<u64>,
    kept: Vec<u8>,
    keep: bool,
}

impl Body {
    fn new(length: Option<u64>, keep: bool) -> Body {
        Body { hasher: BodyHasher::new(), remaining: length, kept: Vec::new(), keep }
    }

    fn complete(&self) -> bool {
        self.remaining == Some(0)
    }

    fn take(&mut self, bytes: &[u8]) {
        let bytes = match self.remaining {
            // Bytes past Content-Length are not the body (keepalived does not hash them either).
            Some(remaining) => {
                let n = bytes.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                self.remaining = Some(remaining - n as u64);
                &bytes[..n]
            }
            None => bytes,
        };
        self.hasher.update(bytes);
        if self.keep && self.kept.len() < MAX_BODY {
            let room = MAX_BODY - self.kept.len();
            self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    fn finish(self) -> (super::BodyDigest, Vec<u8>) {
        (self.hasher.finish(), self.kept)
    }
}

/// The most headers a response may carry.
const MAX_HEADERS: usize = 64;

/// The status code, `Content-Length` (when it reads as a number) and where the body starts, once
/// `buffer` holds the whole head; `None` while it does not yet. httparse accepts bare LF line ends
/// as keepalived does.
fn parse_head(buffer: &[u8]) -> Result<Option<(u16, Option<u64>, usize)>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(body_start) = response.parse(buffer)? else { return Ok(None) };
    let length = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
        .and_then(|header| std::str::from_utf8(header.value).ok()?.trim().parse().ok());
    Ok(Some((response.code.unwrap_or_default(), length, body_start)))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::health::{BodyDigest, StatusCodes};

    /// A canned response on the read side; what the probe writes is kept.
    struct Canned {
        response: Cursor<Vec<u8>>,
        written: Vec<u8>,
        /// Bytes handed out per read, to exercise headers split across reads.
        step: usize,
    }

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step);
            self.response.read(&mut buf[..n])
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn url(status: &[(u16, u16)], digest: Option<&str>, body: Option<&str>) -> UrlCheck {
        UrlCheck {
            path: "/health".into(),
            status: StatusCodes::new(status.iter().map(|&(a, b)| a..=b)).unwrap(),
            digest: digest.map(|hex| BodyDigest::from_hex(hex).unwrap()),
            body: body.map(String::from),
        }
    }

    fn run(response: &str, url: &UrlCheck, step: usize) -> (Result<(), ProbeFailure>, String) {
        let mut stream = Canned { response: Cursor::new(response.as_bytes().to_vec()), written: Vec::new(), step };
        let deadline = Instant::now() + Duration::from_secs(5);
        let outcome = get(&mut stream, url, "www.example.test", deadline, &|_| Ok(()));
        (outcome, String::from_utf8(stream.written).unwrap())
    }

    const RS1: &str = "7a6c0d2ef5a9e6e1776090916c66ba3a";

    #[test]
    fn sends_keepalived_s_request() {
        let (_, written) = run("HTTP/1.0 200 OK\r\n\r\n", &url(&[(200, 200)], None, None), 4096);
        assert_eq!(
            written,
            "GET /health HTTP/1.0\r\nUser-Agent: ulvs-health-check\r\nHost: www.example.test\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn judges_status_then_digest_then_body() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nrs1\n";
        let no_length = "HTTP/1.0 200 OK\r\n\r\nrs1\n";
        // Bytes past Content-Length are not hashed (keepalived stops there too).
        let trailing = "HTTP/1.1 200 OK\r\ncontent-length:  4\r\n\r\nrs1\ngarbage";
        let bare_lf = "HTTP/1.0 200 OK\nContent-Length: 4\n\nrs1\n";
        type Case = (&'static str, UrlCheck, Result<(), &'static str>);
        let cases: Vec<Case> = vec![
            (ok, url(&[(200, 200)], None, None), Ok(())),
            (ok, url(&[(200, 299)], Some(RS1), Some("rs1")), Ok(())),
            (no_length, url(&[(200, 200)], Some(RS1), None), Ok(())),
            (trailing, url(&[(200, 200)], Some(RS1), None), Ok(())),
            (bare_lf, url(&[(200, 200)], Some(RS1), Some("rs")), Ok(())),
            (
                "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nrs1\n",
                url(&[(200, 299)], Some(RS1), None),
                Err("/health: http status 503, expected [200-299]"),
            ),
            ("HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n", url(&[(300, 399)], None, None), Ok(())),
            (
                ok,
                url(&[(200, 200)], Some("f1743bfe5e2cd7630e74f90e32d8f651"), None),
                Err("/health: body digest 7a6c0d2ef5a9e6e1776090916c66ba3a, expected f1743bfe5e2cd7630e74f90e32d8f651"),
            ),
            (ok, url(&[(200, 200)], Some(RS1), Some("rs2")), Err("/health: http body does not contain \"rs2\"")),
            ("", url(&[(200, 200)], None, None), Err("http: GET /health: connection closed without an answer")),
            (
                "HTTP/1.1 200 OK\r\nContent-Le",
                url(&[(200, 200)], None, None),
                Err("http: GET /health: connection closed inside the response headers"),
            ),
            (
                "SSH-2.0-OpenSSH_9.2\r\n\r\n",
                url(&[(200, 200)], None, None),
                Err("http: GET /health: not an HTTP response (invalid HTTP version)"),
            ),
        ];
        for step in [4096, 3] {
            for (response, url, expected) in &cases {
                let (outcome, _) = run(response, url, step);
                let got = outcome.as_ref().map(|_| ()).map_err(|failure| failure.to_string());
                assert_eq!(got, expected.map_err(String::from), "{response:?} {url:?} step {step}");
            }
        }
    }

    #[test]
    fn a_long_body_is_digested_whole_and_searched_in_its_first_mebibyte() {
        // The lab's /blob/100000 (scripts/http-rs.py): 0..=255 repeated; its MD5 from hashlib.
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
        let mut response = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(&body);
        let check = url(&[(200, 200)], Some("7007d9ba10b9a5e64a9f92df87e94a06"), None);
        let mut stream = Canned { response: Cursor::new(response), written: Vec::new(), step: 1500 };
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(get(&mut stream, &check, "h", deadline, &|_| Ok(())).is_ok());

        let mut big = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', MAX_BODY));
        big.extend_from_slice(b"needle");
        let check = url(&[(200, 200)], None, Some("needle"));
        let mut stream = Canned { response: Cursor::new(big), written: Vec::new(), step: 65536 };
        let outcome = get(&mut stream, &check, "h", deadline, &|_| Ok(()));
        assert!(matches!(outcome, Err(ProbeFailure::Body { .. })), "{outcome:?}");
    }

    #[test]
    fn a_passed_deadline_fails_the_probe() {
        let mut stream = Canned { response: Cursor::new(Vec::new()), written: Vec::new(), step: 1 };
        let outcome = get(&mut stream, &url(&[(200, 200)], None, None), "h", Instant::now(), &|_| Ok(()));
        assert_eq!(outcome.unwrap_err().to_string(), "http: GET /health: no complete answer in time");
    }
}
