//! `duet app ...`: manage the app registry from the command line.

use serde_json::json;

use crate::cli::AppCommand;
use crate::config::Common;
use crate::http::cors::AllowedOrigins;
use crate::store::registry::{App, Registry};

/// Runs one `duet app` subcommand.
pub fn run(common: &Common, cmd: AppCommand) -> anyhow::Result<()> {
    let registry = common.registry()?;
    let now = crate::os::now_unix();
    match cmd {
        AppCommand::Create { name, json } => {
            let app = registry.create(&name, now)?;
            print_credentials(&app, json, "Created");
        }
        AppCommand::Import { app_id, secret, name, json } => {
            let app = registry.import(app_id, secret, &name, now)?;
            print_credentials(&app, json, "Imported");
        }
        AppCommand::List { json } => {
            let apps = registry.list()?;
            if json {
                let list: Vec<_> = apps
                    .iter()
                    .map(|a| json!({"app_id": a.app_id, "name": a.name, "created_at": a.created_at}))
                    .collect();
                say!("{}", serde_json::Value::from(list));
            } else if apps.is_empty() {
                say!("no apps yet: `duet app create` or `duet serve` makes one");
            } else {
                say!("{:<12} {:<20} CREATED (unix)", "APPID", "NAME");
                for a in apps {
                    say!("{:<12} {:<20} {}", a.app_id, a.name, a.created_at);
                }
            }
        }
        AppCommand::Show { app_id, json } => {
            let a = registry.require(app_id)?;
            if json {
                let v = json!({"app_id": a.app_id, "name": a.name, "server_secret": a.secret.expose(),
                    "created_at": a.created_at, "secret_rotated_at": a.secret_rotated_at,
                    "latency": a.latency.to_string(), "allowed_origins": a.allowed_origins.to_string(),
                    "webrtc_max_peers": a.webrtc_max_peers, "record": if a.record_all { "all" } else { "none" }});
                say!("{v}");
            } else {
                say!(
                    "AppID         {}\nName          {}\nServerSecret  {}\nLatency       {}\nOrigins       {}\n\
                     WebRTC peers  {}\nRecording     {}\nCreated       {} (unix)",
                    a.app_id,
                    a.name,
                    a.secret.expose(),
                    a.latency,
                    a.allowed_origins,
                    a.webrtc_max_peers.map_or("no cap of its own".to_owned(), |n| format!("at most {n}")),
                    if a.record_all { "all" } else { "none" },
                    a.created_at
                );
                if let Some(t) = a.secret_rotated_at {
                    say!("Rotated       {t} (unix)");
                }
            }
        }
        AppCommand::RotateSecret { app_id, json } => {
            let app = registry.rotate_secret(app_id, now)?;
            print_credentials(&app, json, "Rotated the ServerSecret of");
        }
        AppCommand::Latency { app_id, budget } => {
            let app = registry.set_latency(app_id, budget)?;
            say!("Latency budget of app {} is now {} (streams published from now on)", app.app_id, app.latency);
        }
        AppCommand::Record { app_id, policy } => {
            let app = registry.set_record_all(app_id, policy == crate::cli::RecordPolicy::All)?;
            let what = if app.record_all {
                "all (every stream published from now on)"
            } else {
                "none (streams the HTTP API asks for)"
            };
            say!("Recording policy of app {} is now {what}", app.app_id);
        }
        AppCommand::Origins { app_id, origins } if origins.is_empty() => {
            say!("{}", registry.require(app_id)?.allowed_origins);
        }
        AppCommand::Origins { app_id, origins } => {
            let origins: AllowedOrigins = origins.join(" ").parse()?;
            let app = registry.set_allowed_origins(app_id, &origins)?;
            say!("Allowed origins of app {} are now {} (from the next request on)", app.app_id, app.allowed_origins);
        }
        AppCommand::WebrtcPeers { app_id, max } => {
            let app = registry.set_webrtc_max_peers(app_id, Some(max).filter(|&n| n > 0))?;
            match app.webrtc_max_peers {
                Some(n) => say!("App {} may hold at most {n} WebRTC peers (from the next peer on)", app.app_id),
                None => say!("App {} has no WebRTC peer cap of its own (the node's holds)", app.app_id),
            }
        }
        AppCommand::Webhook { app_id, url, secret, clear, json } => {
            webhook(&registry, app_id, url, secret, clear, json)?
        }
        AppCommand::Delete { app_id, yes } => {
            registry.require(app_id)?;
            if !yes {
                anyhow::bail!(
                    "deleting app {app_id} ends every login and stream in it; run again with --yes to confirm"
                );
            }
            registry.delete(app_id)?;
            say!("Deleted app {app_id}");
        }
    }
    Ok(())
}

fn webhook(
    registry: &Registry,
    app_id: u32,
    url: Option<String>,
    secret: Option<String>,
    clear: bool,
    json: bool,
) -> anyhow::Result<()> {
    registry.require(app_id)?;
    if clear {
        let had = registry.clear_webhook(app_id)?;
        say!("{}", if had { "Removed the webhook" } else { "The app had no webhook" });
        return Ok(());
    }
    let Some(url) = url else {
        match registry.webhook(app_id)? {
            Some(h) if json => say!("{}", json!({"app_id": app_id, "url": h.url})),
            Some(h) => say!("Webhook  {}", h.url),
            None if json => say!("{}", json!({"app_id": app_id, "url": null})),
            None => say!("no webhook: set one with --url"),
        }
        return Ok(());
    };
    crate::http_client::check_url(&url).map_err(|e| anyhow::anyhow!("--url: {e}"))?;
    let generated = secret.is_none();
    let secret = secret.unwrap_or_else(crate::webhooks::new_secret);
    if secret.len() < 16 || secret.len() > 256 {
        anyhow::bail!("--secret must be 16 to 256 characters");
    }
    registry.set_webhook(app_id, &crate::store::registry::Webhook { url: url.clone(), secret: secret.clone() })?;
    if json {
        say!("{}", json!({"app_id": app_id, "url": url, "secret": secret}));
    } else {
        say!("Webhook of app {app_id}\n  URL     {url}");
        if generated {
            say!("  Secret  {secret}   (verify X-Duet-Signature with it; shown once)");
        }
    }
    Ok(())
}

fn print_credentials(app: &App, json: bool, verb: &str) {
    if json {
        say!("{}", json!({"app_id": app.app_id, "server_secret": app.secret.expose()}));
    } else {
        say!("{verb} app \"{}\"\n  AppID         {}\n  ServerSecret  {}", app.name, app.app_id, app.secret.expose());
    }
}
