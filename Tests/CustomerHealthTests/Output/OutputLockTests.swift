import CustomerHealthTestSupport
import Foundation
import XCTest

@testable import CustomerHealth

/// The output lock in this process: one publisher at a time.
final class OutputLockTests: XCTestCase {
    func testTheLockIsExclusiveBetweenPublishers() throws {
        let f = try ExportsFolder()
        let a = RunPublisher(outputDirectory: f.output.path)
        let b = RunPublisher(outputDirectory: f.output.path)
        try a.lock(waitSeconds: 0)
        XCTAssertThrowsError(try b.lock(waitSeconds: 0)) { error in
            XCTAssertTrue("\(error)".contains("another customer-health run is writing here"), "\(error)")
        }
        a.unlock()
        XCTAssertNoThrow(try b.lock(waitSeconds: 0))
        b.unlock()
    }
}
