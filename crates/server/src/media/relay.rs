//! Relays (`addPublishCdnUrl`): while a stream is live, the server pushes it to an external
//! RTMP URL, reconnecting after failures, until the publisher removes the URL or releases the
//! stream. One task per (stream, URL); it reads the stream like any player, so a slow target
//! skips ahead and never slows the publisher.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet_media::{Hub as MediaHub, StreamKey};
use tokio::task::AbortHandle;

use duet_client::rtmp::{Conn, Target};

/// Wait between attempts when the stream is not live or the target failed.
const RETRY: Duration = Duration::from_secs(2);

/// The running relays.
pub struct Relays {
    media: Arc<MediaHub>,
    tasks: Mutex<HashMap<(u32, String, String), AbortHandle>>,
}

impl Relays {
    /// No relays yet.
    pub fn new(media: Arc<MediaHub>) -> Self {
        Self { media, tasks: Mutex::default() }
    }

    /// Starts or stops relaying `stream_id` of `app_id` to `url`.
    pub fn set(&self, app_id: u32, stream_id: String, url: String, start: bool) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let key = (app_id, stream_id, url);
        if let Some(old) = tasks.remove(&key) {
            old.abort();
        }
        if start {
            let (media, stream, target) =
                (self.media.clone(), StreamKey { app_id, stream_id: key.1.clone() }, key.2.clone());
            let task = tokio::spawn(async move { relay(media, stream, target).await });
            tasks.insert(key, task.abort_handle());
        }
    }

    /// Relays running.
    pub fn count(&self) -> usize {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

async fn relay(media: Arc<MediaHub>, key: StreamKey, url: String) {
    let shown = crate::http_client::origin(&url);
    loop {
        if let Some(sub) = media.subscribe(&key) {
            match push(sub, &url).await {
                Ok(()) => tracing::info!(stream = %key.stream_id, target = %shown, "relay: the stream ended"),
                Err(e) => {
                    tracing::warn!(stream = %key.stream_id, target = %shown, error = %format!("{e:#}"), "relay failed; retrying")
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Publishes to the target and forwards packets until the stream ends.
async fn push(mut sub: duet_media::Subscriber, url: &str) -> anyhow::Result<()> {
    let target = Target::parse(url)?;
    // Each setup step has the client session's deadline (10 s).
    let mut conn = Conn::open(&target).await?;
    conn.publish(&target).await?;
    while let Some(p) = sub.next().await {
        let send = conn.send_media(p.kind.type_id(), p.timestamp, &p.payload);
        tokio::time::timeout(Duration::from_secs(30), send).await??;
        sub.sent(p.payload.len());
    }
    Ok(())
}
