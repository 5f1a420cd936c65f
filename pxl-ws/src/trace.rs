//! Trace context across the bus: the [W3C Trace Context](https://www.w3.org/TR/trace-context/)
//! (`traceparent`, `tracestate`) of the span a send is made in travels in the send's bus
//! payload, and the receiving instance's delivery span takes it as its parent, so one
//! trace covers client → instance A → bus → instance B → client.
//!
//! The core knows the wire format only; which tracing system reads and sets span
//! contexts is a [`Propagator`], given to
//! [`WsServerBuilder::propagator`](crate::WsServerBuilder::propagator). With feature
//! `otel`, [`OtelPropagator`] is the one for OpenTelemetry through
//! `tracing-opentelemetry`. Without a propagator nothing is injected or extracted and
//! no delivery span is made.
//!
//! A payload without trace context is delivered as always (instances without a
//! propagator, or older ones, interoperate), and a malformed `traceparent` or
//! `tracestate` from the bus is ignored: the send is delivered, its span has no remote
//! parent.

/// A validated W3C trace context: a `traceparent` and an optional `tracestate`.
///
/// ```
/// use pxl_ws::trace::TraceContext;
///
/// let cx = TraceContext::new("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None).unwrap();
/// assert_eq!(cx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(cx.parent_id(), "00f067aa0ba902b7");
/// assert!(cx.sampled());
/// // All-zero ids, upper case, a wrong length or version `ff` are refused.
/// assert!(TraceContext::new("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None).is_none());
/// assert!(TraceContext::new("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
    tracestate: Option<String>,
}

/// The longest `tracestate` carried (the W3C limit is 32 members; 512 bytes is what
/// every vendor must propagate). A longer one is dropped, the `traceparent` kept.
pub const MAX_TRACESTATE: usize = 512;

impl TraceContext {
    /// A trace context from its two header values; `None` when `traceparent` is not a
    /// valid W3C `traceparent` (version 00 exactly; a later version's first four fields,
    /// as the spec asks). A `tracestate` that is empty, longer than [`MAX_TRACESTATE`]
    /// bytes or not printable ASCII is dropped.
    pub fn new(traceparent: impl Into<String>, tracestate: Option<String>) -> Option<Self> {
        let mut traceparent = traceparent.into();
        let len = valid_traceparent(&traceparent)?;
        traceparent.truncate(len);
        let tracestate = tracestate.filter(|s| {
            !s.trim().is_empty()
                && s.len() <= MAX_TRACESTATE
                && s.bytes().all(|b| (0x20..0x7f).contains(&b))
        });
        Some(Self {
            traceparent,
            tracestate,
        })
    }

    /// The `traceparent` value, e.g. `00-<trace-id>-<parent-id>-01`.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` value, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// The parent span's id: 16 lowercase hex digits.
    pub fn parent_id(&self) -> &str {
        &self.traceparent[36..52]
    }

    /// The trace flags byte (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        u8::from_str_radix(&self.traceparent[53..55], 16).unwrap_or(0)
    }

    /// Whether the sender sampled the trace.
    pub fn sampled(&self) -> bool {
        self.flags() & 1 == 1
    }
}

/// The length of the `traceparent` part to keep, if `s` is a valid one.
fn valid_traceparent(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let hex = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|p| p.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
    };
    let zero = |r: std::ops::Range<usize>| b[r].iter().all(|c| *c == b'0');
    if !(hex(0..2) && hex(3..35) && hex(36..52) && hex(53..55)) {
        return None;
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' || &b[0..2] == b"ff" {
        return None;
    }
    if zero(3..35) || zero(36..52) {
        return None;
    }
    match (&b[0..2], b.len()) {
        (b"00", 55) => Some(55),
        (b"00", _) => None,
        // A later version may append fields after a dash.
        (_, 55) => Some(55),
        (_, _) if b[55] == b'-' => Some(55),
        _ => None,
    }
}

/// Reads the trace context of a span when a send is published, and sets it as the
/// parent of the span a receiving instance delivers it in.
///
/// The core calls [`inject`](Self::inject) with the current span (inside a handler:
/// its `message` span) once per published send, and [`extract`](Self::extract) with
/// a new `deliver` span (target `pxl_ws::trace`, level INFO) once per received send
/// that carries a valid context. A hand-written propagator for another tracing system
/// (or another OpenTelemetry version than feature `otel` pins) is a few lines:
///
/// ```
/// use pxl_ws::trace::{Propagator, TraceContext};
///
/// /// Sends every trace under one fixed context, and records what arrives.
/// struct Fixed;
///
/// impl Propagator for Fixed {
///     fn inject(&self, _span: &tracing::Span) -> Option<TraceContext> {
///         TraceContext::new("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None)
///     }
///     fn extract(&self, cx: &TraceContext, span: &tracing::Span) {
///         span.in_scope(|| tracing::debug!(trace_id = cx.trace_id(), parent = cx.parent_id(), "remote parent"));
///     }
/// }
///
/// let server = pxl_ws::WsServer::builder().propagator(Fixed).build().unwrap();
/// # drop(server);
/// ```
pub trait Propagator: Send + Sync + 'static {
    /// The trace context of `span`, or `None` when it has none (not sampled by any
    /// layer, no tracer installed).
    fn inject(&self, span: &tracing::Span) -> Option<TraceContext>;

    /// Makes `context` (from another instance) the parent of `span`.
    fn extract(&self, context: &TraceContext, span: &tracing::Span);
}

/// Makes the span a received send is delivered in, when `context` is valid and a
/// propagator is set: `deliver` (target `pxl_ws::trace`), with the bus channel and the
/// sending instance.
pub(crate) fn deliver_span(
    propagator: &dyn Propagator,
    context: &TraceContext,
    channel: &str,
    origin: &str,
) -> tracing::Span {
    let span = tracing::info_span!(
        target: "pxl_ws::trace",
        "deliver",
        otel.kind = "consumer",
        messaging.destination.name = channel,
        origin = origin,
    );
    propagator.extract(context, &span);
    span
}

#[cfg(feature = "otel")]
pub use otel::OtelPropagator;

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::{Propagator, TraceContext};

    /// The [`Propagator`] for OpenTelemetry (feature `otel`): reads a span's context
    /// through `tracing-opentelemetry`'s [`OpenTelemetrySpanExt::context`] and sets a
    /// remote parent with [`OpenTelemetrySpanExt::set_parent`]. It needs the app's
    /// `tracing_opentelemetry::layer()` in its subscriber, built on the same
    /// `opentelemetry` 0.33 / `tracing-opentelemetry` 0.34; without the layer spans
    /// have no context and nothing is injected.
    ///
    /// ```
    /// let server = pxl_ws::WsServer::builder()
    ///     .propagator(pxl_ws::trace::OtelPropagator)
    ///     .build()
    ///     .unwrap();
    /// # drop(server);
    /// ```
    #[derive(Debug, Clone, Copy, Default)]
    pub struct OtelPropagator;

    impl Propagator for OtelPropagator {
        fn inject(&self, span: &tracing::Span) -> Option<TraceContext> {
            let cx = span.context();
            let otel_span = cx.span();
            let sc = otel_span.span_context();
            if !sc.is_valid() {
                return None;
            }
            let traceparent = format!(
                "00-{:032x}-{:016x}-{:02x}",
                sc.trace_id(),
                sc.span_id(),
                sc.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8()
            );
            let state = sc.trace_state().header();
            TraceContext::new(traceparent, (!state.is_empty()).then_some(state))
        }

        fn extract(&self, context: &TraceContext, span: &tracing::Span) {
            let (Ok(trace_id), Ok(span_id)) = (
                TraceId::from_hex(context.trace_id()),
                SpanId::from_hex(context.parent_id()),
            ) else {
                return;
            };
            let state = context
                .tracestate()
                .and_then(|s| s.parse::<TraceState>().ok())
                .unwrap_or_default();
            let remote = SpanContext::new(
                trace_id,
                span_id,
                TraceFlags::new(context.flags() & TraceFlags::SAMPLED.to_u8()),
                true,
                state,
            );
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparents_are_validated_as_w3c_says() {
        let cx = TraceContext::new(GOOD, Some("congo=t61rcWkgMzE".into())).unwrap();
        assert_eq!(cx.traceparent(), GOOD);
        assert_eq!(cx.tracestate(), Some("congo=t61rcWkgMzE"));
        assert_eq!(cx.flags(), 1);
        // A later version keeps its first four fields.
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes";
        let cx = TraceContext::new(future, None).unwrap();
        assert_eq!(
            cx.traceparent(),
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        );
        assert!(!cx.sampled());
        for bad in [
            "",
            "00",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\u{e9}",
        ] {
            assert_eq!(TraceContext::new(bad, None), None, "{bad:?}");
        }
        // A bad tracestate is dropped, the traceparent kept.
        for state in ["", " ", &"a=b,".repeat(200), "a=\u{7f}", "a=\u{e9}"] {
            let cx = TraceContext::new(GOOD, Some(state.to_owned())).unwrap();
            assert_eq!(cx.tracestate(), None, "{state:?}");
        }
    }
}
