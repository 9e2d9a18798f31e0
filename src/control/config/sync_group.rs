//! The `[[vrrp_sync_group]]` tables: keepalived's `vrrp_sync_group` (see `ha::spec::SyncGroup`).
//! Each names at least two `[[vrrp]]` instances, each instance in at most one group.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::raw::{made, Text};
use super::validate::Validator;
use super::{ConfigError, VrrpConfig};
use crate::ha::spec::{NotifyHooks, SyncGroup, DEFAULT_NOTIFY_TIMEOUT};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSyncGroup {
    pub name: Spanned<String>,
    pub group: Spanned<Vec<Spanned<String>>>,
    pub notify: Option<Spanned<String>>,
    pub notify_master: Option<Spanned<String>>,
    pub notify_backup: Option<Spanned<String>>,
    pub notify_fault: Option<Spanned<String>>,
    pub notify_timeout: Option<Spanned<Text<Duration>>>,
}

impl RawSyncGroup {
    /// The sync group `name` of instances `members`, without scripts.
    pub(crate) fn new(name: String, members: Vec<String>) -> RawSyncGroup {
        RawSyncGroup {
            name: made(name),
            group: made(members.into_iter().map(made).collect()),
            notify: None,
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            notify_timeout: None,
        }
    }
}

impl Validator<'_> {
    pub(super) fn sync_groups(
        &self,
        raws: Vec<Spanned<RawSyncGroup>>,
        instances: &[VrrpConfig],
    ) -> Result<Vec<SyncGroup>, ConfigError> {
        let mut groups: Vec<SyncGroup> = Vec::new();
        for raw in raws {
            let raw = raw.into_inner();
            let name = raw.name.get_ref().clone();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(
                    self.error(&raw.name.span(), format!("group name {name:?} must be non-empty, without spaces"))
                );
            }
            if groups.iter().any(|g| g.name == name) {
                return Err(self.error(&raw.name.span(), format!("duplicate vrrp_sync_group {name:?}")));
            }
            if raw.group.get_ref().len() < 2 {
                return Err(self.error(&raw.group.span(), "a sync group needs at least two instances"));
            }
            let mut members: Vec<String> = Vec::new();
            for member in raw.group.get_ref() {
                let instance = member.get_ref();
                if !instances.iter().any(|vrrp| &vrrp.instance.name == instance) {
                    return Err(self.error(&member.span(), format!("no [[vrrp]] instance named {instance:?}")));
                }
                if members.contains(instance) {
                    return Err(self.error(&member.span(), format!("instance {instance:?} is listed twice")));
                }
                if let Some(other) = groups.iter().find(|g| g.members.contains(instance)) {
                    return Err(self.error(
                        &member.span(),
                        format!("instance {instance:?} is already in sync group {:?}", other.name),
                    ));
                }
                members.push(instance.clone());
            }
            let path = |value: &Option<Spanned<String>>, key: &str| self.hook(value, key);
            let hooks = NotifyHooks {
                notify: path(&raw.notify, "notify")?,
                notify_master: path(&raw.notify_master, "notify_master")?,
                notify_backup: path(&raw.notify_backup, "notify_backup")?,
                notify_fault: path(&raw.notify_fault, "notify_fault")?,
                up_script: None,
                down_script: None,
                timeout: match &raw.notify_timeout {
                    Some(timeout) => self.nonzero(timeout, "notify_timeout")?,
                    None => DEFAULT_NOTIFY_TIMEOUT,
                },
            };
            groups.push(SyncGroup { name, members, hooks });
        }
        Ok(groups)
    }
}
