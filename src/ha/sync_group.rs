//! keepalived's `vrrp_sync_group` at run time: the members share a fault; while one is BACKUP
//! under a live master the others resign and stay BACKUP ("prefer backup"), so they change role
//! together; and the group's own hooks run when all members have reached the same state.

use super::spec::SyncGroup;
use super::State;

/// One configured group, with its members as indices into the driver's instances.
pub struct GroupRun {
    pub group: SyncGroup,
    pub members: Vec<usize>,
    /// The state all members last shared, whose hooks have run.
    shared: Option<State>,
}

impl GroupRun {
    /// `names[i]` is instance `i`'s name; members that name no instance were refused by the config.
    pub fn new(group: SyncGroup, names: &[&str]) -> GroupRun {
        let members = group.members.iter().filter_map(|member| names.iter().position(|name| name == member)).collect();
        GroupRun { group, members, shared: None }
    }

    /// The state all members are in now, when it is new (the group's hooks are due), else `None`.
    pub fn reached(&mut self, states: &[State]) -> Option<State> {
        let first = states[*self.members.first()?];
        if self.members.iter().any(|&member| states[member] != first) || self.shared == Some(first) {
            return None;
        }
        self.shared = Some(first);
        Some(first)
    }
}

/// Each instance's fault once groups are taken into account: its own, or any fellow member's.
pub fn shared_faults(own: &[bool], groups: &[GroupRun]) -> Vec<bool> {
    let mut faults = own.to_vec();
    for group in groups {
        if group.members.iter().any(|&member| own[member]) {
            for &member in &group.members {
                faults[member] = true;
            }
        }
    }
    faults
}

/// Each instance's hold (keepalived's "prefer backup"): a fellow member of its group is BACKUP
/// under a live master (`live_backup`), so it must not be master alone.
pub fn group_holds(live_backup: &[bool], groups: &[GroupRun]) -> Vec<bool> {
    let mut holds = vec![false; live_backup.len()];
    for group in groups {
        for &member in &group.members {
            holds[member] |= group.members.iter().any(|&other| other != member && live_backup[other]);
        }
    }
    holds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::spec::NotifyHooks;

    fn group(members: &[&str]) -> SyncGroup {
        SyncGroup {
            name: "G".into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            hooks: NotifyHooks::default(),
        }
    }

    #[test]
    fn a_fault_of_one_member_faults_the_group_and_no_one_else() {
        let names = ["outside", "inside", "alone"];
        let groups = [GroupRun::new(group(&["outside", "inside"]), &names)];
        assert_eq!(shared_faults(&[false, true, false], &groups), vec![true, true, false]);
        assert_eq!(shared_faults(&[false, false, true], &groups), vec![false, false, true]);
        assert_eq!(shared_faults(&[false, false, false], &groups), vec![false, false, false]);
    }

    #[test]
    fn a_member_under_a_live_master_holds_its_fellows_and_no_one_else() {
        let names = ["outside", "inside", "alone"];
        let groups = [GroupRun::new(group(&["outside", "inside"]), &names)];
        assert_eq!(group_holds(&[false, true, false], &groups), vec![true, false, false]);
        assert_eq!(group_holds(&[true, true, false], &groups), vec![true, true, false]);
        assert_eq!(group_holds(&[false, false, true], &groups), vec![false, false, false]);
    }

    #[test]
    fn the_group_reaches_a_state_once_all_members_share_it() {
        let names = ["outside", "inside"];
        let mut run = GroupRun::new(group(&["outside", "inside"]), &names);
        assert_eq!(run.reached(&[State::Backup, State::Backup]), Some(State::Backup));
        assert_eq!(run.reached(&[State::Backup, State::Backup]), None, "hooks run once per state");
        assert_eq!(run.reached(&[State::Master, State::Backup]), None, "not all there yet");
        assert_eq!(run.reached(&[State::Master, State::Master]), Some(State::Master));
    }
}
