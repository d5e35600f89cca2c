//! One WHEP player's task: drives its peer's engine (`link::Link`) and, once ICE and DTLS are
//! up, sends it a stream from the hub: the cached keyframe and what followed as one squeezed
//! burst (`duet_media::RtcFeed`), so the first picture comes at once and at the live edge,
//! then each flush as it is released. H.264 goes out as it was published (Annex-B access
//! units, SPS/PPS before each IDR); audio comes from the stream's Opus track (`opus_track`:
//! a WHIP publisher's own Opus, or AAC transcoded once for all the stream's WHEP players).
//!
//! A keyframe request (PLI/FIR) from the browser is answered from the cache: the player takes
//! the stream's start again and sends it as a burst (at most once per
//! [`KEYFRAME_ANSWER_EVERY`]); when the cache has no keyframe, the publisher is asked for one
//! (a WHIP publisher sends a PLI; an RTMP encoder cannot be asked, and its next keyframe
//! comes on its own). The player ends when the stream ends, on WHEP `DELETE`, when ICE
//! disconnects or the browser closes, or after `link::SILENCE` without a datagram.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use duet_media::{Batch, Hub, RtcFeed, RtcFrame, StreamKey, Subscriber};
use str0m::format::Codec as RtcCodec;
use str0m::media::{Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::{Event, Rtc};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, oneshot};

use crate::media::webrtc::link::{End, Link};
use crate::media::webrtc::opus_track::{OpusPacket, OpusTracks};
use crate::media::{MediaContext, now};

/// How long a connected peer may go without an H.264 track agreed (str0m tells the tracks
/// just after the connection) before it is ended: it could never be sent anything.
const NO_TRACK_GRACE: Duration = Duration::from_secs(2);

/// The shortest time between two looks for the stream's Opus track (one whose source went
/// may not be replaced at once, or ever: the stream may be ending).
const RELISTEN_EVERY: Duration = Duration::from_secs(1);

/// The shortest time between two bursts answering the browser's keyframe requests (a
/// browser repeats its request until a keyframe arrives; one burst answers them all).
pub const KEYFRAME_ANSWER_EVERY: Duration = Duration::from_secs(1);

/// Everything a player's task owns.
pub struct WhepPlayer {
    /// The engine and its wire.
    pub link: Link,
    /// The stream it plays.
    pub key: StreamKey,
    /// WHEP `DELETE`.
    pub stop: oneshot::Receiver<()>,
    /// The node's Opus tracks.
    pub opus: Arc<OpusTracks>,
}

/// The player's side of the stream.
struct State {
    hub: Arc<Hub>,
    key: StreamKey,
    /// Where the stream is read from, once the peer is connected.
    sub: Option<Subscriber>,
    /// The node's Opus tracks.
    tracks: Arc<OpusTracks>,
    /// Where its audio is read from, once the peer is connected, and when it last looked.
    audio_in: Option<broadcast::Receiver<OpusPacket>>,
    listened: Option<Instant>,
    feed: RtcFeed,
    video: Option<(Mid, Pt)>,
    audio: Option<(Mid, Pt)>,
    /// The wall clock time of the player's time 0 (RTCP sender reports map both tracks to
    /// one clock through it, which keeps them in sync in the browser).
    origin: Option<Instant>,
    last_burst: Option<Instant>,
    /// When ICE and DTLS came up.
    connected: Option<Instant>,
    /// The stream was gone when the player started.
    ended: bool,
}

impl WhepPlayer {
    /// Runs the player until it ends.
    pub async fn run(mut self, ctx: MediaContext) {
        ctx.metrics.webrtc_peers.fetch_add(1, Relaxed);
        let mut st = State {
            hub: ctx.hub.clone(),
            key: self.key.clone(),
            sub: None,
            tracks: self.opus.clone(),
            audio_in: None,
            listened: None,
            feed: RtcFeed::new(),
            video: None,
            audio: None,
            origin: None,
            last_burst: None,
            connected: None,
            ended: false,
        };
        let Err(end) = self.drive(&mut st).await;
        ctx.metrics.webrtc_peers.fetch_sub(1, Relaxed);
        tracing::info!(app_id = self.key.app_id, stream = %self.key.stream_id, "WHEP play ended: {end}");
        self.link.rtc.disconnect();
    }

    async fn drive(&mut self, st: &mut State) -> Result<std::convert::Infallible, End> {
        loop {
            let timeout = self.link.drain(|rtc, e| st.on_event(rtc, e))?;
            // Media starts once the peer is connected and its tracks are known (str0m tells
            // the tracks after the connection).
            if let Some(at) = st.connected
                && st.video.is_none()
                && now() >= at + NO_TRACK_GRACE
            {
                return Err(End::NoVideoTrack);
            }
            if st.connected.is_some() && st.sub.is_none() && st.video.is_some() {
                st.burst(&mut self.link.rtc, now());
                st.listen();
                if st.ended {
                    return Err(End::StreamEnded);
                }
                continue;
            }
            tokio::select! {
                d = self.link.recv() => self.link.receive(d)?,
                _ = &mut self.stop => return Err(End::Deleted),
                batch = next_batch(&mut st.sub) => match batch {
                    Some(batch) => st.send_batch(&mut self.link.rtc, &batch),
                    None => return Err(End::StreamEnded),
                },
                packet = next_audio(&mut st.audio_in) => st.send_audio(&mut self.link.rtc, packet),
                () = tokio::time::sleep_until(timeout.into()) => self.link.tick(now())?,
            }
        }
    }
}

/// The next packet of the Opus track; never, without one.
async fn next_audio(
    audio: &mut Option<broadcast::Receiver<OpusPacket>>,
) -> Result<OpusPacket, broadcast::error::RecvError> {
    match audio {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next batch of a subscriber; never, before there is one.
async fn next_batch(sub: &mut Option<Subscriber>) -> Option<Batch> {
    match sub {
        Some(sub) => sub.next_batch().await,
        None => std::future::pending().await,
    }
}

impl State {
    fn on_event(&mut self, rtc: &mut Rtc, e: Event) -> Result<(), End> {
        match e {
            Event::MediaAdded(m) => {
                let codec = match m.kind {
                    MediaKind::Video => RtcCodec::H264,
                    MediaKind::Audio => RtcCodec::Opus,
                };
                let track = payload_type(rtc, m.mid, codec).map(|pt| (m.mid, pt));
                match m.kind {
                    MediaKind::Video if self.video.is_none() => self.video = track,
                    MediaKind::Audio if self.audio.is_none() => self.audio = track,
                    _ => {}
                }
            }
            Event::Connected => self.connected = Some(now()),
            Event::KeyframeRequest(_) if self.sub.is_some() => {
                let at = now();
                if self.last_burst.is_none_or(|last| at >= last + KEYFRAME_ANSWER_EVERY) {
                    self.burst(rtc, at);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Takes the stream's start anew and sends it squeezed (see `duet_media::RtcFeed`).
    fn burst(&mut self, rtc: &mut Rtc, at: Instant) {
        // The player it replaces goes first (one place in the stream's count, not two).
        self.sub = None;
        let Some(mut sub) = self.hub.subscribe_webrtc(&self.key) else {
            self.ended = true;
            return;
        };
        self.last_burst = Some(at);
        let start = sub.take_start();
        let media = self.feed.burst(&start);

        if self.feed.wants_keyframe() {
            sub.request_keyframe();
        }
        if let Some(last) = media.last() {
            self.origin.get_or_insert_with(|| at.checked_sub(Duration::from_millis(last.time)).unwrap_or(at));
        }
        for frame in media {
            self.write_video(rtc, &sub, frame);
        }
        self.sub = Some(sub);
    }

    /// Starts listening to the stream's Opus track (at most once a [`RELISTEN_EVERY`]).
    fn listen(&mut self) {
        let at = now();
        if self.listened.is_some_and(|last| at < last + RELISTEN_EVERY) {
            return;
        }
        self.listened = Some(at);
        let (track, new) = self.tracks.play(&self.key);
        // Listening first, so a transcoder started now finds its listener.
        self.audio_in = Some(track.listen());
        if new {
            // Nothing feeds it yet: a stream published with AAC gets its transcoder.
            super::transcode::start(&self.hub, &self.key, &track);
        }
    }

    fn send_audio(&mut self, rtc: &mut Rtc, packet: Result<OpusPacket, RecvError>) {
        match packet {
            Ok(p) => {
                let time = self.feed.audio_time(p.time);
                if let Some(sub) = self.sub.take() {
                    self.write(rtc, &sub, self.audio, time, Frequency::FORTY_EIGHT_KHZ, p.data);
                    self.sub = Some(sub);
                }
            }
            Err(RecvError::Lagged(_)) => {}
            // Its source went (a publisher taken over by an RTMP one, a transcoder that
            // stopped): the stream's track now, if it still has one.
            Err(RecvError::Closed) => {
                self.audio_in = None;
                self.listen();
            }
        }
    }

    fn send_batch(&mut self, rtc: &mut Rtc, batch: &Batch) {
        if self.audio_in.is_none() {
            self.listen(); // its track went: look again (at most once a second)
        }
        let Some(sub) = self.sub.take() else { return };
        for p in batch.packets() {
            if let Some(frame) = self.feed.push(p) {
                self.write_video(rtc, &sub, frame);
            }
        }
        if self.feed.wants_keyframe() && self.last_burst.is_none_or(|last| now() >= last + KEYFRAME_ANSWER_EVERY) {
            sub.request_keyframe();
            self.last_burst = Some(now());
        }
        self.sub = Some(sub);
    }

    fn write_video(&mut self, rtc: &mut Rtc, sub: &Subscriber, frame: RtcFrame) {
        self.write(rtc, sub, self.video, frame.time, Frequency::NINETY_KHZ, frame.data);
    }

    /// Writes one frame or packet at `time` (milliseconds on the player's clock) to `track`.
    fn write(
        &mut self,
        rtc: &mut Rtc,
        sub: &Subscriber,
        track: Option<(Mid, Pt)>,
        time: u64,
        clock: Frequency,
        data: Arc<[u8]>,
    ) {
        let Some((mid, pt)) = track else { return };
        let origin = *self.origin.get_or_insert_with(now);
        let Some(writer) = rtc.writer(mid) else { return };
        let len = data.len();
        let rtp_time = MediaTime::new(time * u64::from(clock.get()) / 1000, clock);
        match writer.write(pt, origin + Duration::from_millis(time), rtp_time, data) {
            Ok(()) => sub.sent(len),
            Err(e) => tracing::debug!("WHEP write: {e}"),
        }
    }
}

/// The payload type the answer agreed for `codec` on `mid` (H.264: packetization mode 1).
fn payload_type(rtc: &mut Rtc, mid: Mid, codec: RtcCodec) -> Option<Pt> {
    let writer = rtc.writer(mid)?;
    writer
        .payload_params()
        .find(|p| p.spec().codec == codec && (codec != RtcCodec::H264 || p.spec().format.packetization_mode == Some(1)))
        .map(|p| p.pt())
}
