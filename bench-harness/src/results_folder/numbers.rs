//! Figures as people read them in tables and on axes.

/// A duration in seconds for people: `4.2 ms`, `1.35 s`.
pub(crate) fn seconds_text(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// 1234567 as 1.23M, 0.5 as 0.5.
pub(crate) fn short_number(value: f64) -> String {
    let abs = value.abs();
    if abs >= 1e6 {
        format!("{:.3}M", value / 1e6).replace(".000M", "M")
    } else if abs >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if abs >= 1e3 {
        format!("{:.1}k", value / 1e3).replace(".0k", "k")
    } else if abs >= 10.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
