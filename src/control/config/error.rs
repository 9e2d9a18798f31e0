//! Configuration errors and source locations.
//!
//! Every error that comes from the text of a configuration file carries the file, a 1-based
//! line and column, and a reason, and displays as `FILE:LINE:COLUMN: reason`, the way compilers
//! report, so editors and terminals can jump to it. Locations are kept in the validated model too
//! (`ServiceConfig::location`, `RealConfig::location`), so checks made later against the running
//! system can still point at the line that caused them.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A position in a configuration file: 1-based line and column (the column counts characters, not
/// bytes, so it matches what an editor shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The start of a file.
    pub const START: Location = Location { line: 1, column: 1 };

    /// The location of byte `offset` in `text`. An offset past the end (or inside a character)
    /// is clamped to the nearest character boundary before it, so it never panics.
    pub fn from_offset(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location { line: before.matches('\n').count() + 1, column: before[line_start..].chars().count() + 1 }
    }
}

/// Where each line of a text starts, so that many locations in one large file cost a binary
/// search each rather than a scan from the start (a file with 100 000 services would otherwise
/// take quadratic time to check).
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    /// The location of byte `offset` in `text` (the text this index was built from), as
    /// [`Location::from_offset`] gives it.
    pub fn locate(&self, text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self.starts[line - 1];
        Location { line, column: text[line_start..offset].chars().count() + 1 }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a configuration could not be loaded. Nothing is applied when this is returned.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is larger than any configuration (a runaway generator, the wrong file).
    #[error("{}: {size} bytes: larger than the {limit} bytes a configuration may have", file.display())]
    TooLarge { file: PathBuf, size: u64, limit: u64 },
    /// The text is not a valid configuration: syntax, schema or value.
    #[error("{}:{location}: {reason}", file.display())]
    Invalid { file: PathBuf, location: Location, reason: String },
}

impl ConfigError {
    /// An error at `location` of `file`, for checks made outside this module that still want to
    /// point into the file.
    pub fn invalid(file: &Path, location: Location, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { file: file.to_path_buf(), location, reason: reason.into() }
    }

    /// Where in the file the problem is, when it is in the file.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Read { .. } | ConfigError::TooLarge { .. } => None,
            ConfigError::Invalid { location, .. } => Some(*location),
        }
    }

    /// The reason alone, without file and location.
    pub fn reason(&self) -> String {
        match self {
            ConfigError::Read { source, .. } => format!("cannot read: {source}"),
            ConfigError::TooLarge { size, limit, .. } => {
                format!("{size} bytes: larger than the {limit} bytes a configuration may have")
            }
            ConfigError::Invalid { reason, .. } => reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let text = "ab\ncdé\r\nfg";
        // (byte offset, line, column); 'é' is two bytes but one column; an offset inside a
        // character or past the end is clamped, without panicking.
        let cases = [(0, 1, 1), (2, 1, 3), (3, 2, 1), (7, 2, 4), (9, 3, 1), (6, 2, 3), (100, 3, 3)];
        let index = LineIndex::new(text);
        for (offset, line, column) in cases {
            assert_eq!(Location::from_offset(text, offset), Location { line, column }, "offset {offset}");
            assert_eq!(index.locate(text, offset), Location { line, column }, "offset {offset} by the index");
        }
    }

    #[test]
    fn displays_like_a_compiler() {
        let err = ConfigError::Invalid {
            file: PathBuf::from("/etc/ulvs.toml"),
            location: Location { line: 12, column: 7 },
            reason: "unknown key `vipp`".into(),
        };
        assert_eq!(err.to_string(), "/etc/ulvs.toml:12:7: unknown key `vipp`");
        assert_eq!(err.location(), Some(Location { line: 12, column: 7 }));
    }
}
