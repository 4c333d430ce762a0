/// A projection refresh that did not commit: its table keeps the seq it had.
struct ProjectionFailure: Error, Sendable {
    var name: String
    var reason: String
}
