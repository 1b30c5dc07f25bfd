//! The bytes written to a file but not yet flushed: disjoint segments by file offset, merged
//! as they touch, so a sequential writer grows one segment and a flush makes one slice per
//! segment.

use std::collections::BTreeMap;

/// Disjoint byte runs by file offset.
pub(crate) type Segments = BTreeMap<u64, Vec<u8>>;

/// Buffered writes of one file.
#[derive(Debug, Default)]
pub(crate) struct WriteBuffer {
    segments: Segments,
    bytes: usize,
    /// Memory of an earlier flush, for the next new segment: filling memory already mapped
    /// costs no page faults, and large fresh allocations fault on every page.
    spare: Option<Vec<u8>>,
}

impl WriteBuffer {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Keeps `memory` for the next new segment.
    pub fn give_spare(&mut self, memory: Vec<u8>) {
        self.spare.get_or_insert(memory);
    }

    /// Adds a write; returns how many more bytes the buffer holds.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> usize {
        let end = offset + data.len() as u64;
        let touching: Vec<u64> = self
            .segments
            .range(..=end)
            .rev()
            .take_while(|(start, seg)| *start + seg.len() as u64 >= offset)
            .map(|(start, _)| *start)
            .collect();
        let before = self.bytes;
        match touching[..] {
            [] => {
                let mut seg = self.spare.take().unwrap_or_default();
                seg.clear();
                seg.extend_from_slice(data);
                self.segments.insert(offset, seg);
                self.bytes += data.len();
            }
            [start] if start <= offset => {
                // Overwrites what it overlaps and appends the rest: no zero-fill first.
                let seg = self.segments.get_mut(&start).expect("segment just found");
                let at = (offset - start) as usize;
                let old_len = seg.len();
                let overlap = old_len.saturating_sub(at).min(data.len());
                seg[at..at + overlap].copy_from_slice(&data[..overlap]);
                seg.extend_from_slice(&data[overlap..]);
                self.bytes += seg.len() - old_len;
            }
            _ => {
                let first = *touching.last().expect("at least one segment");
                let start = first.min(offset);
                let mut merged = Vec::new();
                for key in touching.iter().rev() {
                    let seg = self.segments.remove(key).expect("segment just found");
                    self.bytes -= seg.len();
                    let at = (key - start) as usize;
                    if merged.len() < at + seg.len() {
                        merged.resize(at + seg.len(), 0);
                    }
                    merged[at..at + seg.len()].copy_from_slice(&seg);
                }
                let at = (offset - start) as usize;
                if merged.len() < at + data.len() {
                    merged.resize(at + data.len(), 0);
                }
                merged[at..at + data.len()].copy_from_slice(data);
                self.bytes += merged.len();
                self.segments.insert(start, merged);
            }
        }
        self.bytes - before
    }

    /// Copies buffered bytes over `out`, which holds the file from `offset`.
    pub fn overlay(&self, offset: u64, out: &mut [u8]) {
        overlay(&self.segments, offset, out);
    }

    /// Takes every segment out, leaving the buffer empty.
    pub fn take(&mut self) -> Segments {
        self.bytes = 0;
        std::mem::take(&mut self.segments)
    }

    /// Drops every buffered byte at or past `size` (the file is cut there); returns how many.
    pub fn cut(&mut self, size: u64) -> usize {
        let before = self.bytes;
        for (_, seg) in self.segments.split_off(&size) {
            self.bytes -= seg.len();
        }
        if let Some((start, seg)) = self.segments.iter_mut().next_back() {
            let keep = usize::try_from(size - start).unwrap_or(usize::MAX);
            if seg.len() > keep {
                self.bytes -= seg.len() - keep;
                seg.truncate(keep);
            }
        }
        before - self.bytes
    }

    /// Puts segments taken by [`WriteBuffer::take`] back under newer writes (a flush failed).
    pub fn restore(&mut self, old: Segments) {
        let newer = std::mem::replace(&mut self.segments, old);
        self.bytes = self.segments.values().map(Vec::len).sum();
        for (start, seg) in newer {
            self.insert(start, &seg);
        }
    }
}

/// Copies the bytes of `segments` over `out`, which holds the file from `offset`.
pub(crate) fn overlay(segments: &Segments, offset: u64, out: &mut [u8]) {
    let end = offset + out.len() as u64;
    for (start, seg) in segments.range(..end) {
        let seg_end = start + seg.len() as u64;
        if seg_end <= offset {
            continue;
        }
        let lo = offset.max(*start);
        let hi = end.min(seg_end);
        out[(lo - offset) as usize..(hi - offset) as usize]
            .copy_from_slice(&seg[(lo - start) as usize..(hi - start) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_drops_the_bytes_past_it() {
        let mut buf = WriteBuffer::default();
        buf.insert(0, b"abcdef");
        buf.insert(10, b"xyz");
        assert_eq!(buf.cut(11), 2);
        assert_eq!(buf.bytes(), 7);
        assert_eq!(buf.cut(4), 3);
        assert_eq!(contents(&buf, 6), b"abcd..");
        assert_eq!(buf.cut(0), 4);
        assert!(buf.is_empty());
    }

    fn contents(buf: &WriteBuffer, len: usize) -> Vec<u8> {
        let mut out = vec![b'.'; len];
        buf.overlay(0, &mut out);
        out
    }

    #[test]
    fn writes_merge_and_newer_bytes_win() {
        let mut buf = WriteBuffer::default();
        buf.insert(0, b"aaaa");
        buf.insert(4, b"bbbb");
        assert_eq!(buf.segments.len(), 1, "adjacent writes grow one segment");
        buf.insert(10, b"cc");
        buf.insert(2, b"XXXXXXXXXX");
        assert_eq!(contents(&buf, 14), b"aaXXXXXXXXXX..");
        assert_eq!(buf.bytes(), 12);
    }

    #[test]
    fn appends_and_overlapping_appends_extend_a_segment() {
        let mut buf = WriteBuffer::default();
        buf.give_spare(Vec::with_capacity(64));
        assert_eq!(buf.insert(0, b"abcd"), 4);
        assert_eq!(buf.insert(4, b"efgh"), 4);
        assert_eq!(buf.insert(6, b"XYZW"), 2);
        assert_eq!(buf.insert(1, b"q"), 0);
        assert_eq!(contents(&buf, 12), b"aqcdefXYZW..");
        assert_eq!(buf.bytes(), 10);
    }

    #[test]
    fn restore_keeps_newer_writes_on_top() {
        let mut buf = WriteBuffer::default();
        buf.insert(0, b"old old");
        let taken = buf.take();
        buf.insert(4, b"new");
        buf.restore(taken);
        assert_eq!(contents(&buf, 7), b"old new");
        assert_eq!(buf.bytes(), 7);
    }
}
