//! Load generators and measurements (fan-out, relay latency, first frame, signaling scale),
//! loopback only and bounded. Empty until the benchmark issue (#8) fills it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
