//! One WHIP publisher's task: drives its peer's engine (`link::Link`), turns the browser's
//! H.264 access units into video packets (`duet_media::avc::AvcPackager`) pushed into the
//! stream's `Publisher`, sends its Opus to the stream's Opus track (for WHEP players) and, while
//! the stream has other players, as AAC into the hub (`transcode::AacOut`), and asks the browser for a keyframe (PLI) when media starts, every
//! second while the stream has none or a player needs one the cache lacks, and whenever the
//! last one is [`KEYFRAME_INTERVAL`] old (browsers send keyframes only when asked: without
//! this, late players would start from an ever-longer GOP, and once the cache's bound drops
//! it, wait for a keyframe that never comes). It ends, through `admission::end`, when the
//! browser says goodbye (DTLS close), ICE disconnects, nothing arrives for `link::SILENCE`,
//! WHIP `DELETE` stops it, or signaling cuts the stream.

use std::time::{Duration, Instant};

use std::sync::Arc;

use std::collections::VecDeque;

use duet_media::avc::AvcPackager;
use duet_media::{Kind, Publisher};
use duet_media::{LipSync, Placed, SenderClock};
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::rtp::rtcp::SenderInfo;
use str0m::{Event, Rtc};
use tokio::sync::oneshot;

use crate::media::webrtc::link::{End, Link};
use crate::media::webrtc::opus_track::{OpusPacket, OpusTrack};
use crate::media::webrtc::transcode::AacOut;
use crate::media::{MediaContext, admission, now};

/// How often a keyframe is asked for while one is due and has not come.
const KEYFRAME_RETRY: Duration = Duration::from_secs(1);
/// The longest the stream goes without a keyframe (as an RTMP encoder's 2 s GOP): late players
/// start from at most this much cached media.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_secs(2);

/// Everything a publisher's task owns.
pub struct WhipPublisher {
    /// The engine and its wire.
    pub link: Link,
    /// The admitted stream.
    pub publisher: Publisher,
    /// WHIP `DELETE`.
    pub stop: oneshot::Receiver<()>,
    /// The stream's Opus track.
    pub opus: Arc<OpusTrack>,
}

struct State {
    packager: AvcPackager,
    video: Option<Mid>,
    audio: Audio,
    connected: bool,
    next_keyframe_request: Instant,
    /// When the last keyframe arrived.
    last_keyframe: Option<Instant>,
    /// A player asked for a keyframe the cache does not have.
    player_wants_keyframe: bool,
}

impl WhipPublisher {
    /// Runs the publisher until it ends, then ends its publish.
    pub async fn run(mut self, ctx: MediaContext) {
        ctx.metrics.webrtc_peers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Err(end) = self.drive().await;
        ctx.metrics.webrtc_peers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let key = self.publisher.key().clone();
        tracing::info!(app_id = key.app_id, stream = %key.stream_id, "WHIP publish ended: {end}");
        self.link.rtc.disconnect();
        admission::end(&ctx, self.publisher).await;
    }

    async fn drive(&mut self) -> Result<std::convert::Infallible, End> {
        let mut st = State {
            packager: AvcPackager::new(),
            video: None,
            audio: Audio::new(self.opus.clone()),
            connected: false,
            next_keyframe_request: now(),
            last_keyframe: None,
            player_wants_keyframe: false,
        };
        loop {
            let timeout = {
                let (publisher, st) = (&self.publisher, &mut st);
                self.link.drain(|rtc, e| on_event(rtc, publisher, st, e))?
            };
            let deadline = self.publisher.poll_timeout().map_or(timeout, |t| t.min(timeout));
            tokio::select! {
                d = self.link.recv() => self.link.receive(d)?,
                _ = &mut self.stop => return Err(End::Deleted),
                () = self.publisher.cut_requested() => return Err(End::Cut),
                () = self.publisher.keyframe_wanted() => {
                    st.player_wants_keyframe = true;
                    ask_keyframe(&mut self.link.rtc, &mut st, now());
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = now();
                    self.link.tick(now)?;
                    self.publisher.handle_timeout(now);
                    ask_keyframe(&mut self.link.rtc, &mut st, now);
                }
            }
        }
    }
}

fn on_event(rtc: &mut Rtc, publisher: &Publisher, st: &mut State, e: Event) -> Result<(), End> {
    match e {
        Event::Connected => {
            st.connected = true;
            ask_keyframe(rtc, st, now());
        }
        Event::MediaAdded(m) if m.kind == MediaKind::Video && st.video.is_none() => st.video = Some(m.mid),
        Event::MediaAdded(m) if m.kind == MediaKind::Audio && st.audio.mid.is_none() => st.audio.mid = Some(m.mid),
        Event::MediaData(d) if Some(d.mid) == st.audio.mid => {
            st.audio.push(publisher, now(), d.time.numer() as u32, &d.data, d.last_sender_info);
        }
        Event::MediaData(d) if Some(d.mid) == st.video => {
            let out = st.packager.push(d.time.numer() as u32, &d.data);
            let at = now();
            st.audio.video(d.time.numer() as u32, at, d.last_sender_info);
            if let Some(header) = out.sequence_header {
                publisher.push(at, Kind::Video, out.timestamp, header);
            }
            if let Some(frame) = out.frame {
                publisher.push(at, Kind::Video, out.timestamp, frame);
                if out.keyframe {
                    st.last_keyframe = Some(at);
                    st.player_wants_keyframe = false;
                }
            }
            ask_keyframe(rtc, st, at);
        }
        _ => {}
    }
    Ok(())
}

/// Sends a PLI when a keyframe is due (none yet, a player needs one, or the last one is
/// [`KEYFRAME_INTERVAL`] old) and the last request is a second old.
fn ask_keyframe(rtc: &mut Rtc, st: &mut State, now: Instant) {
    let Some(mid) = st.video else { return };
    let due = st.packager.wants_keyframe()
        || st.player_wants_keyframe
        || st.last_keyframe.is_none_or(|at| now >= at + KEYFRAME_INTERVAL);
    if !st.connected || !due || now < st.next_keyframe_request {
        return;
    }
    st.next_keyframe_request = now + KEYFRAME_RETRY;
    if let Some(mut w) = rtc.writer(mid) {
        let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
    }
}

/// A WHIP publisher's audio: Opus to the stream's Opus track as it came, and as AAC to the hub
/// while the stream has other players, placed on the video's clock by `duet_media::LipSync`
/// (from the browser's RTCP sender reports); packets wait here while their place is not known
/// (at most [`HELD`] of them).
struct Audio {
    mid: Option<Mid>,
    track: Arc<OpusTrack>,
    sync: LipSync,
    held: VecDeque<(u32, Instant, Arc<[u8]>)>,
    aac: AacOut,
}

/// Audio packets held while their place is not known (over 3 s of 20 ms packets).
const HELD: usize = 160;

/// A sender report as `LipSync` takes it.
fn sender_clock(report: Option<SenderInfo>) -> Option<SenderClock> {
    report.map(|r| SenderClock { ntp: r.ntp_time, rtp: r.rtp_time.numer() as u32 })
}

impl Audio {
    fn new(track: Arc<OpusTrack>) -> Self {
        Self { mid: None, track, sync: LipSync::new(), held: VecDeque::new(), aac: AacOut::default() }
    }

    fn video(&mut self, rtp: u32, at: Instant, report: Option<SenderInfo>) {
        self.sync.video(rtp, at, sender_clock(report));
    }

    fn push(&mut self, publisher: &Publisher, at: Instant, rtp: u32, packet: &[u8], report: Option<SenderInfo>) {
        let report = sender_clock(report);
        self.held.push_back((rtp, at, Arc::from(packet)));
        if self.held.len() > HELD {
            self.held.pop_front();
        }
        match self.sync.audio(rtp, at, report) {
            Placed::Wait => return,
            Placed::Drop if self.held.len() == 1 => {
                self.held.clear();
                return;
            }
            _ => {}
        }
        while let Some((rtp, at, data)) = self.held.pop_front() {
            let Placed::At(time) = self.sync.audio(rtp, at, None) else { continue };
            // The hub shifts what is pushed into it after a takeover; the Opus track, beside
            // it, is shifted here alike.
            self.aac.push(publisher, time, rtp, &data);
            self.track.send(OpusPacket { time: publisher.stream_time(time), data });
        }
    }
}
