import Foundation
import XCTest

@testable import CustomerHealth

/// The model's inputs are declared once and resolved by name: the fixed
/// ones in a pinned order, the ones derived from the product's events by
/// their names, in the order the model file gives.
final class ModelInputsTests: XCTestCase {
    func testTheFixedInputsAndTheirOrderArePinned() {
        // A model file lists its inputs by name, and old models name these: changing the list is deliberate.
        XCTAssertEqual(
            ChurnFeatures.names,
            [
                "days_since_last_login", "monthly_active_users", "daily_active_users", "feature_adoption_rate",
                "support_tickets_30d", "avg_first_response_hours", "uptime_percentage", "cost_savings_achieved",
                "training_completion_rate", "api_calls_30d", "work_orders_completed_30d",
                "months_since_subscription_start",
                "seats", "logins_30d", "monthly_active_users_per_seat", "daily_active_users_per_seat",
                "support_tickets_30d_per_seat", "cost_savings_per_seat", "work_orders_30d_per_seat",
                "features_used_30d",
                "events_per_seat_decayed_14d", "events_per_seat_decayed_30d", "events_per_seat_365d",
                "events_recent_vs_365d",
                "savings_per_record_365d_per_seat", "users_14d_per_seat", "feature_adoption_90d",
                "feature_use_share_30d",
                "active_days_share_90d",
            ])
        XCTAssertEqual(
            Set(ChurnFeatures.fixed.map(\.words)).count, ChurnFeatures.fixed.count, "every input has its own words")
    }

    func testEventInputNamesRoundTrip() {
        let name = ChurnFeatures.name(.count28, .product("Report Exported"))
        XCTAssertEqual(name, "events_28d:\"Report Exported\"")
        XCTAssertEqual(ChurnFeatures.input(named: name)?.words, "Report Exported in 28 days")
        XCTAssertEqual(ChurnFeatures.input(named: "days_since_event:api_call")?.words, "Days since the last api calls")
        XCTAssertNil(ChurnFeatures.input(named: "events_28d:nonsense"))
        XCTAssertNil(ChurnFeatures.input(named: "no_such_input"))
        XCTAssertEqual(ChurnFeatures.unknown(in: ["logins_30d", "x", "events_7d:login"]), ["x"])
        XCTAssertEqual(
            ChurnFeatures.describe(name, 14, inputs: ["events_90d:\"Report Exported\"": 129]),
            "Report Exported in 28 days: 14, down from 40 a month over 90 days")
        XCTAssertEqual(
            ChurnFeatures.describe("monthly_active_users_per_seat", 0.12345, inputs: [:]),
            "Monthly active users per seat: 0.123")
    }

}
