import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `partition` did, for the summary the CLI prints.
public struct PartitionSummary: Sendable {
    public var directory: String
    /// Files split this time, files whose split was kept, and files read
    /// again only for their summary (the accounts or ingest settings changed).
    public var filesSplit: Int
    public var filesKept: Int
    public var filesResummarised: Int
    /// Files left whole (they cannot be read; a run reports why), with the reason.
    public var filesLeftWhole: [(name: String, reason: String)]
    public var rowsSplit: Int
    public var rowsRead: Int
    public var bytesRead: Int
    public var seconds: Double
}

/// `customer-health partition` (docs/scale-out.md#partitioned-input): splits
/// the exports whose rows are about one customer into bucket=NNN/ folders,
/// once per file, so that each shard of a sharded run reads only its own
/// buckets. Each record is copied as written, with where it was in its file,
/// so that rejects name the original file, line and byte offset. What spans
/// all customers (the first and last activity day, first days of each
/// source, event names and counts), which a shard reading only its buckets
/// cannot see, is computed here per file and kept in the manifest.
extension PipelineRunner {
    public func partition(outputDirectory: String?) throws -> PartitionSummary {
        let started = ContinuousClock.now
        let target = try preparePartitionFolder(outputDirectory: outputDirectory)
        let dir = target.directory
        let publisher = RunPublisher(outputDirectory: target.meta)
        try publisher.lock(waitSeconds: config.lockWaitSeconds)
        defer { publisher.unlock() }
        PipelineRunner.removeDeadTemporaries(dir)

        let reader = IngestRunner(config: config, threads: threads, logger: logger)
        let files = try reader.listFiles()
        let accounts = try readAccountsForPartition(reader, files: files)
        let old = previousManifest(in: dir)
        let summariesCurrent =
            old?.ingestFingerprint == accounts.fingerprint && old?.accounts == accounts.identities
        let plan = planPartitionJobs(files, old: old, summariesCurrent: summariesCurrent)
        try withdrawEntriesToRedo(plan.jobs, from: old, directory: dir)
        let outcomes = splitFiles(plan.jobs, reader: reader, accounts: accounts, directory: dir)
        PipelineRunner.flushToDisk(directory: dir)
        let (entries, leftWhole) = try commitOutcomes(outcomes, of: plan, directory: dir)
        let manifest = PartitionManifest(
            format: PartitionLayout.format, buckets: ShardSpec.bucketCount, inPlace: target.inPlace,
            ingestFingerprint: accounts.fingerprint, accounts: accounts.identities, files: entries,
            leftWhole: leftWhole)
        try publishPartition(manifest, files: files, target: target)
        return PartitionSummary(
            plan: plan, outcomes: outcomes, leftWhole: leftWhole, directory: dir,
            seconds: Elapsed.seconds(since: started))
    }

    /// Resolves and checks the folder to write to, and makes its bucket and manifest folders.
    private func preparePartitionFolder(outputDirectory: String?) throws -> PartitionTarget {
        let input = config.inputDirectory
        let dir = outputDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? input
        let inPlace = PipelineRunner.sameFolder(dir, input)
        if let theirs = try? PartitionLayout.manifest(in: input), !theirs.inPlace {
            throw CustomerHealthError.input(
                file: input,
                message:
                    "is itself a partition written by `partition --output`: partition the exports with the pipeline that reads them (its `input` is the exports folder)"
            )
        }
        let fm = FileManager.default
        if !inPlace, let existing = try? fm.contentsOfDirectory(atPath: dir), !existing.isEmpty,
            !existing.contains(PartitionLayout.folder)
        {
            throw CustomerHealthError.output(
                path: dir,
                message:
                    "holds files and no partition (\(PartitionLayout.folder)/): give partition an empty or new folder, or the pipeline's input folder"
            )
        }
        let meta = (dir as NSString).appendingPathComponent(PartitionLayout.folder)
        do {
            try fm.createDirectory(atPath: meta, withIntermediateDirectories: true)
            for b in 0..<ShardSpec.bucketCount {
                try fm.createDirectory(
                    atPath: PartitionLayout.bucketFolder(dir, bucket: b), withIntermediateDirectories: true)
            }
        } catch {
            throw CustomerHealthError.output(
                path: dir, message: "cannot create the partition folders: \(error.localizedDescription)")
        }
        return PartitionTarget(directory: dir, inPlace: inPlace, meta: meta)
    }

    /// Accounts as a run reads them, skipping a corrupt one under on_corrupt_file: skip.
    private func readAccountsForPartition(_ reader: IngestRunner, files: [InputFile]) throws -> PartitionAccounts {
        var skip: Set<String> = []
        var accountsRead: ([AccountRecord], CustomerDirectory, [FileReport])
        while true {
            do {
                accountsRead = try reader.readAccounts(files: files, skipping: skip)
                break
            } catch let failure as IngestRunner.CorruptFileFailure {
                skip.insert(failure.path)
            }
        }
        let (accounts, customers, accountReports) = accountsRead
        return PartitionAccounts(
            accounts: accounts, customers: customers, fingerprint: PartitionLayout.ingestFingerprint(config),
            identities: accountReports.map {
                PartitionManifest.FileIdentity(file: $0.name, size: $0.size, sha256: $0.sha256)
            })
    }

    /// The manifest of the last partition, if it can be read.
    private func previousManifest(in dir: String) -> PartitionManifest? {
        var old: PartitionManifest? = nil
        do { old = try PartitionLayout.manifest(in: dir) } catch {
            logger.warning("\(error); partitioning every file again")
        }
        return old
    }

    /// What each splittable file needs: nothing, a new summary, or a split.
    private func planPartitionJobs(_ files: [InputFile], old: PartitionManifest?, summariesCurrent: Bool)
        -> PartitionPlan
    {
        var plan = PartitionPlan()
        for file in files where file.kind.isSplitByCustomer {
            var st = stat()
            guard stat(file.path, &st) == 0 else { continue }
            let splitPrint = PartitionLayout.splitFingerprint(
                config.exportSettings(file.kind), maxRowBytes: config.maxRowBytes,
                includeRaw: config.rejectsIncludeRaw)
            let previous = old?.entry(named: file.name)
            let same =
                previous.map {
                    $0.export == file.kind.rawValue && $0.isUnchanged(st) && $0.split == splitPrint
                } ?? false
            if same && summariesCurrent {
                plan.kept.append(previous!)
            } else if summariesCurrent,
                let whole = old?.leftWhole.first(where: {
                    $0.file == file.name && $0.isUnchanged(st)
                })
            {
                // Could not be read last time, and has not changed since.
                plan.keptWhole.append(whole)
            } else {
                plan.jobs.append(
                    PartitionJob(
                        file: file, size: Int(st.st_size), mtimeNs: modifiedNanoseconds(st), split: !same, old: previous
                    ))
            }
        }
        return plan
    }

    /// Entries about to be replaced leave the manifest first: a partition
    /// killed midway leaves those files unsplit (read whole), never stale.
    private func withdrawEntriesToRedo(_ jobs: [PartitionJob], from old: PartitionManifest?, directory: String) throws {
        if let old {
            var interim = old
            let redo = Set(jobs.filter(\.split).map(\.file.name))
            interim.files.removeAll { redo.contains($0.file) }
            try writeManifest(interim, directory: directory)
        }
    }

    /// Reads (and, for a split, writes the buckets of) every job's file in
    /// parallel; each job's outcome is at its index.
    private func splitFiles(
        _ jobs: [PartitionJob], reader: IngestRunner, accounts: PartitionAccounts, directory dir: String
    ) -> [PartitionOutcome] {
        let outcomes = (0..<jobs.count).map { _ in PartitionOutcome() }
        let work = jobs
        let config = self.config
        let customers = accounts.customers
        let customerCount = accounts.accounts.count
        let workers = max(1, min(threads, jobs.count))
        // Largest files first, each worker taking the next: the last to finish is a small one.
        let order = work.indices.sorted {
            (work[$0].file.size, work[$1].file.name) > (work[$1].file.size, work[$0].file.name)
        }
        ParallelMap.pull(count: order.count, workers: workers) { k in
            let job = work[order[k]]
            let outcome = outcomes[order[k]]
            let settings = config.exportSettings(job.file.kind)
            let buckets = job.split ? BucketFileSet(directory: dir, name: job.file.name) : nil
            do {
                let (report, summary) = try reader.readForPartition(
                    job.file, customers: customers, customerCount: customerCount,
                    splitter: buckets ?? DiscardingSplitter())
                outcome.rowsRead = report.rowsRead + (buckets?.rows.reduce(0, +) ?? job.old?.rows ?? 0)
                if let buckets {
                    let used = try buckets.finish()
                    outcome.buckets = buckets
                    outcome.unplaced = report.rejects
                    outcome.entry = PartitionManifest.Entry(
                        export: job.file.kind.rawValue, file: job.file.name, size: report.size,
                        sha256: report.sha256, mtimeNs: job.mtimeNs,
                        split: PartitionLayout.splitFingerprint(
                            settings, maxRowBytes: config.maxRowBytes, includeRaw: config.rejectsIncludeRaw),
                        rows: buckets.rows.reduce(0, +), buckets: used, unplacedRejects: report.rejects.count,
                        summary: summary)
                } else {
                    var entry = job.old!
                    entry.summary = summary
                    outcome.entry = entry
                }
            } catch {
                // Left whole: a run reads it and reports (or skips) it as it would unsplit.
                buckets?.abandon()
                outcome.leftWhole = "\(error)"
            }
        }
        return outcomes
    }

    /// Everything written reaches the disk before anything is renamed into place.
    private static func flushToDisk(directory dir: String) {
        let dirFD = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = syncFileSystem(dirFD)
            close(dirFD)
        }
    }

    /// Renames each split's buckets and rejects into place, in job order;
    /// returns the manifest's entries (sorted) and files left whole.
    private func commitOutcomes(_ outcomes: [PartitionOutcome], of plan: PartitionPlan, directory dir: String) throws
        -> ([PartitionManifest.Entry], [PartitionManifest.LeftWhole])
    {
        var entries = plan.kept
        var leftWhole = plan.keptWhole
        for (job, outcome) in zip(plan.jobs, outcomes) {
            if let reason = outcome.leftWhole {
                leftWhole.append(
                    PartitionManifest.LeftWhole(
                        file: job.file.name, size: job.size, mtimeNs: job.mtimeNs, reason: reason))
                continue
            }
            guard let entry = outcome.entry else { continue }
            if let buckets = outcome.buckets {
                try buckets.commit()
                let rejects = PartitionLayout.rejectsPath(dir, name: entry.file)
                if outcome.unplaced.isEmpty {
                    unlink(rejects)
                } else {
                    var text = ""
                    for r in outcome.unplaced { text += r.json().serialized(pretty: false) + "\n" }
                    try AtomicFile.write(Data(text.utf8), to: rejects)
                }
            }
            entries.append(entry)
        }
        entries.sort { ($0.export, $0.file) < ($1.export, $1.file) }
        return (entries, leftWhole)
    }

    /// Makes the bucket folders durable, writes the manifest, removes what it
    /// no longer lists and, in another folder, links the files left whole.
    private func publishPartition(_ manifest: PartitionManifest, files: [InputFile], target: PartitionTarget) throws {
        let dir = target.directory
        for b in 0..<ShardSpec.bucketCount { AtomicFile.fsyncDirectory(PartitionLayout.bucketFolder(dir, bucket: b)) }
        try writeManifest(manifest, directory: dir)
        PipelineRunner.removeUnlisted(manifest, directory: dir)
        if !target.inPlace {
            let split = Set(manifest.files.map(\.file))
            try PipelineRunner.linkWholeFiles(files.filter { !split.contains($0.name) }, into: dir, config: config)
        }
    }

    private func writeManifest(_ manifest: PartitionManifest, directory: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(manifest), to: PartitionLayout.manifestPath(directory))
    }

    static func sameFolder(_ a: String, _ b: String) -> Bool {
        func real(_ p: String) -> String {
            guard let r = realpath(p, nil) else { return URL(fileURLWithPath: p).standardizedFileURL.path }
            defer { free(r) }
            return String(cString: r)
        }
        return real(a) == real(b)
    }

    /// Bucket files, positions and rejects of files no longer in the manifest
    /// (replaced by fewer buckets, deleted from the exports, or left whole).
    private static func removeUnlisted(_ manifest: PartitionManifest, directory: String) {
        var wanted: Set<String> = []
        for e in manifest.files {
            for b in e.buckets {
                wanted.insert(PartitionLayout.bucketFile(directory, bucket: b, name: e.file))
                wanted.insert(PartitionLayout.positionsFile(directory, bucket: b, name: e.file))
            }
        }
        let fm = FileManager.default
        for b in 0..<ShardSpec.bucketCount {
            let folder = PartitionLayout.bucketFolder(directory, bucket: b)
            for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where !name.hasSuffix(".tmp") {
                let path = folder + "/" + name
                if !wanted.contains(path) { unlink(path) }
            }
        }
        let meta = (directory as NSString).appendingPathComponent(PartitionLayout.folder)
        let rejects = Set(manifest.files.filter { $0.unplacedRejects > 0 }.map { $0.file + ".rejects.jsonl" })
        for name in (try? fm.contentsOfDirectory(atPath: meta)) ?? []
        where name.hasSuffix(".rejects.jsonl") && !rejects.contains(name) {
            unlink(meta + "/" + name)
        }
    }

    /// Temporary files of partitions that were killed (their process is gone).
    private static func removeDeadTemporaries(_ directory: String) {
        let fm = FileManager.default
        for b in 0..<ShardSpec.bucketCount {
            let folder = PartitionLayout.bucketFolder(directory, bucket: b)
            for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".tmp") {
                let parts = name.dropLast(4).split(separator: ".")
                if let pid = parts.last.flatMap({ Int32($0) }), !AtomicFile.processExists(pid) {
                    unlink(folder + "/" + name)
                }
            }
        }
    }

    /// A partition in another folder holds the files it did not split
    /// (accounts, tickets, files left whole) as hard links to the exports,
    /// or copies where a link cannot be made; export files no longer in
    /// the input folder are removed from it.
    private static func linkWholeFiles(_ files: [InputFile], into directory: String, config: PipelineConfig) throws {
        let fm = FileManager.default
        let wanted = Set(files.map(\.name))
        for file in files {
            let target = (directory as NSString).appendingPathComponent(file.name)
            var a = stat()
            var b = stat()
            if stat(file.path, &a) == 0, stat(target, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino { continue }
            let tmp = AtomicFile.temporaryPath(of: target)
            unlink(tmp)
            if link(file.path, tmp) != 0 {
                do { try fm.copyItem(atPath: file.path, toPath: tmp) } catch {
                    throw CustomerHealthError.output(
                        path: target, message: "cannot link or copy \(file.path) here: \(error.localizedDescription)")
                }
            }
            guard rename(tmp, target) == 0 else {
                let reason = IOFailure.describe(errno)
                unlink(tmp)
                throw CustomerHealthError.output(path: target, message: "cannot rename into place: \(reason)")
            }
        }
        for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] where !wanted.contains(name) {
            let isExport = ExportKind.allCases.contains { kind in
                config.exportSettings(kind).globs.contains { fnmatch($0, name, 0) == 0 }
            }
            if isExport { unlink((directory as NSString).appendingPathComponent(name)) }
        }
    }
}

/// The folder a partition is written to, and its manifest folder.
private struct PartitionTarget {
    var directory: String
    var inPlace: Bool
    var meta: String
}

/// The accounts as a run reads them, and what the manifest records of them.
private struct PartitionAccounts {
    var accounts: [AccountRecord]
    var customers: CustomerDirectory
    var fingerprint: String
    var identities: [PartitionManifest.FileIdentity]
}

/// One splittable file that needs a new summary or a split.
private struct PartitionJob {
    var file: InputFile
    var size: Int
    var mtimeNs: Int64
    var split: Bool
    var old: PartitionManifest.Entry?
}

/// The files whose entries are kept as they are, and the jobs for the rest.
private struct PartitionPlan {
    var kept: [PartitionManifest.Entry] = []
    var keptWhole: [PartitionManifest.LeftWhole] = []
    var jobs: [PartitionJob] = []
}

/// What reading one job's file gave, filled in by the worker that read it.
private final class PartitionOutcome: @unchecked Sendable {
    var entry: PartitionManifest.Entry?
    var buckets: BucketFileSet?
    var unplaced: [RejectRecord] = []
    var leftWhole: String?
    var rowsRead = 0
}

extension PartitionSummary {
    fileprivate init(
        plan: PartitionPlan, outcomes: [PartitionOutcome], leftWhole: [PartitionManifest.LeftWhole],
        directory: String, seconds: Double
    ) {
        let jobs = plan.jobs
        let done = zip(jobs, outcomes).filter { $0.1.leftWhole == nil }
        self.init(
            directory: directory, filesSplit: done.filter { $0.0.split }.count, filesKept: plan.kept.count,
            filesResummarised: done.filter { !$0.0.split }.count,
            filesLeftWhole: leftWhole.map { ($0.file, $0.reason) },
            rowsSplit: done.filter { $0.0.split }.reduce(0) { $0 + ($1.1.entry?.rows ?? 0) },
            rowsRead: outcomes.reduce(0) { $0 + $1.rowsRead }, bytesRead: jobs.reduce(0) { $0 + $1.file.size },
            seconds: seconds)
    }
}
