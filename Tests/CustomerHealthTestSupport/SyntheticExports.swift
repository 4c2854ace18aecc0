import Foundation

/// A deterministic pseudo-random generator (SplitMix64), so that generated
/// exports are the same bytes on every run.
package struct SeededRandom {
    package var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    package mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    package mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < p }

    package mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
}

/// A mid-sized export set spread over many files of every format (plain and
/// gzipped CSV, multi-member gzip, JSONL), with bad rows, unknown customers,
/// ticket updates across files and equal-stamp ties: the input for the
/// determinism, leakage and rescore tests. Activity ends on 2026-03-31.
package enum SyntheticExports {
    package static let asOf = "2026-03-31"
    package static let customers = 60

    package static func id(_ i: Int) -> String { String(format: "c%03d", i) }

    package static func day(_ offset: Int) -> String {
        // Day 0 = 2026-01-01.
        CalendarDayText.from(offset)
    }

    package static func write(to f: ExportsFolder, seed: UInt64 = 7) throws {
        var r = SeededRandom(seed: seed)
        let plans = ["basic", "pro", "enterprise"]
        let features = ["reports", "alerts", "export", "scheduler", "maps", "billing", "inventory", "audit"]

        var accounts = Sample.accountsHeader + "\n"
        for i in 1...customers {
            let start =
                r.chance(0.1) ? "2026-03-\(r.int(10...28))" : "202\(r.int(4...5))-0\(r.int(1...9))-1\(r.int(0...9))"
            let churned = r.chance(0.15) ? "2026-0\(r.int(1...3))-1\(r.int(0...9))" : ""
            var name = r.pick(["Acme", "Beta, Inc.", "\"Quoted\" Co", "=HYPERLINK(\"http://x\")", "+Plus", "Zürich AG"])
            if name.contains(",") || name.contains("\"") {
                name = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            let cac = r.chance(0.8) ? String(r.int(500...20000)) : ""
            let nps = r.chance(0.7) ? String(r.int(0...10)) : ""
            accounts +=
                "\(id(i)),\(name),\(r.pick(plans)),\(r.int(100...5000)).\(r.int(10...99)),\(start),\(churned),\(r.int(1...40)),\(r.int(4...12)),\(r.int(0...6)),\(cac),\(nps)\n"
        }
        accounts += "c001,Duplicate,basic,1,2025-01-01,,1,1,0,,\n"
        try f.write("accounts.csv", accounts)

        // Activity over 90 days in four files, two of them gzipped (one multi-member).
        var files: [[String]] = [[], [], [], []]
        let events = [
            "login", "feature_use", "api_call", "mobile_session", "dashboard_view", "work_order_completed",
            "training_completed",
        ]
        for dayOffset in 0..<90 {
            let file = dayOffset < 31 ? 0 : dayOffset < 59 ? 1 : (dayOffset % 2 == 0 ? 2 : 3)
            for _ in 0..<r.int(60...120) {
                let c = r.int(1...customers)
                let event = r.pick(events)
                let feature =
                    event == "feature_use"
                    ? r.pick(features) : event == "training_completed" ? "module-\(r.int(1...6))" : ""
                let ts =
                    "\(day(dayOffset))T\(String(format: "%02d:%02d:%02d", r.int(0...23), r.int(0...59), r.int(0...59)))\(r.pick(["Z", "Z", "+02:00", "-05:00"]))"
                files[file].append("\(id(c)),u\(c)-\(r.int(1...12)),\(ts),\(event),\(feature),\(r.int(1...600))")
            }
            // unknown customer
            if r.chance(0.2) { files[file].append("c\(r.int(900...999)),u1,\(day(dayOffset))T10:00:00Z,login,,") }
            if r.chance(0.1) {
                files[file].append("\(id(r.int(1...customers))),u1,\(day(dayOffset))T10:00:00Z,logout,,")
            }  // bad
        }
        let header = Sample.activityHeader + "\n"
        try f.writeGzip(
            "activity-2026-01.csv.gz",
            members: [
                header + files[0].prefix(1000).map { $0 + "\n" }.joined(),
                files[0].dropFirst(1000).map { $0 + "\n" }.joined(),
            ])
        try f.write("activity-2026-02.csv", header + files[1].map { $0 + "\n" }.joined())
        try f.writeGzip("activity-2026-03a.csv.gz", header + files[2].map { $0 + "\n" }.joined())
        try f.write(
            "activity-2026-03b.csv",
            header.replacingOccurrences(of: "\n", with: "\r\n")
                + files[3].map { $0 + "\r\n" }.joined())

        // Tickets: versions spread over two files, with equal-stamp ties between them.
        var t1 = ""
        var t2 = ""
        for t in 0..<150 {
            let c = id(r.int(1...customers))
            let opened = r.int(0...89)
            let hour = r.int(0...20)
            let openedAt = "\(day(opened))T\(String(format: "%02d", hour)):00:00Z"
            let first = "\(day(opened))T\(String(format: "%02d", hour + r.int(1...3))):00:00Z"
            let resolved = "\(day(min(89, opened + r.int(1...4))))T12:00:00Z"
            t1 +=
                "{\"ticket_id\": \"T\(t)\", \"customer_id\": \"\(c)\", \"opened_at\": \"\(openedAt)\", \"first_response_at\": null, \"priority\": \"high\", \"status\": \"open\"}\n"
            if r.chance(0.6) {
                let line =
                    "{\"ticket_id\": \"T\(t)\", \"customer_id\": \"\(c)\", \"opened_at\": \"\(openedAt)\", \"first_response_at\": \"\(first)\", \"resolved_at\": \"\(resolved)\", \"status\": \"closed\"}\n"
                t2 += line
                if r.chance(0.3) {
                    // The same stamp in the first file, with another response time: the later file wins.
                    t1 += line.replacingOccurrences(of: first, with: openedAt)
                }
            }
        }
        t1 += "{\"ticket_id\": \"broken\", \n"
        try f.write("tickets-1.jsonl", t1)
        try f.writeGzip("tickets-2.jsonl.gz", t2)

        var uptime = Sample.uptimeHeader + "\n"
        var savings = Sample.savingsHeader + "\n"
        for i in 1...customers {
            for d in stride(from: 0, to: 90, by: r.int(1...3)) {
                uptime += "\(id(i)),\(day(d)),\(r.int(93...100)).\(r.int(0...999))\n"
            }
            for _ in 0..<r.int(0...4) {
                savings +=
                    "\(id(i)),\(day(r.int(0...89))),\(r.int(0...9000)).\(String(format: "%02d", r.int(0...99))),energy\n"
            }
        }
        uptime += "c001,2026-03-01,101\n"
        try f.writeGzip("uptime.csv.gz", uptime)
        try f.write("savings.csv", savings)
    }
}

package enum CalendarDayText {
    /// yyyy-MM-dd of 2026-01-01 plus `offset` days.
    package static func from(_ offset: Int) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let start = cal.date(from: DateComponents(year: 2026, month: 1, day: 1))!
        let d = cal.date(byAdding: .day, value: offset, to: start)!
        let c = cal.dateComponents([.year, .month, .day], from: d)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }
}
