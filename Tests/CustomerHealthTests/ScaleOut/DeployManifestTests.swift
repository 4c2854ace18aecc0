import Foundation
import XCTest

/// The Kubernetes manifests of deploy/kubernetes: valid against the 1.33 API
/// schemas (deploy/kubernetes/validate.sh), and holding the properties the
/// sharded run relies on (docs: deploy/kubernetes/README.md).
final class DeployManifestTests: XCTestCase {
    /// The repository root, from this file's path (Tests/CustomerHealthTests/ScaleOut/).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var kubernetesDir: URL { repoRoot.appendingPathComponent("deploy/kubernetes") }

    /// The exit codes not worth retrying (README "Exit codes").
    static let permanentExitCodes: Set<Int> = [2, 3, 4]

    // MARK: - validate.sh

    func testValidateScriptPassesEveryManifest() throws {
        let result = try Self.runValidate()
        if result.status != 0, result.output.contains("pip install kubernetes-validate failed") {
            throw XCTSkip("kubernetes-validate could not be installed with pip:\n\(result.output)")
        }
        XCTAssertEqual(result.status, 0, "validate.sh failed:\n\(result.output)")

        let files = try Self.yamlFiles()
        XCTAssertTrue(files.contains("shards-job.yaml"), "no shards-job.yaml in \(files)")
        for file in files where file != "kustomization.yaml" {
            XCTAssertTrue(
                result.output.contains("INFO \(file) passed for resource "),
                "validate.sh did not report \(file) valid:\n\(result.output)")
        }
        if files.contains("kustomization.yaml") {
            XCTAssertTrue(
                result.output.contains("INFO kustomization.yaml passed for resource ")
                    || result.output.contains("SKIP kustomization.yaml"),
                "validate.sh did not report the kustomize rendering:\n\(result.output)")
        }
        XCTAssertFalse(result.output.contains("ERROR"), result.output)
        XCTAssertFalse(result.output.contains("WARN"), result.output)
        XCTAssertTrue(result.output.contains("against version 1.33"), "not validated against 1.33:\n\(result.output)")
    }

    // MARK: - what the sharded run relies on

    func testShardsJobIsIndexedWithOneShardCount() throws {
        let job = try Self.single("shards-job.yaml")
        XCTAssertEqual(job["apiVersion"] as? String, "batch/v1")
        XCTAssertEqual(job["kind"] as? String, "Job")
        let spec = try XCTUnwrap(job["spec"] as? [String: Any])
        XCTAssertEqual(spec["completionMode"] as? String, "Indexed")

        let completions = try XCTUnwrap(spec["completions"] as? Int, "spec.completions")
        let parallelism = try XCTUnwrap(spec["parallelism"] as? Int, "spec.parallelism")
        let container = try Self.container(of: spec, named: "customer-health")
        let countText = try XCTUnwrap(
            Self.env(container)["CH_SHARD_COUNT"], "no CH_SHARD_COUNT in the shards container")
        XCTAssertEqual(completions, parallelism, "completions and parallelism differ")
        XCTAssertEqual(Int(countText), completions, "CH_SHARD_COUNT (\(countText)) is not completions (\(completions))")
        XCTAssertTrue((1...256).contains(completions), "a shard count of \(completions) is outside 1-256")

        XCTAssertNotNil(spec["backoffLimitPerIndex"] as? Int, "spec.backoffLimitPerIndex")
        XCTAssertNotNil(spec["maxFailedIndexes"] as? Int, "spec.maxFailedIndexes")
        let pod = try XCTUnwrap((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        XCTAssertEqual(pod["restartPolicy"] as? String, "Never", "backoffLimitPerIndex needs restartPolicy Never")

        // The container runs `run PIPELINE --shard auto --shard-output DIR --as-of DAY`.
        let args = try XCTUnwrap(container["args"] as? [String])
        XCTAssertEqual(args.first, "run")
        XCTAssertEqual(Self.value(after: "--shard", in: args), "auto")
        let shardOutput = try XCTUnwrap(Self.value(after: "--shard-output", in: args))
        XCTAssertTrue(shardOutput.contains("$(AS_OF)"), "--shard-output \(shardOutput) is not per day")
        XCTAssertEqual(Self.value(after: "--as-of", in: args), "$(AS_OF)")
        XCTAssertNotNil(Self.env(container)["AS_OF"], "$(AS_OF) expands only from a variable of the container")
    }

    func testShardsJobFailsAnIndexAtOnceOnPermanentExitCodes() throws {
        let spec = try XCTUnwrap(Self.single("shards-job.yaml")["spec"] as? [String: Any])
        let rules = try Self.failureRules(spec)
        let failIndex = rules.filter { $0["action"] as? String == "FailIndex" }
        XCTAssertEqual(failIndex.count, 1, "one FailIndex rule: \(rules)")
        let onExit = try XCTUnwrap(failIndex.first?["onExitCodes"] as? [String: Any])
        XCTAssertEqual(onExit["operator"] as? String, "In")
        XCTAssertEqual(Set((onExit["values"] as? [Int]) ?? []), Self.permanentExitCodes)
        XCTAssertEqual(onExit["containerName"] as? String, "customer-health")
        _ = try Self.container(of: spec, named: "customer-health")
        XCTAssertTrue(Self.ignoresDisruptions(rules), "no Ignore rule for DisruptionTarget: \(rules)")
    }

    func testMergeJobReadsTheShardsOfTheSameDay() throws {
        let shards = try XCTUnwrap(Self.single("shards-job.yaml")["spec"] as? [String: Any])
        let merge = try XCTUnwrap(Self.single("merge-job.yaml")["spec"] as? [String: Any])
        let shardArgs = try XCTUnwrap(try Self.container(of: shards, named: "customer-health")["args"] as? [String])
        let mergeContainer = try Self.container(of: merge, named: "customer-health")
        let mergeArgs = try XCTUnwrap(mergeContainer["args"] as? [String])
        XCTAssertEqual(mergeArgs.first, "merge")
        XCTAssertEqual(
            mergeArgs.dropFirst().first, shardArgs.dropFirst().first, "merge and shards read different pipelines")
        XCTAssertEqual(Self.value(after: "--shards", in: mergeArgs), Self.value(after: "--shard-output", in: shardArgs))
        XCTAssertNotNil(Self.env(mergeContainer)["AS_OF"])

        let rules = try Self.failureRules(merge)
        let failJob = try XCTUnwrap(rules.first { $0["action"] as? String == "FailJob" }, "no FailJob rule: \(rules)")
        let values = ((failJob["onExitCodes"] as? [String: Any])?["values"] as? [Int]) ?? []
        XCTAssertEqual(Set(values), Self.permanentExitCodes)
        XCTAssertTrue(Self.ignoresDisruptions(rules))
    }

    func testCronJobDriverHasTheTemplatesAndTheRights() throws {
        let cron = try Self.single("cronjob.yaml")
        XCTAssertEqual(cron["kind"] as? String, "CronJob")
        let spec = try XCTUnwrap(cron["spec"] as? [String: Any])
        XCTAssertEqual(spec["concurrencyPolicy"] as? String, "Forbid")
        let jobSpec = try XCTUnwrap((spec["jobTemplate"] as? [String: Any])?["spec"] as? [String: Any])
        let pod = try XCTUnwrap((jobSpec["template"] as? [String: Any])?["spec"] as? [String: Any])
        let account = try XCTUnwrap(pod["serviceAccountName"] as? String)

        // The Role bound to that account may create, get and watch Jobs.
        let rbac = try Self.documents("rbac.yaml")
        XCTAssertTrue(rbac.contains { $0["kind"] as? String == "ServiceAccount" && Self.name($0) == account })
        let binding = try XCTUnwrap(rbac.first { $0["kind"] as? String == "RoleBinding" })
        let subjects = (binding["subjects"] as? [[String: Any]]) ?? []
        XCTAssertTrue(
            subjects.contains { $0["kind"] as? String == "ServiceAccount" && $0["name"] as? String == account })
        let roleName = try XCTUnwrap((binding["roleRef"] as? [String: Any])?["name"] as? String)
        let role = try XCTUnwrap(rbac.first { $0["kind"] as? String == "Role" && Self.name($0) == roleName })
        let jobRule = try XCTUnwrap(
            ((role["rules"] as? [[String: Any]]) ?? []).first {
                (($0["apiGroups"] as? [String]) ?? []).contains("batch")
                    && (($0["resources"] as? [String]) ?? []).contains("jobs")
            }, "the Role has no rule for batch jobs")
        XCTAssertTrue(Set(["create", "get", "watch"]).isSubset(of: Set((jobRule["verbs"] as? [String]) ?? [])))

        // The driver's templates come from the ConfigMap that kustomization.yaml generates.
        let volumes = (pod["volumes"] as? [[String: Any]]) ?? []
        let mapName = try XCTUnwrap(
            volumes.compactMap { ($0["configMap"] as? [String: Any])?["name"] as? String }.first)
        let kustomization = try Self.single("kustomization.yaml")
        let generated = try XCTUnwrap(
            (kustomization["configMapGenerator"] as? [[String: Any]])?.first { $0["name"] as? String == mapName },
            "kustomization.yaml generates no ConfigMap \(mapName)")
        let files = Set((generated["files"] as? [String]) ?? [])
        XCTAssertTrue(Set(["driver.sh", "shards-job.yaml", "merge-job.yaml"]).isSubset(of: files), "\(files)")
        let resources = Set((kustomization["resources"] as? [String]) ?? [])
        for needed in ["cronjob.yaml", "rbac.yaml", "pvc.yaml", "configmap.yaml"] {
            XCTAssertTrue(resources.contains(needed), "kustomization.yaml lacks \(needed)")
        }
    }

    func testPodsShareTheVolumeAndThePipeline() throws {
        let claim = try Self.single("pvc.yaml")
        XCTAssertEqual(
            (claim["spec"] as? [String: Any])?["accessModes"] as? [String], ["ReadWriteMany"],
            "the shard pods run on several nodes at once")
        let claimName = try XCTUnwrap(Self.name(claim))
        let pipelineMap = try Self.single("configmap.yaml")
        XCTAssertNotNil((pipelineMap["data"] as? [String: Any])?["pipeline.yaml"])
        let mapName = try XCTUnwrap(Self.name(pipelineMap))
        let containerfile = try String(
            contentsOf: Self.kubernetesDir.appendingPathComponent("Containerfile"), encoding: .utf8)
        XCTAssertTrue(containerfile.contains("swift build -c release --product customer-health"))
        XCTAssertTrue(containerfile.contains("USER 10001"), "the image runs as a non-root uid")

        for file in ["shards-job.yaml", "merge-job.yaml"] {
            let spec = try XCTUnwrap(Self.single(file)["spec"] as? [String: Any])
            let pod = try XCTUnwrap((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
            let volumes = (pod["volumes"] as? [[String: Any]]) ?? []
            XCTAssertTrue(
                volumes.contains {
                    ($0["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String == claimName
                }, file)
            XCTAssertTrue(volumes.contains { ($0["configMap"] as? [String: Any])?["name"] as? String == mapName }, file)
            let security = (pod["securityContext"] as? [String: Any]) ?? [:]
            XCTAssertEqual(security["runAsNonRoot"] as? Bool, true, file)
            XCTAssertEqual(security["runAsUser"] as? Int, 10001, "\(file): the Containerfile's user")
        }
    }

    // MARK: - helpers

    struct Output {
        var status: Int32
        var output: String
    }

    /// Runs validate.sh (bounded: pip may have to install kubernetes-validate).
    static func runValidate() throws -> Output {
        try run(["/bin/bash", kubernetesDir.appendingPathComponent("validate.sh").path], timeout: 300)
    }

    static func run(_ command: [String], timeout: TimeInterval) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = repoRoot
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ch-deploy-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            try handle.close()
            let text = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
            XCTFail("\(command.joined(separator: " ")) ran longer than \(Int(timeout)) s:\n\(text)")
            return Output(status: -1, output: text)
        }
        process.waitUntilExit()
        try handle.close()
        return Output(
            status: process.terminationStatus,
            output: String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self))
    }

    /// The YAML files of deploy/kubernetes, by name.
    static func yamlFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: kubernetesDir.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
    }

    /// Parsed documents of a manifest, through PyYAML (which kubernetes-validate
    /// brings; validate.sh installs it when missing).
    static func documents(_ file: String) throws -> [[String: Any]] {
        let script =
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))"
        var result = try run(
            ["/usr/bin/env", "python3", "-c", script, kubernetesDir.appendingPathComponent(file).path], timeout: 60)
        if result.status != 0, result.output.contains("No module named 'yaml'") {
            _ = try runValidate()
            result = try run(
                ["/usr/bin/env", "python3", "-c", script, kubernetesDir.appendingPathComponent(file).path], timeout: 60)
        }
        if result.status == 127 || result.output.contains("No module named 'yaml'") {
            throw XCTSkip("python3 with PyYAML is needed to read \(file):\n\(result.output)")
        }
        guard result.status == 0 else {
            struct Unreadable: Error, CustomStringConvertible { var description: String }
            throw Unreadable(description: "cannot read \(file):\n\(result.output)")
        }
        let parsed = try JSONSerialization.jsonObject(with: Data(result.output.utf8))
        return try XCTUnwrap(parsed as? [[String: Any]], "\(file) holds no YAML mappings")
    }

    static func single(_ file: String) throws -> [String: Any] {
        let docs = try documents(file)
        XCTAssertEqual(docs.count, 1, "\(file) should hold one document")
        return try XCTUnwrap(docs.first)
    }

    static func name(_ object: [String: Any]) -> String? {
        (object["metadata"] as? [String: Any])?["name"] as? String
    }

    /// The container called `name` of a Job spec's pod template.
    static func container(of jobSpec: [String: Any], named name: String) throws -> [String: Any] {
        let pod = try XCTUnwrap((jobSpec["template"] as? [String: Any])?["spec"] as? [String: Any])
        let containers = (pod["containers"] as? [[String: Any]]) ?? []
        return try XCTUnwrap(containers.first { $0["name"] as? String == name }, "no container \(name)")
    }

    /// A container's plain env values by name (valueFrom entries map to "").
    static func env(_ container: [String: Any]) -> [String: String] {
        var values: [String: String] = [:]
        for entry in (container["env"] as? [[String: Any]]) ?? [] {
            guard let name = entry["name"] as? String else { continue }
            if let value = entry["value"] as? String {
                values[name] = value
            } else if let value = entry["value"] {
                values[name] = "\(value)"
            } else {
                values[name] = ""
            }
        }
        return values
    }

    static func value(after option: String, in args: [String]) -> String? {
        guard let index = args.firstIndex(of: option), index + 1 < args.count else { return nil }
        return args[index + 1]
    }

    static func failureRules(_ jobSpec: [String: Any]) throws -> [[String: Any]] {
        let policy = try XCTUnwrap(jobSpec["podFailurePolicy"] as? [String: Any], "no podFailurePolicy")
        return (policy["rules"] as? [[String: Any]]) ?? []
    }

    static func ignoresDisruptions(_ rules: [[String: Any]]) -> Bool {
        rules.contains { rule in
            rule["action"] as? String == "Ignore"
                && ((rule["onPodConditions"] as? [[String: Any]]) ?? []).contains {
                    $0["type"] as? String == "DisruptionTarget"
                }
        }
    }
}
