//! The latency budget: how long a stream's messages may wait so that each player gets them in
//! one write, and [`Batcher`], the rule that decides, message by message, when the waiting ones
//! are released to the players. Fewer, larger writes cost the server less (the kernel's cost
//! grows with the number of sends, not the bytes); the price is the wait. SRS calls the same
//! trade "merged writes" (`mw_latency`, 350 ms by default there).
//!
//! Keyframes, sequence headers and metadata are never held back; a new player's first bytes
//! (the cached GOP) are written at once, whatever the budget. No clock is read: arrival times
//! are inputs and the deadline is polled (`Publisher::poll_timeout`).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::packet::{Kind, Packet};

/// How long a stream's messages may wait to be written to players together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyBudget {
    /// Every message is written as it arrives (`0`).
    Immediate,
    /// One write per video frame: the frame with the audio that came since the previous one
    /// (`frame`, the default, for calls). Nothing waits longer than [`FRAME_CAP`], so the audio
    /// of a slow or paused video still flows; an audio-only stream writes each message.
    #[default]
    Frame,
    /// Messages are written together at most this long after the first of them arrived
    /// (`40`: milliseconds, from 1 to [`MAX_WINDOW`]), for broadcasts to many. Writes end on
    /// a video frame when the next frame would come too late for the oldest message waiting
    /// (so `40` at 25 fps writes each frame with its audio, `350` about every ninth frame).
    Window(Duration),
}

/// The longest a message waits for a video frame under [`LatencyBudget::Frame`].
pub const FRAME_CAP: Duration = Duration::from_millis(100);
/// The longest window a budget may name.
pub const MAX_WINDOW: Duration = Duration::from_millis(1000);

/// A budget that is not `0`, `frame`, or a number of milliseconds up to [`MAX_WINDOW`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBudget(pub String);

impl fmt::Display for BadBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "latency budget `{}` is not 0, frame, or milliseconds up to {}", self.0, MAX_WINDOW.as_millis())
    }
}

impl std::error::Error for BadBudget {}

impl FromStr for LatencyBudget {
    type Err = BadBudget;

    fn from_str(s: &str) -> Result<Self, BadBudget> {
        let bad = || BadBudget(s.chars().take(32).collect());
        if s == "frame" {
            return Ok(Self::Frame);
        }
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match s.parse::<u64>().map_err(|_| bad())? {
            0 => Ok(Self::Immediate),
            ms if ms <= MAX_WINDOW.as_millis() as u64 => Ok(Self::Window(Duration::from_millis(ms))),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for LatencyBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Immediate => f.write_str("0"),
            Self::Frame => f.write_str("frame"),
            Self::Window(d) => write!(f, "{}", d.as_millis()),
        }
    }
}

/// Decides when a stream's waiting messages are released to its players (public so that a
/// load generator can batch by the very same rule).
#[derive(Debug)]
pub struct Batcher {
    budget: LatencyBudget,
    /// When the oldest waiting message arrived (`None`: nothing waits).
    waiting_since: Option<Instant>,
    /// When the last video frame arrived, and the gap before it (the frame interval).
    last_frame: Option<Instant>,
    frame_gap: Duration,
}

impl Batcher {
    /// Nothing waiting, under `budget`.
    pub fn new(budget: LatencyBudget) -> Self {
        Self { budget, waiting_since: None, last_frame: None, frame_gap: Duration::ZERO }
    }

    /// A message arrived at `now` and joined the waiting ones (`video`: whether the stream has
    /// video to align to). Whether the waiting messages go out now.
    pub fn arrived(&mut self, now: Instant, packet: &Packet, video: bool) -> bool {
        let since = *self.waiting_since.get_or_insert(now);
        let frame = packet.kind == Kind::Video && !packet.sequence_header;
        if frame {
            if let Some(last) = self.last_frame {
                self.frame_gap = now.saturating_duration_since(last);
            }
            self.last_frame = Some(now);
        }
        let urgent = packet.keyframe || packet.sequence_header || packet.kind == Kind::Metadata;
        let release = urgent
            || match self.budget {
                LatencyBudget::Immediate => true,
                LatencyBudget::Frame => packet.kind == Kind::Video || !video || now >= since + FRAME_CAP,
                // Writes end on a frame: at a frame after which the next one (a frame interval
                // on) would come too late for the oldest waiting message.
                LatencyBudget::Window(window) => {
                    now >= since + window || (frame && now + self.frame_gap > since + window)
                }
            };
        if release {
            self.waiting_since = None;
        }
        release
    }

    /// When the waiting messages must go out even if nothing else arrives.
    pub fn deadline(&self) -> Option<Instant> {
        let since = self.waiting_since?;
        Some(match self.budget {
            LatencyBudget::Immediate => since,
            LatencyBudget::Frame => since + FRAME_CAP,
            LatencyBudget::Window(window) => since + window,
        })
    }

    /// Whether the deadline passed at `now` (then the waiting messages go out).
    pub fn due(&mut self, now: Instant) -> bool {
        let due = self.deadline().is_some_and(|at| now >= at);
        if due {
            self.waiting_since = None;
        }
        due
    }

    /// The waiting messages went out (nothing waits now).
    pub fn released(&mut self) {
        self.waiting_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn audio() -> Packet {
        Packet::new(Kind::Audio, 0, Bytes::from_static(&[0xAF, 1, 7]))
    }
    fn inter() -> Packet {
        Packet::new(Kind::Video, 0, Bytes::from_static(&[0x27, 1, 0, 0, 0, 8]))
    }
    fn key() -> Packet {
        Packet::new(Kind::Video, 0, Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]))
    }

    #[test]
    fn budgets_parse_and_print() {
        for (text, budget) in [
            ("0", LatencyBudget::Immediate),
            ("frame", LatencyBudget::Frame),
            ("40", LatencyBudget::Window(Duration::from_millis(40))),
            ("1000", LatencyBudget::Window(MAX_WINDOW)),
        ] {
            assert_eq!(text.parse::<LatencyBudget>(), Ok(budget));
            assert_eq!(budget.to_string(), text);
        }
        for bad in ["", "1001", "-1", "40ms", "Frame", "00000", "9999999999999999999999"] {
            assert!(bad.parse::<LatencyBudget>().is_err(), "{bad}");
        }
    }

    #[test]
    fn frame_releases_at_each_video_frame_and_caps_the_wait() {
        let t0 = Instant::now();
        let mut b = Batcher::new(LatencyBudget::Frame);
        assert!(!b.arrived(t0, &audio(), true), "audio waits for the frame");
        assert!(!b.arrived(t0 + Duration::from_millis(20), &audio(), true));
        assert_eq!(b.deadline(), Some(t0 + FRAME_CAP), "counted from the oldest waiting message");
        assert!(b.arrived(t0 + Duration::from_millis(39), &inter(), true), "the frame takes them out");
        assert_eq!(b.deadline(), None);
        assert!(b.arrived(t0, &audio(), false), "audio-only: nothing to align to");
        assert!(!b.arrived(t0, &audio(), true));
        assert!(!b.due(t0 + FRAME_CAP - Duration::from_millis(1)));
        assert!(b.due(t0 + FRAME_CAP), "a paused video does not hold audio back");
        assert!(!b.due(t0 + FRAME_CAP * 2), "released once");
    }

    #[test]
    fn a_window_ends_on_the_last_frame_that_fits_it() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut b = Batcher::new(LatencyBudget::Window(ms(350)));
        // Frames every 40 ms, audio between them.
        assert!(b.arrived(t0, &key(), true));
        let mut released = Vec::new();
        for i in 1..=20u64 {
            assert!(!b.arrived(t0 + ms(i * 40 - 20), &audio(), true), "audio alone never closes it early");
            if b.arrived(t0 + ms(i * 40), &inter(), true) {
                released.push(i * 40);
            }
        }
        // The oldest waiting message (audio at 20 ms) may wait until 370: the frame at 360 goes
        // out with it, as the next one (400) would be too late; then audio at 380 opens the next.
        assert_eq!(released, [360, 720], "every ninth frame, none waiting over 350 ms");
        let mut b = Batcher::new(LatencyBudget::Window(ms(40)));
        assert!(!b.arrived(t0, &inter(), true), "no frame interval known yet");
        assert!(!b.arrived(t0 + ms(20), &audio(), true));
        assert!(b.arrived(t0 + ms(40), &inter(), true), "at 25 fps, a 40 ms window writes each frame");
    }

    #[test]
    fn a_window_merges_until_it_closes_and_a_keyframe_never_waits() {
        let t0 = Instant::now();
        let window = Duration::from_millis(40);
        let mut b = Batcher::new(LatencyBudget::Window(window));
        assert!(!b.arrived(t0, &inter(), true));
        assert!(!b.arrived(t0 + Duration::from_millis(30), &audio(), true));
        assert!(b.arrived(t0 + window, &inter(), true), "the window closed");
        assert!(!b.arrived(t0 + window, &audio(), true));
        assert!(b.arrived(t0 + window, &key(), true), "a keyframe goes out at once");
        assert!(Batcher::new(LatencyBudget::Immediate).arrived(t0, &audio(), true));
    }
}
