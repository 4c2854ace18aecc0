import CustomerHealth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import Synchronization

/// The pages a person opens in a browser (docs/report.md): `/` is the
/// served run's report, `/customers/{id}` one customer's page. They sit
/// behind the same token as the API: a browser cannot send a bearer header,
/// so `/?token=TOKEN` once sets a cookie that the pages (and only they) accept.
final class DashboardPages: Sendable {
    let store: RunStore
    /// Whether `serve --watch` streams: the dashboard then shows the live changes.
    let streaming: Bool

    /// The report of the run last rendered, kept until another run is served:
    /// a 100,000-customer report takes a second or two to make.
    private let rendered = Mutex<(runID: String, html: ByteBuffer)?>(nil)

    init(store: RunStore, streaming: Bool) {
        self.store = store
        self.streaming = streaming
    }

    static let cookieName = "customer_health_token"
    /// What a served page may do: its own inline script and style, and ask the
    /// server it came from whether a newer run is loaded. Nothing else.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func isPage(_ path: String) -> Bool {
        path == Routes.dashboard
            || (path.hasPrefix(Routes.customerPagePrefix) && path.count > Routes.customerPagePrefix.count)
    }

    /// The dashboard's own connection to the stream: the page's cookie is
    /// accepted there only from a page of this server (Origin equal to the
    /// Host), so no other site can open the stream with it.
    static func isDashboardStream(_ request: Request) -> Bool {
        guard request.uri.path == Routes.stream, let origin = request.headers[.origin],
            let host = request.head.authority
        else { return false }
        return origin == "http://" + host || origin == "https://" + host
    }

    func addRoutes(to router: Router<BasicWebSocketRequestContext>) {
        router.get(RouterPath(Routes.dashboard)) { request, _ in
            // The token in the address becomes a cookie, and the address loses it.
            if request.uri.queryParameters["token"] != nil {
                return Response(status: .seeOther, headers: [.location: Routes.dashboard, .cacheControl: "no-store"])
            }
            return try self.page(self.dashboard())
        }
        router.get(RouterPath(Routes.customerPagePrefix + ":customer_id")) { _, context in
            let id = try Routes.customerID(context.parameters)
            return try self.page(self.customer(id))
        }
    }

    private func page(_ html: ByteBuffer) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: Self.contentSecurityPolicy,
                .cacheControl: "no-store", HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            ],
            body: .init(byteBuffer: html))
    }

    func dashboard() throws -> ByteBuffer {
        let run = try store.requireRun()
        if let cached = rendered.withLock({ $0 }), cached.runID == run.runID { return cached.html }
        let links = ReportLinks(
            customerPrefix: Routes.customerPagePrefix, served: true, runID: run.runID,
            liveStream: streaming ? Routes.stream : nil)
        let html = ByteBuffer(
            string: try RunReport.html(folder: run.folder, outputDirectory: store.outputDirectory, links: links))
        rendered.withLock { $0 = (run.runID, html) }
        return html
    }

    func customer(_ id: String) throws -> ByteBuffer {
        let run = try store.requireRun()
        guard let line = run.scoreLine(id) else {
            throw APIError(.notFound, "no customer \(JSONValue.string(id).serialized()) in the run as of \(run.asOf)")
        }
        let entry = run.atRisk.first { $0.customerID == id }
        let history =
            CalendarDay(run.asOf).map {
                CustomerPage.history(customerID: id, outputDirectory: store.outputDirectory, before: $0)
            } ?? []
        let page = try CustomerPage(scoreLine: Data(line), atRiskEntry: entry.map { Data($0.json) }, history: history)
        return ByteBuffer(string: page.html(dashboard: Routes.dashboard))
    }
}
