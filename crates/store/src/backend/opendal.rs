//! OpenDAL services as backends: `memory://`, and S3 behind timeouts, retries and a
//! concurrency limit (see `s3.rs`).

use std::future::IntoFuture;
use std::time::Instant;

use bytes::Bytes;
use futures::future::try_join_all;
use futures::{Stream, TryStreamExt};

use super::{Backend, Capacity, PutCounter};
use crate::error::{Result, StoreError};
use crate::url::S3Location;

/// Blocks as objects of an OpenDAL operator, named as they are.
#[derive(Debug, Clone)]
pub struct OpendalBackend {
    op: opendal::Operator,
}

impl OpendalBackend {
    /// Blocks in this process's memory, gone with it.
    pub fn memory() -> Result<Self> {
        Ok(Self {
            op: opendal::Operator::new(opendal::services::Memory::default())?,
        })
    }

    /// Blocks in an S3 bucket. Nothing is sent yet, so a wrong endpoint, bucket or key shows
    /// only at the first request.
    pub fn s3(location: &S3Location) -> Result<Self> {
        Ok(Self {
            op: super::s3::operator(location)?,
        })
    }
}

fn not_found(name: &str) -> impl Fn(opendal::Error) -> StoreError + '_ {
    move |e| match e.kind() {
        opendal::ErrorKind::NotFound => StoreError::Missing(name.to_string()),
        _ => StoreError::Service(e),
    }
}

impl Backend for OpendalBackend {
    /// Sends every block at once (the operator's own limit bounds the requests in flight);
    /// the first failure drops the writes still going.
    async fn put_blocks(&self, blocks: &[(String, &[u8])], count: PutCounter<'_>) -> Result<()> {
        let puts = blocks.iter().map(|(name, block)| {
            let block = Bytes::copy_from_slice(block);
            async move {
                let (len, started) = (block.len() as u64, Instant::now());
                let written = self.op.write(name, block).await.map(|_| ());
                count(len, started.elapsed());
                written
            }
        });
        Ok(try_join_all(puts).await.map(drop)?)
    }

    /// A range past the block's end is refused (memory, or S3 from the first byte on) or
    /// answered short (S3, which OpenDAL reports as "unexpected"): both are a short block.
    async fn read_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes> {
        let short = || StoreError::Missing(format!("{name} (short block)"));
        let end = offset + len;
        let buffer = match self.op.read_with(name).range(offset..end).await {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == opendal::ErrorKind::RangeNotSatisfied => return Err(short()),
            Err(e) if e.kind() == opendal::ErrorKind::Unexpected => {
                // Only an error path pays for the extra request.
                let size = self.op.stat(name).await.map(|m| m.content_length());
                return Err(match size {
                    Ok(size) if size < end => short(),
                    _ => StoreError::Service(e),
                });
            }
            Err(e) => return Err(not_found(name)(e)),
        };
        if buffer.len() as u64 != len {
            return Err(short());
        }
        Ok(buffer.to_bytes())
    }

    async fn read_whole(&self, name: &str) -> Result<Bytes> {
        Ok(self
            .op
            .read(name)
            .await
            .map_err(not_found(name))?
            .to_bytes())
    }

    async fn delete(&self, name: &str) -> Result<()> {
        Ok(self.op.delete(name).await?)
    }

    /// A write is stored once the service answers it.
    async fn sync(&self) -> Result<()> {
        Ok(())
    }

    /// Entries come as the service sends its pages.
    fn list(&self) -> impl Stream<Item = Result<(String, u64)>> + Send {
        let lister = self.op.lister_with("").recursive(true).into_future();
        futures::stream::once(lister)
            .map_ok(|entries| {
                entries.try_filter_map(|e| {
                    let meta = e.metadata();
                    let block = meta
                        .is_file()
                        .then(|| (e.path().to_string(), meta.content_length()));
                    futures::future::ready(Ok(block))
                })
            })
            .try_flatten()
            .map_err(StoreError::from)
    }

    fn capacity(&self) -> Option<Capacity> {
        None
    }

    fn needs_deadline(&self) -> bool {
        true
    }
}
