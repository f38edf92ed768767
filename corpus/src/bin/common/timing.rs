//! Timing shared by the corpus benches.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Nanoseconds per call of `f`, the median of 7 batches of about 50 ms.
pub(crate) fn time_ns(mut f: impl FnMut() -> bool) -> f64 {
    let mut n = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        if start.elapsed() > Duration::from_millis(50) {
            break;
        }
        n *= 2;
    }
    let mut batches: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(f());
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[3]
}
