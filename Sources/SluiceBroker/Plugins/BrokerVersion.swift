/// This broker's version, and the ranges a plugin's manifest may declare (`"broker_version"`):
/// the plugins it was built and tested against.
public enum BrokerVersion {
    /// The version of this build of Sluice.
    public static let current = SemanticVersion(major: 0, minor: 9, patch: 0)
}

/// `MAJOR.MINOR.PATCH`, compared numerically (no pre-release or build parts).
public struct SemanticVersion: Sendable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// `1.2.3`; nil for anything else.
    public init?(_ text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let numbers = Optional(parts.compactMap { $0.utf8.count <= 9 && $0.allSatisfy(\.isASCII) ? Int($0) : nil }),
            numbers.count == 3, numbers.allSatisfy({ $0 >= 0 })
        else { return nil }
        (major, minor, patch) = (numbers[0], numbers[1], numbers[2])
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }
}

/// A version range: comparators separated by spaces, all of which must hold — `>=0.9.0 <2.0.0`,
/// `>=1.0.0`, `=0.9.0` or a bare `0.9.0` (exactly that version). Operators: `>=`, `>`, `<=`, `<`, `=`.
public struct VersionRange: Sendable, Equatable, CustomStringConvertible {
    enum Operator: String, Sendable { case atLeast = ">=", above = ">", atMost = "<=", below = "<", exactly = "=" }

    struct Comparator: Sendable, Equatable {
        var operation: Operator
        var version: SemanticVersion

        func admits(_ candidate: SemanticVersion) -> Bool {
            switch operation {
            case .atLeast: candidate >= version
            case .above: candidate > version
            case .atMost: candidate <= version
            case .below: candidate < version
            case .exactly: candidate == version
            }
        }
    }

    let comparators: [Comparator]
    public let description: String

    /// Nil when `text` is not a range of this grammar (or is empty).
    public init?(_ text: String) {
        var comparators: [Comparator] = []
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            let operation = [Operator.atLeast, .atMost, .above, .below, .exactly].first { word.hasPrefix($0.rawValue) }
            let number = word.dropFirst(operation?.rawValue.count ?? 0)
            guard let version = SemanticVersion(number) else { return nil }
            comparators.append(Comparator(operation: operation ?? .exactly, version: version))
        }
        guard !comparators.isEmpty else { return nil }
        self.comparators = comparators
        description = text
    }

    public func contains(_ version: SemanticVersion) -> Bool { comparators.allSatisfy { $0.admits(version) } }
}
