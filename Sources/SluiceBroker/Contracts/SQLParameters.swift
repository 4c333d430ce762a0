import Foundation

/// Finds the named parameters (`:name`, `@name`, `$name`) of a SQL statement, skipping string
/// literals, quoted identifiers and comments, so a contract's statements can be bound from input
/// members without trusting the input to name them.
enum SQLParameters {
    static func names(in sql: String) -> [String] {
        let bytes = Array(sql.utf8)
        var names: [String] = []
        var index = 0
        func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                index += 1
                while index < bytes.count {
                    if bytes[index] == byte {
                        if index + 1 < bytes.count, bytes[index + 1] == byte {
                            index += 2
                            continue
                        }
                        break
                    }
                    index += 1
                }
                index += 1
            case UInt8(ascii: "["):
                while index < bytes.count, bytes[index] != UInt8(ascii: "]") { index += 1 }
                index += 1
            case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "-"):
                while index < bytes.count, bytes[index] != 0x0A { index += 1 }
            case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
                index += 2
                while index + 1 < bytes.count,
                    !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/"))
                {
                    index += 1
                }
                index += 2
            case UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "$"):
                var end = index + 1
                while end < bytes.count, isNameByte(bytes[end]) { end += 1 }
                if end > index + 1 {
                    let name = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
                    if !names.contains(name) { names.append(name) }
                }
                index = end
            default:
                index += 1
            }
        }
        return names
    }
}

extension SQLParameters {
    /// PostgreSQL SQL cut into runs of code and runs the SQL does not read as code — string
    /// literals (`'…'`, `E'…'`), dollar-quoted bodies (`$tag$…$tag$`), quoted identifiers and
    /// comments — so parameters and statement ends are looked for in code only.
    static func postgresRuns(_ bytes: [UInt8]) -> [(range: Range<Int>, isCode: Bool)] {
        var runs: [(range: Range<Int>, isCode: Bool)] = []
        var codeStart = 0
        var index = 0
        func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F
        }
        func skip(to end: Int) {
            if codeStart < index { runs.append((codeStart..<index, true)) }
            let stop = min(end, bytes.count)
            runs.append((index..<stop, false))
            index = stop
            codeStart = stop
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                // E'…' strings escape with backslashes; '' and "" double in all of them.
                let backslashes = byte == UInt8(ascii: "'") && index > 0 && (bytes[index - 1] | 0x20) == UInt8(ascii: "e")
                var end = index + 1
                while end < bytes.count {
                    if backslashes && bytes[end] == UInt8(ascii: "\\") {
                        end += 2
                        continue
                    }
                    if bytes[end] == byte {
                        if end + 1 < bytes.count, bytes[end + 1] == byte {
                            end += 2
                            continue
                        }
                        break
                    }
                    end += 1
                }
                skip(to: end + 1)
            case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "-"):
                var end = index
                while end < bytes.count, bytes[end] != 0x0A { end += 1 }
                skip(to: end)
            case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
                var end = index + 2
                while end + 1 < bytes.count, !(bytes[end] == UInt8(ascii: "*") && bytes[end + 1] == UInt8(ascii: "/")) {
                    end += 1
                }
                skip(to: end + 2)
            case UInt8(ascii: "$"):
                // $tag$ … $tag$ (the tag may be empty; it does not start with a digit: `$1` is a
                // positional parameter).
                var end = index + 1
                if end < bytes.count, !(bytes[end] >= 0x30 && bytes[end] <= 0x39) {
                    while end < bytes.count, isNameByte(bytes[end]) { end += 1 }
                }
                if end < bytes.count, bytes[end] == UInt8(ascii: "$") {
                    let tag = Array(bytes[index...end])
                    var close = end + 1
                    while close + tag.count <= bytes.count, !bytes[close..<(close + tag.count)].elementsEqual(tag) { close += 1 }
                    skip(to: close + tag.count)
                } else {
                    index += 1
                }
            default:
                index += 1
            }
        }
        if codeStart < bytes.count { runs.append((codeStart..<bytes.count, true)) }
        return runs
    }

    /// A statement of an `exclusive-postgres` plugin, its named parameters (`:name`) turned into
    /// PostgreSQL's positional ones (`$1`, `$2`, … numbered by first appearance, a name used twice
    /// keeps its number). `::` is a cast, not a parameter; literals, dollar-quoted bodies, quoted
    /// identifiers and comments are left alone.
    static func postgres(_ sql: String) -> (sql: String, names: [String]) {
        let bytes = Array(sql.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var names: [String] = []
        func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F
        }
        for run in postgresRuns(bytes) {
            guard run.isCode else {
                output += bytes[run.range]
                continue
            }
            var index = run.range.lowerBound
            while index < run.range.upperBound {
                guard bytes[index] == UInt8(ascii: ":") else {
                    output.append(bytes[index])
                    index += 1
                    continue
                }
                if index + 1 < run.range.upperBound, bytes[index + 1] == UInt8(ascii: ":") {
                    output += [UInt8(ascii: ":"), UInt8(ascii: ":")]
                    index += 2
                    continue
                }
                var end = index + 1
                while end < run.range.upperBound, isNameByte(bytes[end]) { end += 1 }
                guard end > index + 1 else {
                    output.append(bytes[index])
                    index += 1
                    continue
                }
                let name = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
                if !names.contains(name) { names.append(name) }
                output += Array("$\(names.firstIndex(of: name)! + 1)".utf8)
                index = end
            }
        }
        return (String(decoding: output, as: UTF8.self), names)
    }

    /// The first word of PostgreSQL code in `sql` (comments and opening parentheses skipped),
    /// uppercased; empty when there is none.
    static func postgresFirstKeyword(_ sql: String) -> String {
        let bytes = Array(sql.utf8)
        for run in postgresRuns(bytes) where run.isCode {
            let code = bytes[run.range].drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 == UInt8(ascii: "(") }
            guard !code.isEmpty else { continue }
            let word = code.prefix { ($0 | 0x20) >= UInt8(ascii: "a") && ($0 | 0x20) <= UInt8(ascii: "z") }
            return String(decoding: word, as: UTF8.self).uppercased()
        }
        return ""
    }

    /// A PostgreSQL script (a migration file) cut into its statements at the semicolons that end
    /// them, empty statements dropped: each runs on its own, in one transaction with the others.
    static func postgresStatements(_ sql: String) -> [String] {
        let bytes = Array(sql.utf8)
        var statements: [String] = []
        var start = 0
        func finish(_ end: Int) {
            let text = String(decoding: bytes[start..<end], as: UTF8.self)
            // A statement of comments and white space only is not one.
            let runs = postgresRuns(Array(text.utf8))
            let hasCode = runs.contains { run in
                run.isCode && Array(text.utf8)[run.range].contains { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
            }
            if hasCode { statements.append(text.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        for run in postgresRuns(bytes) where run.isCode {
            for index in run.range where bytes[index] == UInt8(ascii: ";") {
                finish(index)
                start = index + 1
            }
        }
        finish(bytes.count)
        return statements
    }
}
