import CustomerHealth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOCore

/// The paths served, and the route template a path counts under in /metrics.
enum Routes {
    static let health = "/health"
    static let metrics = "/metrics"
    static let openAPI = "/openapi.json"
    static let customerPrefix = "/api/customer-success/health/"
    static let customer = "/api/customer-success/health/{customer_id}"
    static let kpis = "/api/customer-success/kpis"
    static let atRisk = "/api/customer-success/at-risk"
    static let stream = "/ws/customer-health"
    static let dashboard = "/"
    static let customerPagePrefix = "/customers/"
    static let customerPage = "/customers/{customer_id}"

    /// The template of a raw path, or "unmatched": computed from the path,
    /// so that requests refused before routing (401, 413) count under their
    /// route too, and ids never make a series each.
    static func template(of path: String) -> String {
        switch path {
        case health, metrics, openAPI, kpis, atRisk, stream, dashboard: return path
        default:
            if path.hasPrefix(customerPagePrefix) && path.count > customerPagePrefix.count
                && !path.dropFirst(customerPagePrefix.count).contains("/")
            {
                return customerPage
            }
            if path.hasPrefix(customerPrefix) && path.count > customerPrefix.count
                && !path.dropFirst(customerPrefix.count).contains("/")
            {
                return customer
            }
            return "unmatched"
        }
    }
}

/// The HTTP routes of the customer-success API. Each request takes the
/// served run once, so its answer comes from one run even while a newer
/// one is being swapped in.
struct CustomerSuccessAPI: Sendable {
    let store: RunStore
    let metrics: ServerMetrics
    /// Why the in-process watch loop is not running, while it waits to restart.
    let watchError: @Sendable () -> String?

    static let maxPageSize = 1000
    static let defaultPageSize = 100

    func addRoutes(to router: Router<BasicWebSocketRequestContext>) {
        router.get(RouterPath(Routes.health)) { _, _ in health() }
        router.get(RouterPath(Routes.metrics)) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
        }
        router.get(RouterPath(Routes.openAPI)) { _, _ in
            JSONResponse.bytes(OpenAPIDocument.json.utf8, run: nil)
        }
        router.get(RouterPath(Routes.customerPrefix + ":customer_id")) { _, context in
            let run = try store.requireRun()
            // Matched exactly against the index; never used to build a path.
            let id = try Routes.customerID(context.parameters)
            guard let line = run.scoreLine(id) else {
                throw APIError(
                    .notFound, "no customer \(JSONValue.string(id).serialized()) in the run as of \(run.asOf)")
            }
            return JSONResponse.bytes(line, run: run)
        }
        router.get(RouterPath(Routes.kpis)) { _, _ in
            let run = try store.requireRun()
            return JSONResponse.bytes(run.kpis, run: run)
        }
        router.get(RouterPath(Routes.atRisk)) { request, _ in
            try atRisk(request.uri.queryParameters, run: try store.requireRun())
        }
    }

    private func health() -> Response {
        guard let run = store.current else {
            return JSONResponse.value(
                .object([
                    ("status", .string("unavailable")),
                    ("error", .string(store.lastError ?? "no run is loaded yet")),
                ]), status: .serviceUnavailable, run: nil)
        }
        let age = max(0, Date().timeIntervalSince(run.publishedAt))
        return JSONResponse.value(
            .object([
                ("status", .string("ok")),
                ("as_of", .string(run.asOf)),
                ("run", .string(run.runID)),
                ("published_at", .string(ISO8601DateFormatter().string(from: run.publishedAt))),
                ("data_age_seconds", .number(age, places: 1)),
                ("customers", .int(run.customerCount)),
                ("at_risk", .int(run.atRiskCount)),
                ("reload_error", .optionalString(store.lastError)),
                ("watch_error", .optionalString(watchError())),
            ]), status: .ok, run: run)
    }

    /// at-risk.json filtered by priority and paged. Entries keep the order
    /// and the `rank` the run gave them.
    func atRisk(_ query: FlatDictionary<Substring, Substring>, run: ServedRun) throws -> Response {
        var priorities: Set<String>? = nil
        if let text = query["priority"], !text.isEmpty {
            let wanted = Set(text.split(separator: ",").map { String($0) })
            let unknown = wanted.subtracting(StreamFilter.priorities)
            guard unknown.isEmpty else {
                throw APIError(
                    .badRequest,
                    "priority must be one or more of critical, high, medium, low (comma-separated), not \(unknown.sorted().joined(separator: ", "))"
                )
            }
            priorities = wanted
        }
        func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = query[name[...]] else { return value }
            guard let n = Int(text), range.contains(n) else {
                let allowed =
                    range.upperBound == Int.max
                    ? "\(range.lowerBound) or more" : "from \(range.lowerBound) to \(range.upperBound)"
                throw APIError(.badRequest, "\(name) must be a whole number \(allowed), not \"\(text)\"")
            }
            return n
        }
        let limit = try integer("limit", default: Self.defaultPageSize, range: 1...Self.maxPageSize)
        let offset = try integer("offset", default: 0, range: 0...Int.max)
        let matching = priorities.map { p in run.atRisk.filter { p.contains($0.priority) } } ?? run.atRisk
        let page = matching.dropFirst(offset).prefix(limit)
        var out = Array(#"{"as_of": "#.utf8) + Array(JSONValue.string(run.asOf).serialized().utf8)
        out += Array(
            #", "total": \#(matching.count), "offset": \#(offset), "limit": \#(limit), "count": \#(page.count), "customers": ["#
                .utf8)
        for (i, entry) in page.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += entry.json
        }
        out += Array("]}".utf8)
        return JSONResponse.bytes(out, run: run)
    }
}

/// An error answered as JSON with its status: {"error": {"status", "message"}}.
struct APIError: Error {
    let status: HTTPResponse.Status
    let message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }
}

enum JSONResponse {
    static let runHeader = HTTPField.Name("X-Customer-Health-Run")!
    static let asOfHeader = HTTPField.Name("X-Customer-Health-As-Of")!

    /// Bytes as they are, with the run that answered named in the headers.
    static func bytes<Bytes: Sequence>(_ bytes: Bytes, run: ServedRun?, status: HTTPResponse.Status = .ok) -> Response
    where Bytes.Element == UInt8 {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let run {
            headers[runHeader] = run.runID
            headers[asOfHeader] = run.asOf
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func value(_ value: JSONValue, status: HTTPResponse.Status, run: ServedRun?) -> Response {
        bytes(value.serialized().utf8, run: run, status: status)
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, headers extra: HTTPFields = [:]) -> Response {
        var response = value(
            .object([("error", .object([("status", .int(status.code)), ("message", .string(message))]))]),
            status: status, run: nil)
        response.headers.append(contentsOf: extra)
        return response
    }
}

extension Routes {
    /// The `{customer_id}` of a route, percent-decoded. It is matched exactly
    /// against the run's index, never used to build a path.
    static func customerID(_ parameters: Parameters) throws -> String {
        guard let raw = parameters.get("customer_id"),
            let id = raw.utf8.contains(UInt8(ascii: "%")) ? raw.removingPercentEncoding : raw
        else {
            throw APIError(.badRequest, "the customer id is not valid percent-encoding")
        }
        return id
    }
}

extension RunStore {
    /// The run to answer a request from, or 503 with why none is loaded.
    func requireRun() throws -> ServedRun {
        guard let run = current else { throw APIError(.serviceUnavailable, lastError ?? "no run is loaded yet") }
        return run
    }
}
