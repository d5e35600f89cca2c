//! Where each live stream is published in the cluster (its origin node), so another node's
//! players can be served from it, and no other node publishes it meanwhile. Key
//! `duet:origin:{app}:{stream}` → `{node}:{publisher}:{budget}`, the origin's node name, the
//! publish's number there and its latency budget (which the edges' copies take too): set when
//! a publish is admitted and removed when that same publish ends (a takeover's new publish has
//! replaced it). A node writes its changes in order, from one task ([`run`]). A key naming a
//! node that is no longer alive (it crashed) is ignored; the next publish replaces it.

use redis::aio::ConnectionManager;

use duet_media::{LatencyBudget, StreamKey};

use super::nodes::NodeInfo;

fn key(stream: &StreamKey) -> String {
    format!("duet:origin:{}:{}", stream.app_id, stream.stream_id)
}

/// Deletes the key when it still names this publish, ARGV[1] `{node}:{publisher}:` (one
/// atomic step).
const RELEASE: &str = r#"
local held = redis.call("GET", KEYS[1])
if held and string.sub(held, 1, #ARGV[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
"#;

/// A publish admitted (with its budget) or ended (`None`) on this node.
pub struct Change {
    pub stream: StreamKey,
    /// The publish's number in this node's media hub.
    pub publisher: u64,
    pub started: Option<LatencyBudget>,
}

/// Where a stream is live: its node, and the latency budget its publish was given.
pub struct Origin {
    pub node: NodeInfo,
    pub budget: Option<LatencyBudget>,
}

/// Writes this node's origin changes, in the order they happen, until the sender is dropped.
pub async fn run(mut conn: ConnectionManager, node: String, mut changes: tokio::sync::mpsc::UnboundedReceiver<Change>) {
    while let Some(change) = changes.recv().await {
        let token = format!("{node}:{}:", change.publisher);
        let written: redis::RedisResult<()> = if let Some(budget) = change.started {
            redis::cmd("SET").arg(key(&change.stream)).arg(format!("{token}{budget}")).query_async(&mut conn).await
        } else {
            redis::Script::new(RELEASE)
                .key(key(&change.stream))
                .arg(&token)
                .invoke_async::<i64>(&mut conn)
                .await
                .map(drop)
        };
        if let Err(e) = written {
            tracing::warn!(stream = %change.stream.stream_id, "cannot record the stream's origin in the cluster ({e}); other nodes may not serve it");
        }
    }
}

/// The living node (other than `me`) that publishes `stream`, among `alive`; an error when
/// Redis cannot say.
pub async fn origin(
    mut conn: ConnectionManager,
    me: &str,
    stream: &StreamKey,
    alive: Vec<NodeInfo>,
) -> redis::RedisResult<Option<Origin>> {
    let token: Option<String> = redis::cmd("GET").arg(key(stream)).query_async(&mut conn).await?;
    let Some(token) = token else { return Ok(None) };
    let mut parts = token.splitn(3, ':');
    let name = parts.next().unwrap_or_default();
    if name == me {
        return Ok(None);
    }
    let budget = parts.nth(1).and_then(|b| b.parse().ok());
    if let Some(node) = alive.into_iter().find(|n| n.name == name) {
        return Ok(Some(Origin { node, budget }));
    }
    // Not in this node's view of the cluster (a moment old; after Redis came back, nodes write
    // their entries again within a beat): the registry says whether it lives.
    let info: Option<String> =
        redis::cmd("HGET").arg(format!("duet:node:{name}")).arg("info").query_async(&mut conn).await?;
    Ok(info.and_then(|i| serde_json::from_str::<NodeInfo>(&i).ok()).map(|node| Origin { node, budget }))
}
