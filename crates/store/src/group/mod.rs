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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = Arc::new(GroupServer::new(store.clone(), volume, None));
        tokio::spawn(server.serve(listener));
        (addr, store)
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
