//! TODO(wire helper): icmp
