//! keepalived.conf's block syntax, read into a tree of statements.
//!
//! The syntax (as keepalived's own parser reads it): one statement per line, a keyword followed by
//! words; `{` opens a block of statements belonging to the statement before it (on the same line
//! or the previous one), `}` closes it; `#` and `!` start a comment that runs to the end of the
//! line; a word in double quotes may hold spaces (keepalived keeps the quotes' content). `include
//! PATTERN` is replaced by the statements of the files it names: a path relative to the including
//! file's folder, and shell-style patterns (`conf.d/*.conf`, files in sorted order), as
//! keepalived does.
//!
//! Problems (an unbalanced brace, an unterminated quote, an include that names no file or a file
//! that cannot be read, an include loop) are collected with their file and line; parsing goes on
//! so that every problem is reported at once.

use std::fmt;
use std::path::{Path, PathBuf};

/// One statement: its keyword, words, and block if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub keyword: String,
    pub args: Vec<String>,
    pub at: Place,
    /// `Some` when the statement opens a `{ }` block.
    pub block: Option<Vec<Node>>,
}

impl Node {
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or_default()
    }
}

/// Where a statement is: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A problem found while reading, at a place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub at: Place,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// Deepest include nesting followed before it is called a loop.
const MAX_INCLUDE_DEPTH: usize = 8;
/// Deepest block nesting kept (keepalived's deepest is 4: `virtual_server`, `real_server`, a
/// checker, `url`). A block deeper than this is left out with its contents, so the tree the
/// converter walks (recursively) stays shallow whatever the file.
const MAX_BLOCK_DEPTH: usize = 32;

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Open,
    Close,
}

/// Reads `path` (and what it includes) into statements, with every problem found.
pub fn read_file(path: &Path) -> (Vec<Node>, Vec<Problem>) {
    let mut problems = Vec::new();
    let nodes = match std::fs::read_to_string(path) {
        Ok(text) => parse_text(&text, path, 0, &mut problems),
        Err(err) => {
            problems.push(Problem {
                at: Place { file: path.to_path_buf(), line: 0 },
                reason: format!("cannot read: {err}"),
            });
            Vec::new()
        }
    };
    (nodes, problems)
}

/// Parses `text`, which came from `file` (includes are resolved relative to it).
pub fn parse_text(text: &str, file: &Path, depth: usize, problems: &mut Vec<Problem>) -> Vec<Node> {
    // A stack of open blocks; the bottom one is the file's top level.
    let mut stack: Vec<(Option<Node>, Vec<Node>)> = vec![(None, Vec::new())];
    // A `{` belongs to the innermost block's last statement (on its line or the line before).
    for (index, raw_line) in text.lines().enumerate() {
        let at = Place { file: file.to_path_buf(), line: index + 1 };
        let tokens = match tokenize(raw_line) {
            Ok(tokens) => tokens,
            Err(reason) => {
                problems.push(Problem { at, reason });
                continue;
            }
        };
        let mut words: Vec<String> = Vec::new();
        let flush =
            |words: &mut Vec<String>, stack: &mut Vec<(Option<Node>, Vec<Node>)>, problems: &mut Vec<Problem>| {
                if words.is_empty() {
                    return;
                }
                let keyword = words.remove(0);
                let args = std::mem::take(words);
                if keyword == "include" {
                    let included = include(&args, &at, depth, problems);
                    stack.last_mut().expect("the top level is never popped").1.extend(included);
                } else {
                    let node = Node { keyword, args, at: at.clone(), block: None };
                    stack.last_mut().expect("the top level is never popped").1.push(node);
                }
            };
        for token in tokens {
            match token {
                Token::Word(word) => words.push(word),
                Token::Open => {
                    flush(&mut words, &mut stack, problems);
                    if stack.len() > MAX_BLOCK_DEPTH {
                        // Its statement and everything inside are dropped with the placeholder.
                        stack.last_mut().expect("top level").1.pop();
                        if stack.len() == MAX_BLOCK_DEPTH + 1 {
                            let reason = format!("blocks nested more than {MAX_BLOCK_DEPTH} deep: left out");
                            problems.push(Problem { at: at.clone(), reason });
                        }
                        stack.push((None, Vec::new()));
                        continue;
                    }
                    let siblings = &mut stack.last_mut().expect("top level").1;
                    let owner = match siblings.last() {
                        Some(last) if last.block.is_none() => siblings.pop(),
                        _ => None,
                    };
                    match owner {
                        Some(owner) => stack.push((Some(owner), Vec::new())),
                        None => {
                            problems.push(Problem { at: at.clone(), reason: "'{' without a keyword before it".into() });
                            stack.push((None, Vec::new()));
                        }
                    }
                }
                Token::Close => {
                    flush(&mut words, &mut stack, problems);
                    if stack.len() == 1 {
                        problems.push(Problem { at: at.clone(), reason: "'}' without a matching '{'".into() });
                        continue;
                    }
                    let (owner, children) = stack.pop().expect("checked above");
                    if let Some(mut owner) = owner {
                        owner.block = Some(children);
                        stack.last_mut().expect("top level").1.push(owner);
                    }
                }
            }
        }
        flush(&mut words, &mut stack, problems);
    }
    while stack.len() > 1 {
        let (owner, children) = stack.pop().expect("len > 1");
        if let Some(mut owner) = owner {
            problems.push(Problem {
                at: owner.at.clone(),
                reason: format!("block of {} is never closed with '}}'", owner.keyword),
            });
            owner.block = Some(children);
            stack.last_mut().expect("top level").1.push(owner);
        }
    }
    stack.pop().map(|(_, nodes)| nodes).unwrap_or_default()
}

fn include(args: &[String], at: &Place, depth: usize, problems: &mut Vec<Problem>) -> Vec<Node> {
    let [pattern] = args else {
        problems.push(Problem { at: at.clone(), reason: "include takes one path or pattern".into() });
        return Vec::new();
    };
    if depth >= MAX_INCLUDE_DEPTH {
        problems.push(Problem {
            at: at.clone(),
            reason: format!("include nested more than {MAX_INCLUDE_DEPTH} deep (an include loop?)"),
        });
        return Vec::new();
    }
    let base = at.file.parent().unwrap_or(Path::new("."));
    let full = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
    let mut files: Vec<PathBuf> = match glob::glob(&full.to_string_lossy()) {
        Ok(paths) => paths.filter_map(Result::ok).collect(),
        Err(err) => {
            problems.push(Problem { at: at.clone(), reason: format!("include {pattern:?}: bad pattern: {err}") });
            return Vec::new();
        }
    };
    files.sort();
    if files.is_empty() {
        problems.push(Problem { at: at.clone(), reason: format!("include {pattern:?} names no file") });
        return Vec::new();
    }
    let mut nodes = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => nodes.extend(parse_text(&text, &file, depth + 1, problems)),
            Err(err) => problems
                .push(Problem { at: at.clone(), reason: format!("include {}: cannot read: {err}", file.display()) }),
        }
    }
    nodes
}

/// Splits one line into words and braces, dropping its comment.
fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '#' | '!' => break,
            c if c.is_whitespace() => {
                chars.next();
            }
            '{' => {
                chars.next();
                tokens.push(Token::Open);
            }
            '}' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated quoted string".into()),
                    }
                }
                tokens.push(Token::Word(word));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '{' || c == '}' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Node>, Vec<Problem>) {
        let mut problems = Vec::new();
        let nodes = parse_text(text, Path::new("k.conf"), 0, &mut problems);
        (nodes, problems)
    }

    #[test]
    fn blocks_comments_and_quotes() {
        let (nodes, problems) = parse(
            "! Configuration File\nglobal_defs {\n  router_id LVS_1 # the id\n}\nvrrp_script chk\n{\n  script \"/bin/check a\"\n}\nvirtual_server 10.0.0.100 80 { lb_algo rr }\n",
        );
        assert_eq!(problems, vec![]);
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].keyword, "global_defs");
        assert_eq!(nodes[0].children()[0].args, vec!["LVS_1"]);
        assert_eq!(nodes[1].args, vec!["chk"]);
        assert_eq!(nodes[1].children()[0].args, vec!["/bin/check a"]);
        assert_eq!(nodes[2].children()[0].keyword, "lb_algo");
        assert_eq!(nodes[2].at.line, 9);
    }

    #[test]
    fn every_syntax_problem_is_reported_with_its_line() {
        let (_, problems) = parse("a {\n  b \"open\n}\n}\nc {\n");
        let lines: Vec<(usize, &str)> = problems.iter().map(|p| (p.at.line, p.reason.as_str())).collect();
        assert_eq!(
            lines,
            vec![
                (2, "unterminated quoted string"),
                (4, "'}' without a matching '{'"),
                (5, "block of c is never closed with '}'"),
            ]
        );
    }

    #[test]
    fn blocks_nested_ten_thousand_deep_are_left_out_once() {
        let text = format!("top {{\n{}{}}}\nafter 1\n", "a {\n".repeat(10_000), "}\n".repeat(10_000));
        let (nodes, problems) = parse(&text);
        assert_eq!(problems.len(), 1, "{:?}", &problems[..problems.len().min(3)]);
        assert_eq!(problems[0].at.line, 1 + MAX_BLOCK_DEPTH);
        assert!(problems[0].reason.contains("nested more than 32 deep"), "{problems:?}");
        let mut depth = 0;
        let mut node = &nodes[0];
        while let Some(child) = node.children().first() {
            (node, depth) = (child, depth + 1);
        }
        assert_eq!(depth, MAX_BLOCK_DEPTH - 1, "the tree stops at the limit");
        assert_eq!(nodes[1].keyword, "after", "what follows the deep blocks still reads");
    }

    #[test]
    fn includes_are_read_relative_to_the_including_file() {
        let dir = std::env::temp_dir().join(format!("ulvs-import-include-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "vs_b\n").unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "vs_a\n").unwrap();
        std::fs::write(dir.join("loop.conf"), "include loop.conf\n").unwrap();
        std::fs::write(dir.join("main.conf"), "include conf.d/*.conf\ninclude missing/*.conf\n").unwrap();
        let (nodes, problems) = read_file(&dir.join("main.conf"));
        let keywords: Vec<&str> = nodes.iter().map(|n| n.keyword.as_str()).collect();
        assert_eq!(keywords, vec!["vs_a", "vs_b"]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].reason.contains("names no file"), "{problems:?}");
        let (_, problems) = read_file(&dir.join("loop.conf"));
        assert!(problems.iter().any(|p| p.reason.contains("include loop")), "{problems:?}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
