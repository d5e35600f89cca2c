//! The ffmpeg command of a mixer task at one moment (pure): from the task's config and which
//! of its inputs are present now, the arguments of one child process that reads each present
//! input as an RTMP player of this node, composes them on the canvas and writes the mix as FLV
//! to its standard output.
//!
//! The picture: the canvas (the background colour) with each input's picture scaled into its
//! region (fill: cropped; fit: bars in the background colour), in the order of `inputList`
//! (later ones on top). An absent input shows its placeholder image, else the background. The
//! sound: every present input's sound mixed at full level (`amix`, not normalised), else
//! silence. Output: H.264 (x264, constrained baseline: no B-frames, what WebRTC browsers play;
//! a keyframe every two seconds) and AAC-LC.
//!
//! Pacing: live inputs arrive in real time, so the child goes at their pace; a source made up
//! here (canvas, image, silence) is read in real time only when no live input paces its kind.
//! When any input ends the whole mix ends (`eof_action=endall`, `amix duration=shortest`,
//! `-shortest`): the child exits rather than run ahead, and the task starts the next graph.

use duet_room::mixer::{MixerConfig, MixerInput};

/// Which of an input's tracks are in the mix now: what its config uses and its stream has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Present {
    /// Its sound.
    pub audio: bool,
    /// Its picture.
    pub video: bool,
}

impl Present {
    /// What of `input` is in the mix when its stream shows `tracks` (`(audio, video)`;
    /// `None`: not live).
    pub fn of(input: &MixerInput, tracks: Option<(bool, bool)>) -> Self {
        let (audio, video) = tracks.unwrap_or_default();
        Self { audio: audio && input.content.audio(), video: video && input.content.video() }
    }

    fn any(self) -> bool {
        self.audio || self.video
    }
}

/// GOP of the mix, in seconds.
const GOP_SECS: u32 = 2;
/// Audio sample rate of the mix.
const SAMPLE_RATE: u32 = 48_000;

/// The child's arguments (after the program name). `play_url(stream_id)` is the signed RTMP
/// play URL of an input on this node.
pub fn ffmpeg_args(config: &MixerConfig, present: &[Present], play_url: impl Fn(&str) -> String) -> Vec<String> {
    let c = &config.canvas;
    let live_video = present.iter().any(|p| p.video);
    let live_audio = present.iter().any(|p| p.audio);
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "warning"].map(String::from).to_vec();
    let mut add = |a: &[&str]| args.extend(a.iter().map(|s| s.to_string()));
    let paced = |live: bool| if live { vec![] } else { vec!["-re"] };

    // Input 0: the canvas.
    add(&paced(live_video));
    add(&["-f", "lavfi", "-i", &format!("color=c=0x{:06x}:s={}x{}:r={}", c.background, c.width, c.height, c.fps)]);
    let mut next = 1;
    // Then each present input, and each absent input's placeholder image.
    let mut source = vec![None; config.inputs.len()];
    for (i, input) in config.inputs.iter().enumerate() {
        if present[i].any() {
            add(&["-analyzeduration", "300000", "-rtmp_live", "live", "-i", &play_url(&input.stream_id)]);
        } else if let Some(image) = input.image.as_deref().filter(|_| input.content.video()) {
            add(&paced(live_video));
            add(&["-loop", "1", "-framerate", &c.fps.to_string(), "-i", image]);
        } else {
            continue;
        }
        source[i] = Some(next);
        next += 1;
    }
    // Silence, when nobody's sound is in the mix.
    let silence = (!live_audio).then(|| {
        let layout = if c.audio_channels == 2 { "stereo" } else { "mono" };
        add(&["-re", "-f", "lavfi", "-i", &format!("anullsrc=r={SAMPLE_RATE}:cl={layout}")]);
        next
    });

    let mut graph = vec![format!("[0:v]format=yuv420p[c0]")];
    let mut canvas = 0;
    for (i, input) in config.inputs.iter().enumerate() {
        let Some(n) = source[i] else { continue };
        if !input.content.video() || (present[i].any() && !present[i].video) {
            continue;
        }
        let r = input.layout;
        // Even sides: 4:2:0 pictures have chroma per 2x2 pixels.
        let (w, h) = ((r.right - r.left) & !1, (r.bottom - r.top) & !1);
        let fitted = if input.fit {
            format!(
                "scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=0x{:06x}",
                c.background
            )
        } else {
            format!("scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}")
        };
        graph.push(format!("[{n}:v]{fitted},setsar=1,format=yuv420p[p{i}]"));
        graph.push(format!(
            "[c{canvas}][p{i}]overlay=x={}:y={}:eof_action=endall:format=yuv420[c{}]",
            r.left,
            r.top,
            canvas + 1
        ));
        canvas += 1;
    }
    graph.push(format!("[c{canvas}]null[v]"));
    let sounds: Vec<String> = config
        .inputs
        .iter()
        .enumerate()
        .filter(|(i, _)| present[*i].audio)
        .filter_map(|(i, _)| source[i].map(|n| format!("[{n}:a]")))
        .chain(silence.map(|n| format!("[{n}:a]")))
        .collect();
    let layout = if c.audio_channels == 2 { "stereo" } else { "mono" };
    let format = format!("aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts={layout}");
    graph.push(match sounds.len() {
        1 => format!("{}{format}[a]", sounds[0]),
        n => {
            format!("{}amix=inputs={n}:duration=shortest:dropout_transition=0:normalize=0,{format}[a]", sounds.concat())
        }
    });

    let (fps, kbps) = (c.fps, c.video_kbps);
    add(&["-filter_complex", &graph.join(";"), "-map", "[v]", "-map", "[a]", "-shortest"]);
    // Constrained baseline: what every WebRTC browser and <live-player> decodes.
    add(&["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline"]);
    add(&["-pix_fmt", "yuv420p"]);
    add(&["-r", &fps.to_string(), "-g", &(fps * GOP_SECS).to_string(), "-bf", "0"]);
    add(&["-b:v", &format!("{kbps}k"), "-maxrate", &format!("{kbps}k"), "-bufsize", &format!("{}k", kbps * 2)]);
    add(&["-c:a", "aac", "-b:a", &format!("{}k", c.audio_kbps), "-ar", &SAMPLE_RATE.to_string()]);
    add(&["-ac", &c.audio_channels.to_string()]);
    add(&["-flush_packets", "1", "-flvflags", "no_duration_filesize", "-f", "flv", "pipe:1"]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: serde_json::Value) -> MixerConfig {
        let mut v = json!({
            "taskID": "t",
            "inputList": [
                {"streamID": "red", "layout": {"left": 0, "top": 0, "right": 320, "bottom": 360}},
                {"streamID": "blue", "renderMode": 1, "layout": {"left": 320, "top": 0, "right": 640, "bottom": 360},
                 "imageInfo": {"url": "http://img.example/away.png"}}
            ],
            "outputList": ["mix"],
            "outputConfig": {"outputWidth": 640, "outputHeight": 360, "outputFPS": 15, "outputBitrate": 700,
                             "outputBgColor": 0x112233}
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        MixerConfig::parse(&v).unwrap()
    }

    fn url(s: &str) -> String {
        format!("rtmp://127.0.0.1:1935/1/{s}?sign=x")
    }

    fn both() -> Present {
        Present { audio: true, video: true }
    }

    fn arg_after<'a>(args: &'a [String], flag: &str) -> &'a str {
        args.iter().position(|a| a == flag).map(|i| args[i + 1].as_str()).unwrap()
    }

    #[test]
    fn two_present_inputs_side_by_side_with_mixed_sound() {
        let args = ffmpeg_args(&config(json!({})), &[both(), both()], url);
        let inputs: Vec<&String> =
            args.iter().enumerate().filter(|(i, _)| *i > 0 && args[i - 1] == "-i").map(|(_, a)| a).collect();
        assert_eq!(inputs, ["color=c=0x112233:s=640x360:r=15", &url("red"), &url("blue")]);
        assert!(!args.contains(&"-re".to_string()), "live inputs pace the mix: {args:?}");
        let graph = arg_after(&args, "-filter_complex");
        assert!(graph.contains("[1:v]scale=320:360:force_original_aspect_ratio=increase,crop=320:360"), "{graph}");
        assert!(graph.contains("[2:v]scale=320:360:force_original_aspect_ratio=decrease,pad=320:360"), "{graph}");
        assert!(graph.contains("[c0][p0]overlay=x=0:y=0:eof_action=endall"), "{graph}");
        assert!(graph.contains("[c1][p1]overlay=x=320:y=0:eof_action=endall"), "{graph}");
        assert!(graph.contains("[1:a][2:a]amix=inputs=2:duration=shortest"), "{graph}");
        assert_eq!(arg_after(&args, "-b:v"), "700k");
        assert_eq!(arg_after(&args, "-g"), "30");
        assert_eq!(args.last().unwrap(), "pipe:1");
    }

    #[test]
    fn an_absent_input_shows_its_image_or_the_background() {
        // blue absent: its image, paced by red.
        let args = ffmpeg_args(&config(json!({})), &[both(), Present::default()], url);
        assert!(args.contains(&"http://img.example/away.png".to_string()));
        assert!(!args.contains(&url("blue")));
        assert!(!args.contains(&"-re".to_string()));
        let graph = arg_after(&args, "-filter_complex");
        assert!(graph.contains("[2:v]scale=320:360"), "the image fills blue's region: {graph}");
        assert!(graph.starts_with("[0:v]") && graph.contains("[1:a]aresample"), "red's sound alone: {graph}");
        // red absent (no image): the background shows; the canvas and silence are paced.
        let args = ffmpeg_args(&config(json!({})), &[Present::default(), Present::default()], url);
        assert_eq!(args.iter().filter(|a| *a == "-re").count(), 3, "canvas, image, silence: {args:?}");
        let graph = arg_after(&args, "-filter_complex");
        assert!(!graph.contains("p0"), "{graph}");
        assert!(graph.contains("[2:a]aresample"), "silence after the image input: {graph}");
    }

    #[test]
    fn content_types_choose_tracks() {
        let c = config(json!({}));
        let mut audio_only = c.inputs[0].clone();
        audio_only.content = duet_room::mixer::Content::Audio;
        assert_eq!(Present::of(&audio_only, Some((true, true))), Present { audio: true, video: false });
        assert_eq!(Present::of(&c.inputs[0], Some((true, false))), Present { audio: true, video: false });
        assert_eq!(Present::of(&c.inputs[0], None), Present::default());
        // An input present for its sound alone has no region; its image does not stand in.
        let args = ffmpeg_args(&c, &[Present { audio: true, video: false }, both()], url);
        let graph = arg_after(&args, "-filter_complex");
        assert!(!graph.contains("p0"), "{graph}");
        assert!(graph.contains("[1:a][2:a]amix"), "{graph}");
    }
}
