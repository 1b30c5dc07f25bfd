//! A reader's side of a cache group: the ring of live members, a few idle connections to
//! each, and the rule that a member who fails or is slow is skipped (for a while) — the
//! reader then asks the next owner or the object store, and its caller never sees an error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::protocol::{self, Get, HEADER_LEN, Header, Kind};
use super::ring::Ring;
use crate::cache::{BlockKey, HitRange, TierStats};

/// How a reader uses its group.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// The volume's uuid: members check that they serve the same volume.
    pub volume: String,
    /// Members that own each block (asked in turn).
    pub replicas: usize,
    /// A member that does not accept a connection this soon is skipped.
    pub connect_timeout: Duration,
    /// A member that does not answer a request this soon is skipped.
    pub request_timeout: Duration,
    /// A member that failed is left out for this long.
    pub down_for: Duration,
}

impl GroupConfig {
    /// The defaults for volume `volume`: one owner per block, 300 ms to connect, 3 s to
    /// answer, 10 s out after a failure.
    pub fn new(volume: &str) -> Self {
        Self {
            volume: volume.to_string(),
            replicas: 1,
            connect_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_secs(3),
            down_for: Duration::from_secs(10),
        }
    }
}

/// Idle connections kept per member.
const IDLE_PER_MEMBER: usize = 16;

/// Why asking one member did not give the bytes.
#[derive(Debug, thiserror::Error)]
enum AskError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    TimedOut,
    #[error("{0}")]
    Frame(#[from] protocol::FrameError),
    #[error("unexpected answer: {0}")]
    Unexpected(&'static str),
    /// The member answered, with an error of its own (its object store failed, say).
    #[error("member refused: {1} (errno {0})")]
    Refused(i32, String),
}

/// The members of one group as a reader sees them.
#[derive(Debug)]
pub struct GroupClient {
    config: GroupConfig,
    ring: RwLock<Arc<Ring>>,
    idle: Mutex<HashMap<String, Vec<TcpStream>>>,
    down: Mutex<HashMap<String, Instant>>,
    next_id: AtomicU64,
    pub(crate) stats: TierStats,
}

impl GroupClient {
    /// A client with no members yet ([`GroupClient::set_members`] gives them).
    pub fn new(config: GroupConfig) -> Self {
        Self {
            config,
            ring: RwLock::new(Arc::new(Ring::default())),
            idle: Mutex::new(HashMap::new()),
            down: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stats: TierStats::default(),
        }
    }

    /// Replaces the members (addresses of the live ones).
    pub fn set_members(&self, members: Vec<String>) {
        let ring = Ring::new(members);
        let old = self.ring();
        if old.members() == ring.members() {
            return;
        }
        tracing::info!(members = ?ring.members(), "cache group changed");
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|member, _| ring.members().contains(member));
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
    }

    /// The members' addresses, sorted.
    pub fn members(&self) -> Vec<String> {
        self.ring().members().to_vec()
    }

    fn ring(&self) -> Arc<Ring> {
        self.ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn is_down(&self, member: &str) -> bool {
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        match down.get(member) {
            Some(until) if Instant::now() < *until => true,
            Some(_) => {
                down.remove(member);
                false
            }
            None => false,
        }
    }

    fn mark_down(&self, member: &str) {
        self.down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(member.to_string(), Instant::now() + self.config.down_for);
    }

    /// The bytes of `range` of block `key` from its owners, or `None` (ask the object store).
    pub async fn get(&self, key: BlockKey, range: HitRange) -> Option<Bytes> {
        let started = Instant::now();
        let get = self.request(key, range);
        for member in self.live_owners(key) {
            match self.ask(&member, Kind::Get, &get).await {
                Ok(bytes) => {
                    self.stats.hit(bytes.len() as u64, started.elapsed());
                    return Some(bytes);
                }
                Err(err) => self.failed(&member, key, err),
            }
        }
        self.stats.miss();
        None
    }

    /// Has every owner of block `key` fetch and keep it (so that it stays cached when one
    /// of them goes); false when none could.
    pub async fn warm(&self, key: BlockKey) -> bool {
        let get = self.request(key, HitRange::Whole);
        let mut warmed = false;
        for member in self.live_owners(key) {
            match self.ask(&member, Kind::Warm, &get).await {
                Ok(_) => warmed = true,
                Err(err) => self.failed(&member, key, err),
            }
        }
        warmed
    }

    fn request(&self, key: BlockKey, range: HitRange) -> Get {
        Get {
            volume: self.config.volume.clone(),
            key,
            range,
        }
    }

    /// The owners of `key` not known to be down, in the order to ask them.
    pub(crate) fn live_owners(&self, key: BlockKey) -> Vec<String> {
        let ring = self.ring();
        ring.owners(key, self.config.replicas.max(1))
            .into_iter()
            .filter(|member| !self.is_down(member))
            .map(str::to_string)
            .collect()
    }

    /// A member's own error (it answered) is its business; silence or garbage puts it aside.
    fn failed(&self, member: &str, key: BlockKey, err: AskError) {
        match err {
            AskError::Refused(errno, message) => {
                tracing::debug!(member, %key, errno, message, "cache member refused");
            }
            err => {
                tracing::warn!(member, %key, %err, "cache member skipped");
                self.mark_down(member);
            }
        }
    }

    async fn ask(&self, member: &str, kind: Kind, get: &Get) -> Result<Bytes, AskError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(member)
            .and_then(Vec::pop);
        if let Some(conn) = pooled {
            match self.exchange(conn, member, kind, get).await {
                // A pooled connection may have been closed by the member meanwhile: one
                // fresh try before the member counts as failed.
                Err(AskError::Io(_)) => {}
                other => return other,
            }
        }
        let conn = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(member))
            .await
            .map_err(|_| AskError::TimedOut)??;
        conn.set_nodelay(true)?;
        self.exchange(conn, member, kind, get).await
    }

    /// One request and its answer on `conn`, which goes back to the pool if it is still good.
    async fn exchange(
        &self,
        mut conn: TcpStream,
        member: &str,
        kind: Kind,
        get: &Get,
    ) -> Result<Bytes, AskError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let payload = get.encode();
            let mut frame = protocol::header(kind, id, &payload).to_vec();
            frame.extend_from_slice(&payload);
            conn.write_all(&frame).await?;
            let mut head = [0; HEADER_LEN];
            conn.read_exact(&mut head).await?;
            let header = Header::decode(&head)?;
            if header.id != id {
                return Err(AskError::Unexpected("an answer to another request"));
            }
            let mut payload = BytesMut::zeroed(header.len as usize);
            conn.read_exact(&mut payload).await?;
            header.check(&payload)?;
            Ok((header.kind, payload.freeze()))
        };
        // A warmup waits longer: the member fetches and writes the block before it answers,
        // and nobody's read waits on it.
        let limit = match kind {
            Kind::Warm => self.config.request_timeout * 10,
            _ => self.config.request_timeout,
        };
        let (answered, payload) = tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| AskError::TimedOut)??;
        let answer = match answered {
            Kind::Data => match get.range {
                HitRange::Part { len, .. } if kind == Kind::Get && payload.len() as u64 != len => {
                    return Err(AskError::Unexpected("a range of the wrong length"));
                }
                _ => Ok(payload),
            },
            Kind::Error => {
                let (errno, message) = protocol::decode_error(&payload)?;
                Err(AskError::Refused(errno, message))
            }
            Kind::Get | Kind::Warm => return Err(AskError::Unexpected("a request")),
        };
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let pool = idle.entry(member.to_string()).or_default();
        if pool.len() < IDLE_PER_MEMBER {
            pool.push(conn);
        }
        answer
    }
}
