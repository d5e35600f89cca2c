//! The one count of WebRTC peers: how many the node holds (`--webrtc-max-peers`), how many
//! each app holds (its `webrtc_max_peers`, when it has one) and how many WHEP players each
//! stream has (`--webrtc-max-stream-players`, when set). A peer's place is taken with
//! [`Slots::reserve`] before anything is set up for it and held as a [`PeerSlot`] until the
//! peer ends; dropping the slot frees every count it took.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use duet_media::StreamKey;

use crate::media::error::MediaRefusal;

/// The node's, every app's and every played stream's count of peers.
pub struct Slots {
    counts: Mutex<Counts>,
    max: usize,
    max_stream_players: Option<usize>,
}

#[derive(Default)]
struct Counts {
    node: usize,
    /// Only apps with a peer.
    apps: HashMap<u32, usize>,
    /// Only streams with a WHEP player.
    streams: HashMap<StreamKey, usize>,
}

/// A place among the node's, its app's (and a player's stream's) WebRTC peers, held from the
/// offer to the peer's end.
pub struct PeerSlot {
    slots: Arc<Slots>,
    app_id: u32,
    stream: Option<StreamKey>,
}

impl Slots {
    /// Counts for a node taking at most `max` peers, and at most `max_stream_players` WHEP
    /// players per stream (`None`: no cap per stream).
    pub fn new(max: usize, max_stream_players: Option<usize>) -> Self {
        Self { counts: Mutex::default(), max, max_stream_players }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Each update is a few integer steps; a panic cannot leave them half done.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more peer of `app_id`, which may hold `app_cap` peers (`None` or 0: no
    /// cap beyond the node's), playing `stream` if it is a WHEP player. Refused with
    /// `webrtc_busy` (503) when the node is full, `webrtc_app_busy` (429) when the app is, and
    /// `webrtc_stream_busy` (429) when the stream has its most players.
    pub fn reserve(
        self: &Arc<Self>,
        app_id: u32,
        app_cap: Option<u32>,
        stream: Option<&StreamKey>,
    ) -> Result<PeerSlot, MediaRefusal> {
        let mut counts = self.counts();
        if counts.node >= self.max {
            return Err(MediaRefusal::new(
                "webrtc_busy",
                "this node takes no more WebRTC peers now (--webrtc-max-peers); try again later",
            ));
        }
        let app = counts.apps.get(&app_id).copied().unwrap_or(0);
        if let Some(cap) = app_cap.filter(|&c| c > 0) {
            if app >= cap as usize {
                return Err(MediaRefusal::new(
                    "webrtc_app_busy",
                    format!("the app holds its {cap} WebRTC peers already (duet app webrtc-peers); try again later"),
                ));
            }
        }
        if let (Some(key), Some(cap)) = (stream, self.max_stream_players)
            && counts.streams.get(key).copied().unwrap_or(0) >= cap
        {
            return Err(MediaRefusal::new(
                "webrtc_stream_busy",
                format!(
                    "the stream has its {cap} WebRTC players already (--webrtc-max-stream-players); try again later"
                ),
            ));
        }
        counts.node += 1;
        counts.apps.insert(app_id, app + 1);
        if let Some(key) = stream {
            *counts.streams.entry(key.clone()).or_default() += 1;
        }
        Ok(PeerSlot { slots: self.clone(), app_id, stream: stream.cloned() })
    }

    /// Peers held by the node and by `app_id`.
    pub fn held(&self, app_id: u32) -> (usize, usize) {
        let counts = self.counts();
        (counts.node, counts.apps.get(&app_id).copied().unwrap_or(0))
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        counts.node -= 1;
        if let Some(n) = counts.apps.get_mut(&self.app_id) {
            *n -= 1;
            if *n == 0 {
                counts.apps.remove(&self.app_id);
            }
        }
        if let Some(key) = &self.stream
            && let Some(n) = counts.streams.get_mut(key)
        {
            *n -= 1;
            if *n == 0 {
                counts.streams.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_and_each_app_are_capped_and_an_ended_peer_frees_both() {
        let slots = Arc::new(Slots::new(3, None));
        let a1 = slots.reserve(1, Some(2), None).unwrap();
        let _a2 = slots.reserve(1, Some(2), None).unwrap();
        let busy = slots.reserve(1, Some(2), None).err().unwrap();
        assert_eq!((busy.code, busy.status().as_u16()), ("webrtc_app_busy", 429));
        assert_eq!(slots.held(1), (2, 2), "a refusal holds nothing");
        let b1 = slots.reserve(2, None, None).unwrap();
        let full = slots.reserve(2, Some(0), None).err().unwrap();
        assert_eq!((full.code, full.status().as_u16()), ("webrtc_busy", 503));
        drop(a1);
        assert_eq!(slots.held(1), (2, 1));
        let _a3 = slots.reserve(1, Some(2), None).unwrap();
        drop(b1);
        assert_eq!(slots.held(2), (2, 0));
        assert!(!slots.counts().apps.contains_key(&2), "an app without peers is forgotten");
        assert!(
            slots.reserve(1, Some(2), None).is_err() && slots.reserve(1, None, None).is_ok(),
            "the cap is the caller's"
        );
    }

    #[test]
    fn each_stream_has_at_most_its_players() {
        let slots = Arc::new(Slots::new(10, Some(2)));
        let key = |s: &str| StreamKey { app_id: 1, stream_id: s.into() };
        let p1 = slots.reserve(1, None, Some(&key("a"))).unwrap();
        let _p2 = slots.reserve(1, None, Some(&key("a"))).unwrap();
        let busy = slots.reserve(1, None, Some(&key("a"))).err().unwrap();
        assert_eq!((busy.code, busy.status().as_u16()), ("webrtc_stream_busy", 429));
        assert!(slots.reserve(1, None, Some(&key("b"))).is_ok(), "another stream is not held back");
        assert!(slots.reserve(1, None, None).is_ok(), "publishers are not players");
        drop(p1);
        assert!(slots.reserve(1, None, Some(&key("a"))).is_ok(), "an ended player frees its place");
    }
}
