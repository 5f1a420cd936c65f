//! The log at TRACE, captured for tests that check what is (and is not) logged.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// Everything logged at any level on this thread while it lives. Install it first in a
/// `#[tokio::test]` on the default current-thread runtime, so the server's tasks run
/// on the test's thread and log into it.
pub struct LogCapture {
    buf: Buffer,
    _guard: DefaultGuard,
}

impl LogCapture {
    /// Starts capturing at TRACE (plain text, span fields included).
    pub fn start() -> Self {
        let buf = Buffer::default();
        let guard = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(buf.clone())
            .finish()
            .set_default();
        Self { buf, _guard: guard }
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.0.lock().unwrap()).into_owned()
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
