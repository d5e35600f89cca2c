//! Where a WebRTC publisher's audio goes on its video's clock. The video's millisecond time 0
//! is its first frame (then RTP time alone moves it: `avc::AvcPackager`); audio has its own RTP
//! clock with an unknown start. The sender's RTCP sender reports map each track's RTP time to
//! one wall clock (NTP), which is how a receiver lines them up: the audio's first packet is
//! placed at its capture time less the first video frame's, from the reports of both tracks.
//! Until both tracks have a report, audio waits (the caller holds it); if a report does not
//! come within [`REPORT_WAIT`], the two first packets' arrival times are used instead (less
//! exact: the browser sends video later than it captures it, by its encoding time). After
//! that, audio moves by its RTP time alone. Audio before the first video frame is dropped.
//!
//! Pure: RTP times, reports and arrival instants in, millisecond times out.

use std::time::{Duration, Instant, SystemTime};

use crate::avc::RtpClock;

/// How long audio waits for both tracks' sender reports before arrival times are used.
pub const REPORT_WAIT: Duration = Duration::from_secs(2);

/// One RTCP sender report's mapping: this RTP time was captured at this wall clock time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SenderClock {
    /// The report's NTP time.
    pub ntp: SystemTime,
    /// The RTP time at that instant.
    pub rtp: u32,
}

impl SenderClock {
    /// The wall clock time (seconds since the epoch) of RTP time `rtp` on a clock of `hz`.
    fn capture(&self, rtp: u32, hz: i64) -> f64 {
        let since = self.ntp.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        since + f64::from(rtp.wrapping_sub(self.rtp) as i32) / hz as f64
    }
}

/// What to do with an audio packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Its time on the video's clock (milliseconds).
    At(u32),
    /// Hold it: where audio goes is not known yet (ask again with the next packet).
    Wait,
    /// Drop it: it comes before the video's start (or there is no video yet).
    Drop,
}

/// One WebRTC publisher's audio placement (see the module doc).
#[derive(Debug, Default)]
pub struct LipSync {
    video_first: Option<(u32, Instant)>,
    video_report: Option<SenderClock>,
    audio_first: Option<(u32, Instant)>,
    audio_report: Option<SenderClock>,
    /// The audio's first packet on the video's clock, once decided, and its RTP clock.
    audio: Option<(i64, RtpClock)>,
}

impl LipSync {
    /// A new publisher's.
    pub fn new() -> Self {
        Self::default()
    }

    /// A video frame at RTP time `rtp` arrived `at`, with the track's latest report.
    pub fn video(&mut self, rtp: u32, at: Instant, report: Option<SenderClock>) {
        self.video_first.get_or_insert((rtp, at));
        if report.is_some() {
            self.video_report = report;
        }
    }

    /// An audio packet at RTP time `rtp` arrived `at`, with the track's latest report.
    pub fn audio(&mut self, rtp: u32, at: Instant, report: Option<SenderClock>) -> Placed {
        if report.is_some() {
            self.audio_report = report;
        }
        let Some((video_rtp, video_at)) = self.video_first else { return Placed::Drop };
        let &mut (first_rtp, first_at) = self.audio_first.get_or_insert((rtp, at));
        if self.audio.is_none() {
            let start = match (self.video_report, self.audio_report) {
                (Some(v), Some(a)) => {
                    let apart = a.capture(first_rtp, RtpClock::OPUS_HZ) - v.capture(video_rtp, RtpClock::VIDEO_HZ);
                    (apart * 1000.0).round() as i64
                }
                _ if at >= first_at + REPORT_WAIT => {
                    let apart = first_at.saturating_duration_since(video_at).as_millis() as i64;
                    apart - video_at.saturating_duration_since(first_at).as_millis() as i64
                }
                _ => return Placed::Wait,
            };
            let mut clock = RtpClock::new(RtpClock::OPUS_HZ);
            clock.millis(first_rtp);
            self.audio = Some((start, clock));
        }
        let (start, clock) = self.audio.as_mut().expect("decided above");
        let time = *start + i64::from(clock.millis(rtp));
        // Before the video's start: dropped; later, on the 32-bit clock, which wraps as FLV's.
        if time < 0 { Placed::Drop } else { Placed::At(time as u32) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(secs: f64, rtp: u32) -> Option<SenderClock> {
        Some(SenderClock { ntp: SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs), rtp })
    }

    #[test]
    fn reports_place_audio_at_its_capture_time() {
        let t0 = Instant::now();
        let mut sync = LipSync::new();
        assert_eq!(sync.audio(1000, t0, None), Placed::Drop, "no video yet");
        // Video frame at RTP 90_000 captured at 100.000 s (it arrives 80 ms later: encoding).
        sync.video(90_000, t0 + Duration::from_millis(80), None);
        // Audio's first packet, RTP 48_000, captured at 100.250 s, arrives at once.
        assert_eq!(sync.audio(48_000, t0 + Duration::from_millis(250), None), Placed::Wait);
        sync.video(90_000 + 9000, t0 + Duration::from_millis(180), report(100.1, 99_000));
        assert_eq!(sync.audio(48_960, t0 + Duration::from_millis(270), report(100.27, 48_960)), Placed::At(270));
        assert_eq!(sync.audio(48_000 + 4800, t0 + Duration::from_millis(350), None), Placed::At(350));
    }

    #[test]
    fn without_reports_arrival_times_place_it_after_a_wait() {
        let t0 = Instant::now();
        let mut sync = LipSync::new();
        sync.video(5, t0, None);
        assert_eq!(sync.audio(7, t0 + Duration::from_millis(40), None), Placed::Wait);
        let late = t0 + Duration::from_millis(40) + REPORT_WAIT;
        let rtp = 7 + 48 * 2000;
        assert_eq!(sync.audio(rtp, late, None), Placed::At(2040), "the first packet at 40 ms, this one 2 s after");
    }

    #[test]
    fn audio_captured_before_the_video_started_is_dropped() {
        let t0 = Instant::now();
        let mut sync = LipSync::new();
        sync.video(0, t0, report(10.0, 0));
        // Audio captured 100 ms before the first video frame.
        assert_eq!(sync.audio(0, t0, report(9.9, 0)), Placed::Drop);
        assert_eq!(sync.audio(4800, t0, None), Placed::At(0));
        assert_eq!(sync.audio(9600, t0, None), Placed::At(100));
    }
}
