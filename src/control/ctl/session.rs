//! One client of the control socket: its request read within bounds, run, and answered.
//!
//! Every client gets exactly one answer (`ok` or `error` and a text) unless it is gone:
//! - a request line (see `request`) must arrive whole within [`Limits::request`] and fit
//!   [`MAX_REQUEST`] bytes; a client that sends nothing, too little or too much is answered with an
//!   error saying which;
//! - `-R` input must end (the client shuts its side down) within [`Limits::input`] and fit
//!   [`MAX_INPUT`] bytes, and be UTF-8;
//! - the answer must be taken within [`Limits::answer`], or the connection is dropped.
//!
//! After an error about the client's input the rest of what it sends is read and thrown away for a
//! moment (bounded in bytes and time), so a client still writing reads its answer instead of a
//! reset connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::timeout;

use super::args::Command;
use super::request::{parse_line, Parsed};
use super::server::{Shared, MAX_CLIENTS};

/// Longest request line accepted; ipvsadm's longest command line is far shorter.
pub const MAX_REQUEST: usize = 16 * 1024;
/// Largest `-R` input accepted (about 200 000 rules).
pub const MAX_INPUT: usize = 16 * 1024 * 1024;
/// What is read and thrown away, at most, after refusing a client's input.
const DRAIN_BYTES: usize = 32 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// The bounds clients are held to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Clients connected at once; one more is answered with an error and closed.
    pub max_clients: usize,
    /// From connecting to the end of the request line.
    pub request: Duration,
    /// From the end of the request line to the end of `-R` input.
    pub input: Duration,
    /// For the client to take its answer.
    pub answer: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_clients: MAX_CLIENTS,
            request: Duration::from_secs(5),
            input: Duration::from_secs(60),
            answer: Duration::from_secs(10),
        }
    }
}

/// Why a request was not run, in the words of the answer.
enum Refusal {
    /// Refused before the client's request was read whole: it may still be sending, so what it
    /// sends is drained for a moment, and it reads this answer rather than a reset connection.
    Input(String),
    Other(String),
}

pub(super) async fn serve(mut stream: UnixStream, shared: &Shared) {
    let Ok(_client) = shared.clients.try_acquire() else {
        let text = format!("too many control connections ({}); try again\n", shared.limits.max_clients);
        return answer(stream, Err(Refusal::Input(text)), shared).await;
    };
    let result = match stream.peer_cred() {
        Ok(cred) if cred.uid() == 0 || cred.uid() == shared.owner => run(&mut stream, shared).await,
        Ok(cred) => Err(Refusal::Input(format!("permission denied: uid {} may not control this daemon\n", cred.uid()))),
        Err(err) => Err(Refusal::Other(format!("cannot read the client's credentials: {err}\n"))),
    };
    answer(stream, result, shared).await;
}

async fn run(stream: &mut UnixStream, shared: &Shared) -> Result<String, Refusal> {
    let (line, rest) = match timeout(shared.limits.request, read_line(stream)).await {
        Err(_) => {
            let secs = shared.limits.request.as_secs_f64();
            return Err(Refusal::Input(format!("no complete request within {secs} s\n")));
        }
        Ok(read) => read?,
    };
    let args = match parse_line(&line).map_err(Refusal::Input)? {
        Parsed::Help(text) => return Ok(text),
        Parsed::Run(args) => args,
    };
    let command = args.command();
    let input = if args.restore {
        let _reading = shared.restore_readers.acquire().await.map_err(|_| Refusal::Other("shutting down\n".into()))?;
        match timeout(shared.limits.input, read_input(stream, rest)).await {
            Err(_) => {
                let secs = shared.limits.input.as_secs_f64();
                return Err(Refusal::Input(format!("-R input did not end within {secs} s\n")));
            }
            Ok(read) => read?,
        }
    } else {
        String::new()
    };
    let changes = matches!(
        command,
        Ok(Command::Edit(_) | Command::Restore | Command::Reload | Command::StartDaemon(..) | Command::StopDaemon(_))
    );
    let lane = if changes { &shared.writers } else { &shared.readers };
    let permit = Arc::clone(lane).acquire_owned().await.map_err(|_| Refusal::Other("shutting down\n".into()))?;
    let handler = Arc::clone(&shared.handler);
    let ran = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        handler.handle(&args, &input)
    })
    .await;
    match ran {
        Ok(result) => result.map_err(Refusal::Other),
        Err(err) => {
            log::error!("control request failed: {err}");
            Err(Refusal::Other("internal error: the request failed; see the daemon's log\n".into()))
        }
    }
}

/// The request line (without its newline; the end of stream also ends it) and what came after it.
async fn read_line(stream: &mut UnixStream) -> Result<(Vec<u8>, Vec<u8>), Refusal> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|err| Refusal::Other(format!("reading the request: {err}\n")))?;
        let start = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf[start..].iter().position(|&b| b == b'\n').map(|i| start + i) {
            if at > MAX_REQUEST {
                return Err(too_long());
            }
            let rest = buf.split_off(at + 1);
            buf.pop();
            return Ok((buf, rest));
        }
        if buf.len() > MAX_REQUEST {
            return Err(too_long());
        }
        if n == 0 {
            return Ok((buf, Vec::new()));
        }
    }
}

fn too_long() -> Refusal {
    Refusal::Input(format!("request line longer than {MAX_REQUEST} bytes\n"))
}

/// `-R` input: what followed the request line, up to the client's end of stream.
async fn read_input(stream: &mut UnixStream, mut input: Vec<u8>) -> Result<String, Refusal> {
    let mut chunk = vec![0u8; 64 * 1024];
    while input.len() <= MAX_INPUT {
        let n =
            stream.read(&mut chunk).await.map_err(|err| Refusal::Other(format!("reading the -R input: {err}\n")))?;
        if n == 0 {
            return String::from_utf8(input)
                .map_err(|err| Refusal::Other(format!("-R input is not valid UTF-8: {err}\n")));
        }
        input.extend_from_slice(&chunk[..n]);
    }
    Err(Refusal::Input(format!("-R input larger than {MAX_INPUT} bytes\n")))
}

async fn answer(mut stream: UnixStream, result: Result<String, Refusal>, shared: &Shared) {
    let (text, drain) = match result {
        Ok(text) => (format!("ok\n{text}"), false),
        Err(Refusal::Input(text)) => (format!("error\n{text}"), true),
        Err(Refusal::Other(text)) => (format!("error\n{text}"), false),
    };
    let written = timeout(shared.limits.answer, async {
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) || !drain {
        return;
    }
    let _ = timeout(DRAIN_TIME, async {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}
