//! The read side of a socket: `read_buffer_size` bytes read at a time into a buffer on
//! the stack, handed to the frame decoder in the small pieces it asks for; only what the
//! decoder has not taken yet is kept on the heap, and released once taken.
//!
//! tungstenite zero-fills its whole input buffer before each read, which makes that
//! buffer resident from a socket's first read on: with a 2 KiB buffer, 2 KiB of every
//! idle connection. Its buffer is therefore kept small ([`DECODER_READ`]) and this stage
//! does the system calls, so that an idle connection holds no read buffer of its own and
//! a read still takes up to `read_buffer_size` bytes from the kernel.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};

/// What tungstenite asks for per read (its `read_buffer_size`), and so the input buffer
/// it keeps per socket: enough for a frame header and a small message.
pub(crate) const DECODER_READ: usize = 256;

/// The largest read done into a buffer on the stack. A larger `read_buffer_size` reads
/// into a zeroed heap buffer for each read (the stack of a worker thread is 2 MiB).
const STACK_READ: usize = 8 * 1024;

/// Reads from a socket for a decoder that asks for little at a time.
#[derive(Debug)]
pub(crate) struct ReadStage {
    /// Bytes read from the socket per system call (`read_buffer_size`).
    size: usize,
    /// Read from the socket, not yet taken by the decoder. Empty, without an
    /// allocation, whenever the decoder has taken everything.
    rest: BytesMut,
}

impl ReadStage {
    pub(crate) fn new(size: usize) -> Self {
        Self {
            size: size.max(1),
            rest: BytesMut::new(),
        }
    }

    /// Fills `buf` from what an earlier read left, or else with one read of up to
    /// `size` bytes from `inner`, keeping what does not fit in `buf` for the next call.
    /// End of stream and errors are `inner`'s, passed on unchanged.
    pub(crate) fn poll_read<R: AsyncRead + Unpin>(
        &mut self,
        inner: &mut R,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.rest.is_empty() {
            let n = self.rest.len().min(buf.remaining());
            buf.put_slice(&self.rest[..n]);
            self.rest.advance(n);
            if self.rest.is_empty() {
                // Released: an idle socket holds nothing here.
                self.rest = BytesMut::new();
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= self.size {
            return Pin::new(inner).poll_read(cx, buf);
        }
        if self.size <= STACK_READ {
            let mut chunk = [MaybeUninit::<u8>::uninit(); STACK_READ];
            let mut staged = ReadBuf::uninit(&mut chunk[..self.size]);
            ready!(Pin::new(inner).poll_read(cx, &mut staged))?;
            self.hand_over(staged.filled(), buf);
        } else {
            let mut chunk = vec![0u8; self.size];
            let mut staged = ReadBuf::new(&mut chunk);
            ready!(Pin::new(inner).poll_read(cx, &mut staged))?;
            self.hand_over(staged.filled(), buf);
        }
        Poll::Ready(Ok(()))
    }

    /// Puts what fits of `read` into `buf` and keeps the rest.
    fn hand_over(&mut self, read: &[u8], buf: &mut ReadBuf<'_>) {
        let n = read.len().min(buf.remaining());
        buf.put_slice(&read[..n]);
        if n < read.len() {
            self.rest.extend_from_slice(&read[n..]);
        }
    }

    /// Bytes read from the socket and not taken yet.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.rest.len()
    }

    /// Whether the stage holds a heap buffer.
    #[cfg(test)]
    fn holds_memory(&self) -> bool {
        self.rest.capacity() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Reads through the stage in pieces of `piece` bytes until `want` bytes came.
    async fn read_in_pieces<R: AsyncRead + Unpin>(
        stage: &mut ReadStage,
        inner: &mut R,
        piece: usize,
        want: usize,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < want {
            let mut space = vec![0u8; piece];
            let mut buf = ReadBuf::new(&mut space);
            std::future::poll_fn(|cx| stage.poll_read(inner, cx, &mut buf))
                .await
                .expect("read");
            assert!(!buf.filled().is_empty(), "end of stream too early");
            out.extend_from_slice(buf.filled());
        }
        out
    }

    #[tokio::test]
    async fn hands_a_large_read_over_in_small_pieces_and_releases_the_rest() {
        let (mut far, mut near) = tokio::io::duplex(64 * 1024);
        let sent: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        far.write_all(&sent).await.unwrap();
        let mut stage = ReadStage::new(2048);
        let first = read_in_pieces(&mut stage, &mut near, 100, 100).await;
        assert_eq!(first, sent[..100]);
        // One read took 2048 bytes; 100 went out, the rest waits on the heap.
        assert_eq!(stage.pending(), 1948);
        let rest = read_in_pieces(&mut stage, &mut near, 256, 4900).await;
        assert_eq!(rest, sent[100..]);
        assert_eq!(stage.pending(), 0);
        assert!(!stage.holds_memory(), "the stage keeps a buffer while idle");
    }

    #[tokio::test]
    async fn a_large_request_reads_straight_into_the_callers_buffer() {
        let (mut far, mut near) = tokio::io::duplex(64 * 1024);
        far.write_all(&[7u8; 3000]).await.unwrap();
        let mut stage = ReadStage::new(1024);
        let got = read_in_pieces(&mut stage, &mut near, 4096, 3000).await;
        assert_eq!(got, vec![7u8; 3000]);
        assert!(!stage.holds_memory());
    }

    #[tokio::test]
    async fn a_read_buffer_larger_than_the_stack_read_works_the_same() {
        let (mut far, mut near) = tokio::io::duplex(64 * 1024);
        let sent: Vec<u8> = (0..40_000u32).map(|i| (i % 13) as u8).collect();
        far.write_all(&sent).await.unwrap();
        let mut stage = ReadStage::new(3 * STACK_READ);
        let got = read_in_pieces(&mut stage, &mut near, 300, sent.len()).await;
        assert_eq!(got, sent);
        assert!(!stage.holds_memory());
    }

    #[tokio::test]
    async fn end_of_stream_is_passed_on() {
        let (far, mut near) = tokio::io::duplex(1024);
        drop(far);
        let mut stage = ReadStage::new(2048);
        let mut space = [0u8; 64];
        let mut buf = ReadBuf::new(&mut space);
        std::future::poll_fn(|cx| stage.poll_read(&mut near, cx, &mut buf))
            .await
            .unwrap();
        assert!(buf.filled().is_empty());
    }
}
