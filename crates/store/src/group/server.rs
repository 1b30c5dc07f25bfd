//! A member's side of a cache group: answers GETs from its block store (whose caches fetch
//! and keep what they miss), and plain HTTP GETs on the same port (reports for people and
//! schedulers).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::protocol::{self, Get, HEADER_LEN, Header, Kind};
use crate::cache::{HitRange, TierStats};
use crate::store::BlockStore;

/// A connection with no request for this long is closed.
const IDLE: Duration = Duration::from_secs(600);
/// An HTTP request head is at most this long.
const MAX_HTTP_HEAD: usize = 8192;

/// An HTTP answer: status, content type, body.
pub type HttpAnswer = (u16, &'static str, Vec<u8>);

/// Answers `GET path` requests.
pub trait HttpResponder: Send + Sync + 'static {
    /// The answer to a plain HTTP `GET path` on the group's port (the metrics, say).
    fn respond(&self, path: String) -> Pin<Box<dyn Future<Output = HttpAnswer> + Send>>;
}

/// Serves one volume's blocks to a group.
pub struct GroupServer {
    store: Arc<BlockStore>,
    volume: String,
    http: Option<Arc<dyn HttpResponder>>,
    /// Requests answered with data ("hits"), and refused ("misses").
    pub served: TierStats,
}

impl std::fmt::Debug for GroupServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupServer")
            .field("volume", &self.volume)
            .finish_non_exhaustive()
    }
}

impl GroupServer {
    /// Serves the blocks of `store`, the volume of uuid `volume`, and HTTP GETs through
    /// `http` (without it, they get a 404).
    pub fn new(store: Arc<BlockStore>, volume: &str, http: Option<Arc<dyn HttpResponder>>) -> Self {
        Self {
            store,
            volume: volume.to_string(),
            http,
            served: TierStats::default(),
        }
    }

    /// Accepts connections until the listener fails; each is served by a task of its own.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = listener.accept().await?;
            let server = self.clone();
            tokio::spawn(async move {
                if let Err(err) = server.connection(stream).await {
                    tracing::debug!(%peer, %err, "cache connection closed");
                }
            });
        }
    }

    async fn connection(&self, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut first = [0; 4];
        let peeked = tokio::time::timeout(IDLE, stream.peek(&mut first)).await;
        if matches!(peeked, Ok(Ok(4))) && &first == b"GET " {
            return self.http(stream).await;
        }
        loop {
            let mut head = [0; HEADER_LEN];
            match tokio::time::timeout(IDLE, stream.read_exact(&mut head)).await {
                Ok(Ok(_)) => {}
                // Idle, or the reader went away.
                Ok(Err(_)) | Err(_) => return Ok(()),
            }
            let header = match Header::decode(&head) {
                Ok(header) => header,
                Err(err) => {
                    // Say why once, then hang up: the stream cannot be trusted past here.
                    let payload = protocol::encode_error(libc::EPROTO, &err.to_string());
                    reply(&mut stream, Kind::Error, 0, &payload).await?;
                    return Ok(());
                }
            };
            let mut payload = BytesMut::zeroed(header.len as usize);
            stream.read_exact(&mut payload).await?;
            let answer = match header.check(&payload).and_then(|()| match header.kind {
                Kind::Get | Kind::Warm => Get::decode(&payload),
                _ => Err(protocol::FrameError::Payload("request")),
            }) {
                Ok(get) if header.kind == Kind::Warm => self.warm(get).await,
                Ok(get) => self.answer(get).await,
                Err(err) => Err((libc::EPROTO, err.to_string())),
            };
            match answer {
                Ok(bytes) => reply(&mut stream, Kind::Data, header.id, &bytes).await?,
                Err((errno, message)) => {
                    self.served.miss();
                    let payload = protocol::encode_error(errno, &message);
                    reply(&mut stream, Kind::Error, header.id, &payload).await?;
                }
            }
        }
    }

    fn check_volume(&self, get: &Get) -> Result<(), (i32, String)> {
        if get.volume != self.volume {
            return Err((
                libc::EINVAL,
                format!(
                    "this node serves volume {}, not {}",
                    self.volume, get.volume
                ),
            ));
        }
        Ok(())
    }

    /// Where the asked block starts in its object; a block past any object's end is refused.
    fn block_start(&self, get: &Get) -> Result<u64, (i32, String)> {
        let bs = u64::from(self.store.block_size());
        get.key
            .index
            .checked_mul(bs)
            .filter(|start| start.checked_add(bs).is_some())
            .ok_or_else(|| (libc::EINVAL, format!("no block {}", get.key)))
    }

    /// Fetches and keeps a whole block (on disk when there is a disk tier) for a warmup.
    async fn warm(&self, get: Get) -> Result<bytes::Bytes, (i32, String)> {
        self.check_volume(&get)?;
        let start = self.block_start(&get)?;
        self.store
            .warm(get.key.object, start, 1)
            .await
            .map_err(|e| (e.errno(), e.to_string()))?;
        Ok(bytes::Bytes::new())
    }

    async fn answer(&self, get: Get) -> Result<bytes::Bytes, (i32, String)> {
        self.check_volume(&get)?;
        let start = self.block_start(&get)?;
        let started = std::time::Instant::now();
        let bs = u64::from(self.store.block_size());
        let read = match get.range {
            HitRange::Whole => self.store.block(get.key.object, get.key.index).await,
            HitRange::Part { offset, len } if offset + len <= bs => {
                self.store
                    .read(
                        get.key.object,
                        start + offset,
                        len,
                        crate::cache::Access::Sequential,
                    )
                    .await
            }
            HitRange::Part { .. } => {
                return Err((libc::EINVAL, "range past the block's end".into()));
            }
        };
        let bytes = read.map_err(|e| (e.errno(), e.to_string()))?;
        self.served.hit(bytes.len() as u64, started.elapsed());
        Ok(bytes)
    }

    async fn http(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut head = Vec::new();
        let mut buf = [0; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            if head.len() > MAX_HTTP_HEAD {
                return http_reply(&mut stream, (431, "text/plain", b"too long\n".to_vec())).await;
            }
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            if n == 0 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
        let path = String::from_utf8_lossy(line)
            .split(' ')
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let answer = match &self.http {
            Some(http) => http.respond(path).await,
            None => (404, "text/plain", b"no reports here\n".to_vec()),
        };
        http_reply(&mut stream, answer).await
    }
}

async fn reply(stream: &mut TcpStream, kind: Kind, id: u64, payload: &[u8]) -> std::io::Result<()> {
    stream
        .write_all(&protocol::header(kind, id, payload))
        .await?;
    stream.write_all(payload).await
}

async fn http_reply(
    stream: &mut TcpStream,
    (status, kind, body): HttpAnswer,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}
