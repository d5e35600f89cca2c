//! A Rust client of the signaling protocol in docs/protocol.md, used by tests, the benchmark
//! and bots. Empty until the signaling issue (#3) fills it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
