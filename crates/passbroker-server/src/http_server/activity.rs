//! A connection's activity: when it last did something, what is in flight, and the
//! reader/writer wrapper that records it.

use super::*;

/// What a connection's watchdog needs to know about it.
pub(super) struct Activity {
    pub(super) opened: Instant,
    /// Requests whose headers arrived and whose response is not ready yet.
    pub(super) in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last response was ready.
    pub(super) idle_since_ms: AtomicU64,
    /// Milliseconds after `opened` of the first byte received while idle ([`NONE`] if none).
    pub(super) first_byte_ms: AtomicU64,
    /// Whether a response was sent (the idle timeout applies from then on).
    pub(super) served: AtomicBool,
    /// Chosen to make room for a new connection, or its request timed out (the handler may
    /// still hold the unread body): close as soon as no request is in flight.
    pub(super) evicted: AtomicBool,
    pub(super) changed: Notify,
}

const NONE: u64 = u64::MAX;

/// How long a connection being closed keeps its socket for its last response to go out.
const CLOSING_GRACE: Duration = Duration::from_millis(200);

impl Activity {
    pub(super) fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(NONE),
            served: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    pub(super) fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    pub(super) fn on_bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .first_byte_ms
                .compare_exchange(NONE, self.now_ms(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.first_byte_ms.store(NONE, Ordering::Release);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Since when the connection has been waiting for a request (opened, idle after a
    /// response, or receiving headers); `None` while a request is in flight.
    pub(super) fn waiting_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if self.served.load(Ordering::Acquire) {
            Some(self.at(self.idle_since_ms.load(Ordering::Acquire)))
        } else {
            Some(self.opened)
        }
    }

    /// When the connection is to be closed unless something happens first; `None` while a
    /// request is in flight (the request timeout bounds that).
    pub(super) fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let waiting_since = self.waiting_since()?;
        if self.evicted.load(Ordering::Acquire) {
            // Time to write out the last response first.
            return Some(waiting_since + CLOSING_GRACE);
        }
        let first_byte = self.first_byte_ms.load(Ordering::Acquire);
        if first_byte != NONE {
            return Some(self.at(first_byte) + limits.header_timeout);
        }
        if self.served.load(Ordering::Acquire) {
            Some(waiting_since + limits.idle_timeout)
        } else {
            Some(waiting_since + limits.header_timeout)
        }
    }
}

/// Marks a request in flight until dropped (its response is ready, or it was abandoned).
pub(super) struct InFlight(pub(super) Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since_ms.store(a.now_ms(), Ordering::Release);
        a.served.store(true, Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
        a.changed.notify_one();
    }
}

/// The socket, reporting received bytes to the watchdog.
pub(super) struct Watched {
    pub(super) stream: TcpStream,
    pub(super) activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
