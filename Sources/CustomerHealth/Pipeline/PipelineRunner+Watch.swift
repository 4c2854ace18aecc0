import Foundation

extension PipelineRunner {
    /// A watch session on the pipeline's exports. Each as-of day gets the
    /// churn model `run` would use for it (`ChurnModelChooser`).
    public func watchSession(settings: WatchSettings, checkpoint: WatchCheckpoint?) -> WatchSession {
        WatchSession(
            config: config, settings: settings, checkpoint: checkpoint, threads: threads, logger: logger
        ) { [self] data, day in
            try ChurnModelChooser(runner: self, data: data).model(asOf: day).0
        }
    }

    /// The watch loop of `watch` and `serve --watch`, going on from the
    /// checkpoint in `options.stateDirectory` when there is one.
    public func watchLoop(settings: WatchSettings, options: WatchOptions) throws -> WatchLoop {
        let checkpoint = try WatchLoop.checkpoint(in: options.stateDirectory)
        return try WatchLoop(
            session: watchSession(settings: settings, checkpoint: checkpoint), options: options, logger: logger)
    }
}
