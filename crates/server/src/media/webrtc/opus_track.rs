//! The Opus track of a live stream, for its WHEP players: WebRTC carries Opus, RTMP/FLV carry
//! AAC, so a stream's audio reaches browsers beside the hub rather than through it. A WHIP
//! publisher's own Opus goes here as it came (no transcoding on the way to browsers); for a
//! stream published with AAC (RTMP), the first WHEP player starts one transcoder for the
//! stream (AAC → Opus, `duet_audio`), which every WHEP player of the stream shares and which
//! stops when the last one left, the stream ended, or a WHIP publisher took the stream over
//! (its own Opus then feeds the same track). A track outlives a publisher taken over, so its
//! players keep listening; one whose track ended (its source went) looks for the stream's track
//! again. Packets carry the stream's millisecond clock (the hub's timestamps), so a player
//! maps audio and video onto its own clock alike.
//!
//! A player that falls behind the track's buffer loses the oldest packets (audio is not worth
//! waiting for).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use duet_media::StreamKey;
use tokio::sync::broadcast;

/// Packets a track holds for a player that is behind (about 5 s of 20 ms packets).
const BUFFER: usize = 256;

/// One Opus packet on the stream's clock.
#[derive(Debug, Clone)]
pub struct OpusPacket {
    /// Milliseconds, the stream's clock (as the hub's timestamps).
    pub time: u32,
    /// The Opus packet (RFC 6716), one RTP payload, shared by every player.
    pub data: Arc<[u8]>,
}

/// One stream's Opus track.
pub struct OpusTrack {
    tx: broadcast::Sender<OpusPacket>,
    /// A WHIP publisher feeds it (a transcoder feeding it stops).
    native: AtomicBool,
}

impl OpusTrack {
    fn new() -> Arc<Self> {
        Arc::new(Self { tx: broadcast::Sender::new(BUFFER), native: AtomicBool::new(false) })
    }

    /// Whether a WHIP publisher feeds it.
    pub fn is_native(&self) -> bool {
        self.native.load(Relaxed)
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

    /// The track a WHIP publisher of `key` sends its Opus to: the stream's, if it has one
    /// (a takeover: its players keep listening), else a new one.
    pub fn publish(&self, key: &StreamKey) -> Arc<OpusTrack> {
        let mut tracks = self.tracks();
        tracks.retain(|_, t| t.strong_count() > 0);
        let track = tracks.get(key).and_then(Weak::upgrade).unwrap_or_else(OpusTrack::new);
        track.native.store(true, Relaxed);
        tracks.insert(key.clone(), Arc::downgrade(&track));
        track
    }

    /// The track of `key` for a new player, and whether it is new: then nothing feeds it yet
    /// and the caller starts its transcoder (or leaves it silent: a stream without audio).
    pub fn play(&self, key: &StreamKey) -> (Arc<OpusTrack>, bool) {
        let mut tracks = self.tracks();
        tracks.retain(|_, t| t.strong_count() > 0);
        if let Some(track) = tracks.get(key).and_then(Weak::upgrade) {
            return (track, false);
        }
        let track = OpusTrack::new();
        tracks.insert(key.clone(), Arc::downgrade(&track));
        (track, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_takeover_keeps_the_track_and_tracks_without_source_are_forgotten() {
        let tracks = OpusTracks::default();
        let key = StreamKey { app_id: 1, stream_id: "s".into() };
        let (played, new) = tracks.play(&key);
        assert!(new && !played.is_native(), "an RTMP stream's track: the caller starts a transcoder");
        let mut rx = played.listen();
        let whip = tracks.publish(&key);
        assert!(Arc::ptr_eq(&whip, &played) && whip.is_native(), "a WHIP takeover feeds the same track");
        whip.send(OpusPacket { time: 7, data: Arc::from(&b"x"[..]) });
        assert_eq!(rx.try_recv().unwrap().time, 7, "its listener hears the new publisher");
        let again = tracks.publish(&key);
        assert!(Arc::ptr_eq(&again, &whip), "a second WHIP takeover too");
        drop((played, whip, again));
        let (_, new) = tracks.play(&StreamKey { app_id: 1, stream_id: "other".into() });
        assert!(new);
        assert_eq!(tracks.tracks().len(), 1, "tracks nothing holds are forgotten");
    }
}
