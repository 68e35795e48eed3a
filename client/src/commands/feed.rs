//! A request stream fed by a file reader on the blocking pool: chunks go out while the
//! next ones are parsed, through a channel of a few chunks, so the CLI's memory does not
//! grow with the file.
//!
//! A read error must not end the stream: a client stream that ends is a complete request,
//! and the server would fit (and store) the customers it got so far. So after an error
//! the stream stays open without sending anything, the error is handed to the caller
//! ([`Feed::failure`]), and the caller drops the call, which cancels it (HTTP/2
//! RST_STREAM): the server sees a cancelled request and keeps nothing.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;

use crate::error::ClientError;

/// Chunks in flight between the reader and the call: enough to keep both busy, few
/// enough that memory holds a handful of chunks.
const IN_FLIGHT: usize = 2;

/// The request stream: chunks from the reader, until its end or its first error.
#[derive(Debug)]
pub(super) struct Feed<T> {
    chunks: mpsc::Receiver<Result<T, ClientError>>,
    /// Taken when the reader fails: from then on the stream only waits.
    failed: Option<oneshot::Sender<ClientError>>,
}

/// The reader's side of a [`Feed`].
#[derive(Debug)]
pub(super) struct Sender<T>(mpsc::Sender<Result<T, ClientError>>);

impl<T> Sender<T> {
    /// Hands on one chunk, waiting while the channel is full; `false` when the call has
    /// ended (its outcome says why) and reading should stop.
    pub(super) fn send(&self, chunk: T) -> bool {
        self.0.blocking_send(Ok(chunk)).is_ok()
    }

    /// Reports a read error: the call is cancelled, not completed. Nothing may be sent
    /// after it.
    pub(super) fn fail(&self, e: ClientError) {
        let _ = self.0.blocking_send(Err(e));
    }
}

/// A feed, its reader's sender, and the receiver of the reader's error.
pub(super) fn feed<T>() -> (Feed<T>, Sender<T>, oneshot::Receiver<ClientError>) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let (failed, failure) = oneshot::channel();
    (
        Feed {
            chunks: rx,
            failed: Some(failed),
        },
        Sender(tx),
        failure,
    )
}

impl<T> Stream for Feed<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.failed.is_none() {
            // Never ends: the caller cancels the call.
            return Poll::Pending;
        }
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => Poll::Ready(Some(chunk)),
            Poll::Ready(Some(Err(e))) => {
                if let Some(failed) = self.failed.take() {
                    let _ = failed.send(e);
                }
                Poll::Pending
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs `call` until it ends, or until the reader fails: then the call is dropped
/// (cancelled) and the reader's error returned.
pub(super) async fn unless_failed<R>(
    call: impl Future<Output = Result<R, ClientError>>,
    failure: oneshot::Receiver<ClientError>,
) -> Result<R, ClientError> {
    tokio::pin!(call);
    tokio::select! {
        biased;
        Ok(e) = failure => Err(e),
        outcome = &mut call => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn a_read_error_holds_the_stream_open_and_reaches_the_caller() {
        let (mut stream, tx, failure) = feed::<u32>();
        let reader = tokio::task::spawn_blocking(move || {
            assert!(tx.send(1));
            tx.fail(ClientError::Invalid("bad row".into()));
        });
        assert_eq!(stream.next().await, Some(1));
        // After the error the stream neither yields nor ends.
        let next = tokio::time::timeout(std::time::Duration::from_millis(200), stream.next());
        assert!(next.await.is_err(), "the stream must stay open");
        reader.await.unwrap();
        let e = unless_failed(std::future::pending::<Result<(), _>>(), failure)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("bad row"), "{e}");
    }

    #[tokio::test]
    async fn a_reader_that_finishes_ends_the_stream() {
        let (stream, tx, failure) = feed::<u32>();
        tokio::task::spawn_blocking(move || {
            for i in 0..5 {
                assert!(tx.send(i));
            }
        });
        let call = async { Ok::<_, ClientError>(stream.collect::<Vec<_>>().await) };
        assert_eq!(unless_failed(call, failure).await.unwrap(), [0, 1, 2, 3, 4]);
    }
}
