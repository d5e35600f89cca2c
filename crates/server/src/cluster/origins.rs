//! Where each live stream is published in the cluster (its origin node), so another node's
//! players can be served from it. Key `duet:origin:{app}:{stream}` → the origin's node name,
//! set when a publish is admitted and removed when it ends (only by that node: a later
//! publish elsewhere has replaced it). A key naming a node that is no longer alive (it
//! crashed) is ignored; the next publish replaces it.

use redis::aio::ConnectionManager;

use duet_media::StreamKey;

use super::nodes::NodeInfo;

fn key(stream: &StreamKey) -> String {
    format!("duet:origin:{}:{}", stream.app_id, stream.stream_id)
}

/// Deletes the key when it still names `node` (one atomic step).
const RELEASE: &str =
    r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;

/// Records `node` as the origin of `stream`.
pub async fn started(mut conn: ConnectionManager, node: String, stream: StreamKey) {
    let set: redis::RedisResult<()> = redis::cmd("SET").arg(key(&stream)).arg(&node).query_async(&mut conn).await;
    if let Err(e) = set {
        tracing::warn!(stream = %stream.stream_id, "cannot record the stream's origin in the cluster ({e}); other nodes cannot serve it");
    }
}

/// Forgets `node` as the origin of `stream`.
pub async fn ended(mut conn: ConnectionManager, node: String, stream: StreamKey) {
    let released: redis::RedisResult<i64> =
        redis::Script::new(RELEASE).key(key(&stream)).arg(&node).invoke_async(&mut conn).await;
    if let Err(e) = released {
        tracing::warn!(stream = %stream.stream_id, "cannot clear the stream's origin in the cluster ({e})");
    }
}

/// The living node (other than `me`) that publishes `stream`, among `alive`.
pub async fn origin(
    mut conn: ConnectionManager,
    me: &str,
    stream: &StreamKey,
    alive: Vec<NodeInfo>,
) -> Option<NodeInfo> {
    let name: Option<String> = redis::cmd("GET").arg(key(stream)).query_async(&mut conn).await.ok()?;
    let name = name?;
    if name == me {
        return None;
    }
    alive.into_iter().find(|n| n.name == name)
}
