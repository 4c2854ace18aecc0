import CustomerHealth
import Foundation
import Prometheus
import Synchronization

/// The server's Prometheus metrics, in a registry of its own (not the
/// process-wide metrics system), so that each server instance counts alone.
public final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private struct RequestKey: Hashable {
        let route: String, method: String, status: Int
    }
    private let requests = Mutex<[RequestKey: (Counter, DurationHistogram)]>([:])
    private let webSocketClients: Gauge
    private let webSocketDropped: Counter
    private let webSocketMessages: Counter
    private let reloads: Counter
    private let watchRestarts: Counter
    private let asOfGauge: Gauge
    private let ageGauge: Gauge
    private let customersGauge: Gauge
    private let store: RunStore

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
    ]

    init(store: RunStore) {
        self.store = store
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: .init(metricName: name, unitName: "", helpText: help))
        }
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: .init(metricName: name, unitName: "", helpText: help))
        }
        webSocketClients = gauge(
            "customer_health_websocket_clients", "WebSocket clients connected to /ws/customer-health.")
        webSocketDropped = counter(
            "customer_health_websocket_slow_clients_dropped_total",
            "WebSocket clients closed because their send queue filled.")
        webSocketMessages = counter(
            "customer_health_websocket_messages_queued_total", "Stream lines queued for WebSocket clients.")
        watchRestarts = counter(
            "customer_health_watch_restarts_total",
            "Times the in-process watch loop failed and was started again from its checkpoint.")
        reloads = counter("customer_health_serve_runs_loaded_total", "Runs loaded since the server started.")
        asOfGauge = gauge(
            "customer_health_served_as_of_timestamp_seconds",
            "The as-of day of the run served (Unix time of its midnight UTC).")
        ageGauge = gauge("customer_health_served_run_age_seconds", "Seconds since the run served was published.")
        customersGauge = gauge("customer_health_served_customers", "Customers in the run served.")
    }

    /// Counts one answered request and its latency under its route's template.
    func request(route: String, method: String, status: Int, duration: Duration) {
        let key = RequestKey(route: route, method: method, status: status)
        let (counter, histogram) = requests.withLock { table in
            if let pair = table[key] { return pair }
            let labels = [("route", route), ("method", method), ("status", String(status))]
            let pair = (
                registry.makeCounter(
                    descriptor: .init(
                        metricName: "customer_health_http_requests_total", unitName: "",
                        helpText: "HTTP requests answered, by route template, method and status."), labels: labels),
                registry.makeDurationHistogram(
                    descriptor: .init(
                        metricName: "customer_health_http_request_duration_seconds", unitName: "",
                        helpText: "Time to answer an HTTP request, by route template, method and status."),
                    labels: labels, buckets: Self.latencyBuckets)
            )
            table[key] = pair
            return pair
        }
        counter.increment()
        histogram.record(duration)
    }

    func webSocketConnected() { webSocketClients.increment() }
    func webSocketDisconnected() { webSocketClients.decrement() }
    func webSocketDroppedSlow() {
        webSocketClients.decrement()
        webSocketDropped.increment()
    }
    func webSocketSent(_ n: Int) { if n > 0 { webSocketMessages.increment(by: Int64(n)) } }
    func runLoaded() { reloads.increment() }
    func watchRestarted() { watchRestarts.increment() }

    /// The exposition text, with the served run's gauges read now.
    func render(now: Date = Date()) -> [UInt8] {
        if let run = store.current {
            ageGauge.set(max(0, now.timeIntervalSince(run.publishedAt)))
            customersGauge.set(Double(run.customerCount))
            if let day = CalendarDay(run.asOf) { asOfGauge.set(Double(day.number) * 86_400) }
        }
        return registry.emitToBuffer()
    }
}
