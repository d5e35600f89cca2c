//! `duet url ...`: signed media URLs for encoders and players that do not speak signaling
//! (ffmpeg, OBS, VLC, test tools), signed with the app's secret exactly as signaling signs them.

use duet_token::{MediaAction, MediaFormat, MediaUrl};

use crate::cli::{PlayFormat, UrlCommand};
use crate::config::{Common, Loaded};
use crate::store::registry::Registry;

/// Runs one `duet url` subcommand.
pub fn run(common: &Common, loaded: &Loaded, cmd: UrlCommand) -> anyhow::Result<()> {
    let registry = Registry::open(&common.data)?;
    let now = crate::os::now_unix() as u64;
    let check_ids = |stream: &str, room: Option<&str>| -> anyhow::Result<()> {
        duet_room::limits::stream_id(stream).map_err(|r| anyhow::anyhow!(r.message))?;
        if let Some(r) = room {
            duet_room::limits::room_id(r).map_err(|r| anyhow::anyhow!(r.message))?;
        }
        Ok(())
    };
    let url = match cmd {
        UrlCommand::Publish { app_id, stream_id, user_id, room_id, ttl, public_rtmp_url } => {
            check_ids(&stream_id, room_id.as_deref())?;
            let app = registry.require(app_id)?;
            let bases = loaded.media_bases(public_rtmp_url, None);
            let url = MediaUrl {
                app_id,
                stream_id,
                action: MediaAction::Publish,
                user_id,
                room_id: room_id.unwrap_or_default(),
                expire: now + u64::from(ttl),
            };
            url.signed(&app.secret, &bases, MediaFormat::Rtmp)
        }
        UrlCommand::Play { app_id, stream_id, user_id, format, ttl, public_rtmp_url, public_http_url } => {
            check_ids(&stream_id, None)?;
            let app = registry.require(app_id)?;
            let bases = loaded.media_bases(public_rtmp_url, public_http_url);
            let url = MediaUrl {
                app_id,
                stream_id,
                action: MediaAction::Play,
                user_id,
                room_id: String::new(),
                expire: now + u64::from(ttl),
            };
            let format = match format {
                PlayFormat::Rtmp => MediaFormat::Rtmp,
                PlayFormat::Flv => MediaFormat::Flv,
                PlayFormat::Mp4 => MediaFormat::Fmp4,
            };
            url.signed(&app.secret, &bases, format)
        }
    };
    say!("{url}");
    Ok(())
}
