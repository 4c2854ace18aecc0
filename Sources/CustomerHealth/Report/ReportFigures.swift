import Foundation

/// How a figure is printed in a report: the same rule for tiles, tables and
/// the page's own script (which receives the format's name).
enum FigureFormat: String, Sendable {
    case count, money, percent, score, ratio, probability
    /// A model's skill (ROC AUC, log loss, Brier, a point of a curve): four
    /// decimals, as `train` and `backtest` print them.
    case metric

    func text(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        switch self {
        case .count: return Self.grouped(value, places: 0)
        case .money: return Self.grouped(value, places: 0)
        case .percent: return Self.grouped(value * 100, places: 1) + "%"
        case .score: return Self.grouped(value, places: 1)
        case .ratio: return Self.grouped(value, places: 2)
        case .probability: return Self.grouped(value * 100, places: 1) + "%"
        case .metric: return Self.grouped(value, places: 4)
        }
    }

    /// A change between runs: signed, in the figure's own unit (points for percentages).
    func change(_ now: Double?, _ before: Double?) -> String {
        guard let now, let before, now.isFinite, before.isFinite else { return "" }
        let delta = now - before
        let text: String
        switch self {
        case .percent, .probability: text = Self.grouped(abs(delta) * 100, places: 1) + " pts"
        default: text = self.text(abs(delta))
        }
        if text == self.text(0) || text == "0.0 pts" { return "no change" }
        return (delta > 0 ? "+" : "−") + text
    }

    /// `places` decimals and thousands separators, without the locale: the
    /// report is byte-identical wherever it is made.
    static func grouped(_ value: Double, places: Int) -> String {
        let scale = pow(10.0, Double(places))
        let rounded = (abs(value) * scale).rounded() / scale
        let whole = Int(rounded)
        var digits = String(whole)
        var out = ""
        while digits.count > 3 {
            out = "," + digits.suffix(3) + out
            digits.removeLast(3)
        }
        out = digits + out
        if places > 0 {
            let fraction = Int(((rounded - Double(whole)) * scale).rounded())
            let f = String(fraction)
            out += "." + String(repeating: "0", count: places - f.count) + f
        }
        return (value < 0 && rounded != 0 ? "-" : "") + out
    }
}

/// One figure of kpis.json that the report shows: its tile (if any), its row
/// in the KPI table and its history line all come from this list.
struct ReportKPI: Sendable {
    let path: String
    let label: String
    let format: FigureFormat
    let higherIsBetter: Bool
    let tile: Bool
    /// Which history chart draws it (figures of one unit share a chart).
    let historyChart: HistoryChart?

    enum HistoryChart: String, CaseIterable, Sendable {
        case customers, money, rates, scores

        var title: String {
            switch self {
            case .customers: return "Customers and customers at risk"
            case .money: return "Monthly recurring revenue"
            case .rates: return "Churn and retention rates"
            case .scores: return "Average health, NPS and LTV:CAC"
            }
        }
    }

    static let all: [ReportKPI] = [
        ReportKPI(
            path: "overview.active_customers", label: "Customers", format: .count, higherIsBetter: true, tile: true,
            historyChart: .customers),
        ReportKPI(
            path: "overview.at_risk_customers", label: "At risk", format: .count, higherIsBetter: false, tile: true,
            historyChart: .customers),
        ReportKPI(
            path: "financial_metrics.monthly_recurring_revenue", label: "MRR", format: .money, higherIsBetter: true,
            tile: true, historyChart: .money),
        ReportKPI(
            path: "churn_rates.churn_30d", label: "Churn, 30 days", format: .percent, higherIsBetter: false, tile: true,
            historyChart: .rates),
        ReportKPI(
            path: "retention_rates.retention_12m", label: "Retention, 12 months", format: .percent,
            higherIsBetter: true, tile: true, historyChart: .rates),
        ReportKPI(
            path: "health_metrics.nps", label: "NPS", format: .score, higherIsBetter: true, tile: true,
            historyChart: .scores),
        ReportKPI(
            path: "financial_metrics.ltv_cac_ratio", label: "LTV:CAC", format: .ratio, higherIsBetter: true, tile: true,
            historyChart: .scores),
        ReportKPI(
            path: "health_metrics.avg_health_score", label: "Average health", format: .score, higherIsBetter: true,
            tile: true, historyChart: .scores),
        ReportKPI(
            path: "overview.total_customers", label: "Customers in the accounts export", format: .count,
            higherIsBetter: true, tile: false, historyChart: nil),
        ReportKPI(
            path: "overview.churned_customers_30d", label: "Churned in 30 days", format: .count, higherIsBetter: false,
            tile: false, historyChart: .customers),
        ReportKPI(
            path: "overview.returned_customers_30d", label: "Returned in 30 days", format: .count, higherIsBetter: true,
            tile: false, historyChart: nil),
        ReportKPI(
            path: "churn_rates.churn_90d", label: "Churn, 90 days", format: .percent, higherIsBetter: false,
            tile: false, historyChart: nil),
        ReportKPI(
            path: "churn_rates.churn_12m", label: "Churn, 12 months", format: .percent, higherIsBetter: false,
            tile: false, historyChart: .rates),
        ReportKPI(
            path: "retention_rates.retention_30d", label: "Retention, 30 days", format: .percent, higherIsBetter: true,
            tile: false, historyChart: .rates),
        ReportKPI(
            path: "retention_rates.retention_90d", label: "Retention, 90 days", format: .percent, higherIsBetter: true,
            tile: false, historyChart: nil),
        ReportKPI(
            path: "financial_metrics.average_revenue_per_account", label: "Revenue per account", format: .money,
            higherIsBetter: true, tile: false, historyChart: nil),
        ReportKPI(
            path: "financial_metrics.customer_lifetime_value", label: "Lifetime value", format: .money,
            higherIsBetter: true, tile: false, historyChart: nil),
        ReportKPI(
            path: "financial_metrics.customer_acquisition_cost", label: "Acquisition cost", format: .money,
            higherIsBetter: false, tile: false, historyChart: nil),
        ReportKPI(
            path: "health_metrics.nps_responses", label: "NPS answers", format: .count, higherIsBetter: true,
            tile: false, historyChart: nil),
        ReportKPI(
            path: "churn_metrics.avg_churn_probability", label: "Mean churn probability", format: .probability,
            higherIsBetter: false, tile: false, historyChart: nil),
        ReportKPI(
            path: "churn_metrics.expected_churned_customers_in_horizon", label: "Expected to churn in the horizon",
            format: .count, higherIsBetter: false, tile: false, historyChart: nil),
    ]
}

/// The fixed bins of the report's distributions.
enum ReportBins {
    /// Ten 10-point bins of a 0–100 score; 100 falls in the last.
    static let scoreLabels = (0..<10).map { "\($0 * 10)–\($0 * 10 + 10)" }
    static func score(_ value: Double) -> Int { min(9, max(0, Int(value / 10))) }
    /// Ten 10% bins of a probability.
    static let probabilityLabels = (0..<10).map { "\($0 * 10)–\($0 * 10 + 10)%" }
    static func probability(_ p: Double) -> Int { min(9, max(0, Int(p * 10))) }
}
