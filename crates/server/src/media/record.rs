//! Recording live streams to fragmented MP4 files (docs/recording.md): one task per recorded
//! stream, a player of it from its cached keyframe on, writing the init segment and then each
//! sample's fragment as it comes (`duet_media::fmp4`), so a file cut short by a crash (or a
//! `kill -9`) plays up to its last complete fragment. A file ends at the first keyframe past
//! `--record-segment-secs` or `--record-max-bytes` (the next starts there: files follow each
//! other without a gap), at an encoder's configuration change, and when the recording stops
//! (the stream ended, or the HTTP API said so). Files are named by app, stream and start:
//! `{dir}/{appID}/{streamID}/{streamID}-{unix ms}.mp4`.
//!
//! Each file closed is a `record.done` webhook (stream, file, start, duration, bytes); a write
//! that fails (a full disk) ends the recording with `record.failed` and never touches the live
//! stream or its players.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet_media::fmp4::{AacConfig, AvcConfig, Fmp4Muxer};
use duet_media::{Kind, StreamKey};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::media::MediaContext;
use crate::media::error::MediaRefusal;

/// How often a file being written is synced to disk (a crash of the process loses nothing
/// written; a power loss, at most this much).
const SYNC_EVERY: Duration = Duration::from_secs(5);

/// Where and how recordings are written (`--record-dir`, `--record-segment-secs`,
/// `--record-max-bytes`).
#[derive(Debug, Clone)]
pub struct RecordSettings {
    pub dir: PathBuf,
    pub max_secs: u64,
    pub max_bytes: u64,
    /// Files older than this many days are deleted (`--record-keep-days`; `None`: kept).
    pub keep_days: Option<u64>,
}

/// How often old recordings are looked for.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Deletes recordings older than the settings keep, at start and every hour, until the
/// runtime stops.
pub async fn retain(settings: RecordSettings) {
    let Some(days) = settings.keep_days else { return };
    loop {
        let dir = settings.dir.clone();
        let deleted = tokio::task::spawn_blocking(move || delete_older(&dir, Duration::from_secs(days * 86_400)))
            .await
            .unwrap_or(0);
        if deleted > 0 {
            tracing::info!(deleted, days, "deleted recordings past their retention");
        }
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}

/// Deletes the recording files (`{app}/{stream}/{stream}-{ms}.mp4`) under `dir` last written
/// more than `age` ago; how many.
fn delete_older(dir: &Path, age: Duration) -> usize {
    let Some(cutoff) = std::time::SystemTime::now().checked_sub(age) else { return 0 };
    let entries = |p: &Path| std::fs::read_dir(p).into_iter().flatten().flatten().collect::<Vec<_>>();
    let mut deleted = 0;
    for app in entries(dir) {
        for stream in entries(&app.path()) {
            let stream_id = stream.file_name().to_string_lossy().into_owned();
            for file in entries(&stream.path()) {
                let name = file.file_name().to_string_lossy().into_owned();
                let old = file.metadata().ok().and_then(|m| m.modified().ok()).is_some_and(|t| t < cutoff);
                if old && is_recording_name(&stream_id, &name) && std::fs::remove_file(file.path()).is_ok() {
                    deleted += 1;
                }
            }
        }
    }
    deleted
}

/// A recording's file name as [`record`] writes it: `{streamID}-{unix ms}.mp4`.
pub fn is_recording_name(stream_id: &str, name: &str) -> bool {
    name.strip_prefix(stream_id)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(".mp4"))
        .is_some_and(|ms| !ms.is_empty() && ms.len() <= 20 && ms.bytes().all(|b| b.is_ascii_digit()))
}

/// The recordings under way on this node.
pub struct Recorders {
    pub settings: RecordSettings,
    active: Mutex<HashMap<StreamKey, Arc<Notify>>>,
}

impl Recorders {
    pub fn new(settings: RecordSettings) -> Self {
        Self { settings, active: Mutex::default() }
    }

    /// Whether `key` is being recorded here.
    pub fn is_recording(&self, key: &StreamKey) -> bool {
        self.active.lock().unwrap_or_else(|p| p.into_inner()).contains_key(key)
    }

    /// Stops recording `key`: its file is closed. False when it was not recorded here.
    pub fn stop(&self, key: &StreamKey) -> bool {
        match self.active.lock().unwrap_or_else(|p| p.into_inner()).remove(key) {
            Some(stop) => {
                stop.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Starts recording `key` (live here), unless it is already. Refused when the stream is not
/// live on this node.
pub fn start(ctx: &MediaContext, key: &StreamKey) -> Result<bool, MediaRefusal> {
    let sub =
        ctx.hub.subscribe(key).ok_or_else(|| MediaRefusal::new("stream_not_found", "the stream is not live here"))?;
    let stop = Arc::new(Notify::new());
    {
        let mut active = ctx.recorders.active.lock().unwrap_or_else(|p| p.into_inner());
        if active.contains_key(key) {
            return Ok(false);
        }
        active.insert(key.clone(), stop.clone());
    }
    let (ctx, key) = (ctx.clone(), key.clone());
    tokio::spawn(async move {
        if let Err((file, e)) = record(&ctx, &key, sub, &stop).await {
            tracing::warn!(app_id = key.app_id, stream = %key.stream_id, file = %file, "recording failed: {e}");
            let reason = if e.raw_os_error() == Some(28) { "disk_full" } else { "write_failed" };
            let data = json!({"streamID": key.stream_id, "file": file, "reason": reason, "message": e.to_string()});
            ctx.event(key.app_id, "record.failed", data);
        }
        let mut active = ctx.recorders.active.lock().unwrap_or_else(|p| p.into_inner());
        if active.get(&key).is_some_and(|s| Arc::ptr_eq(s, &stop)) {
            active.remove(&key);
        }
    });
    Ok(true)
}

/// A file being written.
struct Open {
    file: tokio::fs::File,
    /// Relative to the app's folder: `{streamID}/{name}.mp4`.
    name: String,
    muxer: Fmp4Muxer,
    start_ms: u64,
    /// The stream time of its first sample.
    first_ts: Option<u32>,
    last_ts: u32,
    bytes: u64,
    synced: tokio::time::Instant,
}

/// Records until the stream ends or `stop`; an I/O error ends it (with the file it hit).
async fn record(
    ctx: &MediaContext,
    key: &StreamKey,
    mut sub: duet_media::Subscriber,
    stop: &Notify,
) -> Result<(), (String, std::io::Error)> {
    let settings = &ctx.recorders.settings;
    let folder = settings.dir.join(key.app_id.to_string()).join(&key.stream_id);
    let (mut video, mut audio): (Option<AvcConfig>, Option<AacConfig>) = (None, None);
    // The tracks are those whose configuration came before the first sample (a recording may
    // start with the publish, before the stream has any).
    let mut has_video = false;
    let mut open: Option<Open> = None;
    loop {
        let p = tokio::select! {
            p = sub.next() => p,
            () = stop.notified() => None,
        };
        let Some(p) = p else { break };
        if !duet_media::fmp4::carries(&p) {
            tracing::info!(stream = %key.stream_id, "not recorded: only H.264 and AAC are");
            break;
        }
        if p.sequence_header {
            let changed = open.as_ref().is_some_and(|o| o.muxer.config_changed(&p));
            match p.kind {
                Kind::Video => video = AvcConfig::from_sequence_header(&p.payload).or(video),
                Kind::Audio => audio = AacConfig::from_sequence_header(&p.payload).or(audio),
                Kind::Metadata => {}
            }
            if changed && let Some(o) = open.take() {
                close(ctx, key, o, p.timestamp).await.map_err(|e| (String::new(), e))?;
            }
            continue;
        }
        if p.kind == Kind::Metadata {
            continue;
        }
        if open.is_none() {
            has_video = video.is_some();
            if video.is_none() && audio.is_none() {
                continue;
            }
        }
        // A new file starts at a keyframe (every audio sample is one for an audio-only stream).
        let starts_here = p.keyframe || !has_video;
        if let Some(o) = &open
            && starts_here
            && full(o, settings, p.timestamp)
            && let Some(o) = open.take()
        {
            close(ctx, key, o, p.timestamp).await.map_err(|e| (String::new(), e))?;
        }
        if open.is_none() {
            if !starts_here {
                continue;
            }
            let o = create(&folder, key, Fmp4Muxer::new(video.clone(), audio.clone())).await?;
            open = Some(o);
        }
        let o = open.as_mut().expect("opened above");
        if let Some(f) = o.muxer.push_sample(&p) {
            o.file.write_all(&f.bytes).await.map_err(|e| (o.name.clone(), e))?;
            o.bytes += f.bytes.len() as u64;
        }
        o.first_ts.get_or_insert(p.timestamp);
        o.last_ts = p.timestamp;
        if o.synced.elapsed() >= SYNC_EVERY {
            o.file.sync_data().await.map_err(|e| (o.name.clone(), e))?;
            o.synced = tokio::time::Instant::now();
        }
    }
    if let Some(o) = open {
        let end = o.last_ts.saturating_add(40);
        let name = o.name.clone();
        close(ctx, key, o, end).await.map_err(|e| (name, e))?;
    }
    Ok(())
}

/// Whether the file has reached its length or size.
fn full(o: &Open, settings: &RecordSettings, now_ts: u32) -> bool {
    let secs = u64::from(now_ts.saturating_sub(o.first_ts.unwrap_or(now_ts))) / 1000;
    secs >= settings.max_secs || o.bytes >= settings.max_bytes
}

/// Opens a new file and writes its init segment.
async fn create(folder: &Path, key: &StreamKey, muxer: Fmp4Muxer) -> Result<Open, (String, std::io::Error)> {
    let start_ms = crate::os::now_unix_ms();
    let file_name = format!("{}-{start_ms}.mp4", key.stream_id);
    let name = format!("{}/{file_name}", key.stream_id);
    let fail = |e| (name.clone(), e);
    tokio::fs::create_dir_all(folder).await.map_err(fail)?;
    let mut file = tokio::fs::File::create(folder.join(&file_name)).await.map_err(fail)?;
    let init = muxer.init_segment();
    file.write_all(&init).await.map_err(fail)?;
    tracing::info!(app_id = key.app_id, stream = %key.stream_id, file = %name, "recording");
    let bytes = init.len() as u64;
    Ok(Open { file, name, muxer, start_ms, first_ts: None, last_ts: 0, bytes, synced: tokio::time::Instant::now() })
}

/// Writes what the muxer held back, syncs and closes the file, and says `record.done`.
async fn close(ctx: &MediaContext, key: &StreamKey, mut o: Open, end_ts: u32) -> std::io::Result<()> {
    for fragment in o.muxer.flush(end_ts) {
        o.file.write_all(&fragment).await?;
        o.bytes += fragment.len() as u64;
    }
    o.file.flush().await?;
    o.file.sync_all().await?;
    let duration_ms = u64::from(end_ts.saturating_sub(o.first_ts.unwrap_or(end_ts)));
    tracing::info!(app_id = key.app_id, stream = %key.stream_id, file = %o.name, duration_ms, bytes = o.bytes, "recording file closed");
    let data = json!({"streamID": key.stream_id, "file": o.name, "startMs": o.start_ms, "durationMs": duration_ms, "bytes": o.bytes});
    ctx.event(key.app_id, "record.done", data);
    Ok(())
}
