//! The ring a stream's players follow: the messages released together (a [`Flush`], one per
//! latency budget) in order, bounded to [`RING`] messages. A flush packages its messages into
//! one buffer per wire form on first use, shared by every player that is caught up, so such a
//! player writes a flush with one plain send.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};

use crate::packet::Packet;

/// Messages the ring holds; a player further behind skips to the next keyframe.
pub const RING: usize = 1024;

/// Messages released to players together.
#[derive(Debug)]
pub struct Flush {
    seq: u64,
    packets: Vec<Arc<Packet>>,
    rtmp: OnceLock<Bytes>,
    flv: OnceLock<Bytes>,
}

impl Flush {
    /// The messages, in order.
    pub fn packets(&self) -> &[Arc<Packet>] {
        &self.packets
    }

    /// All the messages as RTMP chunks, in one buffer.
    pub fn rtmp(&self) -> &Bytes {
        self.rtmp.get_or_init(|| concat(&self.packets, Packet::rtmp))
    }

    /// All the messages as FLV tags, in one buffer.
    pub fn flv(&self) -> &Bytes {
        self.flv.get_or_init(|| concat(&self.packets, Packet::flv))
    }
}

/// One buffer of every packet's `form`; a single packet's own buffer is shared, not copied.
fn concat(packets: &[Arc<Packet>], form: fn(&Packet) -> &Bytes) -> Bytes {
    if let [one] = packets {
        return form(one).clone();
    }
    let mut out = BytesMut::with_capacity(packets.iter().map(|p| form(p).len()).sum());
    for p in packets {
        out.extend_from_slice(form(p));
    }
    out.freeze()
}

/// The flushes players may still read.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    flushes: VecDeque<Arc<Flush>>,
    /// Messages in `flushes`.
    packets: usize,
    /// The sequence number the next flush gets.
    next_seq: u64,
}

impl Ring {
    /// Appends a flush, dropping the oldest ones beyond [`RING`] messages.
    pub(crate) fn push(&mut self, packets: Vec<Arc<Packet>>) {
        self.packets += packets.len();
        let flush = Flush { seq: self.next_seq, packets, rtmp: OnceLock::new(), flv: OnceLock::new() };
        self.flushes.push_back(Arc::new(flush));
        self.next_seq += 1;
        while self.packets > RING && self.flushes.len() > 1 {
            let old = self.flushes.pop_front().expect("more than one flush");
            self.packets -= old.packets.len();
        }
    }

    /// The sequence number of the next flush (where a new player starts).
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The flushes from `seq` on, or `Err` with the oldest flush's sequence number when `seq`
    /// was already dropped (the reader fell behind).
    pub(crate) fn since(&self, seq: u64) -> Result<impl Iterator<Item = &Arc<Flush>>, u64> {
        let first = self.next_seq - self.flushes.len() as u64;
        if seq < first {
            return Err(first);
        }
        Ok(self.flushes.iter().skip((seq - first) as usize))
    }
}

impl Flush {
    /// Its place in the stream's sequence of flushes.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Kind;

    fn audio(ts: u32) -> Arc<Packet> {
        Arc::new(Packet::new(Kind::Audio, ts, Bytes::from_static(&[0xAF, 1, 7])))
    }

    #[test]
    fn a_flush_is_one_buffer_of_its_messages() {
        let mut ring = Ring::default();
        ring.push(vec![audio(0), audio(23)]);
        let flush = ring.since(0).unwrap().next().unwrap().clone();
        let by_packet: Vec<u8> = flush.packets().iter().flat_map(|p| p.rtmp().to_vec()).collect();
        assert_eq!(&flush.rtmp()[..], &by_packet[..]);
        let by_tag: Vec<u8> = flush.packets().iter().flat_map(|p| p.flv().to_vec()).collect();
        assert_eq!(&flush.flv()[..], &by_tag[..]);
        ring.push(vec![audio(46)]);
        let single = ring.since(1).unwrap().next().unwrap().clone();
        assert_eq!(single.rtmp().as_ptr(), single.packets()[0].rtmp().as_ptr(), "one message: shared, not copied");
    }

    #[test]
    fn the_ring_keeps_its_bound_and_says_who_fell_behind() {
        let mut ring = Ring::default();
        for i in 0..RING as u32 {
            ring.push(vec![audio(i)]);
        }
        assert_eq!(ring.since(0).unwrap().count(), RING);
        ring.push(vec![audio(0), audio(1)]);
        assert_eq!(ring.since(0).err(), Some(2), "the two oldest flushes made room");
        assert_eq!(ring.since(ring.next_seq()).unwrap().count(), 0);
        let last = ring.since(RING as u64).unwrap().next().unwrap();
        assert_eq!(last.seq(), RING as u64);
    }
}
