//! The GOP cache of a live stream: what a new player gets first (metadata, the sequence
//! headers, the packets since the latest keyframe), and what a player skipping to a keyframe
//! needs before it (the headers). Kept in step with what the stream released to players;
//! bounded ([`MAX_GOP_PACKETS`], [`MAX_GOP_BYTES`]): a longer GOP is dropped and new players
//! wait for the next keyframe.

use std::sync::Arc;

use crate::packet::{Kind, Packet};

/// Most packets kept in the GOP cache; a longer GOP is dropped (players then wait for a keyframe).
pub const MAX_GOP_PACKETS: usize = 4096;
/// Most payload bytes kept in the GOP cache (about 40 s at 4 Mbit/s); beyond, it is dropped too.
pub const MAX_GOP_BYTES: usize = 20 * 1024 * 1024;

#[derive(Default)]
pub(crate) struct Cache {
    metadata: Option<Arc<Packet>>,
    video_header: Option<Arc<Packet>>,
    audio_header: Option<Arc<Packet>>,
    gop: Vec<Arc<Packet>>,
    gop_bytes: usize,
    pub(crate) has_video: bool,
    pub(crate) has_audio: bool,
}

impl Cache {
    /// What a new player gets first: metadata, sequence headers, the GOP so far.
    pub(crate) fn start(&self) -> Vec<Arc<Packet>> {
        let headers = self.metadata.iter().chain(&self.video_header).chain(&self.audio_header);
        headers.chain(&self.gop).cloned().collect()
    }

    /// Metadata and sequence headers: what a player resuming at a keyframe needs first.
    pub(crate) fn headers(&self) -> Vec<Arc<Packet>> {
        self.metadata.iter().chain(&self.video_header).chain(&self.audio_header).cloned().collect()
    }

    /// Keeps a released message if a new player will need it.
    pub(crate) fn add(&mut self, packet: &Arc<Packet>) {
        match packet.kind {
            Kind::Metadata => self.metadata = Some(packet.clone()),
            Kind::Video if packet.sequence_header => {
                self.has_video = true;
                self.video_header = Some(packet.clone());
            }
            Kind::Audio if packet.sequence_header => {
                self.has_audio = true;
                self.audio_header = Some(packet.clone());
            }
            Kind::Video => {
                self.has_video = true;
                if packet.keyframe {
                    self.clear_gop();
                }
                if !self.gop.is_empty() || packet.keyframe {
                    self.gop_bytes += packet.payload.len();
                    self.gop.push(packet.clone());
                }
            }
            Kind::Audio => {
                self.has_audio = true;
                // Audio rides along with the GOP so a new player gets both from the keyframe on.
                if !self.gop.is_empty() {
                    self.gop_bytes += packet.payload.len();
                    self.gop.push(packet.clone());
                }
            }
        }
        if self.gop.len() > MAX_GOP_PACKETS || self.gop_bytes > MAX_GOP_BYTES {
            self.clear_gop();
        }
    }

    pub(crate) fn clear_gop(&mut self) {
        self.gop.clear();
        self.gop_bytes = 0;
    }
}
