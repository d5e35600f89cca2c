//! The `duet` server as a library: the CLI and settings, the app store, and the I/O around the
//! protocol cores: signaling over WebSocket, media over RTMP and HTTP, the HTTP API and console,
//! webhooks. `main.rs` only calls [`main`]; docs/architecture.md is the map.
#![forbid(unsafe_code)]

/// Prints a line to stdout, ignoring a closed pipe (`duet app list | head -1` must not panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod acme;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod http;
pub mod http_client;
pub mod media;
pub mod metrics;
pub mod mix;
pub mod os;
pub mod public_url;
pub mod quality;
pub mod signaling;
pub mod store;
pub mod webhooks;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, LogFormat, LogLevel};
use crate::config::Loaded;

/// Runs `duet` with the process's arguments; failures become one line on stderr and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("duet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let loaded = Loaded::from_cli(&cli)?;
    let common = loaded.common(&cli);
    match cli.command {
        Command::Serve(ref args) => {
            let settings = loaded.serve(&cli, args)?;
            init_logging(settings.common.log_level, settings.common.log_format);
            commands::serve::run(settings)
        }
        Command::App(cmd) => {
            init_logging(quiet_unless_asked(common.log_level), common.log_format);
            commands::app::run(&common, cmd)
        }
        Command::Token(cmd) => {
            init_logging(quiet_unless_asked(common.log_level), common.log_format);
            commands::token::run(&common, cmd)
        }
        Command::Url(cmd) => {
            init_logging(quiet_unless_asked(common.log_level), common.log_format);
            commands::url::run(&common, &loaded, cmd)
        }
        Command::Admin(cmd) => {
            init_logging(quiet_unless_asked(common.log_level), common.log_format);
            commands::admin::run(&common, cmd)
        }
        Command::Node(cmd) => {
            init_logging(quiet_unless_asked(common.log_level), common.log_format);
            commands::node::run(&common, cmd)
        }
    }
}

/// One-shot commands log warnings only, unless a more verbose level was asked for.
fn quiet_unless_asked(level: LogLevel) -> LogLevel {
    if level == LogLevel::Info { LogLevel::Warn } else { level }
}

fn init_logging(level: LogLevel, format: LogFormat) {
    use tracing::level_filters::LevelFilter;
    let filter = match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(filter).with_target(false);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}
