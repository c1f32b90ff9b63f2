//! When to poll a source next: the interval with jitter, exponential backoff on failure, and
//! the server's `Retry-After`.

use std::time::Duration;

use rand::RngExt;

/// The shortest base a failing source backs off from, however short its interval.
pub const MIN_BACKOFF_BASE: Duration = Duration::from_secs(30);

/// The longest `Retry-After` honoured; a server asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Doublings of the backoff base, at most (2^16 × 30 s is already about 23 days).
const MAX_DOUBLINGS: u32 = 16;

/// The delay before the next poll of a source.
///
/// - Success (`consecutive_failures == 0`): `interval`, moved up or down by a uniformly random
///   amount of up to `jitter × interval`, so that sources configured alike do not poll in step.
/// - After `n ≥ 1` failures in a row: `min(max(interval, 30s) × 2^min(n-1, 16), max_backoff)`,
///   with the same relative jitter.
/// - A `retry_after` from the server (429/503) is honoured: the delay is at least
///   `min(retry_after, 24h)`.
///
/// `jitter` is clamped to `0..=1`; a non-finite jitter counts as 0.
pub fn next_delay(
    interval: Duration,
    jitter: f64,
    consecutive_failures: u32,
    retry_after: Option<Duration>,
    max_backoff: Duration,
    rng: &mut impl rand::Rng,
) -> Duration {
    let base = if consecutive_failures == 0 {
        interval
    } else {
        let doublings = (consecutive_failures - 1).min(MAX_DOUBLINGS);
        interval
            .max(MIN_BACKOFF_BASE)
            .saturating_mul(1u32 << doublings)
            .min(max_backoff)
    };
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let delay = if jitter > 0.0 && !base.is_zero() {
        let factor = 1.0 + rng.random_range(-jitter..=jitter);
        Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
    } else {
        base
    };
    match retry_after {
        Some(wait) => delay.max(wait.min(MAX_RETRY_AFTER)),
        None => delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const MIN: Duration = Duration::from_secs(60);

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn success_without_jitter_is_the_interval() {
        let d = next_delay(5 * MIN, 0.0, 0, None, Duration::from_secs(3600), &mut rng());
        assert_eq!(d, 5 * MIN);
    }

    #[test]
    fn failures_double_from_thirty_seconds_up_to_the_cap() {
        let cap = Duration::from_secs(3600);
        let delays: Vec<u64> = (1..=9)
            .map(|n| next_delay(Duration::from_secs(10), 0.0, n, None, cap, &mut rng()).as_secs())
            .collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        // A long interval backs off from itself.
        let d = next_delay(10 * MIN, 0.0, 2, None, cap, &mut rng());
        assert_eq!(d, 20 * MIN);
        // Huge failure counts neither overflow nor pass the cap.
        let d = next_delay(10 * MIN, 0.0, u32::MAX, None, Duration::MAX, &mut rng());
        assert_eq!(d, 10 * MIN * (1 << 16));
    }

    #[test]
    fn retry_after_is_a_floor_capped_at_a_day() {
        let cap = Duration::from_secs(3600);
        let d = next_delay(MIN, 0.0, 1, Some(Duration::from_secs(600)), cap, &mut rng());
        assert_eq!(d, Duration::from_secs(600));
        let d = next_delay(
            Duration::from_secs(10),
            0.0,
            1,
            Some(Duration::from_secs(5)),
            cap,
            &mut rng(),
        );
        assert_eq!(d, Duration::from_secs(30));
        let d = next_delay(
            MIN,
            0.0,
            1,
            Some(Duration::from_secs(7 * 86_400)),
            cap,
            &mut rng(),
        );
        assert_eq!(d, MAX_RETRY_AFTER);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut r = rng();
        let delays: std::collections::BTreeSet<_> = (0..50)
            .map(|_| next_delay(5 * MIN, 0.1, 0, None, MIN, &mut r))
            .collect();
        assert!(delays.len() > 40, "jitter should vary the delay");
        assert!(delays.iter().any(|d| *d < 5 * MIN) && delays.iter().any(|d| *d > 5 * MIN));
    }

    proptest! {
        #[test]
        fn success_stays_within_the_jitter_band(
            secs in 0u64..1_000_000,
            jitter in 0.0f64..=0.5,
            seed: u64,
        ) {
            let interval = Duration::from_secs(secs);
            let mut r = StdRng::seed_from_u64(seed);
            let d = next_delay(interval, jitter, 0, None, Duration::from_secs(3600), &mut r);
            let lo = interval.as_secs_f64() * (1.0 - jitter) - 1e-6;
            let hi = interval.as_secs_f64() * (1.0 + jitter) + 1e-6;
            prop_assert!(d.as_secs_f64() >= lo && d.as_secs_f64() <= hi, "{d:?} not in {lo}..{hi}");
        }

        #[test]
        fn failures_stay_within_backoff_bounds(
            secs in 0u64..100_000,
            jitter in 0.0f64..=0.5,
            failures in 1u32..200,
            cap_secs in 1u64..1_000_000,
            retry in proptest::option::of(0u64..1_000_000),
            seed: u64,
        ) {
            let interval = Duration::from_secs(secs);
            let cap = Duration::from_secs(cap_secs);
            let mut r = StdRng::seed_from_u64(seed);
            let d = next_delay(interval, jitter, failures, retry.map(Duration::from_secs), cap, &mut r);
            let exp = (failures - 1).min(16);
            let base = (interval.max(MIN_BACKOFF_BASE).as_secs_f64() * f64::from(1u32 << exp))
                .min(cap.as_secs_f64());
            let mut lo = base * (1.0 - jitter) - 1e-6;
            let mut hi = base * (1.0 + jitter) + 1e-6;
            if let Some(ra) = retry {
                let floor = (ra as f64).min(MAX_RETRY_AFTER.as_secs_f64());
                lo = lo.max(floor - 1e-6);
                hi = hi.max(floor + 1e-6);
            }
            prop_assert!(d.as_secs_f64() >= lo && d.as_secs_f64() <= hi, "{d:?} not in {lo}..{hi}");
            // Never longer than the cap (with jitter) or a day's Retry-After.
            prop_assert!(d.as_secs_f64() <= (cap.as_secs_f64() * (1.0 + jitter)).max(86_400.0) + 1e-6);
        }

        #[test]
        fn odd_jitter_values_never_panic(jitter: f64, secs: u64, failures: u32) {
            let mut r = StdRng::seed_from_u64(1);
            let _ = next_delay(Duration::from_secs(secs), jitter, failures, None, Duration::MAX, &mut r);
        }
    }
}
