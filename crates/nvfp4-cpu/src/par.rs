//! Splitting row-parallel work over threads with `std::thread::scope`.

use std::ops::Range;
use std::thread;

/// Threads to use: the machine's available parallelism.
pub(crate) fn threads() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `f(units, a_part, b_part)` over contiguous ranges of `units` work units, one range per
/// thread. `a` and `b` are split at unit boundaries: unit `u` owns `a[u*ca..(u+1)*ca]` and
/// `b[u*cb..(u+1)*cb]` (the last unit takes whatever remains, which may be shorter).
pub(crate) fn split2<A: Send, B: Send, F>(
    units: usize,
    a: &mut [A],
    ca: usize,
    b: &mut [B],
    cb: usize,
    f: F,
) where
    F: Fn(Range<usize>, &mut [A], &mut [B]) + Sync,
{
    let n = threads().min(units).max(1);
    if n == 1 {
        f(0..units, a, b);
        return;
    }
    thread::scope(|s| {
        let (mut a, mut b) = (a, b);
        let mut start = 0;
        for i in 0..n {
            let end = units * (i + 1) / n;
            let (ah, at) = a.split_at_mut(((end - start) * ca).min(a.len()));
            let (bh, bt) = b.split_at_mut(((end - start) * cb).min(b.len()));
            (a, b) = (at, bt);
            let f = &f;
            let range = start..end;
            s.spawn(move || f(range, ah, bh));
            start = end;
        }
    });
}
