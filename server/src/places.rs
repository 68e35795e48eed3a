//! Places to run and the queue in front of them: admission's semaphore, with a queue
//! discipline that is fair to small calls.
//!
//! A request takes `weight` places (its share of the limit, see `admission`) and is
//! ranked in the queue by its estimated cost in units. Freed places are shared by cost
//! between two lanes: the cheapest waiter (least cost, the earlier of equals) and the
//! oldest one. Each lane counts the cost it has handed places to, and the next place goes
//! to the lane that has had less (the cheap lane on a tie). A one-customer Score queued
//! behind segmentations is thus served with the next place, and keeps being served while
//! scores have cost less than the segmentation last let in; a flood of cheap calls still
//! cannot take more than half the work from the oldest waiter, so nothing expensive is kept
//! waiting for ever (and nothing waits beyond its own time limit: the caller bounds the
//! wait). Sharing by grants instead (every other place) was not enough: a cheap call gives
//! its place back within microseconds, the next went to a segmentation, and under overload
//! scores were still shed like segmentations. The counts restart when the queue empties.
//! A waiter whose weight does not fit keeps its lane's turn: places are kept for it as they
//! free up rather than handed to smaller requests behind it.
//!
//! A request arriving with places free and nobody waiting takes them at once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

/// The places and their queue.
#[derive(Debug)]
pub struct Places {
    max_waiting: usize,
    state: Mutex<State>,
    /// Told the queue's length whenever it changes, under the lock: a gauge set here counts
    /// exactly the waiters (one counted by its own task would still count a granted
    /// waiter until that task runs, and show more waiting than the queue holds).
    on_waiting: Observer,
}

/// A callback of the queue's length.
struct Observer(Box<dyn Fn(usize) + Send + Sync>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

#[derive(Debug)]
struct State {
    free: u32,
    /// In arrival order: the first waited longest.
    waiting: Vec<Waiter>,
    next_ticket: u64,
    /// Cost units handed places by the cheap lane and by the oldest-first lane.
    cheap_units: u64,
    oldest_units: u64,
}

#[derive(Debug)]
struct Waiter {
    ticket: u64,
    weight: u32,
    units: u64,
    granted: oneshot::Sender<()>,
}

/// Why no place was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full.
    QueueFull,
    /// The wait ran out.
    TimedOut,
}

impl Places {
    pub fn new(places: u32, max_waiting: usize) -> Arc<Places> {
        Places::observed(places, max_waiting, |_| {})
    }

    /// As [`Places::new`], calling `on_waiting` with the queue's length at every change.
    pub fn observed(
        places: u32,
        max_waiting: usize,
        on_waiting: impl Fn(usize) + Send + Sync + 'static,
    ) -> Arc<Places> {
        Arc::new(Places {
            max_waiting,
            on_waiting: Observer(Box::new(on_waiting)),
            state: Mutex::new(State {
                free: places,
                waiting: Vec::new(),
                next_ticket: 0,
                cheap_units: 0,
                oldest_units: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement that could panic (none do).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Requests waiting for places.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Places free now.
    pub fn free(&self) -> u32 {
        self.lock().free
    }

    /// `weight` places at once if they are free and nobody is waiting.
    pub fn try_take(self: &Arc<Self>, weight: u32) -> Option<Place> {
        let mut s = self.lock();
        if !s.waiting.is_empty() || s.free < weight {
            return None;
        }
        s.free -= weight;
        Some(Place {
            places: self.clone(),
            weight,
        })
    }

    /// Joins the queue for `weight` places, ranked by `units`; `QueueFull` when it is
    /// full. The places may be granted at once (see [`Wait::until`]).
    pub fn join(self: &Arc<Self>, weight: u32, units: u64) -> Result<Wait, Refused> {
        let (granted, grant) = oneshot::channel();
        let mut s = self.lock();
        if s.waiting.len() >= self.max_waiting {
            return Err(Refused::QueueFull);
        }
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        s.waiting.push(Waiter {
            ticket,
            weight,
            units,
            granted,
        });
        s.hand_out();
        (self.on_waiting.0)(s.waiting.len());
        Ok(Wait {
            places: self.clone(),
            ticket,
            weight,
            grant,
            done: false,
        })
    }

    fn give_back(&self, weight: u32) {
        let mut s = self.lock();
        s.free += weight;
        s.hand_out();
        (self.on_waiting.0)(s.waiting.len());
    }
}

impl State {
    /// Hands free places to waiters, the two lanes sharing by cost (see the module
    /// documentation).
    fn hand_out(&mut self) {
        loop {
            if self.waiting.is_empty() {
                (self.cheap_units, self.oldest_units) = (0, 0);
                return;
            }
            let cheap_lane = self.cheap_units <= self.oldest_units;
            let next = if cheap_lane {
                let cheapest = self
                    .waiting
                    .iter()
                    .enumerate()
                    .min_by_key(|(i, w)| (w.units, *i));
                cheapest.map_or(0, |(i, _)| i)
            } else {
                0
            };
            let waiter = &self.waiting[next];
            if waiter.weight > self.free {
                return;
            }
            let waiter = self.waiting.remove(next);
            self.free -= waiter.weight;
            // At least one unit each, so a lane of zero-cost calls still takes turns.
            let lane = if cheap_lane {
                &mut self.cheap_units
            } else {
                &mut self.oldest_units
            };
            *lane = lane.saturating_add(waiter.units.max(1));
            // The receiver lives while its waiter is queued (see `Wait`'s drop); should it
            // not, the places are not lost.
            if waiter.granted.send(()).is_err() {
                self.free += waiter.weight;
            }
        }
    }
}

/// A place in the queue. Dropped before its places are granted, it leaves the queue;
/// dropped after, it gives them back.
#[derive(Debug)]
pub struct Wait {
    places: Arc<Places>,
    ticket: u64,
    weight: u32,
    grant: oneshot::Receiver<()>,
    done: bool,
}

impl Wait {
    /// Waits for the places until `until`.
    pub async fn until(mut self, until: Instant) -> Result<Place, Refused> {
        match tokio::time::timeout_at(until.into(), &mut self.grant).await {
            Ok(Ok(())) => {
                self.done = true;
                Ok(Place {
                    places: self.places.clone(),
                    weight: self.weight,
                })
            }
            // The sender only goes with a grant (or with `Places`, which we hold).
            Ok(Err(_)) | Err(_) => Err(Refused::TimedOut),
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut s = self.places.lock();
        if let Some(i) = s.waiting.iter().position(|w| w.ticket == self.ticket) {
            s.waiting.remove(i);
        } else {
            // Granted while we stopped waiting: the places are ours to give back.
            s.free += self.weight;
        }
        // A waiter that kept places for itself may have left them free for others.
        s.hand_out();
        (self.places.on_waiting.0)(s.waiting.len());
    }
}

/// Places held; given back on drop.
#[derive(Debug)]
pub struct Place {
    places: Arc<Places>,
    weight: u32,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.places.give_back(self.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[tokio::test]
    async fn free_places_are_taken_at_once_and_given_back() {
        let p = Places::new(2, 4);
        let a = p.try_take(1).unwrap();
        let b = p.try_take(1).unwrap();
        assert!(p.try_take(1).is_none());
        drop(a);
        assert_eq!(p.free(), 1);
        drop(b);
        assert_eq!(p.free(), 2);
    }

    #[tokio::test]
    async fn cheap_calls_share_places_with_the_oldest_by_cost_not_by_turns() {
        let p = Places::new(1, 8);
        let running = p.try_take(1).unwrap();
        let mut waits = Vec::new();
        for (name, units) in [
            ("seg1", 1000),
            ("seg2", 1000),
            ("s1", 1),
            ("s2", 1),
            ("s3", 1),
        ] {
            waits.push((name, p.join(1, units).unwrap()));
        }
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, wait) in waits {
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                let place = wait.until(soon()).await.unwrap();
                order.lock().unwrap().push(name);
                tokio::task::yield_now().await;
                drop(place);
            }));
        }
        drop(running);
        for t in tasks {
            t.await.unwrap();
        }
        // The oldest lane let in 1,000 units with seg1: the scores go first until the
        // cheap lane has had as much (every other place would give s1 seg1 s2 seg2 s3).
        assert_eq!(*order.lock().unwrap(), ["s1", "seg1", "s2", "s3", "seg2"]);
    }

    #[tokio::test]
    async fn places_go_to_the_cheapest_and_the_oldest() {
        let p = Places::new(1, 8);
        let running = p.try_take(1).unwrap();
        let old = p.join(1, 1_000).unwrap();
        let older_than_cheap = p.join(1, 500).unwrap();
        let cheap = p.join(1, 1).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, wait) in [("old", old), ("middle", older_than_cheap), ("cheap", cheap)] {
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                let place = wait.until(soon()).await.unwrap();
                order.lock().unwrap().push(name);
                // Run briefly, then free the place for the next.
                tokio::task::yield_now().await;
                drop(place);
            }));
        }
        drop(running);
        for t in tasks {
            t.await.unwrap();
        }
        // First come, first served would be old, middle, cheap.
        assert_eq!(*order.lock().unwrap(), ["cheap", "old", "middle"]);
    }

    #[tokio::test]
    async fn a_heavy_waiter_keeps_its_turn_until_its_places_are_free() {
        let p = Places::new(2, 8);
        let a = p.try_take(1).unwrap();
        let b = p.try_take(1).unwrap();
        let cheap_first = p.join(1, 1).unwrap();
        let heavy = p.join(2, 10).unwrap();
        let light = p.join(1, 5).unwrap();
        drop(a);
        // The cheapest got the free place; now it is the oldest's (heavy) turn.
        let first = cheap_first.until(soon()).await.unwrap();
        drop(b);
        drop(first);
        let heavy = heavy.until(soon()).await.unwrap();
        assert_eq!(p.free(), 0);
        drop(heavy);
        light.until(soon()).await.unwrap();
    }

    #[tokio::test]
    async fn the_queue_is_bounded_and_a_wait_that_ends_leaves_it() {
        let p = Places::new(1, 1);
        let running = p.try_take(1).unwrap();
        let w = p.join(1, 1).unwrap();
        assert_eq!(p.join(1, 1).unwrap_err(), Refused::QueueFull);
        let r = w.until(Instant::now() + Duration::from_millis(10)).await;
        assert_eq!(r.unwrap_err(), Refused::TimedOut);
        assert_eq!(p.waiting(), 0);
        drop(running);
        assert_eq!(p.free(), 1);
    }

    #[tokio::test]
    async fn places_granted_to_a_waiter_that_went_away_come_back() {
        let p = Places::new(1, 4);
        let running = p.try_take(1).unwrap();
        let w = p.join(1, 1).unwrap();
        drop(running);
        // Granted, never collected.
        drop(w);
        assert_eq!(p.free(), 1);
        assert_eq!(p.waiting(), 0);
    }

    #[tokio::test]
    async fn the_observer_sees_the_queue_as_it_is() {
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
        let p = {
            let seen = seen.clone();
            Places::observed(1, 4, move |n| {
                seen.store(n, std::sync::atomic::Ordering::SeqCst)
            })
        };
        let len = || seen.load(std::sync::atomic::Ordering::SeqCst);
        let held = p.try_take(1).unwrap();
        let a = p.join(1, 5).unwrap();
        let b = p.join(1, 5).unwrap();
        assert_eq!(len(), 2);
        // Granted: out of the queue at once, before its task has even looked.
        drop(held);
        assert_eq!(len(), 1);
        let place = a.until(soon()).await.unwrap();
        drop(b);
        assert_eq!(len(), 0);
        drop(place);
        assert_eq!(len(), 0);
    }
}
