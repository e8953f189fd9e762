//! The events bus: what the pipeline does, as it happens, for anyone watching (the
//! console's live feed, `GET /events`).
//!
//! Every event gets the next id (ids only grow) and goes to every subscriber and into a
//! bounded ring of recent events, so that a viewer that reconnects with the last id it
//! saw gets exactly what it missed. Publishing never waits for a subscriber: a subscriber
//! that falls behind resumes from the ring, and when even the ring has moved past it, it
//! gets one [`EventKind::Missed`] event telling how many it lost, then carries on.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many recent events the ring keeps for resuming viewers, by default.
pub const DEFAULT_RING: usize = 4096;

/// The longest string of an event's params kept whole; a longer one is shown by its
/// length and its first [`PREVIEW_CHARS`] characters, so the ring stays small whatever
/// the calls carry.
pub const STRING_MAX: usize = 1024;

/// How much of a long string an event shows.
pub const PREVIEW_CHARS: usize = 200;

/// The principal of events whose call names none: the operator (the server's own token).
pub const OPERATOR: &str = "operator";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A call passed validation, permission and sandbox and is about to be confirmed or
    /// run.
    Requested,
    /// A call waits for a person's yes (see `GET /confirmations`).
    ConfirmationWaiting,
    /// A running call reported progress.
    Progress,
    /// A call succeeded.
    Finished,
    /// A call was refused: by policy, by the sandbox, or declined.
    Denied,
    /// A call failed (invalid input, or an error while running).
    Failed,
    /// An operation was undone.
    Undone,
    /// An operation was redone.
    Redone,
    /// The viewer fell so far behind that `missed` events are gone; it should reload
    /// what it shows (history, confirmations) before reading on.
    Missed,
}

impl EventKind {
    /// The snake_case name (the SSE `event:` field).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Requested => "requested",
            EventKind::ConfirmationWaiting => "confirmation_waiting",
            EventKind::Progress => "progress",
            EventKind::Finished => "finished",
            EventKind::Denied => "denied",
            EventKind::Failed => "failed",
            EventKind::Undone => "undone",
            EventKind::Redone => "redone",
            EventKind::Missed => "missed",
        }
    }
}

/// What a publisher says; the bus adds the id and the time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Draft {
    /// The call this event belongs to (from [`EventBus::next_call`]); 0 for events of
    /// no call (undo and redo from the operator).
    pub call: u64,
    /// The capability id (or the unknown name as given).
    pub capability: String,
    /// Who made the call (the user's name; [`OPERATOR`] for the server's own token).
    /// Left empty by a publisher, it is [`OPERATOR`].
    #[serde(skip_serializing_if = "String::is_empty")]
    pub principal: String,
    /// The journal operation, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<i64>,
    /// `ok` or the error kind, for finished, denied and failed events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The parameters with sensitive values hidden (null when they did not parse).
    pub params: serde_json::Value,
    /// More about the event: the decision, a progress report, the confirmation's id.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// One event as viewers see it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Its place in the stream: each event's id is greater than the one before.
    pub id: u64,
    /// When it was published (written as RFC 3339, UTC; formatted only when a viewer
    /// reads it).
    #[serde(serialize_with = "rfc3339")]
    pub time: jiff::Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// The rest.
    #[serde(flatten)]
    pub draft: Draft,
}

/// Replaces every string longer than [`STRING_MAX`] bytes by
/// `{"length": bytes, "start": "first characters"}`.
fn compact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.len() > STRING_MAX => {
            let start: String = s.chars().take(PREVIEW_CHARS).collect();
            *v = serde_json::json!({ "length": s.len(), "start": start });
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(compact),
        serde_json::Value::Object(map) => map.values_mut().for_each(compact),
        _ => {}
    }
}

/// Writes a time as RFC 3339.
fn rfc3339<S: serde::Serializer>(t: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

/// The recent events and the next id, changed together so that the ring and the live
/// stream agree on the order.
struct Ring {
    next_id: u64,
    recent: VecDeque<Arc<Event>>,
    capacity: usize,
}

/// Something told of every event as it is published, in order (the metrics).
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// The bus. Cheap to share (`Arc<EventBus>`); publishing takes one short lock.
pub struct EventBus {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Event>>,
    calls: AtomicU64,
    observers: std::sync::RwLock<Vec<Observer>>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.live.receiver_count())
            .finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(DEFAULT_RING)
    }
}

impl EventBus {
    /// A bus whose ring keeps the last `ring` events (at least 16).
    pub fn new(ring: usize) -> Self {
        let capacity = ring.max(16);
        let (live, _) = broadcast::channel(capacity);
        EventBus {
            ring: Mutex::new(Ring {
                next_id: 1,
                recent: VecDeque::with_capacity(capacity),
                capacity,
            }),
            live,
            calls: AtomicU64::new(1),
            observers: std::sync::RwLock::new(Vec::new()),
        }
    }

    /// Tells `observer` of every event published from now on, synchronously and in
    /// order (under the bus's lock: it must be quick and must not publish).
    pub fn observe(&self, observer: Observer) {
        self.observers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(observer);
    }

    /// A fresh call id, to tie the events of one call together.
    pub fn next_call(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed)
    }

    /// How many viewers are subscribed.
    pub fn subscribers(&self) -> usize {
        self.live.receiver_count()
    }

    /// The id the next event will get.
    pub fn next_id(&self) -> u64 {
        self.lock().next_id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes an event; never waits for a subscriber. Returns its id. Long strings
    /// of its params are shortened (see [`STRING_MAX`]).
    pub fn publish(&self, kind: EventKind, mut draft: Draft) -> u64 {
        compact(&mut draft.params);
        if draft.principal.is_empty() && kind != EventKind::Missed {
            draft.principal = OPERATOR.to_string();
        }
        let time = jiff::Timestamp::now();
        let mut ring = self.lock();
        let id = ring.next_id;
        ring.next_id += 1;
        let event = Arc::new(Event {
            id,
            time,
            kind,
            draft,
        });
        if ring.recent.len() == ring.capacity {
            ring.recent.pop_front();
        }
        ring.recent.push_back(event.clone());
        for observe in self
            .observers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            observe(&event);
        }
        // Sent under the lock, so the live order is the ring's order. An error only
        // means nobody listens.
        let _ = self.live.send(event);
        id
    }

    /// Subscribes: first the events after `last_seen` that the ring still has (all of
    /// them when `last_seen` is `None`: nothing old, only what comes next), then every
    /// new event.
    pub fn subscribe(self: &Arc<Self>, last_seen: Option<u64>) -> Subscription {
        let ring = self.lock();
        let rx = self.live.subscribe();
        let mut sub = Subscription {
            bus: self.clone(),
            backlog: VecDeque::new(),
            rx,
            last: last_seen.unwrap_or(ring.next_id - 1),
            only: None,
        };
        sub.fill_backlog(&ring);
        sub
    }
}

/// One viewer's stream of events, in id order.
pub struct Subscription {
    bus: Arc<EventBus>,
    backlog: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    /// The id of the last event handed out (or resumed from).
    last: u64,
    /// The one principal whose events this viewer gets; `None` for everyone's.
    only: Option<String>,
}

impl Subscription {
    /// Narrows the stream to the events of `principal`'s own calls (and the `missed`
    /// events every viewer needs); the events of other principals are skipped, live and
    /// in the replay alike.
    pub fn only(mut self, principal: &str) -> Subscription {
        self.only = Some(principal.to_string());
        self
    }

    /// True when this viewer is to get `e`.
    fn shows(&self, e: &Event) -> bool {
        match &self.only {
            None => true,
            Some(name) => e.kind == EventKind::Missed || e.draft.principal == *name,
        }
    }

    /// Queues the ring's events after `self.last`, or a `Missed` event first when the
    /// ring no longer reaches back that far.
    fn fill_backlog(&mut self, ring: &Ring) {
        let oldest = ring.recent.front().map_or(ring.next_id, |e| e.id);
        let newest = ring.next_id - 1;
        if self.last > newest {
            // An id this bus never gave (one from before a restart): everything since
            // the start is new to the viewer.
            self.last = 0;
        }
        if self.last + 1 < oldest {
            let missed = oldest - self.last - 1;
            self.backlog.push_back(Arc::new(Event {
                id: oldest - 1,
                time: jiff::Timestamp::now(),
                kind: EventKind::Missed,
                draft: Draft {
                    detail: serde_json::json!({ "missed": missed }),
                    ..Draft::default()
                },
            }));
        }
        let skip = (self.last + 1).saturating_sub(oldest) as usize;
        self.backlog.extend(ring.recent.iter().skip(skip).cloned());
    }

    /// Subscribes afresh after falling behind: what the ring still has after the last
    /// event handed out, then the live stream.
    fn resync(&mut self) {
        let bus = self.bus.clone();
        let ring = bus.lock();
        self.rx = bus.live.subscribe();
        self.fill_backlog(&ring);
    }

    /// The next event; `None` when the bus is gone.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                self.last = e.id;
                if self.shows(&e) {
                    return Some(e);
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(e) if e.id <= self.last => continue,
                Ok(e) => {
                    self.last = e.id;
                    if self.shows(&e) {
                        return Some(e);
                    }
                }
                // Fell behind the live channel: start again from the ring.
                Err(broadcast::error::RecvError::Lagged(_)) => self.resync(),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is ready now, without waiting.
    pub fn try_next(&mut self) -> Option<Arc<Event>> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                self.last = e.id;
                if self.shows(&e) {
                    return Some(e);
                }
                continue;
            }
            match self.rx.try_recv() {
                Ok(e) if e.id <= self.last => continue,
                Ok(e) => {
                    self.last = e.id;
                    if self.shows(&e) {
                        return Some(e);
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.resync(),
                Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(n: u64) -> Draft {
        Draft {
            call: n,
            capability: "io.fs.write_file".into(),
            ..Draft::default()
        }
    }

    #[test]
    fn resume_gets_exactly_the_missed_events() {
        let bus = Arc::new(EventBus::new(16));
        for i in 0..5 {
            bus.publish(EventKind::Requested, draft(i));
        }
        let mut sub = bus.subscribe(Some(2));
        let ids: Vec<u64> = std::iter::from_fn(|| sub.try_next())
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec![3, 4, 5]);
        bus.publish(EventKind::Finished, draft(9));
        assert_eq!(sub.try_next().map(|e| e.id), Some(6));
        // No id: only what comes next.
        let mut fresh = bus.subscribe(None);
        assert!(fresh.try_next().is_none());
        // An id from before a restart: everything this bus published.
        let mut old = bus.subscribe(Some(1000));
        let ids: Vec<u64> = std::iter::from_fn(|| old.try_next())
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, (1..=6).collect::<Vec<_>>());
    }

    #[test]
    fn a_viewer_narrowed_to_one_principal_gets_only_their_events() {
        let bus = Arc::new(EventBus::new(16));
        let of = |who: &str, n: u64| Draft {
            principal: who.into(),
            ..draft(n)
        };
        bus.publish(EventKind::Requested, of("ann", 1));
        bus.publish(EventKind::Requested, of("bob", 2));
        bus.publish(EventKind::Requested, draft(3));
        // The replay after an id, then the live stream: ann's only.
        let mut ann = bus.subscribe(Some(0)).only("ann");
        let mut all = bus.subscribe(Some(0));
        bus.publish(EventKind::Finished, of("bob", 2));
        bus.publish(EventKind::Finished, of("ann", 1));
        let seen: Vec<(u64, String)> = std::iter::from_fn(|| ann.try_next())
            .map(|e| (e.id, e.draft.principal.clone()))
            .collect();
        assert_eq!(seen, vec![(1, "ann".into()), (5, "ann".into())]);
        let names: Vec<String> = std::iter::from_fn(|| all.try_next())
            .map(|e| e.draft.principal.clone())
            .collect();
        assert_eq!(names, ["ann", "bob", OPERATOR, "bob", "ann"]);
        // Missed events reach every viewer.
        for i in 0..40 {
            bus.publish(EventKind::Progress, of("bob", i));
        }
        let mut late = bus.subscribe(Some(5)).only("ann");
        assert_eq!(late.try_next().map(|e| e.kind), Some(EventKind::Missed));
        assert!(late.try_next().is_none());
    }

    #[test]
    fn long_strings_are_shown_by_length_and_start() {
        let bus = Arc::new(EventBus::new(16));
        let mut sub = bus.subscribe(None);
        let long = "é".repeat(STRING_MAX);
        bus.publish(
            EventKind::Requested,
            Draft {
                params: serde_json::json!({"old": long, "new": ["short"]}),
                ..Draft::default()
            },
        );
        let e = sub.try_next().unwrap();
        assert_eq!(e.draft.params["old"]["length"], 2 * STRING_MAX);
        assert_eq!(
            e.draft.params["old"]["start"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            PREVIEW_CHARS
        );
        assert_eq!(e.draft.params["new"][0], "short");
    }

    #[test]
    fn a_lagging_subscriber_resumes_or_hears_how_many_it_missed() {
        let bus = Arc::new(EventBus::new(16));
        let mut sub = bus.subscribe(None);
        for i in 0..40 {
            bus.publish(EventKind::Progress, draft(i));
        }
        let first = sub.try_next().unwrap();
        assert_eq!(first.kind, EventKind::Missed);
        assert_eq!(first.draft.detail["missed"], 24);
        let ids: Vec<u64> = std::iter::from_fn(|| sub.try_next())
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, (25..=40).collect::<Vec<_>>());
    }
}
