import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging

/// Counts every answer and its latency by route template (never by the raw
/// path, which would make one series per customer id).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.request(
                route: Routes.template(of: request.uri.path), method: request.method.rawValue,
                status: response.status.code, duration: ContinuousClock.now - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(
                route: Routes.template(of: request.uri.path), method: request.method.rawValue,
                status: status, duration: ContinuousClock.now - start)
            throw error
        }
    }
}

/// Turns every error into a JSON body with its status, so that clients
/// always get {"error": {"status", "message"}}.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return JSONResponse.error(error.status, error.message, headers: error.headers)
        } catch let error as HTTPError
            where error.status == .notFound && Routes.template(of: request.uri.path) != "unmatched"
        {
            // A path that exists, asked with another method.
            return JSONResponse.error(
                .methodNotAllowed, "\(request.uri.path) answers GET and HEAD only, not \(request.method.rawValue)",
                headers: [.allow: "GET, HEAD"])
        } catch let error as HTTPError {
            let message =
                error.body
                ?? (error.status == .notFound
                    ? "no route \(request.method.rawValue) \(request.uri.path); see /openapi.json"
                    : error.status.reasonPhrase)
            return JSONResponse.error(error.status, message, headers: error.headers)
        } catch {
            logger.error("\(request.method.rawValue) \(request.uri.path): \(error)")
            return JSONResponse.error(.internalServerError, "internal error; the server log has the details")
        }
    }
}

/// Requires `Authorization: Bearer TOKEN` on every path but `open` ones.
/// The comparison takes the same time whatever the token sent.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    let open: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let token, !open.contains(request.uri.path) else { return try await next(request, context) }
        if DashboardPages.isPage(request.uri.path) || DashboardPages.isDashboardStream(request) {
            return try await page(request, context: context, token: token, next: next)
        }
        let sent = request.headers[.authorization] ?? ""
        // The scheme is case-insensitive (RFC 9110); the token is not.
        guard sent.prefix(7).lowercased() == "bearer ",
            Self.equalInConstantTime(Array(sent.utf8.dropFirst(7)), Array(token.utf8))
        else {
            throw APIError(
                .unauthorized, "this server needs a bearer token: send Authorization: Bearer TOKEN",
                headers: [.wwwAuthenticate: #"Bearer realm="customer-health""#])
        }
        return try await next(request, context)
    }

    /// A browser page: the bearer header, the cookie `/?token=` set, or that
    /// token itself (answered with the cookie). The cookie opens pages only,
    /// never the API, so no other site can make a browser call the API with it.
    private func page(
        _ request: Request, context: Context, token: String,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let expected = Array(token.utf8)
        if let offered = request.uri.queryParameters["token"] {
            guard Self.equalInConstantTime(Array(offered.utf8), expected) else {
                throw APIError(.unauthorized, "the token in the address is not this server's")
            }
            var response = try await next(request, context)
            response.headers[.setCookie] = "\(DashboardPages.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict"
            return response
        }
        let header = request.headers[.authorization] ?? ""
        if header.prefix(7).lowercased() == "bearer ",
            Self.equalInConstantTime(Array(header.utf8.dropFirst(7)), expected)
        {
            return try await next(request, context)
        }
        for field in request.headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == DashboardPages.cookieName,
                    Self.equalInConstantTime(Array(parts[1].utf8), expected)
                {
                    return try await next(request, context)
                }
            }
        }
        throw APIError(.unauthorized, "this page needs the server's token: open /?token=TOKEN once in this browser")
    }

    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}

/// No route takes a body: one larger than the limit is refused with 413
/// before it is read further.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBytes {
            throw APIError(
                .contentTooLarge, "request bodies are limited to \(maxBytes) bytes; no route of this API takes one")
        }
        // Most requests have no body: only a chunked one needs reading to be measured.
        guard request.headers[.transferEncoding] != nil else { return try await next(request, context) }
        var request = request
        do {
            _ = try await request.collectBody(upTo: maxBytes)
        } catch {
            throw APIError(
                .contentTooLarge, "request bodies are limited to \(maxBytes) bytes; no route of this API takes one")
        }
        return try await next(request, context)
    }
}
