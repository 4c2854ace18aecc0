/// Seconds since an instant, as the manifests, logs and benchmarks report them.
public enum Elapsed {
    public static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
