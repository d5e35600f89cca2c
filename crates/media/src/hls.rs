//! HLS and low-latency HLS (RFC 8216bis) of one live stream, packaged from its packets into
//! CMAF (fragmented MP4, `fmp4`): an init segment, segments that start at keyframes once the
//! target duration is reached, and parts of at most the part target (a part never crosses a
//! segment boundary; the first part of a segment is independent). Audio-only streams are cut
//! on audio alone. Pure: packets in; playlists and bytes out. The server decides when to
//! package (only while someone plays HLS), serves the bytes, and holds blocking reloads until
//! [`Packager::has`] says the asked-for part exists.
//!
//! A segment stays available [`HlsConfig::keep`] segments after it left the playlist's window,
//! so a player that fetched a playlist listing it can still fetch it.

use std::collections::VecDeque;
use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};

use crate::fmp4::{AacConfig, AvcConfig, Fmp4Muxer, Fragment};
use crate::packet::{Kind, Packet};

/// How a stream is cut and listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsConfig {
    /// Segments end at the first keyframe at or after this, ms.
    pub segment_target_ms: u32,
    /// Parts are at most this long (unless one sample is longer), ms.
    pub part_target_ms: u32,
    /// Complete segments listed in the playlist.
    pub window: usize,
    /// Segments kept after they left the window.
    pub keep: usize,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self { segment_target_ms: 2000, part_target_ms: 200, window: 6, keep: 3 }
    }
}

/// Complete segments whose parts the playlist still lists (RFC 8216bis: parts of the last
/// segments, at least those within three target durations of the end).
const SEGMENTS_WITH_PARTS: usize = 3;

#[derive(Debug, Clone)]
struct Part {
    bytes: Bytes,
    duration_ms: u32,
    independent: bool,
}

#[derive(Debug, Clone)]
struct Segment {
    msn: u64,
    /// Which init segment its fragments need (it changes when the encoder's config does).
    init: u32,
    /// Starts after a change of init segment.
    discontinuity: bool,
    parts: Vec<Part>,
    complete: bool,
}

impl Segment {
    fn duration_ms(&self) -> u32 {
        self.parts.iter().map(|p| p.duration_ms).sum()
    }
}

/// The part being filled.
#[derive(Default)]
struct Filling {
    bytes: BytesMut,
    duration_ms: u32,
    independent: bool,
    samples: usize,
}

/// One stream's HLS: its init segments, segments and parts, and its playlist.
pub struct Packager {
    cfg: HlsConfig,
    has_video: bool,
    has_audio: bool,
    video: Option<AvcConfig>,
    audio: Option<AacConfig>,
    muxer: Option<Fmp4Muxer>,
    /// Init segments by number; the last is the current one.
    inits: Vec<(u32, Bytes)>,
    segments: VecDeque<Segment>,
    filling: Filling,
    next_msn: u64,
    /// The longest segment and part so far, ms (the playlist's targets never shrink).
    longest_segment_ms: u32,
    longest_part_ms: u32,
}

impl Packager {
    /// A packager of a stream with these tracks (as the stream's subscriber reports them).
    pub fn new(cfg: HlsConfig, has_video: bool, has_audio: bool) -> Self {
        Self {
            cfg,
            has_video,
            has_audio: has_audio || !has_video,
            video: None,
            audio: None,
            muxer: None,
            inits: Vec::new(),
            segments: VecDeque::new(),
            filling: Filling::default(),
            next_msn: 0,
            longest_segment_ms: 0,
            longest_part_ms: 0,
        }
    }

    /// Takes one packet of the stream (from its first cached keyframe on). True when it made
    /// a part or a segment (what a waiting request may be waiting for; most packets do not).
    pub fn push(&mut self, p: &Packet) -> bool {
        let before = self.next_part();
        if p.sequence_header {
            self.configure(p);
        } else if let Some(fragment) = self.muxer.as_mut().and_then(|m| m.push_sample(p)) {
            self.add(fragment);
        }
        self.next_part() != before
    }

    /// A sequence header: the tracks' configuration. A new one (an encoder restart) starts a
    /// new init segment, and the next segment follows a discontinuity.
    fn configure(&mut self, p: &Packet) {
        let changed = self.muxer.as_ref().is_some_and(|m| m.config_changed(p));
        match p.kind {
            Kind::Video => {
                if let Some(v) = AvcConfig::from_sequence_header(&p.payload) {
                    self.video = Some(v);
                }
            }
            Kind::Audio => {
                if let Some(a) = AacConfig::from_sequence_header(&p.payload) {
                    self.audio = Some(a);
                }
            }
            Kind::Metadata => return,
        }
        let ready = (!self.has_video || self.video.is_some()) && (!self.has_audio || self.audio.is_some());
        if !ready || (self.muxer.is_some() && !changed) {
            return;
        }
        if self.muxer.is_some() {
            self.close_segment();
        }
        let muxer = Fmp4Muxer::new(self.video.clone(), self.audio.clone());
        let number = self.inits.last().map_or(0, |(n, _)| n + 1);
        self.inits.push((number, muxer.init_segment()));
        if self.inits.len() > 2 {
            self.inits.remove(0);
        }
        self.muxer = Some(muxer);
    }

    /// Places one sample: a keyframe of the main track (video, else audio) past the segment
    /// target starts a segment; a sample that would take the part past its target starts a part.
    fn add(&mut self, f: Fragment) {
        let main = f.video || !self.has_video;
        if main {
            let open = self.segments.back().filter(|s| !s.complete);
            let open_ms = open.map_or(0, |s| s.duration_ms()) + self.filling.duration_ms;
            if open.is_some() && f.keyframe && open_ms >= self.cfg.segment_target_ms {
                self.close_segment();
            } else if self.filling.samples > 0 && self.filling.duration_ms + f.duration_ms > self.cfg.part_target_ms {
                self.close_part();
            }
        }
        if self.segments.back().is_none_or(|s| s.complete) {
            // Only a keyframe opens a segment (audio before the first one is dropped).
            if main && !f.keyframe {
                return;
            }
            let discontinuity = self.segments.back().is_some_and(|s| s.init != self.current_init());
            self.segments.push_back(Segment {
                msn: self.next_msn,
                init: self.current_init(),
                discontinuity,
                parts: Vec::new(),
                complete: false,
            });
            self.next_msn += 1;
        }
        if self.filling.samples == 0 {
            self.filling.independent = main && f.keyframe;
        }
        self.filling.bytes.extend_from_slice(&f.bytes);
        self.filling.samples += 1;
        if main {
            self.filling.duration_ms += f.duration_ms;
            // A full part goes out at once, not with the next sample.
            if self.filling.duration_ms >= self.cfg.part_target_ms {
                self.close_part();
            }
        }
    }

    fn current_init(&self) -> u32 {
        self.inits.last().map_or(0, |(n, _)| *n)
    }

    fn close_part(&mut self) {
        if self.filling.samples == 0 {
            return;
        }
        let filling = std::mem::take(&mut self.filling);
        let Some(segment) = self.segments.back_mut().filter(|s| !s.complete) else { return };
        let part =
            Part { bytes: filling.bytes.freeze(), duration_ms: filling.duration_ms, independent: filling.independent };
        self.longest_part_ms = self.longest_part_ms.max(part.duration_ms);
        segment.parts.push(part);
    }

    fn close_segment(&mut self) {
        self.close_part();
        let Some(segment) = self.segments.back_mut().filter(|s| !s.complete) else { return };
        if segment.parts.is_empty() {
            self.segments.pop_back();
            self.next_msn -= 1;
            return;
        }
        segment.complete = true;
        self.longest_segment_ms = self.longest_segment_ms.max(segment.duration_ms());
        let complete = self.segments.iter().filter(|s| s.complete).count();
        let excess = complete.saturating_sub(self.cfg.window + self.cfg.keep);
        self.segments.drain(..excess);
    }

    /// Whether the playlist lists segment `msn` (complete, when `part` is `None`) or part
    /// `part` of it: what a blocking reload (`_HLS_msn`, `_HLS_part`) waits for.
    pub fn has(&self, msn: u64, part: Option<usize>) -> bool {
        match self.segments.iter().find(|s| s.msn == msn) {
            Some(s) => match part {
                None => s.complete,
                Some(p) => s.parts.len() > p || s.complete,
            },
            // Listed before and gone, or before the first one kept: there is newer media.
            None => self.segments.front().is_some_and(|s| msn < s.msn),
        }
    }

    /// The next part the packager will make: (segment, part), the preload hint.
    fn next_part(&self) -> Option<(u64, usize)> {
        let last = self.segments.back()?;
        Some(if last.complete { (last.msn + 1, 0) } else { (last.msn, last.parts.len()) })
    }

    /// The media sequence number a blocking reload may ask for at most: the next segment's
    /// (RFC 8216bis: more than one beyond is refused).
    pub fn next_msn(&self) -> u64 {
        self.next_part().map_or(0, |(msn, _)| msn)
    }

    /// Whether a complete segment exists yet: a playlist every player can start from (one
    /// that reads parts could start earlier, one that does not needs a segment).
    pub fn started(&self) -> bool {
        self.segments.iter().any(|s| s.complete)
    }

    /// Init segment `n`, if kept.
    pub fn init(&self, n: u32) -> Option<Bytes> {
        self.inits.iter().find(|(m, _)| *m == n).map(|(_, b)| b.clone())
    }

    /// Complete segment `msn`, if kept.
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        let s = self.segments.iter().find(|s| s.msn == msn && s.complete)?;
        let mut out = BytesMut::with_capacity(s.parts.iter().map(|p| p.bytes.len()).sum());
        for p in &s.parts {
            out.extend_from_slice(&p.bytes);
        }
        Some(out.freeze())
    }

    /// Part `part` of segment `msn`, if it exists and is kept.
    pub fn part(&self, msn: u64, part: usize) -> Option<Bytes> {
        let s = self.segments.iter().find(|s| s.msn == msn)?;
        s.parts.get(part).map(|p| p.bytes.clone())
    }

    /// Whether a part request names the one being made now (the preload hint): it is answered
    /// when the part is complete.
    pub fn is_coming(&self, msn: u64, part: usize) -> bool {
        self.next_part() == Some((msn, part))
    }

    /// The media playlist. Every URI is relative to it, under `base` (the stream's folder, e.g.
    /// `cam`), and carries `query` (the play URL's signature), so a player that loaded the
    /// playlist can load the rest without help.
    pub fn playlist(&self, base: &str, query: &str) -> String {
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        // RFC 8216bis: every EXTINF, rounded to the nearest second, at most the target.
        let target_s =
            self.cfg.segment_target_ms.div_ceil(1000).max(self.longest_segment_ms.saturating_add(500) / 1000).max(1);
        let part_target = self.cfg.part_target_ms.max(self.longest_part_ms);
        let mut out = String::with_capacity(2048);
        let _ = writeln!(out, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:{target_s}");
        let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={}", seconds(part_target));
        let _ = writeln!(out, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}", seconds(part_target * 3));
        let complete: Vec<&Segment> = self.segments.iter().filter(|s| s.complete).collect();
        let listed_from = complete.len().saturating_sub(self.cfg.window);
        let listed: Vec<&Segment> =
            complete[listed_from..].iter().copied().chain(self.segments.iter().filter(|s| !s.complete)).collect();
        let Some(first) = listed.first() else { return out };
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", first.msn);
        let mut init = None;
        let with_parts_from = complete.len().saturating_sub(SEGMENTS_WITH_PARTS);
        for s in &listed {
            if s.discontinuity && init.is_some() {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if init != Some(s.init) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{base}/init-{}.mp4{q}\"", s.init);
                init = Some(s.init);
            }
            let recent = !s.complete || complete[with_parts_from..].iter().any(|c| c.msn == s.msn);
            if recent {
                for (i, p) in s.parts.iter().enumerate() {
                    let independent = if p.independent { ",INDEPENDENT=YES" } else { "" };
                    let _ = writeln!(
                        out,
                        "#EXT-X-PART:DURATION={},URI=\"{base}/part-{}.{i}.m4s{q}\"{independent}",
                        seconds(p.duration_ms),
                        s.msn
                    );
                }
            }
            if s.complete {
                let _ = writeln!(out, "#EXTINF:{},\n{base}/seg-{}.m4s{q}", seconds(s.duration_ms()), s.msn);
            }
        }
        if let Some((msn, part)) = self.next_part() {
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{base}/part-{msn}.{part}.m4s{q}\"");
        }
        out
    }
}

/// Milliseconds as seconds with three decimals.
fn seconds(ms: u32) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// What an HLS request under a stream's folder names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsFile {
    /// `init-{n}.mp4`.
    Init(u32),
    /// `seg-{msn}.m4s`.
    Segment(u64),
    /// `part-{msn}.{part}.m4s`.
    Part(u64, usize),
}

impl HlsFile {
    /// Reads a file name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(n) = name.strip_prefix("init-").and_then(|r| r.strip_suffix(".mp4")) {
            return Some(Self::Init(digits(n)?));
        }
        if let Some(n) = name.strip_prefix("seg-").and_then(|r| r.strip_suffix(".m4s")) {
            return Some(Self::Segment(digits(n)?));
        }
        let (msn, part) = name.strip_prefix("part-")?.strip_suffix(".m4s")?.split_once('.')?;
        Some(Self::Part(digits(msn)?, digits(part)?))
    }
}

/// A number written in decimal digits only (no sign, no spaces).
fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::tests::{avc_header, pk};

    const AAC: &[u8] = &[0xaf, 0, 0x12, 0x10];

    /// A stream of `seconds` at 25 fps with a keyframe every `gop_ms` and AAC every 23 ms.
    fn feed(p: &mut Packager, seconds: u32, gop_ms: u32) {
        p.push(&pk(Kind::Video, 0, &avc_header()));
        p.push(&pk(Kind::Audio, 0, AAC));
        let (mut v, mut a) = (0u32, 0u32);
        while v < seconds * 1000 {
            if a <= v {
                p.push(&pk(Kind::Audio, a, &[0xaf, 1, 0x21, 0x10]));
                a += 23;
            } else {
                let key = v % gop_ms == 0;
                p.push(&pk(Kind::Video, v, &[if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]));
                v += 40;
            }
        }
    }

    /// The value of `attr` on a playlist line.
    fn attr<'a>(line: &'a str, name: &str) -> &'a str {
        let at = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
        line[at..].split(',').next().unwrap().trim_matches('"')
    }

    /// The playlist follows RFC 8216bis: every segment within the target duration (rounded),
    /// every part within the part target, media sequence numbers without gaps, parts of the
    /// last segments listed with the first of each segment independent, a preload hint.
    #[test]
    fn playlists_follow_the_rules() {
        let mut p = Packager::new(HlsConfig::default(), true, true);
        feed(&mut p, 30, 2000);
        let list = p.playlist("cam", "expire=1&sign=ab");
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines[0], "#EXTM3U");
        let target: f64 = lines.iter().find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:")).unwrap().parse().unwrap();
        let part_target: f64 =
            attr(lines.iter().find(|l| l.starts_with("#EXT-X-PART-INF")).unwrap(), "PART-TARGET").parse().unwrap();
        assert_eq!((target, part_target), (2.0, 0.2));
        let extinf: Vec<f64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|l| l.trim_end_matches(',').parse().unwrap())
            .collect();
        assert_eq!(extinf.len(), 6, "the window: {list}");
        assert!(extinf.iter().all(|d| d.round() <= target && (1.9..=2.1).contains(d)), "{extinf:?}");
        let parts: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("#EXT-X-PART:")).collect();
        assert!(parts.iter().all(|l| attr(l, "DURATION").parse::<f64>().unwrap() <= part_target), "{list}");
        assert!(parts.iter().all(|l| attr(l, "URI").ends_with("?expire=1&sign=ab")));
        let first_parts = parts.iter().filter(|l| attr(l, "URI").ends_with(".0.m4s?expire=1&sign=ab")).count();
        let independent = parts.iter().filter(|l| l.contains("INDEPENDENT=YES")).count();
        assert_eq!(first_parts, independent, "the first part of each segment is independent: {list}");
        let msn: u64 = lines.iter().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).unwrap().parse().unwrap();
        let segs: Vec<u64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("cam/seg-").and_then(|r| r.split('.').next()))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(segs, (msn..msn + 6).collect::<Vec<_>>(), "no gaps");
        assert!(lines.last().unwrap().starts_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam/part-"), "{list}");
        assert!(list.contains("#EXT-X-MAP:URI=\"cam/init-0.mp4?expire=1&sign=ab\""));
        assert!(list.contains("CAN-BLOCK-RELOAD=YES"));
        // What the playlist lists can be fetched; the segment is its parts.
        let last = *segs.last().unwrap();
        let whole = p.segment(last).unwrap();
        let joined: Vec<u8> = (0..).map_while(|i| p.part(last, i)).flat_map(|b| b.to_vec()).collect();
        assert_eq!(whole.to_vec(), joined);
        assert!(p.init(0).is_some_and(|i| &i[4..8] == b"ftyp"));
    }

    /// A long GOP makes a longer segment: the target duration follows; parts still keep theirs.
    #[test]
    fn segments_follow_keyframes() {
        let mut p = Packager::new(HlsConfig::default(), true, true);
        feed(&mut p, 20, 5000);
        let list = p.playlist("s", "");
        assert!(list.contains("#EXT-X-TARGETDURATION:5\n"), "{list}");
        assert!(list.lines().filter_map(|l| l.strip_prefix("#EXTINF:")).all(|d| d == "5.000,"), "{list}");
    }

    /// Audio-only streams are cut on audio, every part independent.
    #[test]
    fn audio_only_streams_are_packaged() {
        let mut p = Packager::new(HlsConfig::default(), false, true);
        p.push(&pk(Kind::Audio, 0, AAC));
        for i in 0..400u32 {
            p.push(&pk(Kind::Audio, i * 23, &[0xaf, 1, 0x21]));
        }
        let list = p.playlist("a", "");
        assert!(list.lines().filter(|l| l.starts_with("#EXTINF:")).count() >= 3, "{list}");
        assert!(list.lines().filter(|l| l.starts_with("#EXT-X-PART:")).all(|l| l.contains("INDEPENDENT=YES")));
    }

    /// What blocking reloads wait for: a part as soon as it is made, a segment once complete;
    /// segments kept a while after they leave the window, then gone.
    #[test]
    fn blocking_reloads_and_retention() {
        let mut p = Packager::new(HlsConfig { window: 2, keep: 1, ..HlsConfig::default() }, true, false);
        assert!(!p.started());
        p.push(&pk(Kind::Video, 0, &avc_header()));
        for i in 0..6u32 {
            p.push(&pk(Kind::Video, i * 40, &[if i == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]));
        }
        assert!(!p.started() && p.has(0, Some(0)) && !p.has(0, Some(1)) && !p.has(0, None));
        assert!(p.is_coming(0, 1) && !p.is_coming(0, 2));
        assert_eq!(p.next_msn(), 0);
        let mut t = 240;
        while !p.has(0, None) {
            p.push(&pk(Kind::Video, t, &[if t % 2000 == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]));
            t += 40;
        }
        // The keyframe at 2 s is placed when the frame after it (2.04 s) gives its duration.
        assert_eq!(t - 40, 2040, "segment 0 completes when the keyframe at 2 s is placed");
        assert!(p.started());
        while t < 12_040 {
            p.push(&pk(Kind::Video, t, &[if t % 2000 == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]));
            t += 40;
        }
        // Segments 0..=4 complete: 2 listed, 1 kept beyond, the rest gone (and counted as past).
        assert!(p.segment(4).is_some() && p.segment(2).is_some() && p.segment(1).is_none());
        assert!(p.has(1, None), "an old segment counts as there (newer media is)");
        assert!(p.playlist("s", "").contains("#EXT-X-MEDIA-SEQUENCE:3\n"));
    }

    #[test]
    fn file_names_are_read_strictly() {
        assert_eq!(HlsFile::parse("init-0.mp4"), Some(HlsFile::Init(0)));
        assert_eq!(HlsFile::parse("seg-12.m4s"), Some(HlsFile::Segment(12)));
        assert_eq!(HlsFile::parse("part-12.3.m4s"), Some(HlsFile::Part(12, 3)));
        for bad in [
            "seg-.m4s",
            "seg--1.m4s",
            "part-1.m4s",
            "part-1.2.3.m4s",
            "seg-1.mp4",
            "x",
            "seg-99999999999999999999.m4s",
            "seg- 1.m4s",
        ] {
            assert_eq!(HlsFile::parse(bad), None, "{bad}");
        }
    }
}
