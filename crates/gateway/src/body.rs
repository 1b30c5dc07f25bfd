//! Object bytes in and out as streams: a GET reads its file through one handle in a task of its
//! own, a piece at a time, and hands the pieces over a channel of one slot, so a slow client
//! holds at most two pieces in memory and a gone client stops the reading.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use datenlord_vfs::Vfs;
use futures::Stream;
use tokio::sync::mpsc;

/// Bytes read per call: large enough for the store's parallel block reads, small enough that
/// a thousand slow clients stay within memory.
pub const PIECE: u32 = 1 << 20;

/// Why a GET's body ended early.
#[derive(Debug, thiserror::Error)]
#[error("reading the object failed: {0}")]
pub struct ReadError(String);

/// The body of a GET: the bytes `start..end` of the file open as `fh`, which it closes at the
/// end or when the client goes.
#[derive(Debug)]
pub struct FileBody {
    pieces: mpsc::Receiver<Result<Bytes, ReadError>>,
}

impl FileBody {
    /// Starts reading; the handle belongs to the body from now on.
    pub fn start(vfs: Arc<Vfs>, fh: u64, start: u64, end: u64) -> Self {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            let mut at = start;
            while at < end {
                let want = (end - at).min(u64::from(PIECE)) as u32;
                let piece = match vfs.read(fh, at, want).await {
                    Ok(piece) if piece.is_empty() => Err(ReadError(format!(
                        "the object ended at {at} bytes, before the {end} it had when opened"
                    ))),
                    Ok(piece) => Ok(piece),
                    Err(err) => Err(ReadError(err.to_string())),
                };
                let failed = piece.is_err();
                at += piece.as_ref().map_or(0, |p| p.len() as u64);
                if tx.send(piece).await.is_err() || failed {
                    break;
                }
            }
            vfs.release(fh, None).await;
        });
        Self { pieces: rx }
    }
}

impl FileBody {
    /// The body of zero bytes.
    pub fn empty() -> Self {
        let (_, rx) = mpsc::channel(1);
        Self { pieces: rx }
    }
}

impl Stream for FileBody {
    type Item = Result<Bytes, ReadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.pieces.poll_recv(cx)
    }
}
