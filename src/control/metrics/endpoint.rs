//! The HTTP endpoint: `GET /metrics` on `[metrics] listen`, served by tiny_http on one thread.
//!
//! Scrapes are rare (seconds apart) and cheap, so one thread answers them in turn; it looks at its
//! stop flag between requests, so dropping the `Endpoint` stops it within `POLL`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tiny_http::{Header, Method, Response, Server};

use super::render;
use crate::control::context::Context;

const POLL: Duration = Duration::from_millis(200);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct Endpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Listens on `addr` (port 0 picks a free one: see [`Endpoint::addr`]).
    pub fn start(addr: SocketAddr, context: Arc<Context>) -> io::Result<Endpoint> {
        let server =
            Server::http(addr).map_err(|err| io::Error::other(format!("metrics listener on {addr}: {err}")))?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new().name("ulvs-metrics".into()).spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                match server.recv_timeout(POLL) {
                    Ok(Some(request)) => {
                        let response = match (request.method(), request.url()) {
                            (Method::Get, "/metrics") => {
                                let header = Header::from_bytes("Content-Type", CONTENT_TYPE).expect("a valid header");
                                Response::from_string(render(&context)).with_header(header)
                            }
                            (Method::Get, _) => {
                                Response::from_string("ulvs: metrics are at /metrics\n").with_status_code(404)
                            }
                            _ => Response::from_string("only GET\n").with_status_code(405),
                        };
                        if let Err(err) = request.respond(response) {
                            log::debug!("metrics: answering a scrape: {err}");
                        }
                    }
                    Ok(None) => {}
                    Err(err) => {
                        log::warn!("metrics: {err}");
                        thread::sleep(POLL);
                    }
                }
            }
        })?;
        Ok(Endpoint { addr, stop, thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
