//! TODO(io helper): packet
