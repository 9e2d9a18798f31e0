//! One control request as the daemon reads it off the socket, parsed without any I/O: the server,
//! its tests and the `ctl_request` fuzz target share this.
//!
//! A request line is the client's arguments separated by NUL bytes (the newline that ends it is
//! not part of it). It parses into the arguments to run, or clap's help text, or one error message
//! that the server sends back as the answer — never a panic, whatever the bytes.

use clap::Parser;

use super::args::{unsupported, CtlArgs};

/// What a request line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run these arguments (with `-R`, after reading the rules that follow the line).
    Run(Box<CtlArgs>),
    /// `--help`: the text to answer with, as a successful request.
    Help(String),
}

/// Parses one request line. The error is the answer's text, ending in a newline.
pub fn parse_line(line: &[u8]) -> Result<Parsed, String> {
    let line = std::str::from_utf8(line).map_err(|err| format!("request is not valid UTF-8: {err}\n"))?;
    let args: Vec<&str> = line.split('\0').filter(|arg| !arg.is_empty()).collect();
    if let Some(refusal) = unsupported(&args) {
        return Err(refusal);
    }
    match CtlArgs::try_parse_from(&args) {
        Ok(parsed) => Ok(Parsed::Run(Box::new(parsed))),
        Err(err) if matches!(err.kind(), clap::error::ErrorKind::DisplayHelp) => Ok(Parsed::Help(err.to_string())),
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_help_refusals_and_bad_bytes() {
        match parse_line(b"-L\0-n\0--stats").unwrap() {
            Parsed::Run(args) => assert!(args.list && args.stats),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_line(b"--help"), Ok(Parsed::Help(text)) if text.contains("ipvsadm")));
        assert!(parse_line(b"-a\0-m").unwrap_err().contains("direct routing only"));
        assert!(parse_line(b"--bogus").unwrap_err().contains("--bogus"));
        let err = parse_line(b"-L\0\xff\xfe").unwrap_err();
        assert!(err.starts_with("request is not valid UTF-8") && err.ends_with('\n'), "{err}");
    }
}
