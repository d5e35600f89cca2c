//! Fan-out to RTMP players and plain-HTTP FLV players (`flv_direct`): one writer task per live
//! stream hands each flush to every player of the stream, walking their [`Sink`]s with non-blocking sends, instead of one task per
//! player woken for every flush. A caught-up player costs one `send` of the flush's shared
//! buffer and no wake-up; one whose socket is full gets the rest queued in its sink, drained
//! by its own connection task. The writer yields every [`YIELD_EVERY`] players, so connections
//! being set up (handshakes, new players' first bytes) are not held behind a whole round.
//!
//! A writer starts with the first player of a stream and ends with the stream (telling each
//! player) or when its last player left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use duet_media::{Feed, Follower, StreamId};

use crate::media::sink::Sink;

/// Players a writer serves before letting other tasks run.
pub const YIELD_EVERY: usize = 64;

/// The writers of a node's live streams.
#[derive(Default)]
pub struct Fanout {
    writers: Mutex<HashMap<StreamId, Arc<Writer>>>,
}

#[derive(Default)]
struct Writer {
    /// Replaced, not edited, when players come and go: the writer walks a snapshot.
    sinks: Mutex<Arc<Vec<Arc<Sink>>>>,
}

impl Writer {
    fn sinks(&self) -> MutexGuard<'_, Arc<Vec<Arc<Sink>>>> {
        self.sinks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Fanout {
    fn writers(&self) -> MutexGuard<'_, HashMap<StreamId, Arc<Writer>>> {
        self.writers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Plays the stream `follower` follows to `sink`: its start at once, then each flush
    /// through the stream's writer, starting one if the stream has none.
    pub fn add(self: &Arc<Self>, follower: Follower, sink: &Arc<Sink>) {
        let (stream, from) = (follower.stream(), follower.next_seq());
        // One feed for a writer this may start, one to catch up with.
        let (feed, catch_up) = (follower.feed(), follower.feed());
        sink.start_following(follower);
        {
            let mut writers = self.writers();
            let writer = match writers.get(&stream) {
                Some(w) => w.clone(),
                None => {
                    let writer = Arc::new(Writer::default());
                    writers.insert(stream, writer.clone());
                    tokio::spawn(self.clone().run(stream, writer.clone(), feed));
                    writer
                }
            };
            let mut sinks = writer.sinks();
            let mut list = Vec::clone(&sinks);
            list.push(sink.clone());
            *sinks = Arc::new(list);
        }
        // Flushes released since the player's start that the writer handed out before it had
        // this player: now (the follower takes each flush once, so none comes twice).
        if let Ok(missed) = catch_up.between(from, u64::MAX)
            && !missed.is_empty()
        {
            sink.offer(&catch_up, &missed);
        }
    }

    /// Stops playing to `sink` (the connection ends or plays no more).
    pub fn remove(&self, stream: StreamId, sink: &Arc<Sink>) {
        sink.unfollow();
        let writers = self.writers();
        if let Some(writer) = writers.get(&stream) {
            let mut sinks = writer.sinks();
            let list: Vec<_> = sinks.iter().filter(|s| !Arc::ptr_eq(s, sink)).cloned().collect();
            *sinks = Arc::new(list);
        }
    }

    async fn run(self: Arc<Self>, stream: StreamId, writer: Arc<Writer>, mut feed: Feed) {
        loop {
            let Some(flushes) = feed.next().await else {
                // The stream ended. Leave the map and take the last list under its lock, so a
                // player being added is either in that list or starts a writer of its own
                // (which finds the end at once).
                let sinks = {
                    let mut writers = self.writers();
                    if writers.get(&stream).is_some_and(|w| Arc::ptr_eq(w, &writer)) {
                        writers.remove(&stream);
                    }
                    writer.sinks().clone()
                };
                sinks.iter().for_each(|s| s.end());
                return;
            };
            let sinks = writer.sinks().clone();
            for (i, sink) in sinks.iter().enumerate() {
                sink.offer(&feed, &flushes);
                if i % YIELD_EVERY == YIELD_EVERY - 1 {
                    tokio::task::yield_now().await;
                }
            }
            // The last player left: the writer goes (checked again under the map's lock, so a
            // player being added either finds it running or starts a new one).
            if writer.sinks().is_empty() {
                let mut writers = self.writers();
                if writer.sinks().is_empty() {
                    if writers.get(&stream).is_some_and(|w| Arc::ptr_eq(w, &writer)) {
                        writers.remove(&stream);
                    }
                    return;
                }
            }
        }
    }
}
