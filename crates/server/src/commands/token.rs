//! `duet token ...`: mint a token04 for a user, or verify one and show what it holds.

use std::io::Read;

use anyhow::Context;
use duet_token::{Grant, verify};
use serde_json::json;

use crate::cli::TokenCommand;
use crate::config::Common;

/// Runs one `duet token` subcommand.
pub fn run(common: &Common, cmd: TokenCommand) -> anyhow::Result<()> {
    let registry = common.registry()?;
    match cmd {
        TokenCommand::Mint { app_id, user_id, room_id, allow_login, allow_publish, stream_ids, ttl } => {
            let app = registry.require(app_id)?;
            let limited = room_id.is_some() || allow_login || allow_publish || !stream_ids.is_empty();
            let grant = if limited {
                if !allow_login && !allow_publish {
                    eprintln!(
                        "duet: warning: this token grants neither login nor publish (add --allow-login / --allow-publish)"
                    );
                }
                Grant {
                    room_id,
                    login: allow_login,
                    publish: allow_publish,
                    stream_ids: Some(stream_ids).filter(|s| !s.is_empty()),
                }
            } else {
                Grant::everything()
            };
            say!("{}", crate::store::credentials::mint_token(&app, &user_id, &grant, ttl)?);
        }
        TokenCommand::Inspect { app_id, token, user_id } => {
            let app = registry.require(app_id)?;
            let token = if token == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).context("cannot read the token from standard input")?;
                s.trim().to_owned()
            } else {
                token
            };
            let now = crate::os::now_unix();
            let claims = verify(&token, app_id, &app.secret, now)
                .and_then(|c| match &user_id {
                    Some(u) => c.ensure_user(u).map(|()| c),
                    None => Ok(c),
                })
                .map_err(|e| anyhow::anyhow!("invalid token ({}): {e}", e.code()))?;
            let g = &claims.grant;
            let out = json!({
                "app_id": claims.app_id,
                "user_id": claims.user_id,
                "ctime": claims.ctime,
                "expire": claims.expire,
                "expires_in": claims.expire - now,
                "nonce": claims.nonce,
                "payload": claims.payload,
                "cipher": claims.cipher,
                "privileges": {"login": g.login, "publish": g.publish, "room_id": g.room_id, "stream_id_list": g.stream_ids},
            });
            say!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}
