/// The version of customer-health: printed by `--version`, written into
/// manifests, model files and shard results, and checked when shards or
/// training parts are joined. CHANGELOG.md says what each version changed.
public enum ToolVersion {
    public static let current = "0.1.0"
}
