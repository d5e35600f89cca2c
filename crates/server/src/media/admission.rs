//! Admission of publishers: the one question every ingest asks before it accepts a publish
//! (RTMP today; WHIP, CDN pulls, mixer outputs and cluster edges next), and the one way an
//! admitted publish ends.
//!
//! The ingest has verified the signed URL ([`duet_token::MediaUrl`]). Admission then claims
//! the stream in the node's media hub (a second live publisher of the name is refused,
//! `stream_live`, unless it is the same user again with a fresher URL: that one takes over at
//! once, the old connection is cut and players stay) and asks the room hub, which owns
//! reservations ([`Signaling::admit_publish`]: a URL of another user cannot publish into a
//! reserved name, `stream_taken`). Only when both agree does the ingest accept; a refusal
//! leaves nothing behind. Admitted, the stream is live
//! for signaling (room `roomStreamUpdate ADD`, the owner's `PUBLISHING`, `stream.created`).
//!
//! While it lives, an admitted publish reports what the media hub finds against its stream
//! ([`unplayable`]: browsers could not play it over WebRTC as published).
//!
//! Admission also settles the stream's latency budget (`duet_media::LatencyBudget`): the one
//! the publish URL asks for (`latency=0|frame|N`), else the app's default
//! (`duet app latency`); a budget that is not one of those is refused (`bad_latency`).
//!
//! [`Signaling::admit_publish`]: crate::signaling::Signaling::admit_publish

use duet_media::{PlayProblem, Publisher, StreamKey};
use duet_room::{PublishEnded, PublishRequest, PublisherId, StreamUnplayable};
use duet_token::{AppSecret, MediaUrl};

use crate::media::MediaContext;
use crate::media::error::MediaRefusal;

/// Admits the publish `url` grants (verified with `secret`), with the latency budget the
/// publisher asked for (`latency`, else the app's): the right to push packets into the stream,
/// or why not.
pub async fn admit(
    ctx: &MediaContext,
    url: &MediaUrl,
    secret: &AppSecret,
    latency: Option<&str>,
) -> Result<Publisher, MediaRefusal> {
    let budget = match latency {
        Some(asked) => {
            asked.parse().map_err(|e: duet_media::BadBudget| MediaRefusal::new("bad_latency", e.to_string()))?
        }
        None => ctx.apps.latency(url.app_id).await,
    };
    let key = StreamKey { app_id: url.app_id, stream_id: url.stream_id.clone() };
    // Live on another node of the cluster: one publisher per stream ID in the whole cluster.
    if let Some(origin) = ctx.cluster.origin_of(&key).await {
        let why = format!("{} is already being published on node {}", url.stream_id, origin.node.name);
        return Err(MediaRefusal::new("stream_live", why));
    }
    let mut claimed = ctx.hub.publish(key.clone(), &url.user_id, url.expire, budget);
    // A copy pulled from another node makes way for a publish arriving here.
    if claimed.is_err() && crate::media::edge::yield_to_publisher(ctx, &key).await {
        claimed = ctx.hub.publish(key, &url.user_id, url.expire, budget);
    }
    let publisher = claimed
        .map_err(|_| MediaRefusal::new("stream_live", format!("{} is already being published", url.stream_id)))?;
    let request = PublishRequest {
        app_id: url.app_id,
        stream_id: url.stream_id.clone(),
        user_id: url.user_id.clone(),
        room_id: url.room_id.clone(),
        secret: secret.clone(),
        publisher: PublisherId(publisher.id()),
    };
    // Refused: dropping the publisher frees the name again.
    ctx.signaling.admit_publish(request).await?;
    if publisher.took_over() {
        tracing::info!(app_id = url.app_id, stream = %url.stream_id, user = %url.user_id, "publish took over from an earlier connection of the same user");
    }
    ctx.cluster.stream_started(publisher.key(), publisher.id(), budget);
    if ctx.apps.records_all(url.app_id).await
        && let Err(e) = crate::media::record::start(ctx, publisher.key())
    {
        tracing::warn!(app_id = url.app_id, stream = %url.stream_id, "cannot start recording: {}", e.message);
    }
    Ok(publisher)
}

/// Reports that browsers could not play an admitted publish's stream over WebRTC: `problem`
/// is the verdict [`Publisher::push`] returned when a message made it worse (so this runs once
/// per problem). Logged as a warning; signaling keeps it on the stream (its info in the API
/// and the console) and tells the backend (`stream.unplayable`).
pub async fn unplayable(ctx: &MediaContext, publisher: &Publisher, problem: PlayProblem) {
    let key = publisher.key();
    tracing::warn!(app_id = key.app_id, stream = %key.stream_id, code = problem.code(), "stream not playable over WebRTC: {}", problem.reason());
    let report = StreamUnplayable {
        app_id: key.app_id,
        stream_id: key.stream_id.clone(),
        publisher: PublisherId(publisher.id()),
        code: problem.code(),
        reason: problem.reason(),
    };
    ctx.signaling.stream_unplayable(report).await;
}

/// Ends an admitted publish: the stream leaves the media hub (its players see the end) and
/// signaling hears of it with the bytes it carried.
pub async fn end(ctx: &MediaContext, publisher: Publisher) {
    let (key, bytes, id) = (publisher.key().clone(), publisher.bytes_received(), publisher.id());
    drop(publisher);
    ctx.cluster.stream_ended(&key, id);
    let ended = PublishEnded { app_id: key.app_id, stream_id: key.stream_id, bytes, publisher: PublisherId(id) };
    ctx.signaling.publish_ended(ended).await;
}
