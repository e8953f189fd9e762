//! Prometheus metrics of one server, in the OpenMetrics text format `GET /metrics`
//! serves (with the `prometheus-client` crate).
//!
//! Call counts, latencies and denials come from the events bus: [`Metrics::observe`]
//! is told of every event as it is published ([`EventBus::observe`]), so the counts are
//! exact and the pipeline carries no metrics code. The gauges of things that are looked
//! up rather than counted (confirmations waiting, the journal's size, the audit queue)
//! are set by the server just before each scrape ([`Gauges`]).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `airun_calls_total` | counter | `capability`, `outcome` (`ok` or the error kind) |
//! | `airun_call_duration_seconds` | histogram | `capability` |
//! | `airun_denials_total` | counter | `reason` (`denied_policy`, `denied_sandbox`, `declined`) |
//! | `airun_history_changes_total` | counter | `action` (`undone`, `redone`) |
//! | `airun_confirmations_pending` | gauge | |
//! | `airun_undo_points`, `airun_journal_bytes` | gauge | |
//! | `airun_audit_queue_depth` | gauge | |
//! | `airun_event_viewers` | gauge | |

use crate::error::ErrorKind;
use crate::events::{Event, EventBus, EventKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, OnceLock};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// Labels are static strings: counting a call allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    capability: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapabilityLabel {
    capability: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

/// An event's outcome as a slot and a static label: `ok`, an error kind, or `other`.
fn outcome(given: Option<&str>) -> (usize, &'static str) {
    match given {
        None | Some("ok") => (0, "ok"),
        Some(kind) => ErrorKind::ALL
            .iter()
            .position(|k| k.as_str() == kind)
            .map_or((OUTCOMES - 1, "other"), |i| {
                (i + 1, ErrorKind::ALL[i].as_str())
            }),
    }
}

/// What the server looks up before a scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Calls waiting for a person's yes.
    pub confirmations_pending: i64,
    /// Operations that can still be undone.
    pub undo_points: i64,
    /// Bytes of saved contents in the blob store.
    pub journal_bytes: i64,
    /// Audit records accepted but not yet written.
    pub audit_queue_depth: i64,
    /// Viewers of the events stream.
    pub event_viewers: i64,
}

fn histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The outcomes a call can have: `ok`, each error kind, and `other` for anything else.
const OUTCOMES: usize = ErrorKind::ALL.len() + 2;

/// A capability's counters and histogram, taken from their families the first time it is
/// counted (a series appears once it has something to say) and kept, so counting a call
/// is a lookup and two atomic updates.
#[derive(Default)]
struct Handles {
    duration: OnceLock<Histogram>,
    calls: [OnceLock<Counter>; OUTCOMES],
}

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    /// The capability ids, sorted (the last slot of `handles` is `unknown`).
    known: Vec<&'static str>,
    handles: Vec<Handles>,
    calls: Family<CallLabels, Counter>,
    durations: Family<CapabilityLabel, Histogram, fn() -> Histogram>,
    denials: Family<ReasonLabel, Counter>,
    history: Family<ActionLabel, Counter>,
    gauges: [Gauge; 5],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of a server whose capabilities are `known` (any other name a call
    /// gives is counted as `unknown`, so a client cannot grow the label set).
    pub fn new(known: impl IntoIterator<Item = &'static str>) -> Metrics {
        let mut registry = Registry::with_prefix("airun");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "calls",
            "Calls by capability and outcome (ok or the error kind)",
            calls.clone(),
        );
        let durations =
            Family::<CapabilityLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                histogram,
            );
        registry.register(
            "call_duration_seconds",
            "Time from a call's arrival to its answer, confirmation waits included",
            durations.clone(),
        );
        let denials = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "denials",
            "Calls refused, by reason (the error kind)",
            denials.clone(),
        );
        let history = Family::<ActionLabel, Counter>::default();
        registry.register(
            "history_changes",
            "Operations undone and redone",
            history.clone(),
        );
        let gauges: [Gauge; 5] = Default::default();
        for (gauge, (name, help)) in gauges.iter().zip([
            ("confirmations_pending", "Calls waiting for a person's yes"),
            ("undo_points", "Operations that can still be undone"),
            (
                "journal_bytes",
                "Bytes of saved file contents kept for undo",
            ),
            (
                "audit_queue_depth",
                "Audit records accepted but not yet written",
            ),
            ("event_viewers", "Viewers of the events stream"),
        ]) {
            registry.register(name, help, gauge.clone());
        }
        let mut known: Vec<&'static str> = known.into_iter().collect();
        known.sort_unstable();
        known.dedup();
        let handles = (0..=known.len()).map(|_| Handles::default()).collect();
        Metrics {
            registry,
            known,
            handles,
            calls,
            durations,
            denials,
            history,
            gauges,
        }
    }

    /// Counts the events published on `bus` from now on.
    pub fn watch(self: &Arc<Self>, bus: &EventBus) {
        let me = self.clone();
        bus.observe(Arc::new(move |e| me.observe(e)));
    }

    /// The slot and label of a capability name (`unknown` for one the server lacks).
    fn capability(&self, name: &str) -> (usize, &'static str) {
        match self.known.binary_search(&name) {
            Ok(i) => (i, self.known[i]),
            Err(_) => (self.known.len(), "unknown"),
        }
    }

    /// Counts one event: a call's last event (finished, denied, failed) counts the call
    /// and its duration (from the event's `duration_us`); undo and redo count as such.
    pub fn observe(&self, event: &Event) {
        match event.kind {
            EventKind::Finished | EventKind::Denied | EventKind::Failed => {
                let (slot, capability) = self.capability(&event.draft.capability);
                let (o, outcome) = outcome(event.draft.outcome.as_deref());
                let handles = &self.handles[slot];
                if let Some(us) = event
                    .draft
                    .detail
                    .get("duration_us")
                    .and_then(|v| v.as_u64())
                {
                    handles
                        .duration
                        .get_or_init(|| {
                            self.durations
                                .get_or_create(&CapabilityLabel { capability })
                                .clone()
                        })
                        .observe(us as f64 / 1e6);
                }
                if event.kind == EventKind::Denied {
                    self.denials
                        .get_or_create(&ReasonLabel { reason: outcome })
                        .inc();
                }
                handles.calls[o]
                    .get_or_init(|| {
                        self.calls
                            .get_or_create(&CallLabels {
                                capability,
                                outcome,
                            })
                            .clone()
                    })
                    .inc();
            }
            EventKind::Undone => {
                self.history
                    .get_or_create(&ActionLabel { action: "undone" })
                    .inc();
            }
            EventKind::Redone => {
                self.history
                    .get_or_create(&ActionLabel { action: "redone" })
                    .inc();
            }
            EventKind::Requested
            | EventKind::ConfirmationWaiting
            | EventKind::Progress
            | EventKind::Missed => {}
        }
    }

    /// The exposition, with the gauges set to `gauges`.
    pub fn render(&self, gauges: Gauges) -> String {
        for (gauge, value) in self.gauges.iter().zip([
            gauges.confirmations_pending,
            gauges.undo_points,
            gauges.journal_bytes,
            gauges.audit_queue_depth,
            gauges.event_viewers,
        ]) {
            gauge.set(value);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Draft;

    fn draft(call: u64, capability: &str, outcome: Option<&str>) -> Draft {
        Draft {
            call,
            capability: capability.into(),
            outcome: outcome.map(String::from),
            detail: serde_json::json!({"duration_us": 1500}),
            ..Draft::default()
        }
    }

    #[test]
    fn events_become_counters_histograms_and_denials() {
        let bus = EventBus::default();
        let m = Arc::new(Metrics::new(["io.fs.write_file", "io.fs.read_file"]));
        m.watch(&bus);
        bus.publish(EventKind::Requested, draft(1, "io.fs.write_file", None));
        bus.publish(
            EventKind::Finished,
            draft(1, "io.fs.write_file", Some("ok")),
        );
        bus.publish(EventKind::Requested, draft(2, "io.fs.read_file", None));
        bus.publish(
            EventKind::Denied,
            draft(2, "io.fs.read_file", Some("denied_sandbox")),
        );
        bus.publish(
            EventKind::Failed,
            draft(3, "no.such.tool", Some("not_found")),
        );
        bus.publish(EventKind::Undone, draft(0, "io.fs.write_file", None));
        let text = m.render(Gauges {
            confirmations_pending: 2,
            ..Gauges::default()
        });
        for line in [
            r#"airun_calls_total{capability="io.fs.write_file",outcome="ok"} 1"#,
            r#"airun_calls_total{capability="io.fs.read_file",outcome="denied_sandbox"} 1"#,
            r#"airun_calls_total{capability="unknown",outcome="not_found"} 1"#,
            r#"airun_denials_total{reason="denied_sandbox"} 1"#,
            r#"airun_call_duration_seconds_count{capability="io.fs.write_file"} 1"#,
            r#"airun_history_changes_total{action="undone"} 1"#,
            "airun_confirmations_pending 2",
        ] {
            assert!(text.contains(line), "no `{line}` in:\n{text}");
        }
        assert!(!text.contains("no.such.tool"));
        assert!(text.ends_with("# EOF\n"));
    }
}
