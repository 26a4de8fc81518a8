//! Bounded capture of a command's output: only the last bytes of each stream are kept.
//!
//! A task that prints 200 MB must not make `platform` hold 200 MB (or, through `Vec`
//! doubling, 800 MB). Every [`Host`](super::host::Host) reads stdout and stderr through
//! [`TailBuffer`]s while it feeds stdin, so memory per command is bounded by the limit, and
//! the text says how much was dropped.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes of each stream kept by default (the tail; earlier bytes are counted and dropped).
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 * 1024;

/// Keeps the last `limit` bytes pushed into it and counts the rest.
#[derive(Debug)]
pub struct TailBuffer {
    buf: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl TailBuffer {
    /// An empty buffer that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> TailBuffer {
        TailBuffer {
            buf: Vec::new(),
            limit,
            dropped: 0,
        }
    }

    /// Appends bytes, dropping the oldest beyond the limit. The buffer may hold up to twice
    /// the limit between compactions, so each byte is moved at most once on average.
    pub fn push(&mut self, data: &[u8]) {
        if data.len() >= self.limit {
            self.dropped += (self.buf.len() + data.len() - self.limit) as u64;
            self.buf.clear();
            self.buf.extend_from_slice(&data[data.len() - self.limit..]);
            return;
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() > 2 * self.limit {
            let excess = self.buf.len() - self.limit;
            self.buf.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// The kept bytes and how many were dropped before them. When bytes were dropped, the
    /// kept part starts at a UTF-8 character boundary and is preceded by one line saying
    /// how much is missing (as Ansible-like text, so it reaches every place output is shown).
    pub fn finish(mut self) -> (Vec<u8>, u64) {
        if self.buf.len() > self.limit {
            let excess = self.buf.len() - self.limit;
            self.buf.drain(..excess);
            self.dropped += excess as u64;
        }
        if self.dropped == 0 {
            return (self.buf, 0);
        }
        // Skip UTF-8 continuation bytes cut off from their character.
        let start = self
            .buf
            .iter()
            .take(3)
            .take_while(|b| (**b & 0xC0) == 0x80)
            .count();
        let dropped = self.dropped + start as u64;
        let mut out = truncation_notice(dropped, self.buf.len() - start).into_bytes();
        out.extend_from_slice(&self.buf[start..]);
        (out, dropped)
    }
}

/// The line put before a truncated stream.
pub fn truncation_notice(dropped: u64, kept: usize) -> String {
    format!(
        "[output truncated: the first {dropped} bytes were dropped, the last {kept} are kept]\n"
    )
}

/// Reads a stream to its end into a [`TailBuffer`].
pub async fn read_tail<R: AsyncRead + Unpin>(
    reader: Option<R>,
    limit: usize,
) -> std::io::Result<(Vec<u8>, u64)> {
    let mut tail = TailBuffer::new(limit);
    if let Some(mut r) = reader {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            tail.push(&chunk[..n]);
        }
    }
    Ok(tail.finish())
}

/// Writes each part to a command's stdin, then closes it. A command that exits without
/// reading its stdin is not an error here (its exit status tells what happened).
pub async fn feed<W: AsyncWrite + Unpin>(writer: Option<W>, parts: &[&[u8]]) {
    if let Some(mut w) = writer {
        for p in parts {
            if w.write_all(p).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    }
}

/// Feeds stdin and reads both output streams at once (a command blocked on a full stdout
/// pipe would otherwise never read the rest of its stdin), keeping a tail of each.
pub async fn exchange<W, O, E>(
    stdin: Option<W>,
    parts: &[&[u8]],
    stdout: Option<O>,
    stderr: Option<E>,
    limit: usize,
) -> std::io::Result<(Captured, Captured)>
where
    W: AsyncWrite + Unpin,
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let (_, out, err) = tokio::join!(
        feed(stdin, parts),
        read_tail(stdout, limit),
        read_tail(stderr, limit)
    );
    Ok((out?, err?))
}

/// One captured stream: the kept bytes (with the truncation line) and the dropped count.
pub type Captured = (Vec<u8>, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_and_counts_the_rest() {
        let mut t = TailBuffer::new(8);
        t.push(b"abc");
        assert_eq!(TailBuffer::new(8).finish(), (Vec::new(), 0));
        for _ in 0..100 {
            t.push(b"0123456");
        }
        t.push(b"END");
        let (bytes, dropped) = t.finish();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(dropped, 3 + 700 + 3 - 8);
        assert_eq!(
            text,
            "[output truncated: the first 698 bytes were dropped, the last 8 are kept]\n23456END"
        );
        // One push larger than the limit.
        let mut t = TailBuffer::new(4);
        t.push(b"xy");
        t.push(b"0123456789");
        assert_eq!(t.finish().1, 8);
        // Under the limit: unchanged, no notice.
        let mut t = TailBuffer::new(8);
        t.push(b"hello");
        assert_eq!(t.finish(), (b"hello".to_vec(), 0));
    }

    #[test]
    fn a_cut_character_is_dropped_whole() {
        let mut t = TailBuffer::new(4);
        t.push("aé€".as_bytes()); // 1 + 2 + 3 bytes: the last 4 are the end of é, then €
        let (bytes, dropped) = t.finish();
        assert_eq!(dropped, 3);
        assert!(String::from_utf8(bytes).unwrap().ends_with("kept]\n€"));
    }

    #[tokio::test]
    async fn exchange_bounds_a_large_stream() {
        let big = vec![b'x'; 1_000_000];
        let (out, err) = exchange(
            None::<tokio::io::Empty>,
            &[],
            Some(&big[..]),
            Some(&b"small"[..]),
            1024,
        )
        .await
        .unwrap();
        assert_eq!(out.1, 1_000_000 - 1024);
        assert!(out.0.len() < 1024 + 100);
        assert_eq!(err, (b"small".to_vec(), 0));
    }
}
