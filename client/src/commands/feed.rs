//! A request stream fed by a file reader on the blocking pool: chunks go out while the
//! next ones are parsed, through a channel of a few chunks, so the CLI's memory does not
//! grow with the file.
//!
//! A read error must not end the stream: a client stream that ends is a complete request,
//! and the server would fit (and store) the customers it got so far. So after an error
//! the reader holds the stream open without sending anything ([`Sender::hold`]), the
//! caller is told ([`unless_held`]) and drops the call, which cancels it (HTTP/2
//! RST_STREAM): the server sees a cancelled request and keeps nothing. The error itself
//! stays with the reader, which returns it: the caller reports it whatever the call did,
//! since the server may have refused the same bad data first, by a less precise name.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;

/// Chunks in flight between the reader and the call: enough to keep both busy, few
/// enough that memory holds a handful of chunks.
const IN_FLIGHT: usize = 2;

enum Item<T> {
    Chunk(T),
    /// The reader failed: send nothing more, and do not end the stream.
    Hold,
}

/// The request stream: chunks from the reader, until its end or a hold.
pub(super) struct Feed<T> {
    chunks: mpsc::Receiver<Item<T>>,
    /// Taken when the reader holds the stream: from then on the stream only waits.
    held: Option<oneshot::Sender<()>>,
}

impl<T> std::fmt::Debug for Feed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("held", &self.held.is_none())
            .finish_non_exhaustive()
    }
}

/// The reader's side of a [`Feed`].
pub(super) struct Sender<T>(mpsc::Sender<Item<T>>);

impl<T> Sender<T> {
    /// Hands on one chunk, waiting while the channel is full; `false` when the call has
    /// ended (its outcome says why) and reading should stop.
    pub(super) fn send(&self, chunk: T) -> bool {
        self.0.blocking_send(Item::Chunk(chunk)).is_ok()
    }

    /// After a read error: the call is to be cancelled, not completed. Nothing may be
    /// sent after it; the reader keeps its error and returns it to the caller.
    pub(super) fn hold(&self) {
        let _ = self.0.blocking_send(Item::Hold);
    }
}

/// The receiver of a [`Feed`]'s hold.
pub(super) type Held = oneshot::Receiver<()>;

/// A feed, its reader's sender, and the receiver of the reader's hold.
pub(super) fn feed<T>() -> (Feed<T>, Sender<T>, Held) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let (held, hold) = oneshot::channel();
    (
        Feed {
            chunks: rx,
            held: Some(held),
        },
        Sender(tx),
        hold,
    )
}

impl<T> Stream for Feed<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.held.is_none() {
            // Never ends: the caller cancels the call.
            return Poll::Pending;
        }
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(Item::Chunk(chunk))) => Poll::Ready(Some(chunk)),
            Poll::Ready(Some(Item::Hold)) => {
                if let Some(held) = self.held.take() {
                    let _ = held.send(());
                }
                Poll::Pending
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs `call` until it ends (`Some` of its outcome), or until the reader holds the
/// stream: then the call is dropped (cancelled) and `None` returned; the reader has the
/// error.
pub(super) async fn unless_held<R>(call: impl Future<Output = R>, held: Held) -> Option<R> {
    tokio::pin!(call);
    tokio::select! {
        biased;
        Ok(()) = held => None,
        outcome = &mut call => Some(outcome),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn a_hold_keeps_the_stream_open_and_cancels_the_call() {
        let (mut stream, tx, held) = feed::<u32>();
        let reader = tokio::task::spawn_blocking(move || {
            assert!(tx.send(1));
            tx.hold();
        });
        assert_eq!(stream.next().await, Some(1));
        // After the hold the stream neither yields nor ends.
        let next = tokio::time::timeout(std::time::Duration::from_millis(200), stream.next());
        assert!(next.await.is_err(), "the stream must stay open");
        reader.await.unwrap();
        assert!(
            unless_held(std::future::pending::<()>(), held)
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_reader_that_finishes_ends_the_stream() {
        let (stream, tx, held) = feed::<u32>();
        tokio::task::spawn_blocking(move || {
            for i in 0..5 {
                assert!(tx.send(i));
            }
        });
        let call = stream.collect::<Vec<_>>();
        assert_eq!(unless_held(call, held).await.unwrap(), [0, 1, 2, 3, 4]);
    }
}
