//! TODO(io helper): xdp
