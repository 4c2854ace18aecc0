import Foundation

/// JSONSerialization hands numbers back as NSNumber; these aliases keep the
/// Foundation types out of the feature code's signatures.
typealias NSNumberLike = NSNumber
typealias NSNullLike = NSNull
