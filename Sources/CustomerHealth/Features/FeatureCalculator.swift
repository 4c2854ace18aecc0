/// Computes feature vectors from the ingested aggregates for any as-of day.
///
/// Only data on or before the as-of day counts: every window is [T-w+1, T]
/// and every "to date" total stops at T, so an event after T can never change
/// a score as of T. Each call is a handful of binary searches per customer,
/// which is what lets replay and training ask for many dates cheaply.
public struct FeatureCalculator: Sendable {
    public let data: IngestResult
    public let settings: ScoringSettings

    public init(data: IngestResult, settings: ScoringSettings) {
        self.data = data
        self.settings = settings
    }

    /// True when the customer had started and is not churned on `day`, by
    /// the pipeline's churn definition.
    public func isActive(_ customer: Int, on day: CalendarDay) -> Bool { data.lifecycles[customer].isActive(on: day) }

    public func features(customer c: Int, asOf asOfDay: CalendarDay) -> FeatureVector {
        // Read in place: a copy of the customer's state retains each of its arrays.
        let agg = UnsafePointer(data.aggregates.customers + c)
        let account = data.accounts[c]
        let t = Int(asOfDay.number)
        let w = settings.windowDays
        let from = t - w + 1
        var f = FeatureVector()

        if let last = agg.pointee.logins.last(onOrBefore: t) { f.daysSinceLastLogin = t - last }
        f.logins30d = agg.pointee.logins.count(from: from, to: t)

        // Users: distinct in the window, and the mean per day over the DAU window.
        let dauFrom = t - settings.dauWindowDays + 1
        f.monthlyActiveUsers = agg.pointee.distinctNames(.user, from: from, to: t)
        f.dailyActiveUsers = Double(agg.pointee.namePairs(.user, from: dauFrom, to: t)) / Double(settings.dauWindowDays)

        let used = agg.pointee.distinctNames(.feature, from: from, to: t)
        f.featuresUsed30d = used
        f.featureAdoptionRate = account.featuresAvailable.map { min(1, Double(used) / Double(max(1, $0))) }

        let (tickets, responseHours) = ticketFigures(customer: c, day: t, windowFrom: from)
        f.supportTickets30d = tickets
        f.avgFirstResponseHours = responseHours

        // Uptime: mean of the daily means over the window's days with data.
        var uptimeSum = 0.0
        var uptimeDays = 0
        for e in agg.pointee.uptime.entries(from: from, to: t) where e.count > 0 {
            uptimeSum += Double(e.sum) / Double(e.count) / 1000
            uptimeDays += 1
        }
        f.uptimePercentage = uptimeDays > 0 ? uptimeSum / Double(uptimeDays) : nil

        f.costSavingsAchieved = Double(agg.pointee.savings.total(from: 0, to: t)) / 10_000

        let modules = agg.pointee.distinctNames(.module, from: 0, to: t)
        f.trainingModulesCompleted = modules
        f.trainingCompletionRate = account.trainingModules.flatMap {
            $0 > 0 ? min(1, Double(modules) / Double($0)) : nil
        }

        f.apiCalls30d = agg.pointee.counts.count(.apiCall, from: from, to: t)
        f.mobileSessions30d = agg.pointee.counts.count(.mobileSession, from: from, to: t)
        f.dashboardViews30d = agg.pointee.counts.count(.dashboardView, from: from, to: t)
        f.workOrders30d = agg.pointee.counts.count(.workOrder, from: from, to: t)

        let start = Int(account.subscriptionStart.number)
        f.monthsSinceSubscriptionStart = Double(max(0, t - start)) / 30.4375

        // Time to value: the first work order or recorded saving, on or before T,
        // counted from the subscription start or, for customers who started
        // before the exports' history begins, from the first day of history
        // (what happened before it is unknown, not slow).
        var firstValue: Int? = nil
        if let d = agg.pointee.counts.firstDay(.workOrder), d <= t { firstValue = d }
        if let d = agg.pointee.savings.firstDay, d <= t { firstValue = min(firstValue ?? d, d) }
        let clockStart = max(start, data.earliestActivityDay ?? start)
        f.daysToFirstValue = firstValue.map { max(0, $0 - clockStart) }
        return f
    }

    /// Tickets opened in the window, and the mean first-response time of
    /// those opened in the response window: each ticket in its latest
    /// version known by the end of day `t` (times after T are not known yet at T).
    private func ticketFigures(customer c: Int, day t: Int, windowFrom from: Int) -> (
        tickets: Int, avgFirstResponseHours: Double?
    ) {
        let tStartSeconds = Int64(t) * 86400
        let tEndSeconds = tStartSeconds + 86400
        let ticketFromSeconds = Int64(from) * 86400
        let responseFromSeconds = Int64(t - settings.responseWindowDays + 1) * 86400
        var tickets = 0
        var responseHours = 0.0
        var responded = 0
        for k in data.ticketOffsets[c]..<data.ticketOffsets[c + 1] {
            // The latest version known by the end of T: later updates cannot reach back.
            let ticketIndex = Int(data.ticketsOfCustomer[k])
            let versions = data.ticketVersions[data.ticketStart[ticketIndex]..<data.ticketStart[ticketIndex + 1]]
            // A ticket opened by T whose every update came later counts in its first version.
            guard let ticket = versions.last(where: { $0.stamp < tEndSeconds }) ?? versions.first,
                ticket.customer == Int32(c)
            else { continue }
            guard ticket.opened < tEndSeconds else { continue }
            if ticket.opened >= ticketFromSeconds { tickets += 1 }
            if ticket.opened >= responseFromSeconds, let first = ticket.firstResponse, first < tEndSeconds {
                responseHours += Double(first - ticket.opened) / 3600
                responded += 1
            }
        }
        return (tickets, responded > 0 ? responseHours / Double(responded) : nil)
    }
}
