//! What Duet accepts in a WHIP or WHEP offer, and the answer it makes: the offer must be SDP
//! str0m reads (`bad_sdp`, 400, with the parser's reason) and must offer H.264 video with
//! packetization-mode 1 (`whip_no_h264`, 406), in the direction the role needs (a WHIP offer
//! sends video, a WHEP offer receives it: `bad_sdp` otherwise); Duet answers as an ICE-lite
//! peer with one host candidate (the WebRTC UDP socket at its public address), H.264 and
//! Opus. Pure apart from the `Rtc` it builds: time is an input.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::net::TcpType;
use str0m::rtp::Extension;
use str0m::{Candidate, IceCreds, Rtc, RtcConfig};

use crate::media::error::MediaRefusal;

/// An accepted offer: the peer's engine, its answer (SDP text) and its local ICE username
/// fragment (how the UDP driver finds the peer's first datagrams).
pub struct Accepted {
    /// The peer, ready to be driven.
    pub rtc: Rtc,
    /// The SDP answer for the `201 Created`.
    pub answer: String,
    /// The ICE username fragment of Duet's side.
    pub ufrag: String,
}

/// What the peer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// WHIP: the browser sends.
    Publish,
    /// WHEP: the browser receives.
    Play,
}

/// Where Duet is reached: the UDP candidate and, with ICE-TCP on, the passive TCP one.
#[derive(Debug, Clone, Copy)]
pub struct Candidates {
    /// The UDP socket's public address.
    pub udp: SocketAddr,
    /// The ICE-TCP listener's public address.
    pub tcp: Option<SocketAddr>,
}

/// Reads `sdp` and answers it as an ICE-lite peer reachable at `at`.
pub fn accept(sdp: &str, role: Role, at: Candidates, now: Instant) -> Result<Accepted, MediaRefusal> {
    let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| MediaRefusal::new("bad_sdp", format!("bad SDP: {e}")))?;
    if !offers_h264(sdp) {
        return Err(MediaRefusal::new(
            "whip_no_h264",
            "the offer has no H.264 video with packetization-mode=1 (the only video Duet takes and sends over WebRTC)",
        ));
    }
    let (wanted, wrong) = match role {
        Role::Publish => ("sendonly", "recvonly"),
        Role::Play => ("recvonly", "sendonly"),
    };
    if video_direction(sdp).is_some_and(|d| d == wrong || d == "inactive") {
        return Err(MediaRefusal::new(
            "bad_sdp",
            format!(
                "the offer's video is {wrong}: a {} offer's video is {wanted} (or sendrecv)",
                match role {
                    Role::Publish => "WHIP",
                    Role::Play => "WHEP",
                }
            ),
        ));
    }
    let creds = IceCreds::new();
    let ufrag = creds.ufrag.clone();
    let mut config = RtcConfig::new()
        .set_ice_lite(true)
        .set_local_ice_credentials(creds)
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false);
    if role == Role::Play {
        // Duet does not adapt what it sends to a player's bandwidth (it forwards the stream as
        // published): the browser's transport-wide feedback (TWCC, about every 100 ms per
        // player) would be read for nothing. Only the MID extension stays (BUNDLE demuxing).
        // A publisher keeps the standard extensions: its browser adapts to Duet's feedback.
        config = config.clear_extension_map().set_extension(4, Extension::RtpMid);
    }
    let mut rtc = config.build(now);
    let internal = |e: str0m::error::IceError| MediaRefusal::new("internal", e.to_string());
    rtc.add_local_candidate(Candidate::host(at.udp, "udp").map_err(internal)?);
    if let Some(tcp) = at.tcp {
        let passive = Candidate::builder().tcp().host(tcp).tcptype(TcpType::Passive).build().map_err(internal)?;
        rtc.add_local_candidate(passive);
    }
    let answer =
        rtc.sdp_api().accept_offer(offer).map_err(|e| MediaRefusal::new("bad_sdp", format!("unusable offer: {e}")))?;
    Ok(Accepted { rtc, answer: answer.to_sdp_string(), ufrag })
}

/// Whether a video m-line of `sdp` offers H.264 in packetization mode 1: an `a=rtpmap:PT
/// H264/90000` whose `a=fmtp:PT` says `packetization-mode=1`.
pub fn offers_h264(sdp: &str) -> bool {
    let mut in_video = false;
    let mut h264_pts = Vec::new();
    let mut mode1_pts = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            in_video = m.starts_with("video ");
            continue;
        }
        if !in_video {
            continue;
        }
        if let Some((pt, codec)) = line.strip_prefix("a=rtpmap:").and_then(|r| r.split_once(' ')) {
            if codec.to_ascii_uppercase().starts_with("H264/90000") {
                h264_pts.push(pt.to_owned());
            }
        } else if let Some((pt, params)) = line.strip_prefix("a=fmtp:").and_then(|r| r.split_once(' ')) {
            if params.split(';').any(|p| p.trim() == "packetization-mode=1") {
                mode1_pts.push(pt.to_owned());
            }
        }
    }
    h264_pts.iter().any(|pt| mode1_pts.contains(pt))
}

/// The direction attribute of the first video m-line (`sendonly`, `recvonly`, `sendrecv`,
/// `inactive`), if it has one.
fn video_direction(sdp: &str) -> Option<&str> {
    let mut in_video = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            if in_video {
                return None;
            }
            in_video = m.starts_with("video ");
        } else if in_video {
            let attr = line.strip_prefix("a=").unwrap_or_default();
            if ["sendonly", "recvonly", "sendrecv", "inactive"].contains(&attr) {
                return Some(attr);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a browser's video-only offer (trimmed).
    pub(crate) fn offer(video_codec: &str, fmtp: &str) -> String {
        [
            "v=0",
            "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0",
            "a=msid-semantic: WMS",
            "m=video 9 UDP/TLS/RTP/SAVPF 102",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:abcd",
            "a=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa",
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
            "a=setup:actpass",
            "a=mid:0",
            "a=sendonly",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            &format!("a=rtpmap:102 {video_codec}/90000"),
            "a=rtcp-fb:102 nack pli",
            &format!("a=fmtp:102 {fmtp}"),
            "a=ssrc:1111 cname:x",
            "",
        ]
        .join("\r\n")
    }

    #[test]
    fn h264_mode_1_is_required() {
        let h264 = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
        assert!(offers_h264(&offer("H264", h264)));
        assert!(!offers_h264(&offer("H264", "packetization-mode=0;profile-level-id=42e01f")));
        assert!(!offers_h264(&offer("VP8", "x=1")));
        assert!(!offers_h264(&offer("VP8", "x=1").replace("m=video", "m=audio").replace("VP8", "H264")));
    }

    #[test]
    fn answers_h264_offers_and_refuses_the_rest() {
        let at = Candidates { udp: "127.0.0.1:40000".parse().unwrap(), tcp: Some("127.0.0.1:40001".parse().unwrap()) };
        let now = Instant::now();
        let h264 = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
        let ok = accept(&offer("H264", h264), Role::Publish, at, now).unwrap_or_else(|r| panic!("{r:?}"));
        assert!(ok.answer.contains("a=ice-lite"), "{}", ok.answer);
        assert!(ok.answer.contains("H264/90000") && ok.answer.contains("127.0.0.1 40000"), "{}", ok.answer);
        assert!(ok.answer.contains("127.0.0.1 40001 typ host tcptype passive"), "{}", ok.answer);
        assert!(ok.answer.contains(&format!("a=ice-ufrag:{}", ok.ufrag)));
        let code = |sdp: &str, role| accept(sdp, role, at, now).err().map(|r| r.code);
        assert_eq!(code("hello", Role::Publish), Some("bad_sdp"));
        assert_eq!(code(&offer("VP8", "x=1"), Role::Publish), Some("whip_no_h264"));
        // A WHEP offer receives video; a WHIP offer sends it.
        let send = offer("H264", h264);
        let recv = send.replace("a=sendonly", "a=recvonly");
        assert_eq!(code(&send, Role::Play), Some("bad_sdp"));
        assert_eq!(code(&recv, Role::Publish), Some("bad_sdp"));
        let play = accept(&recv, Role::Play, at, now).unwrap_or_else(|r| panic!("{r:?}"));
        assert!(play.answer.contains("a=sendonly"), "{}", play.answer);
    }
}
