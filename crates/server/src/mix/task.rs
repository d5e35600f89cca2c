//! One mixer task's life: its children (ffmpeg processes running `graph`'s command), its
//! output streams, and the rules between them.
//!
//! - **Outputs**: admitted at the task's first keyframe (`media::admission`, as user
//!   `$mixer:{taskID}` in the task's room) and held until the task stops, whatever its children
//!   do; the children's timestamps are shifted so the streams' clocks run on across children.
//! - **A new graph** (inputs came or went, seen by polling the media hub every 250 ms and
//!   acted on when two polls agree; the config changed; the last child ended): a new child
//!   starts while the old one still feeds the outputs, and takes over at its first keyframe.
//!   When the old child ended first (an input left), the outputs wait for the new one.
//! - **A crash** (a child that ended though its inputs did not change, or a takeover that
//!   did not come within 15 s): reported (`mixer.failed`, log, the task's status) and
//!   retried after 1, 2, 4 ... 30 s; a child that ran 30 s resets the wait.
//! - **Stop**: the registry's stop, or an output cut from outside (the HTTP API stopped the
//!   stream): the children are killed, the outputs end, `mixer.stopped` says why.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use duet_media::{FlvReader, FlvTag, Kind, Publisher, StreamKey};
use duet_room::mixer::MixerOutput;
use duet_token::{MediaAction, MediaBases, MediaFormat, MediaUrl};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use super::Spec;
use super::graph::{Present, ffmpeg_args};
use crate::media::MediaContext;

/// How often the inputs' presence is looked at.
const POLL: Duration = Duration::from_millis(250);
/// First wait before a crashed child is started again; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long resets the wait.
const HEALTHY: Duration = Duration::from_secs(30);
/// Longest a new child may take to produce its first keyframe.
const STARTUP: Duration = Duration::from_secs(15);
/// Messages of a new child held until its first keyframe, at most.
const MAX_HELD: usize = 2000;
/// Lines of a child's error output kept for reports.
const STDERR_LINES: usize = 12;
/// Validity of the play URLs a child is given (it reconnects never: a new child gets new ones).
const URL_TTL: u64 = 24 * 3600;

/// What the task says about itself (the HTTP API's task list).
#[derive(Debug, Clone)]
pub(super) struct Status {
    started_ms: u64,
    state: &'static str,
    present: Vec<String>,
    restarts: u32,
    last_error: Option<String>,
}

impl Status {
    pub(super) fn new(started_ms: u64) -> Self {
        Self { started_ms, state: "starting", present: Vec::new(), restarts: 0, last_error: None }
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "state": self.state, "startedAt": self.started_ms, "presentInputs": self.present,
            "restarts": self.restarts, "lastError": self.last_error,
        })
    }
}

/// Checks that `ffmpeg` runs and has what the graphs use.
pub(super) async fn probe(ffmpeg: &Path) -> Result<(), String> {
    let out = tokio::process::Command::new(ffmpeg)
        .args(["-hide_banner", "-encoders"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {} ({e}); install ffmpeg or set --mixer-ffmpeg", ffmpeg.display()))?;
    let encoders = String::from_utf8_lossy(&out.stdout);
    if !encoders.contains("libx264") {
        return Err(format!("{} has no libx264 encoder", ffmpeg.display()));
    }
    Ok(())
}

/// A running task's fixed parts.
pub(super) struct Task {
    pub app_id: u32,
    pub task_id: String,
    pub ffmpeg: PathBuf,
    pub ctx: MediaContext,
    pub rtmp: MediaBases,
    pub relays: Arc<crate::media::relay::Relays>,
    pub status: Arc<Mutex<Status>>,
    pub failures: Arc<std::sync::atomic::AtomicU64>,
}

enum ChildMsg {
    Tag(FlvTag),
    /// The child ended: how, with the end of its error output.
    Exited(String),
}

/// A child process and what it produced so far.
struct Child {
    rx: mpsc::Receiver<ChildMsg>,
    /// Owns the process (killed when this is dropped).
    reader: tokio::task::JoinHandle<()>,
    /// The inputs' presence it was built for.
    present: Vec<Present>,
    started: Instant,
    /// Tags held until its first keyframe, when it takes over.
    held: Vec<FlvTag>,
    /// Added to its timestamps once it feeds the outputs.
    offset: Option<u32>,
}

impl Drop for Child {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The task's output streams and relays.
#[derive(Default)]
struct Outputs {
    publishers: Vec<Publisher>,
    relays: Vec<(String, String)>,
    /// The last timestamp given to the outputs.
    last: Option<u32>,
    /// When the outputs last got a packet.
    pushed: Option<Instant>,
}

/// Why a task ended.
enum End {
    Stopped,
    OutputStopped,
    OutputRefused(String),
}

impl Task {
    fn user(&self) -> String {
        format!("$mixer:{}", self.task_id)
    }

    /// The streams the mix is published as: the config's, else one of the task's own (not
    /// announced in a room) that its URL outputs are relayed from.
    fn streams(&self, spec: &Spec) -> Vec<(String, String)> {
        let streams: Vec<(String, String)> =
            spec.config.streams().map(|s| (s.to_owned(), spec.room_id.clone())).collect();
        if streams.is_empty() { vec![(format!("_mix_{}", self.task_id), String::new())] } else { streams }
    }

    fn set_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn event(&self, name: &'static str, mut data: Value) {
        data["taskID"] = json!(self.task_id);
        self.ctx.event(self.app_id, name, data);
    }

    fn present(&self, spec: &Spec) -> Vec<Present> {
        spec.config
            .inputs
            .iter()
            .map(|input| {
                let key = StreamKey { app_id: self.app_id, stream_id: input.stream_id.clone() };
                Present::of(input, self.ctx.hub.tracks(&key))
            })
            .collect()
    }

    fn spawn(&self, spec: &Spec, present: Vec<Present>) -> std::io::Result<Child> {
        let now = crate::os::now_unix() as u64;
        let play = |stream_id: &str| {
            let grant = MediaUrl {
                app_id: self.app_id,
                stream_id: stream_id.to_owned(),
                action: MediaAction::Play,
                user_id: self.user(),
                room_id: String::new(),
                expire: now + URL_TTL,
            };
            grant.signed(&spec.secret, &self.rtmp, MediaFormat::Rtmp)
        };
        let args = ffmpeg_args(&spec.config, &present, play);
        tracing::debug!(task = %self.task_id, "mixer child: ffmpeg {}", args.join(" "));
        let mut child = tokio::process::Command::new(&self.ffmpeg)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = stderr {
            let (lines, task) = (lines.clone(), self.task_id.clone());
            tokio::spawn(async move {
                let mut reader = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    tracing::debug!(task = %task, "ffmpeg: {line}");
                    let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
                    if lines.len() == STDERR_LINES {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
            });
        }
        let (tx, rx) = mpsc::channel(256);
        let reader = tokio::spawn(async move {
            let mut flv = FlvReader::default();
            let mut buf = vec![0u8; 64 * 1024];
            let mut why = None;
            if let Some(mut stdout) = stdout {
                'read: loop {
                    let n = match stdout.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => {
                            why = Some(format!("reading its output failed: {e}"));
                            break;
                        }
                    };
                    flv.push(&buf[..n]);
                    loop {
                        match flv.next_tag() {
                            Ok(Some(tag)) => {
                                if tx.send(ChildMsg::Tag(tag)).await.is_err() {
                                    return; // the task let go of it: dropping `child` kills it
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                why = Some(format!("its output is not FLV: {e}"));
                                break 'read;
                            }
                        }
                    }
                }
            }
            let _ = child.start_kill();
            let status = child.wait().await.map_or_else(|e| e.to_string(), |s| s.to_string());
            // Let the error output's reader take the last lines.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let tail: Vec<String> = lines.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
            let mut report = format!("ffmpeg ended ({status})");
            if let Some(why) = why {
                report = format!("{report}: {why}");
            }
            if !tail.is_empty() {
                report = format!("{report}: {}", tail.join(" | "));
            }
            let _ = tx.send(ChildMsg::Exited(report)).await;
        });
        Ok(Child { rx, reader, present, started: Instant::now(), held: Vec::new(), offset: None })
    }

    /// Runs the task until it is stopped (`stop` sent or dropped) or its output is cut.
    pub(super) async fn supervise(self, mut spec_rx: watch::Receiver<Arc<Spec>>, mut stop: watch::Receiver<bool>) {
        let mut spec = spec_rx.borrow_and_update().clone();
        let mut outputs = Outputs::default();
        let (mut current, mut next): (Option<Child>, Option<Child>) = (None, None);
        // Start the first child at once.
        let mut start_at: Option<Instant> = Some(Instant::now());
        let mut backoff = FIRST_BACKOFF;
        // Presence seen at the last poll (a change acts when two polls agree).
        let mut seen: Vec<Present> = Vec::new();
        let mut poll = tokio::time::interval(POLL);
        self.event("mixer.started", json!({"roomID": spec.room_id}));
        tracing::info!(app_id = self.app_id, task = %self.task_id, "mixer task started");
        let end = loop {
            let timer =
                [start_at, next.as_ref().map(|c| c.started + STARTUP), outputs.deadline()].into_iter().flatten().min();
            tokio::select! {
                _ = stop.changed() => break End::Stopped,
                changed = spec_rx.changed() => {
                    if changed.is_err() {
                        break End::Stopped;
                    }
                    let new = spec_rx.borrow_and_update().clone();
                    let moved = self.streams(&new) != self.streams(&spec);
                    spec = new;
                    if moved {
                        outputs.end(&self.ctx).await;
                    }
                    self.relay(&spec, &mut outputs);
                    start_at = Some(Instant::now());
                    self.event("mixer.updated", json!({"roomID": spec.room_id}));
                }
                _ = poll.tick() => {
                    let present = self.present(&spec);
                    let building = next.as_ref().or(current.as_ref()).map(|c| &c.present);
                    if building.is_some_and(|b| *b != present) && present == seen && start_at.is_none() {
                        start_at = Some(Instant::now());
                    }
                    seen = present;
                }
                msg = recv(&mut next) => match msg {
                    Some(ChildMsg::Tag(tag)) => {
                        let child = next.as_mut().expect("received from it");
                        let key = is_keyframe(&tag);
                        child.held.push(tag);
                        if !key && child.held.len() > MAX_HELD {
                            let child = next.take();
                            let why = format!("no keyframe in the new graph's first {MAX_HELD} messages");
                            self.crashed(child.as_ref(), why, &mut backoff, &mut start_at);
                        } else if key {
                            // It takes over: the old child (if still running) is killed.
                            let mut child = next.take().expect("received from it");
                            current = None;
                            if let Err(refused) = self.admit(&spec, &mut outputs).await {
                                break End::OutputRefused(refused);
                            }
                            let gap = outputs.pushed.map(|at| at.elapsed().as_millis() as u64);
                            tracing::info!(
                                app_id = self.app_id, task = %self.task_id, startup_ms = child.started.elapsed().as_millis() as u64,
                                gap_ms = gap, "mixer graph took over (gap_ms: since the outputs' last packet)"
                            );
                            for tag in std::mem::take(&mut child.held) {
                                outputs.push(&self.ctx, &mut child, tag).await;
                            }
                            let present = child.present.iter().enumerate().filter(|(_, p)| p.audio || p.video);
                            let names = present.map(|(i, _)| spec.config.inputs[i].stream_id.clone()).collect();
                            self.set_status(|s| { s.state = "running"; s.present = names; });
                            current = Some(child);
                        }
                    }
                    ended => {
                        let child = next.take();
                        self.crashed(child.as_ref(), report_of(ended), &mut backoff, &mut start_at);
                    }
                },
                msg = recv(&mut current) => match msg {
                    Some(ChildMsg::Tag(tag)) => {
                        let child = current.as_mut().expect("received from it");
                        outputs.push(&self.ctx, child, tag).await;
                    }
                    ended => {
                        let child = current.take().expect("received from it");
                        if child.started.elapsed() >= HEALTHY {
                            backoff = FIRST_BACKOFF;
                        }
                        if next.is_some() {
                            // Replaced already: the new child takes over when ready.
                        } else if self.present(&spec) != child.present {
                            // An input left (or came): the next graph, at once.
                            start_at = Some(Instant::now());
                        } else {
                            self.crashed(Some(&child), report_of(ended), &mut backoff, &mut start_at);
                        }
                    }
                },
                () = outputs.cut_requested() => break End::OutputStopped,
                () = sleep_until(timer) => {
                    let now = Instant::now();
                    outputs.handle_timeout();
                    if next.as_ref().is_some_and(|c| now >= c.started + STARTUP) {
                        let child = next.take();
                        let why = "no picture from the new graph within 15 s".to_owned();
                        self.crashed(child.as_ref(), why, &mut backoff, &mut start_at);
                    }
                    if start_at.is_some_and(|at| now >= at) {
                        start_at = None;
                        let present = self.present(&spec);
                        seen = present.clone();
                        match self.spawn(&spec, present) {
                            Ok(child) => next = Some(child),
                            Err(e) => {
                                let why = format!("cannot start {}: {e}", self.ffmpeg.display());
                                self.crashed(None, why, &mut backoff, &mut start_at);
                            }
                        }
                    }
                }
            }
        };
        drop((current, next));
        outputs.end(&self.ctx).await;
        for (stream, url) in outputs.relays.drain(..) {
            self.relays.set(self.app_id, stream, url, false);
        }
        let reason = match end {
            End::Stopped => "stopped".to_owned(),
            End::OutputStopped => "output_stopped".to_owned(),
            End::OutputRefused(why) => {
                self.event("mixer.failed", json!({"reason": "output_refused", "detail": why}));
                tracing::warn!(app_id = self.app_id, task = %self.task_id, "mixer task ended: {why}");
                "output_refused".to_owned()
            }
        };
        self.set_status(|s| s.state = "stopped");
        self.event("mixer.stopped", json!({"reason": reason}));
        tracing::info!(app_id = self.app_id, task = %self.task_id, reason, "mixer task stopped");
    }

    /// A child failed: reported, and the next one started after the backoff.
    fn crashed(&self, child: Option<&Child>, why: String, backoff: &mut Duration, start_at: &mut Option<Instant>) {
        if child.is_some_and(|c| c.started.elapsed() >= HEALTHY) {
            *backoff = FIRST_BACKOFF;
        }
        let wait = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *start_at = Some(Instant::now() + wait);
        tracing::warn!(app_id = self.app_id, task = %self.task_id, retry_ms = wait.as_millis() as u64, "mixer child failed: {why}");
        self.set_status(|s| {
            s.state = "restarting";
            s.restarts += 1;
            s.last_error = Some(why.clone());
        });
        self.event(
            "mixer.failed",
            json!({"reason": "engine_failed", "detail": why, "retryInMs": wait.as_millis() as u64}),
        );
    }

    /// Admits the outputs not yet live (at the first keyframe of the task, or of a changed
    /// set of outputs).
    async fn admit(&self, spec: &Spec, outputs: &mut Outputs) -> Result<(), String> {
        if !outputs.publishers.is_empty() {
            return Ok(());
        }
        for (stream_id, room_id) in self.streams(spec) {
            let url = MediaUrl {
                app_id: self.app_id,
                stream_id: stream_id.clone(),
                action: MediaAction::Publish,
                user_id: self.user(),
                room_id,
                expire: crate::os::now_unix() as u64 + URL_TTL,
            };
            match crate::media::admission::admit(&self.ctx, &url, &spec.secret, None).await {
                Ok(publisher) => outputs.publishers.push(publisher),
                Err(refusal) => {
                    outputs.end(&self.ctx).await;
                    return Err(format!("output {stream_id} refused: {} ({})", refusal.message, refusal.code));
                }
            }
        }
        self.relay(spec, outputs);
        Ok(())
    }

    /// Relays the mix to the config's URLs (from its first stream), and no others.
    fn relay(&self, spec: &Spec, outputs: &mut Outputs) {
        let from = self.streams(spec).remove(0).0;
        let wanted: Vec<(String, String)> = spec
            .config
            .outputs
            .iter()
            .filter_map(|o| match o {
                MixerOutput::Url(u) => Some((from.clone(), u.clone())),
                MixerOutput::Stream(_) => None,
            })
            .collect();
        for (stream, url) in outputs.relays.iter().filter(|r| !wanted.contains(r)) {
            self.relays.set(self.app_id, stream.clone(), url.clone(), false);
        }
        for (stream, url) in wanted.iter().filter(|r| !outputs.relays.contains(r)) {
            self.relays.set(self.app_id, stream.clone(), url.clone(), true);
        }
        outputs.relays = wanted;
    }
}

impl Outputs {
    /// Gives the outputs a child's tag, on the streams' clock.
    async fn push(&mut self, ctx: &MediaContext, child: &mut Child, tag: FlvTag) {
        let Some(kind) = Kind::from_type_id(tag.type_id) else { return };
        let offset = *child.offset.get_or_insert_with(|| {
            // A frame after what the outputs had, or from 0.
            self.last.map_or(0, |last| last.wrapping_add(20)).wrapping_sub(tag.timestamp)
        });
        let timestamp = if kind == Kind::Metadata { tag.timestamp } else { tag.timestamp.wrapping_add(offset) };
        if kind != Kind::Metadata {
            self.last = Some(self.last.map_or(timestamp, |l| l.max(timestamp)));
        }
        let now = crate::media::now();
        self.pushed = Some(Instant::now());
        for publisher in &self.publishers {
            let payload: Bytes = tag.payload.clone();
            if let Some(problem) = publisher.push(now, kind, timestamp, payload) {
                crate::media::admission::unplayable(ctx, publisher, problem).await;
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.publishers.iter().filter_map(Publisher::poll_timeout).min()
    }

    fn handle_timeout(&self) {
        let now = crate::media::now();
        for p in &self.publishers {
            p.handle_timeout(now);
        }
    }

    async fn cut_requested(&self) {
        if self.publishers.is_empty() {
            return std::future::pending().await;
        }
        let cuts = self.publishers.iter().map(|p| Box::pin(p.cut_requested()));
        futures_util::future::select_all(cuts).await;
    }

    async fn end(&mut self, ctx: &MediaContext) {
        for publisher in self.publishers.drain(..) {
            crate::media::admission::end(ctx, publisher).await;
        }
    }
}

fn is_keyframe(tag: &FlvTag) -> bool {
    // Video, frame type 1 (key), and a coded frame rather than a sequence header (legacy
    // AVC: packet type 1).
    tag.type_id == 9 && tag.payload.len() > 1 && tag.payload[0] >> 4 == 1 && tag.payload[1] == 1
}

/// What a child's end says, for reports (bounded).
fn report_of(ended: Option<ChildMsg>) -> String {
    match ended {
        Some(ChildMsg::Exited(report)) => report.chars().take(2000).collect(),
        _ => "ffmpeg ended".to_owned(),
    }
}

async fn recv(child: &mut Option<Child>) -> Option<ChildMsg> {
    match child {
        Some(c) => c.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
