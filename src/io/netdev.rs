//! TODO(io helper): netdev
