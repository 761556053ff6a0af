//! The open loop's send order. Each of a load thread's connections sends
//! once per interval at its own offset, so the order in which they fall
//! due is the same every interval: an array sorted by offset and a cursor
//! give the next due send in O(1), where a heap of timers costs O(log n)
//! per send.

use std::time::{Duration, Instant};

use super::settings::Settings;

#[derive(Debug)]
pub(crate) struct SendOrder {
    /// Every connection this thread opens, by offset within the interval.
    slots: Vec<Slot>,
    interval: Duration,
    /// When the current interval began (the traffic start, then one
    /// interval later each time the cursor wraps).
    cycle_start: Option<Instant>,
    cursor: usize,
}

#[derive(Debug)]
struct Slot {
    offset: Duration,
    id: u32,
    /// The connection's slab key once it is ready for traffic.
    key: Option<usize>,
}

impl SendOrder {
    /// The order of connections `ids` in the open loop; `None` in the closed loop.
    pub(crate) fn new(settings: &Settings, ids: impl Iterator<Item = u32>) -> Option<SendOrder> {
        let (_, interval) = settings.schedule_of(0)?;
        let mut slots: Vec<Slot> = ids
            .filter_map(|id| {
                let (offset, _) = settings.schedule_of(id)?;
                Some(Slot {
                    offset,
                    id,
                    key: None,
                })
            })
            .collect();
        slots.sort_by_key(|slot| slot.offset);
        Some(SendOrder {
            slots,
            interval,
            cycle_start: None,
            cursor: 0,
        })
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// The traffic begins: the first interval starts at `at`.
    pub(crate) fn start(&mut self, at: Instant) {
        self.cycle_start.get_or_insert(at);
    }

    /// Connection `id` is ready for traffic under slab key `key`: it sends
    /// from its next turn on (a connection ready late does not make up the
    /// turns it was not there for).
    pub(crate) fn join(&mut self, id: u32, key: usize) {
        if let Ok(index) = self.slots.binary_search_by_key(&id, |slot| slot.id) {
            self.slots[index].key = Some(key);
        }
    }

    /// When the next send falls due; `None` before the traffic starts.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let slot = self.slots.get(self.cursor)?;
        Some(self.cycle_start? + slot.offset)
    }

    /// The next send, if it falls due by `until`: its time, connection id
    /// and key (if the connection joined), and the cursor moves past it.
    pub(crate) fn pop_due(&mut self, until: Instant) -> Option<(Instant, u32, Option<usize>)> {
        let at = self.next_due().filter(|&at| at <= until)?;
        let slot = &self.slots[self.cursor];
        let due = (at, slot.id, slot.key);
        self.cursor += 1;
        if self.cursor == self.slots.len() {
            self.cursor = 0;
            self.cycle_start = self.cycle_start.map(|start| start + self.interval);
        }
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_come_round_in_offset_order_every_interval() {
        let settings = Settings::for_tests(4, Some(400.0), crate::settings::Segment::WHOLE);
        // This thread's share: connections 3 and 1 (given out of order).
        let mut order = SendOrder::new(&settings, [3, 1].into_iter()).unwrap();
        assert_eq!(order.interval(), Duration::from_millis(10));
        let start = Instant::now();
        assert_eq!(
            order.pop_due(start + Duration::from_secs(1)),
            None,
            "not started"
        );
        order.start(start);
        order.join(3, 30);
        let ms = |n| start + Duration::from_millis(n);
        assert_eq!(order.pop_due(ms(1)), None, "connection 1 is due at 2.5 ms");
        assert_eq!(
            order.pop_due(ms(100)),
            Some((ms(1) + Duration::from_micros(1_500), 1, None))
        );
        assert_eq!(
            order.pop_due(ms(100)),
            Some((start + Duration::from_micros(7_500), 3, Some(30)))
        );
        assert_eq!(
            order.next_due(),
            Some(start + Duration::from_micros(12_500))
        );
        order.join(1, 10);
        assert_eq!(
            order.pop_due(ms(13)),
            Some((start + Duration::from_micros(12_500), 1, Some(10)))
        );
        assert_eq!(order.pop_due(ms(13)), None);
    }
}
