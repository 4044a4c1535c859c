//! Prometheus metrics, hand-rolled: counters and latency histograms keyed by route, method
//! and status, plus gauges and counters other modules report (queue depth, outcomes).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    outcomes: Mutex<BTreeMap<(String, String), u64>>,
    gauges: Mutex<BTreeMap<String, f64>>,
    events: Mutex<EventCounts>,
}

/// Webhook deliveries: counters and the lag from an event's commit to its delivery.
#[derive(Default)]
struct EventCounts {
    delivered: u64,
    failed: u64,
    dead_lettered: u64,
    lag: Histogram,
}

impl Metrics {
    pub fn observe_http(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        // Clients choose the method token: one series per made-up method would grow the map
        // without bound.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "TRACE"
            | "CONNECT" => method,
            _ => "OTHER",
        };
        let secs = elapsed.as_secs_f64();
        let mut http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        let h = http
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts a target outcome (`SUCCEEDED`, `FAILED`, `RETRY`) per source name.
    pub fn target_outcome(&self, source: &str, outcome: &str) {
        let mut o = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        *o.entry((source.to_owned(), outcome.to_owned()))
            .or_default() += 1;
    }

    /// An event delivered, `lag` after its change committed.
    pub fn event_delivered(&self, lag: Duration) {
        let mut e = self.events.lock().unwrap_or_else(|e| e.into_inner());
        e.delivered += 1;
        let secs = lag.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                e.lag.counts[i] += 1;
            }
        }
        e.lag.count += 1;
        e.lag.sum += secs;
    }

    /// A delivery attempt failed.
    pub fn event_failed(&self) {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).failed += 1;
    }

    /// An event was given up on (dead-lettered).
    pub fn event_dead_lettered(&self) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dead_lettered += 1;
    }

    fn render_events(&self, out: &mut String) {
        let e = self.events.lock().unwrap_or_else(|e| e.into_inner());
        for (name, help, v) in [
            (
                "passbroker_event_deliveries_total",
                "Webhook deliveries acknowledged by a receiver.",
                e.delivered,
            ),
            (
                "passbroker_event_delivery_failures_total",
                "Webhook delivery attempts that failed.",
                e.failed,
            ),
            (
                "passbroker_event_dead_letters_total",
                "Events given up on after events_max_attempts.",
                e.dead_lettered,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let name = "passbroker_event_delivery_lag_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From an event's commit to its delivery.\n# TYPE {name} histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", e.lag.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", e.lag.count);
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {}",
            e.lag.sum, e.lag.count
        );
    }

    pub fn set_gauge(&self, name: &str, value: f64) {
        self.gauges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), value);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP passbroker_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE passbroker_http_requests_total counter\n");
        let http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        for ((route, method, status), h) in http.iter() {
            let _ = writeln!(out, "passbroker_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}", escape(route), h.count);
        }
        out.push_str("# HELP passbroker_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE passbroker_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(String, String), Histogram> = BTreeMap::new();
        for ((route, method, _), h) in http.iter() {
            let agg = by_route.entry((route.clone(), method.clone())).or_default();
            for i in 0..BUCKETS.len() {
                agg.counts[i] += h.counts[i];
            }
            agg.count += h.count;
            agg.sum += h.sum;
        }
        drop(http);
        for ((route, method), h) in &by_route {
            let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "passbroker_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "passbroker_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "passbroker_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "passbroker_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP passbroker_target_outcomes_total Target calls by source and outcome.\n",
        );
        out.push_str("# TYPE passbroker_target_outcomes_total counter\n");
        for ((source, outcome), n) in self
            .outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "passbroker_target_outcomes_total{{source=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(source)
            );
        }
        for (name, v) in self.gauges.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "# TYPE {name} gauge\n{name} {v}");
        }
        self.render_events(&mut out);
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
