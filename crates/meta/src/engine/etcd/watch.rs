//! The etcd engine's watch: one stream per process over the volume's prefix. It feeds the
//! metadata cache every change (this process's own commits too), and passes other clients'
//! changes on to the subscribers of [`KvEngine::watch`](super::super::KvEngine::watch).
//!
//! A stream that fails is resumed where it was (no change is missed), but the cache stops
//! answering until the resumed stream has caught up: the engine writes its tick key and waits
//! for that change to come back. A stream that cannot resume (etcd compacted the revisions it
//! had not reported yet) starts over from now, and so does the cache, empty.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use etcd_client::{EventType, WatchOptions, WatchResponse, WatchStream};
use tokio::sync::mpsc;

use super::cache::Event;
use super::{EtcdEngine, Shared};
use crate::engine::{Changes, KvError};

/// How often an idle watch looks whether its engine is gone.
const IDLE_CHECK: Duration = Duration::from_secs(10);

/// Keys (without the prefix) the watch reported, with the revision each changed at.
type Reported = Vec<(Vec<u8>, i64)>;

impl EtcdEngine {
    fn upgrade(shared: &Weak<Shared>) -> Option<Self> {
        shared.upgrade().map(|shared| Self { shared })
    }

    /// Starts the process's watch unless it runs.
    pub(super) fn ensure_watch(&self) {
        if self.shared.watching.swap(true, Ordering::AcqRel) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(watch_loop(Arc::downgrade(&self.shared), tx));
        tokio::spawn(notify_loop(Arc::downgrade(&self.shared), rx));
    }

    /// Keys (without the prefix) that other clients change, in batches, as etcd reports
    /// them; this process's own commits are left out. Ends when the receiver is dropped.
    pub(super) fn subscribe(&self) -> Changes {
        let (tx, rx) = mpsc::channel(1024);
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        self.ensure_watch();
        rx
    }

    /// Writes the tick key (the prefix itself, which no metadata key is): its change comes
    /// back through the watch after every change before it. Returns its revision.
    pub(super) async fn tick(&self) -> Result<i64, KvError> {
        let response = self
            .kv()
            .put(self.shared.prefix.clone(), Vec::new(), None)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(response.header().map_or(0, |h| h.revision()))
    }
}

/// Where a watch stream left off.
enum Ended {
    /// The engine is gone.
    Gone,
    /// Failed; resume at the next revision.
    Broken,
    /// Cannot resume: start over from now.
    Compacted,
}

async fn watch_loop(shared: Weak<Shared>, reported: mpsc::UnboundedSender<Reported>) {
    // The revision to resume at; `None`: start from now.
    let mut next: Option<i64> = None;
    let mut pause = Duration::from_millis(100);
    loop {
        let Some(engine) = EtcdEngine::upgrade(&shared) else {
            return;
        };
        let mut options = WatchOptions::new().with_prefix().with_progress_notify();
        if let Some(revision) = next {
            options = options.with_start_revision(revision);
        }
        let mut client = engine.member().watch.clone();
        let opened = client
            .watch(engine.shared.prefix.clone(), Some(options))
            .await;
        drop(engine);
        let ended = match opened {
            Ok(mut stream) => {
                pause = Duration::from_millis(100);
                follow(&shared, &mut stream, &mut next, &reported).await
            }
            Err(err) => {
                tracing::warn!(%err, "cannot watch etcd; retrying");
                Ended::Broken
            }
        };
        let Some(engine) = EtcdEngine::upgrade(&shared) else {
            return;
        };
        if let Some(cache) = engine.shared.cache.get() {
            cache.pause();
        }
        match ended {
            Ended::Gone => return,
            Ended::Compacted => next = None,
            Ended::Broken => {
                engine.next_member();
                drop(engine);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Follows one stream until it ends.
async fn follow(
    shared: &Weak<Shared>,
    stream: &mut WatchStream,
    next: &mut Option<i64>,
    reported: &mpsc::UnboundedSender<Reported>,
) -> Ended {
    // On a resumed stream: the tick whose change says the stream has caught up.
    let mut catching_up: Option<i64> = None;
    loop {
        let response = match tokio::time::timeout(IDLE_CHECK, stream.message()).await {
            Err(_) if shared.strong_count() == 0 => return Ended::Gone,
            Err(_) => continue,
            Ok(Ok(Some(response))) => response,
            Ok(Ok(None)) => return Ended::Broken,
            Ok(Err(err)) => {
                tracing::warn!(%err, "the etcd watch failed; resuming");
                return Ended::Broken;
            }
        };
        let Some(engine) = EtcdEngine::upgrade(shared) else {
            return Ended::Gone;
        };
        let cache = engine.shared.cache.get();
        if response.compact_revision() > 0 {
            tracing::warn!(
                revision = response.compact_revision(),
                "etcd compacted changes this mount had not seen yet; the metadata cache \
                 starts over, and kernel caches may stay stale until their timeouts"
            );
            return Ended::Compacted;
        }
        if response.canceled() {
            tracing::warn!(
                reason = response.cancel_reason(),
                "etcd ended the watch; resuming"
            );
            return Ended::Broken;
        }
        let header = response.header().map_or(0, |h| h.revision());
        if response.created() {
            match next {
                // A new stream reports every change after `header`.
                None => {
                    if let Some(cache) = cache {
                        cache.restart(header);
                        tracing::info!(revision = header, "metadata cache on, empty");
                    }
                    *next = Some(header + 1);
                }
                Some(_) if cache.is_some() => match engine.tick().await {
                    Ok(tick) => catching_up = Some(tick),
                    Err(err) => {
                        tracing::warn!(%err, "cannot write the watch's tick; resuming again");
                        return Ended::Broken;
                    }
                },
                Some(_) => {}
            }
            continue;
        }
        let revision = match response.events().last().and_then(|e| e.kv()) {
            Some(last) => last.mod_revision(),
            // A progress report promises everything up to its revision was sent.
            None => header,
        };
        if let Some(cache) = cache {
            cache.apply(events_of(&response), revision);
            if catching_up.is_some_and(|tick| revision >= tick) {
                catching_up = None;
                cache.resume(revision);
                tracing::info!(
                    revision,
                    "the resumed etcd watch caught up: metadata cache on"
                );
            }
        }
        *next = Some(revision + 1);
        let cut = engine.shared.prefix.len();
        let keys: Reported = response
            .events()
            .iter()
            .filter_map(|event| event.kv())
            .filter_map(|kv| Some((kv.key().get(cut..)?.to_vec(), kv.mod_revision())))
            .collect();
        if !keys.is_empty() && reported.send(keys).is_err() {
            return Ended::Gone;
        }
    }
}

fn events_of(response: &WatchResponse) -> Vec<Event> {
    response
        .events()
        .iter()
        .filter_map(|event| {
            let kv = event.kv()?;
            Some(Event {
                key: kv.key().to_vec(),
                value: match event.event_type() {
                    EventType::Put => Some(kv.value().to_vec()),
                    EventType::Delete => None,
                },
                revision: kv.mod_revision(),
            })
        })
        .collect()
}

/// Passes other clients' changes on to the subscribers.
async fn notify_loop(shared: Weak<Shared>, mut reported: mpsc::UnboundedReceiver<Reported>) {
    while let Some(batch) = reported.recv().await {
        let Some(engine) = EtcdEngine::upgrade(&shared) else {
            return;
        };
        engine.settle_commits().await;
        let keys: Vec<Vec<u8>> = batch
            .into_iter()
            .filter(|(_, revision)| !engine.is_own(*revision))
            .map(|(key, _)| key)
            .collect();
        if keys.is_empty() {
            continue;
        }
        let subscribers = engine
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for subscriber in &subscribers {
            // A subscriber gone is dropped below.
            let _ = subscriber.send(keys.clone()).await;
        }
        engine
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|subscriber| !subscriber.is_closed());
    }
}
