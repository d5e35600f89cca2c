//! `duet url ...`: signed media URLs for encoders and players that do not speak signaling
//! (ffmpeg, OBS, VLC, test tools), signed with the app's secret exactly as signaling signs them.

use duet_token::{MediaAction, MediaFormat, MediaUrl};

use crate::cli::{PlayFormat, PublishFormat, UrlCommand};
use crate::config::{Common, Loaded};

/// Runs one `duet url` subcommand.
pub fn run(common: &Common, loaded: &Loaded, cmd: UrlCommand) -> anyhow::Result<()> {
    let registry = common.registry()?;
    let now = crate::os::now_unix() as u64;
    // What each form asks for: the URL's claims, its format and the public bases.
    let (url, format, bases) = match cmd {
        UrlCommand::Publish { app_id, stream_id, user_id, room_id, ttl, format, public_rtmp_url, public_http_url } => {
            let url = MediaUrl {
                app_id,
                stream_id,
                action: MediaAction::Publish,
                user_id,
                room_id: room_id.unwrap_or_default(),
                expire: now + u64::from(ttl),
            };
            let format = match format {
                PublishFormat::Rtmp => MediaFormat::Rtmp,
                PublishFormat::Whip => MediaFormat::Whip,
            };
            (url, format, loaded.media_bases(public_rtmp_url, public_http_url))
        }
        UrlCommand::Play { app_id, stream_id, user_id, format, ttl, public_rtmp_url, public_http_url } => {
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
                PlayFormat::Whep => MediaFormat::Whep,
                PlayFormat::Hls => MediaFormat::Hls,
            };
            (url, format, loaded.media_bases(public_rtmp_url, public_http_url))
        }
    };
    duet_room::limits::stream_id(&url.stream_id).map_err(|r| anyhow::anyhow!(r.message))?;
    if !url.room_id.is_empty() {
        duet_room::limits::room_id(&url.room_id).map_err(|r| anyhow::anyhow!(r.message))?;
    }
    let app = registry.require(url.app_id)?;
    let url = url.signed(&app.secret, &bases, format);
    say!("{url}");
    Ok(())
}
