//! Requests one node makes of another over the signed HTTP API (`/api/v1`): signed with the
//! app's secret, as a business server would, and marked as passed on by a node
//! (`X-Duet-Passed-On`), so the node asked runs them itself and answers for its own part only.

use std::time::Duration;

use bytes::Bytes;

use super::nodes::NodeInfo;

/// How long the other node may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `method path` with `body` to `node`'s API for `app_id`: its status and body.
pub async fn call(
    node: &NodeInfo,
    (app_id, secret): (u32, &duet_token::AppSecret),
    method: hyper::Method,
    path: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let nonce = duet_token::hex(&crate::os::random::<12>());
    let timestamp = crate::os::now_unix();
    let signed =
        duet_token::ApiRequest { app_id, timestamp, nonce: &nonce, method: method.as_str(), path, body: &body };
    let signature = signed.sign(secret);
    let proof = duet_token::passed_on_proof(secret, &signature);
    let headers = [
        ("x-duet-appid", app_id.to_string()),
        ("x-duet-timestamp", timestamp.to_string()),
        ("x-duet-nonce", nonce.clone()),
        ("x-duet-signature", signature),
        (crate::http::api::auth::PASSED_ON, proof),
    ];
    let url = format!("{}{path}", node.reach().http.trim_end_matches('/'));
    crate::http_client::call(method, &url, &headers, body, TIMEOUT).await
}
