//! The director's interface, watched: renamed, down, up again, or removed.
//!
//! ulvs binds everything to the interface's index at start (the XDP program, the AF_XDP or
//! AF_PACKET sockets, the ARP and HA sockets), so a rename changes nothing it does: it is logged,
//! with a reminder that `[director] interface` no longer names the port. Down and up again (an
//! operator, a cable, a flapping switch port) are logged and waited out: nothing is received or
//! sent meanwhile, and the workers, the resolver and HA carry on once the link is back. Removed
//! (`ip link del`, a driver unload) is the end: its sockets are dead and the index will not come
//! back, so the control loop stops the daemon cleanly with that reason (a supervisor restarts it
//! once the interface exists again).
//!
//! [`LinkWatch`] is the decision, fed what [`observe`] reads; the control loop calls both every
//! second or so and logs what it says.

use std::io;

use crate::io::netdev;
pub use crate::io::netdev::is_link_error;

/// What the system says about the watched index now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// It exists, under this name, with its link running (up and with carrier) or not.
    Present { name: String, running: bool },
    /// No interface has the index any more.
    Gone,
}

/// A change worth telling the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    Renamed { from: String, to: String },
    Down { name: String },
    Up { name: String },
    Removed { name: String, index: u32 },
}

impl std::fmt::Display for LinkEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkEvent::Renamed { from, to } => write!(
                f,
                "interface {from} was renamed {to}: ulvs keeps serving it (by index); \
                 [director] interface names it no more, so update the config before the next restart"
            ),
            LinkEvent::Down { name } => {
                write!(f, "interface {name} is down: nothing is received or forwarded until it is up again")
            }
            LinkEvent::Up { name } => write!(f, "interface {name} is up again: forwarding"),
            LinkEvent::Removed { name, index } => {
                write!(f, "interface {name} (index {index}) was removed: stopping (start ulvs again once it is back)")
            }
        }
    }
}

/// The last known state of the director's interface.
#[derive(Clone, Debug)]
pub struct LinkWatch {
    index: u32,
    name: String,
    running: bool,
    removed: bool,
}

impl LinkWatch {
    /// Watches `index`, known as `name`, whose link is assumed running.
    pub fn new(index: u32, name: &str) -> LinkWatch {
        LinkWatch { index, name: name.to_string(), running: true, removed: false }
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// The interface's name as last seen.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the link was running (up, with carrier) when last seen.
    pub fn running(&self) -> bool {
        self.running
    }

    /// The changes since the last observation, in the order they are told.
    pub fn update(&mut self, observed: Observed) -> Vec<LinkEvent> {
        let mut events = Vec::new();
        match observed {
            Observed::Gone => {
                if !self.removed {
                    self.removed = true;
                    events.push(LinkEvent::Removed { name: self.name.clone(), index: self.index });
                }
            }
            Observed::Present { name, running } => {
                if name != self.name {
                    let from = std::mem::replace(&mut self.name, name.clone());
                    events.push(LinkEvent::Renamed { from, to: name.clone() });
                }
                if running != self.running {
                    self.running = running;
                    events.push(if running { LinkEvent::Up { name } } else { LinkEvent::Down { name } });
                }
            }
        }
        events
    }
}

/// Reads what the system says about interface `index`.
pub fn observe(index: u32) -> io::Result<Observed> {
    let name = match netdev::ifname(index) {
        Ok(name) => name,
        Err(err) if matches!(err.raw_os_error(), Some(libc::ENXIO | libc::ENODEV)) => return Ok(Observed::Gone),
        Err(err) => return Err(err),
    };
    match netdev::is_running(&name) {
        Ok(running) => Ok(Observed::Present { name, running }),
        // Removed (or renamed again) between the two reads: the next look tells which.
        Err(err) if matches!(err.raw_os_error(), Some(libc::ENXIO | libc::ENODEV)) => Ok(Observed::Gone),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(name: &str, running: bool) -> Observed {
        Observed::Present { name: name.into(), running }
    }

    #[test]
    fn renamed_down_up_and_removed_are_told_once_each() {
        let mut watch = LinkWatch::new(7, "eth0");
        assert_eq!(watch.update(present("eth0", true)), vec![]);
        assert_eq!(watch.update(present("eth0", false)), vec![LinkEvent::Down { name: "eth0".into() }]);
        assert_eq!(watch.update(present("eth0", false)), vec![]);
        assert_eq!(
            watch.update(present("lan0", true)),
            vec![LinkEvent::Renamed { from: "eth0".into(), to: "lan0".into() }, LinkEvent::Up { name: "lan0".into() }]
        );
        assert_eq!(watch.name(), "lan0");
        assert_eq!(watch.update(Observed::Gone), vec![LinkEvent::Removed { name: "lan0".into(), index: 7 }]);
        assert_eq!(watch.update(Observed::Gone), vec![]);
        assert!(LinkEvent::Removed { name: "lan0".into(), index: 7 }.to_string().contains("stopping"));
    }

    #[test]
    fn loopback_is_observed_and_a_missing_index_is_gone() {
        let lo = netdev::ifindex("lo").unwrap();
        assert!(matches!(observe(lo).unwrap(), Observed::Present { name, running: true } if name == "lo"));
        assert_eq!(observe(u32::MAX - 1).unwrap(), Observed::Gone);
    }
}
