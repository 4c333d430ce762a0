/// A contract set that cannot be loaded: which file, and what is wrong with it.
public struct ContractError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var reason: String

    public init(file: String, _ reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reason)" }
}
