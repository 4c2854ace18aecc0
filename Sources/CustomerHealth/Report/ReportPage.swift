import Foundation
import Mustache

/// The page shell and templates of the HTML reports. Pages are mustache
/// templates: `{{x}}` is HTML-escaped (so a customer named `<script>` is
/// text), and only three things go in raw: the style sheet, the scripts
/// (Chart.js and the page's own) and the data block, which `scriptJSON`
/// makes safe inside a script element.
enum ReportPage {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        do {
            try library.register(ReportTemplates.page, named: "page")
            try library.register(ReportTemplates.table, named: "table")
            try library.register(ReportTemplates.run, named: "run")
            try library.register(ReportTemplates.customer, named: "customer")
            try library.register(ReportTemplates.model, named: "model")
            try library.register(ReportTemplates.backtest, named: "backtest")
            try library.register(ReportTemplates.skill, named: "skill")
            try library.register(ReportTemplates.curves, named: "curves")
            try library.register(ReportTemplates.calibration, named: "calibration")
        } catch {
            // The templates are constants of this file: a test renders each.
            preconditionFailure("report template does not parse: \(error)")
        }
        return library
    }()

    /// The whole page: `body` names the template of its content.
    static func render(body: String, view: [String: Any], links: ReportLinks) -> String {
        var view = view
        view["style"] = ReportTemplates.style
        view["chartJS"] = ChartJSSource.text
        view["script"] = ReportTemplates.script
        view["served"] = links.served
        view["bodyHTML"] = library.render(view, withTemplate: body) ?? ""
        return library.render(view, withTemplate: "page") ?? ""
    }

    /// JSON for a `<script type="application/json">` element: "<" is written
    /// as \u003c, so no string in it can close the element ("</script>") or
    /// open a comment; JSON allows the escape anywhere a string has "<".
    static func scriptJSON(_ value: JSONValue) -> String {
        value.serialized().replacingOccurrences(of: "<", with: "\\u003c")
    }

    /// A customer id as one URL path segment.
    static func pathComponent(_ id: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }
}
