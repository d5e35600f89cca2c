//! The Opus track of a live stream, for its WHEP players: WebRTC carries Opus, RTMP/FLV carry
//! AAC, so a stream's audio reaches browsers beside the hub rather than through it. A WHIP
//! publisher's own Opus goes here as it came (no transcoding on the way to browsers); for a
//! stream published with AAC (RTMP), the first WHEP player starts one transcoder for the
//! stream (AAC → Opus, `duet_audio`), which every WHEP player of the stream shares and which
//! stops when the last one left or the stream ended. Packets carry the stream's millisecond
//! clock (the hub's timestamps), so a player maps audio and video onto its own clock alike.
//!
//! A player that falls behind the track's buffer loses the oldest packets (audio is not worth
//! waiting for).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use duet_media::StreamKey;
use tokio::sync::broadcast;

/// Packets a track holds for a player that is behind (about 5 s of 20 ms packets).
const BUFFER: usize = 256;

/// One Opus packet on the stream's clock.
#[derive(Debug, Clone)]
pub struct OpusPacket {
    /// Milliseconds, the stream's clock (as the hub's timestamps).
    pub time: u32,
    /// The Opus packet (RFC 6716), one RTP payload.
    pub data: Bytes,
}

/// One stream's Opus track.
pub struct OpusTrack {
    tx: broadcast::Sender<OpusPacket>,
}

impl OpusTrack {
    fn new() -> Arc<Self> {
        Arc::new(Self { tx: broadcast::Sender::new(BUFFER) })
    }

    /// Sends a packet to every player listening (none: it is dropped).
    pub fn send(&self, packet: OpusPacket) {
        let _ = self.tx.send(packet);
    }

    /// How many players listen.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// A new listener, from the next packet.
    pub fn listen(&self) -> broadcast::Receiver<OpusPacket> {
        self.tx.subscribe()
    }
}

/// The node's Opus tracks, by stream.
#[derive(Default)]
pub struct OpusTracks {
    /// A WHIP publisher holds its track (`Arc`); a transcoder's track lives while its players
    /// or the transcoder hold it (`Weak` here).
    tracks: Mutex<HashMap<StreamKey, Weak<OpusTrack>>>,
}

impl OpusTracks {
    fn tracks(&self) -> MutexGuard<'_, HashMap<StreamKey, Weak<OpusTrack>>> {
        self.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The track a WHIP publisher of `key` sends its Opus to (replacing a previous one).
    pub fn publish(&self, key: &StreamKey) -> Arc<OpusTrack> {
        let track = OpusTrack::new();
        let mut tracks = self.tracks();
        tracks.retain(|_, t| t.strong_count() > 0);
        tracks.insert(key.clone(), Arc::downgrade(&track));
        track
    }

    /// The track of `key` for a new player, and whether it is new: then nothing feeds it yet
    /// and the caller starts its transcoder (or leaves it silent: a stream without audio).
    pub fn play(&self, key: &StreamKey) -> (Arc<OpusTrack>, bool) {
        let mut tracks = self.tracks();
        if let Some(track) = tracks.get(key).and_then(Weak::upgrade) {
            return (track, false);
        }
        let track = OpusTrack::new();
        tracks.insert(key.clone(), Arc::downgrade(&track));
        (track, true)
    }
}
