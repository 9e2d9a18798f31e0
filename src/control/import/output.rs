//! The conversion's one writer: the ulvs file it built, in the reader's own types
//! (`config::file`), serialized by serde into a `toml_edit` document, with the conversion's
//! comments where they belong. Keys, their order and the spelling of every value are the reader's
//! (serde's, from the same definitions the reader deserializes), so the output is the reader's
//! format by construction; this module only lays the document out:
//! - `[director]`, `[timeouts]`, `[sync]` are tables; `[[service]]`, `[[service.real]]`, `[[vrrp]]`
//!   and `[[vrrp_sync_group]]` arrays of tables (a real server's, indented under its service);
//!   everything else stays inline (`check = { … }`, `garp = { … }`);
//! - an array of two or more tables at a table's top level (`track_script`) is written one table
//!   per line;
//! - comment lines go before the header of the table they belong to ([`Commented::before`]),
//!   and a note on a key after its value, on its line ([`Commented::after_keys`]).

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::control::config::file::{
    made, RawConfig, RawDirector, RawReal, RawService, RawSync, RawSyncGroup, RawTimeouts, RawVrrp,
};

/// How a real server's lines are indented under its service.
pub(super) const REAL_INDENT: &str = "  ";

/// A table of the output and the comments that go with it.
pub(super) struct Commented<T> {
    /// Comment lines before the table's header, each ending in a newline (blank lines allowed),
    /// and, for a real server, the header's indentation.
    pub before: String,
    pub value: T,
    /// `(key, comment)`: the comment follows the key's value on its line.
    pub after_keys: Vec<(&'static str, String)>,
}

impl<T> Commented<T> {
    pub fn new(before: String, value: T) -> Commented<T> {
        Commented { before, value, after_keys: Vec::new() }
    }
}

/// A service with its real servers, each with its comments.
pub(super) struct ServiceOut {
    pub service: Commented<RawService>,
    pub reals: Vec<Commented<RawReal>>,
}

/// The whole file, in the order it is written.
pub(super) struct Output {
    pub director: Commented<RawDirector>,
    pub timeouts: Option<Commented<RawTimeouts>>,
    pub services: Vec<ServiceOut>,
    pub vrrps: Vec<Commented<RawVrrp>>,
    pub sync_groups: Vec<Commented<RawSyncGroup>>,
    pub sync: Option<Commented<RawSync>>,
    /// Comments after the last table (what was left out at the end of the file).
    pub trailing: String,
}

/// Each table's comments, taken from the typed values before they are serialized.
struct Decor {
    before: String,
    after_keys: Vec<(&'static str, String)>,
}

fn split<T>(commented: Commented<T>) -> (T, Decor) {
    (commented.value, Decor { before: commented.before, after_keys: commented.after_keys })
}

impl Output {
    pub fn render(self) -> String {
        let (director, director_decor) = split(self.director);
        let (timeouts, timeouts_decor) = self.timeouts.map(split).unzip();
        let mut service_decor = Vec::new();
        let mut services = Vec::new();
        for ServiceOut { service, reals } in self.services {
            let (mut service, decor) = split(service);
            let (reals, reals_decor): (Vec<_>, Vec<_>) = reals.into_iter().map(split).unzip();
            service.real = reals.into_iter().map(made).collect();
            services.push(made(service));
            service_decor.push((decor, reals_decor));
        }
        let (vrrps, vrrp_decor): (Vec<_>, Vec<_>) = self.vrrps.into_iter().map(split).unzip();
        let (groups, group_decor): (Vec<_>, Vec<_>) = self.sync_groups.into_iter().map(split).unzip();
        let (sync, sync_decor) = self.sync.map(split).unzip();
        let file = RawConfig {
            director: made(director),
            timeouts: timeouts.map(made),
            metrics: None,
            services,
            vrrps: vrrps.into_iter().map(made).collect(),
            sync_groups: groups.into_iter().map(made).collect(),
            sync: sync.map(made),
            bgp: None,
            filter: None,
        };
        // The file's types are strings, integers, booleans, arrays and tables: nothing TOML lacks.
        let mut document: DocumentMut =
            toml_edit::ser::to_document(&file).expect("the config file's types serialize to TOML");
        let root = document.as_table_mut();
        decorate(table(root, "director"), director_decor, "");
        if let Some(decor) = timeouts_decor {
            decorate(table(root, "timeouts"), decor, "");
        }
        for (service, (decor, reals_decor)) in tables(root, "service").iter_mut().zip(service_decor) {
            decorate(service, decor, "");
            for (real, decor) in tables(service, "real").iter_mut().zip(reals_decor) {
                decorate(real, decor, REAL_INDENT);
            }
        }
        for (entry, decor) in tables(root, "vrrp").iter_mut().zip(vrrp_decor) {
            decorate(entry, decor, "");
        }
        for (entry, decor) in tables(root, "vrrp_sync_group").iter_mut().zip(group_decor) {
            decorate(entry, decor, "");
        }
        if let Some(decor) = sync_decor {
            decorate(table(root, "sync"), decor, "");
        }
        document.set_trailing(self.trailing);
        document.to_string()
    }
}

/// The key `key` of `parent` as a table (the serializer made it an inline one).
fn table<'a>(parent: &'a mut Table, key: &str) -> &'a mut Table {
    let item = parent.get_mut(key).unwrap_or_else(|| panic!("the output has no {key}"));
    *item = match std::mem::take(item).into_table() {
        Ok(table) => Item::Table(table),
        Err(other) => other,
    };
    item.as_table_mut().unwrap_or_else(|| panic!("{key} is a table"))
}

/// The key `key` of `parent` as an array of tables (the serializer made it an array of inline
/// ones); an empty one when the key is absent (the serializer leaves out an empty array).
fn tables<'a>(parent: &'a mut Table, key: &str) -> &'a mut ArrayOfTables {
    let item = parent.entry(key).or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    *item = match std::mem::take(item).into_array_of_tables() {
        Ok(array) => Item::ArrayOfTables(array),
        Err(other) => other,
    };
    item.as_array_of_tables_mut().unwrap_or_else(|| panic!("{key} is an array of tables"))
}

/// Puts `decor`'s comments around `table`, its keys indented by `indent`; an array of two or more
/// inline tables is written one per line.
fn decorate(table: &mut Table, decor: Decor, indent: &str) {
    table.decor_mut().set_prefix(decor.before);
    for (mut key, item) in table.iter_mut() {
        key.leaf_decor_mut().set_prefix(indent);
        if let Some(Value::Array(array)) = item.as_value_mut() {
            if array.len() > 1 && array.iter().all(Value::is_inline_table) {
                for value in array.iter_mut() {
                    value.decor_mut().set_prefix(format!("\n{indent}    "));
                }
                array.set_trailing(format!("\n{indent}"));
                array.set_trailing_comma(true);
            }
        }
    }
    for (key, comment) in decor.after_keys {
        if let Some(value) = table.get_mut(key).and_then(Item::as_value_mut) {
            value.decor_mut().set_suffix(comment);
        }
    }
}
