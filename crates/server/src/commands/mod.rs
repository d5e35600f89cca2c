//! One module per `duet` subcommand; each takes settings and returns a result, never exits.

pub mod admin;
pub mod app;
pub mod node;
pub mod serve;
pub mod token;
pub mod url;
