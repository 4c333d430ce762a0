/// A contract reference as clients write it: `name@version`, e.g. `task.create@v1`.
public struct ContractID: Hashable, Sendable, CustomStringConvertible {
    public private(set) var name: String
    public private(set) var version: String
    /// `name@version`, kept rather than rebuilt: it is hashed and logged with every command.
    public let description: String

    /// Equal and hashed by `name@version` alone (name and version are its two parts): one
    /// string hashed per lookup, not three.
    public static func == (lhs: ContractID, rhs: ContractID) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    public init(name: String, version: String) {
        self.name = name
        self.version = version
        description = "\(name)@\(version)"
    }

    /// Parses `name@version`; names are dotted lowercase words, versions `v1`, `v1alpha1`, `v2beta3`.
    public init?(_ text: String) {
        guard let at = text.utf8.firstIndex(of: UInt8(ascii: "@")) else { return nil }
        let name = text[..<at]
        let version = text[text.utf8.index(after: at)...]
        guard ContractID.isValidName(name), ContractID.isValidVersion(version) else { return nil }
        self.name = String(name)
        self.version = String(version)
        description = text
    }

    /// Dot-separated words, each `[a-z][a-z0-9_-]*`; checked on bytes (this runs per command).
    static func isValidName(_ name: Substring) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 96 else { return false }
        var atWordStart = true
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if atWordStart { return false }
                atWordStart = true
                continue
            }
            let isLower = byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")
            if atWordStart {
                guard isLower else { return false }
                atWordStart = false
                continue
            }
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            guard isLower || isDigit || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") else { return false }
        }
        return !atWordStart
    }

    /// `v1`, `v1alpha1`, `v2beta3`; checked on the bytes in place (this runs per command too).
    static func isValidVersion(_ version: Substring) -> Bool {
        let bytes = version.utf8
        guard bytes.count >= 2, bytes.count <= 16, bytes.first == UInt8(ascii: "v") else { return false }
        var index = bytes.index(after: bytes.startIndex)
        func digits() -> Bool {
            let start = index
            while index < bytes.endIndex, bytes[index] >= 0x30, bytes[index] <= 0x39 { index = bytes.index(after: index) }
            return index > start
        }
        guard digits() else { return false }
        if index == bytes.endIndex { return true }
        func stage(_ name: StaticString) -> Bool {
            let stageBytes = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
            guard bytes[index...].starts(with: stageBytes) else { return false }
            index = bytes.index(index, offsetBy: stageBytes.count)
            return true
        }
        guard stage("alpha") || stage("beta") else { return false }
        return digits() && index == bytes.endIndex
    }
}
