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
