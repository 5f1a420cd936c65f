//! The reconnect policy: exponential backoff with jitter.

use std::time::Duration;

/// How a [`WsClient`](super::WsClient) reconnects after it lost an established
/// connection (the first connect never retries: it fails with an error).
///
/// The delay before attempt `k` (1-based) is `min(initial_delay · 2^(k−1), max_delay)`,
/// of which a random part up to `jitter` (a fraction, 0 to 1) is taken off, so clients
/// that lost the same server do not all come back at the same instant. After
/// `max_attempts` failed attempts in a row the client gives up and is closed.
///
/// ```
/// use std::time::Duration;
/// use pxl_ws::client::ReconnectPolicy;
///
/// let mut policy = ReconnectPolicy::default();
/// policy.initial_delay = Duration::from_millis(100);
/// policy.max_delay = Duration::from_secs(5);
/// policy.max_attempts = Some(20);
/// assert!(policy.delay(1) <= Duration::from_millis(100));
/// assert!(policy.delay(30) <= Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// Whether to reconnect at all (default: `true`).
    pub enabled: bool,
    /// The delay before the first attempt (default: 500 ms).
    pub initial_delay: Duration,
    /// The longest delay between attempts (default: 30 s).
    pub max_delay: Duration,
    /// Attempts in a row before giving up; `None` retries forever (default: `Some(10)`).
    pub max_attempts: Option<u32>,
    /// The largest fraction of a delay taken off at random, 0 to 1 (default: 0.5).
    pub jitter: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: Some(10),
            jitter: 0.5,
        }
    }
}

impl ReconnectPolicy {
    /// Never reconnect: a lost connection closes the client.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// The delay before attempt `attempt` (1-based), jitter included.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }

    /// The delay for a given random draw `r` in `[0, 1)`.
    fn delay_with(&self, attempt: u32, r: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let base = self
            .initial_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let jitter = self.jitter.clamp(0.0, 1.0) * r.clamp(0.0, 1.0);
        base.mul_f64(1.0 - jitter)
    }

    /// Checks the settings; the message says what is wrong.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(format!(
                "reconnect jitter must be between 0 and 1, got {}",
                self.jitter
            ));
        }
        if self.initial_delay > self.max_delay {
            return Err(format!(
                "reconnect initial_delay ({:?}) is longer than max_delay ({:?})",
                self.initial_delay, self.max_delay
            ));
        }
        if self.max_attempts == Some(0) {
            return Err(
                "reconnect max_attempts is 0: use ReconnectPolicy::disabled() to turn reconnecting off"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> ReconnectPolicy {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            jitter,
            ..ReconnectPolicy::default()
        }
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = policy(0.0);
        let ms: Vec<u128> = (1..=6).map(|k| p.delay(k).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        // Huge attempt numbers neither overflow nor exceed the cap.
        assert_eq!(p.delay(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_takes_off_at_most_its_fraction() {
        let p = policy(0.5);
        assert_eq!(p.delay_with(3, 0.0), Duration::from_millis(400));
        assert_eq!(p.delay_with(3, 1.0), Duration::from_millis(200));
        for _ in 0..200 {
            let d = p.delay(3);
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                "{d:?}"
            );
        }
    }

    #[test]
    fn invalid_settings_are_explained() {
        assert!(policy(1.5).validate().unwrap_err().contains("jitter"));
        let p = ReconnectPolicy {
            initial_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(1),
            ..ReconnectPolicy::default()
        };
        assert!(p.validate().unwrap_err().contains("initial_delay"));
        let p = ReconnectPolicy {
            max_attempts: Some(0),
            ..ReconnectPolicy::default()
        };
        assert!(p.validate().unwrap_err().contains("disabled()"));
        assert_eq!(ReconnectPolicy::default().validate(), Ok(()));
    }
}
