//! TODO(wire helper): tcp
