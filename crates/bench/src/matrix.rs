//! The matrix a plan asks for: its points in run order, and the order the
//! models take at each repetition.

use std::time::Duration;

use crate::record::{Loop, Plan};

/// One point of the matrix, before it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    pub mode: Loop,
    pub connections: usize,
    pub size: usize,
    pub rate: Option<f64>,
}

impl Spec {
    /// How many times `plan` runs this point.
    pub fn repetitions(&self, plan: &Plan) -> usize {
        plan.repetitions(self.rate, self.connections, self.size)
    }
}

/// Every run a plan asks for, one per model and repetition of each point.
pub fn runs(plan: &Plan, models: usize) -> usize {
    specs(plan)
        .iter()
        .map(|spec| spec.repetitions(plan) * models)
        .sum()
}

/// The points `plan` asks for, in run order: the fixed-rate series first
/// (the headline), then the closed loop, then the open-loop latency series.
pub fn specs(plan: &Plan) -> Vec<Spec> {
    let size = plan.base_size();
    let open = |connections: usize, rate: f64| Spec {
        mode: Loop::Open,
        connections,
        size,
        rate: Some(rate),
    };
    let efficiency = plan
        .efficiency_points()
        .into_iter()
        .map(|(rate, connections)| open(connections, rate));
    let closed = plan.sizes.iter().flat_map(|&size| {
        plan.conns.iter().map(move |&connections| Spec {
            mode: Loop::Closed,
            connections,
            size,
            rate: None,
        })
    });
    let series = plan.rates.iter().map(|&rate| open(plan.rate_conns, rate));
    let mut specs: Vec<Spec> = Vec::new();
    for spec in efficiency.chain(closed).chain(series) {
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    specs
}

/// The models in the order repetition `repetition` runs them: forward, then
/// backward, then forward (ABBA).
pub fn abba<T>(models: &[T], repetition: usize) -> Vec<&T> {
    let mut order: Vec<&T> = models.iter().collect();
    if repetition % 2 == 1 {
        order.reverse();
    }
    order
}

/// How long a plan takes at most, roughly, for the progress estimate and the README.
pub fn rough_duration(plan: &Plan, models: usize) -> Duration {
    let per_point = plan.warmup_s + plan.duration_s + 1.0;
    Duration::from_secs_f64(per_point * runs(plan, models) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_cover_sizes_times_conns_then_rates() {
        let plan = Plan {
            conns: vec![1, 10],
            sizes: vec![64, 4096],
            rates: vec![1000.0],
            rate_conns: 10,
            duration_s: 1.0,
            warmup_s: 0.0,
            hold_s: 0.0,
            connect_timeout_s: 1.0,
            repeat: 1,
            efficiency_repeat: Some(5),
            pin: false,
            efficiency_rates: vec![1000.0, 2000.0],
            efficiency_conns: vec![10, 100],
            server_cpus: Vec::new(),
            load_cpus: Vec::new(),
            machine_warmup_s: 0.0,
            burst_s: load::settings::DEFAULT_BURST.as_secs_f64(),
        };
        let specs = specs(&plan);
        // 4 fixed-rate + 4 closed + 1 open, the open one already among the fixed-rate ones.
        assert_eq!(specs.len(), 8);
        assert!(
            specs[..4]
                .iter()
                .all(|s| s.mode == Loop::Open && s.size == 64)
        );
        assert_eq!(specs[4].mode, Loop::Closed);
        assert_eq!(specs[7].connections, 10);
        // The fixed-rate points run 5 times, the rest (the open point at
        // 1000/s over 10 is one of them) once.
        let repetitions: Vec<usize> = specs.iter().map(|s| s.repetitions(&plan)).collect();
        assert_eq!(repetitions, [5, 5, 5, 5, 1, 1, 1, 1]);
        assert_eq!(runs(&plan, 3), 3 * (4 * 5 + 4));
    }

    #[test]
    fn repetitions_alternate_the_order_of_models() {
        let models = ["blocking", "thread-per-conn", "thread-pool"];
        let names = |r| abba(&models, r).into_iter().copied().collect::<Vec<_>>();
        assert_eq!(names(0), ["blocking", "thread-per-conn", "thread-pool"]);
        assert_eq!(names(1), ["thread-pool", "thread-per-conn", "blocking"]);
        assert_eq!(names(2), names(0));
    }
}
