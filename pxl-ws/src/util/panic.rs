//! Panic isolation: user code (handlers, hooks, subscribers, middleware, predicates)
//! runs through these, so a panic becomes an `Err` with its text instead of unwinding
//! into the server.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use futures_util::FutureExt;

/// Runs `f`; a panic becomes `Err` with the panic's text.
pub(crate) fn isolate<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| text(&*p))
}

/// Polls `fut` to completion; a panic in any poll becomes `Err` with the panic's text.
pub(crate) async fn isolate_async<F: Future>(fut: F) -> Result<F::Output, String> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|p| text(&*p))
}

/// The message of a panic payload (`panic!("…")` gives a `&str` or a `String`).
fn text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_text_and_a_value_passes_through() {
        assert_eq!(isolate(|| 7), Ok(7));
        assert_eq!(isolate(|| -> u8 { panic!("boom") }), Err("boom".to_owned()));
        let n = 3;
        assert_eq!(
            isolate(|| -> u8 { panic!("n = {n}") }),
            Err("n = 3".to_owned())
        );
        assert_eq!(
            isolate(|| -> u8 { std::panic::panic_any(5u8) }),
            Err("non-string panic".to_owned())
        );
    }

    #[tokio::test]
    async fn a_panicking_future_becomes_its_text() {
        assert_eq!(isolate_async(async { 1 }).await, Ok(1));
        let r = isolate_async(async {
            tokio::task::yield_now().await;
            panic!("later")
        })
        .await;
        assert_eq!(r, Err::<(), _>("later".to_owned()));
    }
}
