//! `ulvs ctl`: runtime control of a running daemon over a unix socket, with ipvsadm's flags and
//! output.
//!
//! Wire protocol (private to ulvs, one request per connection): the client sends its arguments
//! separated by NUL bytes and ended by a newline; the daemon parses them with the same `CtlArgs`
//! definition, runs the request and answers with one status line (`ok` or `error`) followed by the
//! text to print. Parsing on the daemon side keeps the client thin and lets old clients reach new
//! commands.

pub mod args;
pub mod client;
pub mod filter;
pub mod handler;
pub mod listing;
pub mod request;
pub mod rules;
pub mod server;
pub mod session;

/// Where the daemon listens unless the config or `--control` says otherwise.
pub const DEFAULT_CONTROL_PATH: &str = "/run/ulvs.sock";
