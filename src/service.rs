//! Services, real servers and the immutable snapshot workers read.
