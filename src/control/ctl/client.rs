//! The `ulvs ctl` side of the control socket.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The daemon's answer: whether it succeeded, and the text to print.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub ok: bool,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the ulvs daemon at {path}: {source} (is `ulvs run` running? use --control PATH or ULVS_CONTROL)"
    )]
    Connect { path: String, source: std::io::Error },
    #[error("control socket {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("control socket {path}: malformed reply")]
    Malformed { path: String },
}

/// Sends `args` (and `input`, for `-R`) to the daemon at `path` and returns its reply.
pub fn request(path: &Path, args: &[String], input: Option<&str>) -> Result<Reply, ClientError> {
    let name = path.display().to_string();
    let io_err = |source| ClientError::Io { path: name.clone(), source };
    let mut stream = UnixStream::connect(path).map_err(|source| ClientError::Connect { path: name.clone(), source })?;
    // Long enough for a `-R` of 100 000 lines, or a listing of as many services.
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(io_err)?;
    let mut line = args.join("\0");
    line.push('\n');
    // A daemon that refuses the request before reading it all (too many clients, a request too
    // large) answers and closes: a failed write is then no error of ours, and the answer is read.
    let sent = stream.write_all(line.as_bytes()).and_then(|()| match input {
        Some(input) => stream.write_all(input.as_bytes()),
        None => Ok(()),
    });
    match sent {
        Err(err) if matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
        // The end of the request: the daemon reads `-R` input up to here.
        sent => sent.and_then(|()| stream.shutdown(std::net::Shutdown::Write)).map_err(io_err)?,
    }
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).map_err(io_err)?;
    let ok = match status.trim_end() {
        "ok" => true,
        "error" => false,
        _ => return Err(ClientError::Malformed { path: name }),
    };
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(io_err)?;
    Ok(Reply { ok, text })
}

/// What `ulvs ctl` answers without asking the daemon.
#[derive(Debug, PartialEq, Eq)]
pub enum LocalAnswer {
    /// `--help`, `-h` or no arguments: the help text, exit 0.
    Help(String),
    /// A command line that is wrong whatever the daemon holds: the reason, exit 2.
    Usage(String),
}

/// Help and usage errors are the command line's own business, so they need no daemon (the daemon
/// parses again with the same definition; this only answers early what it would answer).
pub fn answer_locally(args: &[String]) -> Option<LocalAnswer> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Some(refusal) = super::args::unsupported(&words) {
        return Some(LocalAnswer::Usage(refusal));
    }
    match <super::args::CtlArgs as clap::Parser>::try_parse_from(&words) {
        Err(err) if err.kind() == clap::error::ErrorKind::DisplayHelp => Some(LocalAnswer::Help(err.to_string())),
        Err(err) => Some(LocalAnswer::Usage(err.to_string())),
        Ok(parsed) => parsed.command().err().map(|reason| LocalAnswer::Usage(format!("{reason}\n"))),
    }
}
