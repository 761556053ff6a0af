//! Figures as people read them in tables and on axes.

/// A duration in seconds for people: `4.2 ms`, `1.35 s`.
pub(crate) fn seconds_text(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// 1234567 as 1.23M, 13.14 as 13.1, 0.5 as 0.5.
pub(crate) fn short_number(value: f64) -> String {
    let abs = value.abs();
    if abs >= 1e6 {
        format!("{:.3}M", value / 1e6).replace(".000M", "M")
    } else if abs >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if abs >= 1e3 {
        format!("{:.1}k", value / 1e3).replace(".0k", "k")
    } else if abs >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if abs >= 10.0 {
        // 13.1 against 12.3 µs per message is the difference a reader needs.
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A spectrum position 1/(1-p) as its percentile, with as many decimals as
/// it needs: 10 as `90%`, 1000 as `99.9%`, 200 as `99.5%`.
pub(crate) fn percentile_label(position: f64) -> String {
    let percent = 100.0 * (1.0 - 1.0 / position.max(1.0));
    let decimals = (position.log10().ceil() as i32 - 2).max(0) as usize;
    format!("{percent:.decimals$}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_keep_three_figures_below_a_thousand() {
        let texts: Vec<String> = [
            0.5,
            5.123,
            13.14,
            13.0,
            123.4,
            1234.0,
            12_345.0,
            1_234_567.0,
        ]
        .into_iter()
        .map(short_number)
        .collect();
        assert_eq!(
            texts,
            ["0.50", "5.12", "13.1", "13", "123", "1.2k", "12k", "1.235M"]
        );
    }

    #[test]
    fn spectrum_positions_read_as_percentiles_with_the_decimals_they_need() {
        let labels: Vec<String> = [1.0, 2.0, 10.0, 20.0, 100.0, 200.0, 1e3, 1e4, 1e5]
            .into_iter()
            .map(percentile_label)
            .collect();
        assert_eq!(
            labels,
            [
                "0%", "50%", "90%", "95%", "99%", "99.5%", "99.9%", "99.99%", "99.999%"
            ]
        );
    }
}
