//! Minting tokens with this host's clock and randomness: the one place the server turns the
//! pure `duet_token::mint` into a ready token (used by the CLI, the serve banner, and later the
//! console and HTTP API).

use duet_token::{Cipher, Grant, MintRequest, mint};

use crate::registry::App;

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
