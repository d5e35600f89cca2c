//! Audio between the two worlds, once per stream and only while someone needs it:
//! - [`start`]: AAC → Opus for the WHEP players of a stream published with AAC (RTMP): one task
//!   per stream reads the stream as a player and feeds its Opus track (`opus_track`); it stops
//!   when the track has no listener left or the stream ended;
//! - [`AacOut`]: Opus → AAC inside a WHIP publisher's task, for the stream's RTMP, FLV and fMP4
//!   players: made while the stream has a player other than its WHEP players, dropped when it
//!   has none (and made again, with a new sequence header, when one comes).
//!
//! The codecs are `duet_audio`'s (libopus, libvo-aacenc, symphonia's AAC decoder:
//! docs/audio.md); timestamps stay on the stream's millisecond clock both ways.

use std::sync::Arc;

use duet_audio::{AacConfig, AacToOpus, OpusConfig, OpusToAac};
use duet_media::avc::RtpClock;
use duet_media::{Codec, Hub, Kind, Publisher, StreamKey, Subscriber};

use crate::media::now;
use crate::media::webrtc::opus_track::{OpusPacket, OpusTrack};

/// Starts the AAC → Opus transcoder of `key` feeding `track` (a stream without AAC leaves the
/// track silent).
pub fn start(hub: &Arc<Hub>, key: &StreamKey, track: &Arc<OpusTrack>) {
    // It reads the stream for WebRTC players: it is not one that needs AAC.
    let Some(sub) = hub.subscribe_webrtc(key) else { return };
    tokio::spawn(to_opus(sub, track.clone(), key.clone()));
}

async fn to_opus(mut sub: Subscriber, track: Arc<OpusTrack>, key: StreamKey) {
    let mut encoder: Option<AacToOpus> = None;
    // The Opus output's clock: RTP time 0 is the first AAC frame's time (the first packets
    // come slightly before it: the encoder's look-ahead).
    let mut clock: Option<(u32, RtpClock)> = None;
    let mut errors = 0u64;
    // The cached start's audio is in the past: only its sequence header is of use.
    let start = sub.take_start();
    let header = start.iter().filter(|p| p.kind == Kind::Audio && p.sequence_header).cloned();
    let mut pending: Vec<_> = header.collect();
    loop {
        for p in pending.drain(..) {
            if p.kind != Kind::Audio || p.codec() != Codec::Aac {
                continue;
            }
            let enc = match &mut encoder {
                Some(enc) => enc,
                None => match AacToOpus::new(OpusConfig::default()) {
                    Ok(enc) => encoder.insert(enc),
                    Err(e) => {
                        tracing::warn!(app_id = key.app_id, stream = %key.stream_id, "no AAC to Opus: {e}");
                        return;
                    }
                },
            };
            let r = enc.push(p.timestamp, &p.payload);

            match r {
                Ok(out) => {
                    for o in out {
                        let (base, clock) = clock.get_or_insert_with(|| {
                            let mut clock = RtpClock::new(RtpClock::OPUS_HZ);
                            clock.signed_millis(0); // RTP time 0: the first AAC frame's time
                            (p.timestamp, clock)
                        });
                        // On the stream's 32-bit clock, which wraps (players unwrap it).
                        let time = (i64::from(*base) + clock.signed_millis(o.rtp_ts)) as u32;
                        track.send(OpusPacket { time, data: o.packet.into() });
                    }
                }
                Err(e) => {
                    errors += 1;
                    if errors.is_power_of_two() {
                        tracing::debug!(app_id = key.app_id, stream = %key.stream_id, "AAC to Opus: {e} ({errors} so far)");
                    }
                }
            }
        }
        // No one to hear it, or a WHIP publisher took the stream over (its Opus feeds the track).
        if track.listeners() == 0 || track.is_native() {
            return;
        }
        let Some(batch) = sub.next_batch().await else { return };
        pending.extend(batch.packets().cloned());
    }
}

/// Opus → AAC for a WHIP publisher's other players (see the module doc).
#[derive(Default)]
pub struct AacOut {
    encoder: Option<OpusToAac>,
    failed: bool,
}

impl AacOut {
    /// Transcodes one Opus packet at `time` (the stream's milliseconds; `rtp` its RTP time)
    /// into AAC pushed to `publisher`, if the stream has players besides its WebRTC players.
    pub fn push(&mut self, publisher: &Publisher, time: u32, rtp: u32, packet: &[u8]) {
        if publisher.players_besides_webrtc() == 0 {
            self.encoder = None;
            return;
        }
        let at = now();
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None if self.failed => return,
            None => match OpusToAac::new(AacConfig::default(), time) {
                Ok(e) => {
                    publisher.push(at, Kind::Audio, time, e.flv_sequence_header().into());
                    self.encoder.insert(e)
                }
                Err(e) => {
                    self.failed = true;
                    tracing::warn!("no Opus to AAC: {e}");
                    return;
                }
            },
        };
        match encoder.push(rtp, packet) {
            Ok(frames) => {
                for f in frames {
                    publisher.push(at, Kind::Audio, f.timestamp_ms, f.flv_payload().into());
                }
            }
            Err(e) => tracing::debug!("Opus to AAC: {e}"),
        }
    }
}
