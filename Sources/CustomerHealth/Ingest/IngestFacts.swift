/// What reading the exports found besides the customers' data: each file's
/// counts and rejects, and the events by kind and by name. manifest.json,
/// metrics.prom and rejects.jsonl are written from it; the merge of a
/// sharded run adds up the shards' facts into the same value.
public struct IngestFacts: Sendable {
    /// One report per input file, sorted by export, then name.
    public var files: [FileReport]
    /// Events per built-in kind (EventKind raw values).
    public var eventCounts: [Int]
    /// Named product events and their counts, by name (UTF-8 order).
    public var productEvents: [(name: String, events: Int)]
    /// Event names mapped to `feature`, and their counts, by name.
    public var namedFeatureEvents: [(name: String, events: Int)]
    /// Events whose name `events:` says to ignore.
    public var ignoredEvents: Int

    public var rowsRead: Int { files.reduce(0) { $0 + $1.rowsRead } }
    public var rowsRejected: Int { files.reduce(0) { $0 + $1.rowsRejected } }
    public var rowsUnknownCustomer: Int { files.reduce(0) { $0 + $1.rowsUnknownCustomer } }

    /// How many events carry `name`: a built-in kind's count or a named event's.
    func events(named name: String) -> Int {
        if let kind = EventKind(name: name) { return eventCounts[Int(kind.rawValue)] }
        return (productEvents + namedFeatureEvents).first(where: { $0.name == name })?.events ?? 0
    }
}

extension IngestResult {
    public var facts: IngestFacts {
        IngestFacts(
            files: files, eventCounts: eventCounts, productEvents: productEventCounts,
            namedFeatureEvents: namedFeatureEventCounts,
            ignoredEvents: aggregates.ignoredEvents)
    }
}
