//! Cache groups: nodes that keep blocks for their neighbours. A consistent-hash ring of the
//! live members names each block's owner; a reader asks the owner over TCP before the object
//! store, and the owner fetches and keeps the block when it misses.

mod client;
pub mod protocol;
mod ring;
mod server;

pub use client::{GroupClient, GroupConfig};
pub use ring::Ring;
pub use server::{GroupServer, HttpAnswer, HttpResponder};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::{BlockKey, HitRange};
    use crate::{BlockStore, StorageUrl};

    async fn member(volume: &str) -> (String, Arc<BlockStore>) {
        let store = Arc::new(BlockStore::open(&StorageUrl::Memory, 4096, true).unwrap());
        let (addr, _) = serve(store.clone(), volume).await;
        (addr, store)
    }

    async fn serve(store: Arc<BlockStore>, volume: &str) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = Arc::new(GroupServer::new(store, volume, None));
        let task = tokio::spawn(async move {
            let _ = server.serve(listener).await;
        });
        (addr, task)
    }

    #[tokio::test]
    async fn warmup_fills_every_replica_and_a_survivor_serves() {
        let dir = tempfile::tempdir().unwrap();
        // Two members over one shared object store, each with a memory tier.
        let shared = std::sync::Arc::new(
            BlockStore::open(&StorageUrl::File(dir.path().join("s3")), 4096, true).unwrap(),
        );
        let data = vec![7u8; 4096];
        shared.put(9, &data).await.unwrap();
        let config = crate::cache::CacheConfig {
            memory_size: 1 << 20,
            ..Default::default()
        };
        let mut members = Vec::new();
        for _ in 0..2 {
            let store = BlockStore::open(&StorageUrl::File(dir.path().join("s3")), 4096, false)
                .unwrap()
                .with_cache(&config)
                .unwrap();
            let store = Arc::new(store);
            let (addr, task) = serve(store.clone(), "vol").await;
            members.push((addr, task, store));
        }
        let client = GroupClient::new(GroupConfig {
            replicas: 2,
            ..GroupConfig::new("vol")
        });
        client.set_members(members.iter().map(|m| m.0.clone()).collect());
        let key = BlockKey {
            object: 9,
            index: 0,
        };
        assert!(client.warm(key).await);
        for (_, _, store) in &members {
            assert_eq!(store.cached_bytes(9, 0, 4096), 4096);
        }
        // The first owner goes away; the other still serves it.
        let first = client.live_owners(key)[0].clone();
        let (_, task, _) = members.iter().find(|m| m.0 == first).unwrap();
        task.abort();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            while tokio::net::TcpStream::connect(&first).await.is_ok() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        // A reader without connections from before (those outlive the listener).
        let reader = GroupClient::new(GroupConfig {
            replicas: 2,
            ..GroupConfig::new("vol")
        });
        reader.set_members(members.iter().map(|m| m.0.clone()).collect());
        assert_eq!(reader.get(key, HitRange::Whole).await.unwrap(), data);
        assert!(reader.is_down(&first));
    }

    #[tokio::test]
    async fn a_reader_gets_blocks_from_their_owner_and_skips_a_dead_one() {
        let (addr, store) = member("vol").await;
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 249) as u8).collect();
        store.put(5, &data).await.unwrap();
        let client = GroupClient::new(GroupConfig::new("vol"));
        client.set_members(vec![addr.clone()]);
        let key = |index| BlockKey { object: 5, index };
        assert_eq!(
            client.get(key(1), HitRange::Whole).await.unwrap(),
            data[4096..8192]
        );
        let part = HitRange::Part {
            offset: 100,
            len: 50,
        };
        assert_eq!(client.get(key(2), part).await.unwrap(), data[8292..8342]);
        // A block the member cannot find: refused, the reader goes to the store itself.
        assert!(
            client
                .get(
                    BlockKey {
                        object: 6,
                        index: 0
                    },
                    HitRange::Whole
                )
                .await
                .is_none()
        );
        assert_eq!(
            client.get(key(0), HitRange::Whole).await.unwrap(),
            data[..4096]
        );
        // Nor can it find a block past any object's end (a hostile index): refused too.
        let far = BlockKey {
            object: 5,
            index: u64::MAX / 2,
        };
        assert!(client.get(far, part).await.is_none());
        assert!(!client.warm(far).await);
        assert!(
            !client.is_down(&addr),
            "a refusal is an answer, not a failure"
        );

        let other = GroupClient::new(GroupConfig::new("another volume"));
        other.set_members(vec![addr]);
        assert!(other.get(key(0), HitRange::Whole).await.is_none());

        // A member that is gone costs one refused connection, then is skipped.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap().to_string();
        drop(closed);
        let client = GroupClient::new(GroupConfig::new("vol"));
        client.set_members(vec![dead.clone()]);
        assert!(client.get(key(0), HitRange::Whole).await.is_none());
        assert!(client.is_down(&dead));
        assert!(client.get(key(0), HitRange::Whole).await.is_none());
        assert_eq!(client.stats.snapshot().misses, 2);
    }
}
