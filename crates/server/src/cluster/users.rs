//! Which node holds each user's session, so that one user has one session in the whole
//! cluster, as on one node: a login of the user on one node ends the session the user had on
//! another (`kicked_out`), whatever rooms the two were in.
//!
//! Key `duet:user:{app}:{user}` → `{node}:{boot}` of the process whose hub took the user's
//! latest login, kept a day. The node that takes a login swaps itself in; when the key named
//! another living node, it asks that node, with a signed `POST /api/v1/users/{userID}/kick`
//! and `beforeMs` (the new login's time), to end the user's session if it logged in before:
//! a session that logged in later there is the newest and stays. The same key sends an API
//! request about a user to the node holding the user (`http::api`).

use redis::aio::ConnectionManager;

use super::nodes::NodeInfo;

/// How long a user's key outlives the login that wrote it.
const KEEP_SECS: u64 = 24 * 3600;

fn user_key(app_id: u32, user_id: &str) -> String {
    format!("duet:user:{app_id}:{user_id}")
}

/// This node (`me`: `{name}:{boot}`) took a login of `user_id` at `login_ms`: it becomes the
/// user's node, and the node that was ends the user's older session there (asked with the
/// app's secret from `apps`). Runs in the background; a failure is logged (the two sessions
/// then live on until one ends).
pub fn logged_in(
    conn: &ConnectionManager,
    me: &str,
    (app_id, user_id): (u32, &str),
    login_ms: u64,
    apps: crate::store::apps::Apps,
) {
    let (mut conn, me, user_id) = (conn.clone(), me.to_owned(), user_id.to_owned());
    tokio::spawn(async move {
        let previous: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(user_key(app_id, &user_id))
            .arg(&me)
            .arg("GET")
            .arg("EX")
            .arg(KEEP_SECS)
            .query_async(&mut conn)
            .await;
        let previous = match previous {
            Ok(previous) => previous,
            Err(e) => return tracing::warn!(app_id, "cannot record which node holds a user's session: {e}"),
        };
        let Some(node) = (match previous {
            Some(held) => super::nodes::living(&mut conn, &held, &me).await,
            None => None,
        }) else {
            return;
        };
        let Some(secret) = apps.secret(app_id).await else { return };
        if let Err(e) = kick_on(&node, app_id, &user_id, &secret, login_ms).await {
            tracing::warn!(app_id, node = %node.name, "cannot end a user's older session on another node: {e}");
        }
    });
}

/// Asks `node` to end `user_id`'s session if it logged in before `before_ms` (marked as passed
/// on: it runs on `node`, which the user's key no longer names).
async fn kick_on(
    node: &NodeInfo,
    app_id: u32,
    user_id: &str,
    secret: &duet_token::AppSecret,
    before_ms: u64,
) -> Result<(), String> {
    let path = format!("/api/v1/users/{}/kick", duet_token::percent_encode(user_id));
    let body = serde_json::json!({"beforeMs": before_ms}).to_string();
    let (status, answer) = super::peers::call(node, (app_id, secret), hyper::Method::POST, &path, body.into()).await?;
    if status != 200 {
        return Err(format!("answered {status}: {}", String::from_utf8_lossy(&answer)));
    }
    Ok(())
}

/// The living node, other than `me`, holding `user_id`'s session.
pub async fn holder(conn: &ConnectionManager, me: &str, app_id: u32, user_id: &str) -> Option<NodeInfo> {
    super::nodes::living_holder(&mut conn.clone(), &user_key(app_id, user_id), me).await
}
