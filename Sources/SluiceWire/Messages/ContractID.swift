/// A contract reference as clients write it: `name@version`, e.g. `task.create@v1`.
public struct ContractID: Hashable, Sendable, CustomStringConvertible {
    /// `name@version`, kept as received: it is hashed and logged with every command, and its
    /// parts are cut from it only when asked for.
    public let description: String
    /// Where the `@` is, in UTF-8 bytes.
    private let separator: Int

    /// The dotted name, `task.create`.
    public var name: String { String(decoding: description.utf8.prefix(separator), as: UTF8.self) }
    /// The version, `v1`.
    public var version: String { String(decoding: description.utf8.dropFirst(separator + 1), as: UTF8.self) }

    /// Equal and hashed by `name@version` alone: one string hashed per lookup.
    public static func == (lhs: ContractID, rhs: ContractID) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    public init(name: String, version: String) {
        description = "\(name)@\(version)"
        separator = name.utf8.count
    }

    /// Parses `name@version`; names are dotted lowercase words, versions `v1`, `v1alpha1`, `v2beta3`.
    /// Checked on the text's bytes in place (this runs for every command, in clients and broker).
    public init?(_ text: String) {
        var text = text
        let separator: Int? = text.withUTF8 { bytes in
            guard let at = bytes.firstIndex(of: UInt8(ascii: "@")),
                ContractID.isValidName(UnsafeBufferPointer(rebasing: bytes[..<at])),
                ContractID.isValidVersion(UnsafeBufferPointer(rebasing: bytes[(at + 1)...]))
            else { return nil }
            return at
        }
        guard let separator else { return nil }
        description = text
        self.separator = separator
    }

    /// Dot-separated words, each `[a-z][a-z0-9_-]*`; checked on bytes (this runs per command).
    static func isValidName(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
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
    static func isValidVersion(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
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
