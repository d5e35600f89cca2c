//! Mixer tasks (`startMixerTask`, docs/mixing.md): the node's running tasks, their limits, and
//! the one place that knows the media framework doing the work.
//!
//! The engine is the `ffmpeg` program, one supervised child process per task
//! (`task::supervise`), whose command `graph` builds. It was chosen over GStreamer because it
//! is already what Duet's tests use as a real client, Debian ships it with x264 and a native
//! AAC encoder, one command line states a whole composition, and running it as a program keeps
//! its GPL build out of Duet's binary. Nothing outside this module names it.
//!
//! A task reads its inputs as a player of this node (signed RTMP play URLs on the loopback
//! address) and hands its mix back in-process: the task holds one publisher per output stream,
//! admitted by `media::admission` like any publisher, fed from the child's FLV output. A task
//! outlives its children: a new graph (an input came or went, the layout changed, the child
//! crashed) is a new child whose first keyframe continues the same streams, so players stay.
//! Tasks belong to an app, named by their `taskID`; they run until stopped.

mod graph;
mod task;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use duet_room::mixer::{MixerCall, MixerConfig, MixerOrder, MixerOutput, started_reply};
use duet_room::{ErrorCode, Refusal};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::media::MediaContext;

/// The mixer's program and limits (`--mixer-ffmpeg`, `--mixer-tasks`, `--mixer-tasks-per-app`).
#[derive(Debug, Clone)]
pub struct MixerSettings {
    /// The ffmpeg program.
    pub ffmpeg: PathBuf,
    /// Tasks the node runs at once (0: no mixing).
    pub max_tasks: usize,
    /// Tasks one app runs at once.
    pub max_tasks_per_app: usize,
}

/// What a task does now: its config and where its outputs appear.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    config: MixerConfig,
    room_id: String,
    secret: duet_token::AppSecret,
}

/// A running task, as the registry keeps it.
struct Entry {
    spec: watch::Sender<Arc<Spec>>,
    /// Dropped (or sent) to stop the task.
    stop: watch::Sender<bool>,
    status: Arc<Mutex<task::Status>>,
}

/// The node's mixer tasks. Cheap to clone.
#[derive(Clone)]
pub struct Mixer {
    inner: Arc<Inner>,
}

struct Inner {
    settings: MixerSettings,
    /// Set once the media edge is up ([`Mixer::attach`]).
    media: OnceLock<Attached>,
    tasks: Mutex<HashMap<(u32, String), Entry>>,
    /// Engine failures of every task so far.
    failures: Arc<std::sync::atomic::AtomicU64>,
}

/// What tasks need from the running server.
#[derive(Clone)]
struct Attached {
    ctx: MediaContext,
    /// Where the children play inputs: this node's RTMP listener, on loopback.
    rtmp: duet_token::MediaBases,
    relays: Arc<crate::media::relay::Relays>,
    /// Why this node cannot mix, if it cannot (the program is missing).
    unavailable: Option<String>,
}

impl Mixer {
    /// A mixer without tasks; it refuses every order until [`Mixer::attach`].
    pub fn new(settings: MixerSettings) -> Self {
        let inner = Inner { settings, media: OnceLock::new(), tasks: Mutex::default(), failures: Arc::default() };
        Self { inner: Arc::new(inner) }
    }

    /// Connects the mixer to the media edge: `rtmp` is this node's RTMP listening address. Looks
    /// for the program once, so a node without it says so at start and in each refusal.
    pub async fn attach(&self, ctx: MediaContext, rtmp: std::net::SocketAddr) {
        let unavailable = if self.inner.settings.max_tasks == 0 {
            Some("mixing is off on this node (--mixer-tasks 0)".to_owned())
        } else {
            task::probe(&self.inner.settings.ffmpeg).await.err()
        };
        if let Some(why) = &unavailable {
            tracing::warn!("mixer tasks refused: {why}");
        }
        let mut rtmp_addr = rtmp;
        if rtmp_addr.ip().is_unspecified() {
            rtmp_addr.set_ip(if rtmp.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
        }
        let bases = duet_token::MediaBases { rtmp: format!("rtmp://{rtmp_addr}"), http: String::new() };
        let relays = Arc::new(crate::media::relay::Relays::new(ctx.hub.clone()));
        let _ = self.inner.media.set(Attached { ctx, rtmp: bases, relays, unavailable });
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, String), Entry>> {
        self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Carries out an order (a session's request, or the HTTP API's): the reply's data, or
    /// the refusal.
    pub fn order(&self, order: MixerOrder) -> Result<Value, Refusal> {
        match order.call {
            MixerCall::Start(config) => {
                let reply = started_reply(&config);
                let spec = Spec { config: *config, room_id: order.room_id, secret: order.secret };
                self.start(order.app_id, spec).map(|()| reply)
            }
            MixerCall::Stop { task_id } => self.stop(order.app_id, &task_id).map(|()| json!({})),
        }
    }

    fn start(&self, app_id: u32, spec: Spec) -> Result<(), Refusal> {
        let attached = self.inner.media.get().ok_or_else(|| unavailable("the server is starting"))?;
        if let Some(why) = &attached.unavailable {
            return Err(unavailable(why));
        }
        let task_id = spec.config.task_id.clone();
        let mut tasks = self.tasks();
        // An output stream of another task, or live from another publisher, is taken.
        for stream in spec.config.streams() {
            let other_task = tasks.iter().find(|((app, id), e)| {
                *app == app_id && *id != task_id && e.spec.borrow().config.streams().any(|s| s == stream)
            });
            if let Some(((_, id), _)) = other_task {
                return Err(Refusal::new(ErrorCode::StreamTaken, format!("{stream} is the output of mixer task {id}")));
            }
            let ours = tasks
                .get(&(app_id, task_id.clone()))
                .is_some_and(|e| e.spec.borrow().config.streams().any(|s| s == stream));
            let key = duet_media::StreamKey { app_id, stream_id: stream.to_owned() };
            if !ours && attached.ctx.hub.tracks(&key).is_some() {
                return Err(Refusal::new(
                    ErrorCode::StreamTaken,
                    format!("{stream} is being published by someone else"),
                ));
            }
        }
        if let Some(entry) = tasks.get(&(app_id, task_id.clone())) {
            entry.spec.send_if_modified(|old| {
                let changed = **old != spec;
                *old = Arc::new(spec);
                changed
            });
            return Ok(());
        }
        let s = &self.inner.settings;
        let of_app = tasks.keys().filter(|(app, _)| *app == app_id).count();
        if of_app >= s.max_tasks_per_app {
            let why = format!("the app runs {of_app} mixer tasks, its most (--mixer-tasks-per-app)");
            return Err(Refusal::new(ErrorCode::MixerTaskLimit, why));
        }
        if tasks.len() >= s.max_tasks {
            let why = format!("this node runs {} mixer tasks, its most (--mixer-tasks)", tasks.len());
            return Err(Refusal::new(ErrorCode::MixerTaskLimit, why));
        }
        let (spec_tx, spec_rx) = watch::channel(Arc::new(spec));
        let (stop_tx, stop_rx) = watch::channel(false);
        let status = Arc::new(Mutex::new(task::Status::new(crate::os::now_unix_ms())));
        let run = task::Task {
            app_id,
            task_id: task_id.clone(),
            ffmpeg: s.ffmpeg.clone(),
            ctx: attached.ctx.clone(),
            rtmp: attached.rtmp.clone(),
            relays: attached.relays.clone(),
            status: status.clone(),
            failures: self.inner.failures.clone(),
        };
        let (mixer, key, kept) = (self.clone(), (app_id, task_id), status.clone());
        let registered = key.clone();
        tokio::spawn(async move {
            run.supervise(spec_rx, stop_rx).await;
            // Ended by itself (its output was stopped): forget it, unless replaced meanwhile.
            let mut tasks = mixer.tasks();
            if tasks.get(&registered).is_some_and(|e| Arc::ptr_eq(&e.status, &kept)) {
                tasks.remove(&registered);
            }
        });
        tasks.insert(key, Entry { spec: spec_tx, stop: stop_tx, status });
        Ok(())
    }

    fn stop(&self, app_id: u32, task_id: &str) -> Result<(), Refusal> {
        match self.tasks().remove(&(app_id, task_id.to_owned())) {
            Some(entry) => {
                let _ = entry.stop.send(true);
                Ok(())
            }
            None => {
                Err(Refusal::new(ErrorCode::MixerTaskNotFound, format!("no mixer task {task_id} runs in this app")))
            }
        }
    }

    /// The app's tasks, for the HTTP API and the console.
    pub fn list(&self, app_id: u32) -> Vec<Value> {
        let tasks = self.tasks();
        let mut list: Vec<Value> = tasks
            .iter()
            .filter(|((app, _), _)| *app == app_id)
            .map(|((_, id), e)| {
                let spec = e.spec.borrow().clone();
                let status = e.status.lock().unwrap_or_else(|p| p.into_inner()).to_json();
                let outputs: Vec<Value> = spec
                    .config
                    .outputs
                    .iter()
                    .map(|o| match o {
                        MixerOutput::Stream(s) => json!({"streamID": s}),
                        MixerOutput::Url(u) => json!({"url": crate::http_client::origin(u)}),
                    })
                    .collect();
                let inputs: Vec<&str> = spec.config.inputs.iter().map(|i| i.stream_id.as_str()).collect();
                json!({"taskID": id, "roomID": spec.room_id, "inputs": inputs, "outputList": outputs, "status": status})
            })
            .collect();
        list.sort_by(|a, b| a["taskID"].as_str().cmp(&b["taskID"].as_str()));
        list
    }

    /// Tasks running on this node.
    pub fn count(&self) -> usize {
        self.tasks().len()
    }

    /// Engine failures of every task so far (`duet_mixer_failures_total`).
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn unavailable(why: &str) -> Refusal {
    Refusal::new(ErrorCode::MixerUnavailable, format!("this node cannot mix: {why}"))
}
