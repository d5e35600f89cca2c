//! Minting tokens with this host's clock and randomness: the one place the server turns the
//! pure `duet_token::mint` into a ready token (used by the CLI, the serve banner, the console
//! and the HTTP API), and the checks of a token order that comes from outside.

use duet_token::{Cipher, Grant, MintRequest, mint};

use crate::store::registry::App;

/// Mints a token04 (AES-GCM layout) for `user_id` in `app`, valid `ttl_secs` from now.
pub fn mint_token(app: &App, user_id: &str, grant: &Grant, ttl_secs: u32) -> anyhow::Result<String> {
    let req = MintRequest {
        app_id: app.app_id,
        user_id,
        grant,
        ctime: crate::os::now_unix(),
        ttl_secs,
        nonce: i32::from_be_bytes(crate::os::random()),
        cipher: Cipher::Gcm,
    };
    Ok(mint(&req, &app.secret, crate::os::random())?)
}

/// Longest token lifetime minted for outside requests (console, HTTP API), in seconds (7 days).
pub const MAX_ORDER_TTL: u32 = 7 * 24 * 3600;

/// A token asked for through the console or the HTTP API.
pub struct TokenOrder {
    /// The user.
    pub user_id: String,
    /// The only room it may be used in (`None`: any).
    pub room_id: Option<String>,
    /// Privilege 1.
    pub login: bool,
    /// Privilege 2.
    pub publish: bool,
    /// The only streams it may publish (`None` or empty: any).
    pub stream_ids: Option<Vec<String>>,
    /// Lifetime in seconds.
    pub ttl: u32,
}

/// Why an order was not minted.
pub enum OrderError {
    /// A field breaks its limits (the message names it).
    Invalid(String),
    /// Minting itself failed.
    Failed(anyhow::Error),
}

/// Checks an order's fields and mints it: (token, expire unix seconds).
pub fn mint_order(app: &App, order: TokenOrder) -> Result<(String, i64), OrderError> {
    let invalid = |r: duet_room::Refusal| OrderError::Invalid(r.message);
    duet_room::limits::user_id(&order.user_id).map_err(invalid)?;
    if let Some(r) = &order.room_id {
        duet_room::limits::room_id(r).map_err(invalid)?;
    }
    for s in order.stream_ids.iter().flatten() {
        duet_room::limits::stream_id(s).map_err(invalid)?;
    }
    if order.ttl == 0 || order.ttl > MAX_ORDER_TTL {
        return Err(OrderError::Invalid(format!("ttl must be 1 to {MAX_ORDER_TTL} seconds")));
    }
    let grant = Grant {
        room_id: order.room_id,
        login: order.login,
        publish: order.publish,
        stream_ids: order.stream_ids.filter(|s| !s.is_empty()),
    };
    let token = mint_token(app, &order.user_id, &grant, order.ttl).map_err(OrderError::Failed)?;
    Ok((token, crate::os::now_unix() + i64::from(order.ttl)))
}
