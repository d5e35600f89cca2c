//! `duet node ...`: acting on one node of a cluster through the cluster's Redis.

use anyhow::Context;

use crate::cli::NodeCommand;
use crate::config::Common;

/// Runs one `duet node` subcommand.
pub fn run(common: &Common, cmd: NodeCommand) -> anyhow::Result<()> {
    let Some(url) = &common.redis_url else {
        anyhow::bail!("`duet node` acts on a cluster: give its Redis with --redis-url");
    };
    let shown = crate::cluster::redacted(url);
    let client =
        redis::Client::open(url.as_str()).with_context(|| format!("--redis-url {shown:?} is not a Redis URL"))?;
    let mut conn = client
        .get_connection_with_timeout(std::time::Duration::from_secs(3))
        .with_context(|| format!("cannot reach Redis at {shown}"))?;
    match cmd {
        NodeCommand::Drain { node_id } => {
            crate::cluster::nodes::ask_to_drain(&mut conn, &node_id)?;
            say!("Asked node {node_id:?} to drain: it sends its clients to the other nodes, then exits");
        }
    }
    Ok(())
}
