/// The regular expressions of JSON Schema's `pattern`: ECMA-262 syntax with unicode semantics,
/// matched in linear time.
///
/// Parsed once at load into a small program and run by a Thompson/Pike simulation: every
/// position of the input is visited once with at most one thread per instruction, so matching
/// costs O(input × pattern) and no pattern can stall the I/O thread. What needs backtracking —
/// backreferences and lookaround — is refused at load, as is anything ECMA-262 itself refuses
/// (an unknown escape like `\a`, a lone `{`, a quantifier with nothing to repeat).
///
/// ECMA-262 semantics, unlike ICU's or Python's: `\d` is `[0-9]`, `\w` is `[A-Za-z0-9_]`, `\s`
/// is ECMA's white space and line terminators, `.` is any code point but `\n \r U+2028 U+2029`,
/// `$` matches only at the very end (not before a trailing newline), and the search is not
/// anchored unless the pattern says `^`.
struct ECMARegex: Sendable {
    /// Why a pattern is refused.
    struct SyntaxError: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "at \(offset): \(reason)" }
    }

    /// A set of code points: inclusive ranges, possibly negated.
    struct ScalarSet: Sendable {
        var ranges: [ClosedRange<UInt32>]
        var negated = false

        func contains(_ scalar: UInt32) -> Bool {
            ranges.contains { $0.contains(scalar) } != negated
        }

        static let digit = ScalarSet(ranges: [0x30...0x39])
        static let word = ScalarSet(ranges: [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
        static let space = ScalarSet(ranges: [
            0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029,
            0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF,
        ])
        static let dot = ScalarSet(ranges: [0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029], negated: true)

        var inverted: ScalarSet { ScalarSet(ranges: ranges, negated: !negated) }
    }

    enum Instruction: Sendable {
        case scalar(ScalarSet)
        case split(Int, Int)
        case jump(Int)
        case lineStart, lineEnd, wordBoundary, notWordBoundary
        case accept
    }

    /// Most instructions a pattern may compile to (counted repetitions are expanded).
    static let maximumProgram = 20_000

    let program: [Instruction]

    init(_ pattern: String) throws(SyntaxError) {
        var parser = Parser(scalars: pattern.unicodeScalars.map(\.value))
        let tree = try parser.parse()
        var compiler = Compiler()
        try compiler.emit(tree)
        compiler.program.append(.accept)
        program = compiler.program
    }

    /// Whether the pattern matches anywhere in `text`.
    func matches(_ text: String) -> Bool {
        let input = text.unicodeScalars.map(\.value)
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        var stack: [Int] = []
        for position in 0...input.count {
            // Unanchored search: a new thread starts at every position.
            if add(0, at: position, input, to: &current, stack: &stack) { return true }
            guard position < input.count else { break }
            next.clear()
            for pc in current.items {
                if case .scalar(let set) = program[pc], set.contains(input[position]) {
                    if add(pc + 1, at: position + 1, input, to: &next, stack: &stack) { return true }
                }
            }
            swap(&current, &next)
        }
        return false
    }

    /// Adds the thread at `start` and every instruction reachable from it without reading a code
    /// point (an explicit stack, not recursion: a long pattern cannot exhaust the thread's stack);
    /// true when one of them accepts.
    private func add(
        _ start: Int, at position: Int, _ input: [UInt32], to list: inout ThreadList, stack: inout [Int]
    ) -> Bool {
        stack.removeAll(keepingCapacity: true)
        stack.append(start)
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch program[pc] {
            case .accept: return true
            case .scalar: list.items.append(pc)
            case .jump(let target): stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .lineStart: if position == 0 { stack.append(pc + 1) }
            case .lineEnd: if position == input.count { stack.append(pc + 1) }
            case .wordBoundary, .notWordBoundary:
                let before = position > 0 && ScalarSet.word.contains(input[position - 1])
                let after = position < input.count && ScalarSet.word.contains(input[position])
                let wanted: Bool = if case .wordBoundary = program[pc] { true } else { false }
                if (before != after) == wanted { stack.append(pc + 1) }
            }
        }
        return false
    }

    /// The threads alive at one position: each instruction at most once.
    private struct ThreadList {
        var seen: [Bool]
        var items: [Int] = []
        var touched: [Int] = []
        init(capacity: Int) { seen = Array(repeating: false, count: capacity) }
        mutating func insert(_ pc: Int) -> Bool {
            guard !seen[pc] else { return false }
            seen[pc] = true
            touched.append(pc)
            return true
        }
        mutating func clear() {
            for pc in touched { seen[pc] = false }
            touched.removeAll(keepingCapacity: true)
            items.removeAll(keepingCapacity: true)
        }
    }

    indirect enum Node {
        case scalar(ScalarSet)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?)
        case lineStart, lineEnd, wordBoundary, notWordBoundary
    }

    struct Compiler {
        var program: [Instruction] = []

        mutating func emit(_ node: Node) throws(SyntaxError) {
            guard program.count <= ECMARegex.maximumProgram else {
                throw SyntaxError(offset: 0, reason: "the pattern expands to more than \(ECMARegex.maximumProgram) steps")
            }
            switch node {
            case .scalar(let set): program.append(.scalar(set))
            case .lineStart: program.append(.lineStart)
            case .lineEnd: program.append(.lineEnd)
            case .wordBoundary: program.append(.wordBoundary)
            case .notWordBoundary: program.append(.notWordBoundary)
            case .sequence(let items): for item in items { try emit(item) }
            case .alternation(let branches):
                // split L1, next; L1: branch; jump end; next: split ...
                var jumps: [Int] = []
                for (index, branch) in branches.enumerated() {
                    if index < branches.count - 1 {
                        let split = program.count
                        program.append(.split(split + 1, -1))
                        try emit(branch)
                        jumps.append(program.count)
                        program.append(.jump(-1))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(branch)
                    }
                }
                for jump in jumps { program[jump] = .jump(program.count) }
            case .repetition(let item, let min, let max):
                for _ in 0..<min { try emit(item) }
                if let max {
                    // Up to (max - min) optional copies, each skipping to the end.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(program.count)
                        program.append(.split(program.count + 1, -1))
                        try emit(item)
                    }
                    for split in splits { program[split] = .split(split + 1, program.count) }
                } else {
                    let loop = program.count
                    program.append(.split(loop + 1, -1))
                    try emit(item)
                    program.append(.jump(loop))
                    program[loop] = .split(loop + 1, program.count)
                }
            }
        }
    }

    struct Parser {
        let scalars: [UInt32]
        var index = 0

        static let syntaxCharacters: Set<UInt32> = Set("^$\\.*+?()[]{}|/".unicodeScalars.map(\.value))

        func fail(_ reason: String) -> SyntaxError { SyntaxError(offset: index, reason: reason) }
        var atEnd: Bool { index >= scalars.count }
        func peek(_ offset: Int = 0) -> UInt32? { index + offset < scalars.count ? scalars[index + offset] : nil }
        func isChar(_ character: Character, at offset: Int = 0) -> Bool {
            peek(offset) == character.unicodeScalars.first!.value
        }

        mutating func parse() throws(SyntaxError) -> Node {
            let node = try disjunction()
            guard atEnd else { throw fail(isChar(")") ? "unmatched ')'" : "unexpected character") }
            return node
        }

        mutating func disjunction() throws(SyntaxError) -> Node {
            var branches = [try alternative()]
            while isChar("|") {
                index += 1
                branches.append(try alternative())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func alternative() throws(SyntaxError) -> Node {
            var items: [Node] = []
            while !atEnd, !isChar("|"), !isChar(")") {
                items.append(try term())
            }
            return .sequence(items)
        }

        mutating func term() throws(SyntaxError) -> Node {
            if isChar("^") { index += 1; return .lineStart }
            if isChar("$") { index += 1; return .lineEnd }
            if isChar("\\"), isChar("b", at: 1) { index += 2; return .wordBoundary }
            if isChar("\\"), isChar("B", at: 1) { index += 2; return .notWordBoundary }
            if isChar("("), isChar("?", at: 1), isChar("=", at: 2) || isChar("!", at: 2)
                || (isChar("<", at: 2) && (isChar("=", at: 3) || isChar("!", at: 3)))
            {
                throw fail("lookaround is not supported (patterns are matched in linear time)")
            }
            let atom = try self.atom()
            return try quantified(atom)
        }

        mutating func quantified(_ atom: Node) throws(SyntaxError) -> Node {
            var bounds: (Int, Int?)?
            if isChar("*") { index += 1; bounds = (0, nil) }
            else if isChar("+") { index += 1; bounds = (1, nil) }
            else if isChar("?") { index += 1; bounds = (0, 1) }
            else if isChar("{") { bounds = try braces() }
            guard let (min, max) = bounds else { return atom }
            if isChar("?") { index += 1 }  // lazy: the same set of matches
            if isChar("*") || isChar("+") || isChar("?") || isChar("{") { throw fail("nothing to repeat") }
            return .repetition(atom, min: min, max: max)
        }

        mutating func braces() throws(SyntaxError) -> (Int, Int?) {
            index += 1
            guard let min = number() else { throw fail("a lone '{' (write \\{)") }
            var max: Int? = min
            if isChar(",") {
                index += 1
                max = number()
            }
            guard isChar("}") else { throw fail("a malformed {n,m} quantifier") }
            index += 1
            if let max, max < min { throw fail("numbers out of order in {\(min),\(max)}") }
            guard (max ?? min) <= 1000 else { throw fail("a repetition count above 1000") }
            return (min, max)
        }

        mutating func number() -> Int? {
            var value: Int?
            while let scalar = peek(), scalar >= 0x30, scalar <= 0x39 {
                value = min((value ?? 0) * 10 + Int(scalar - 0x30), 100_000)
                index += 1
            }
            return value
        }

        mutating func atom() throws(SyntaxError) -> Node {
            guard let scalar = peek() else { throw fail("unexpected end") }
            switch Character(Unicode.Scalar(scalar)!) {
            case ".":
                index += 1
                return .scalar(.dot)
            case "(":
                index += 1
                if isChar("?") {
                    if isChar(":", at: 1) {
                        index += 2
                    } else if isChar("<", at: 1) {
                        index += 2
                        while let next = peek(), next != 0x3E { index += 1 }
                        guard isChar(">") else { throw fail("an unterminated group name") }
                        index += 1
                    } else {
                        throw fail("an unsupported group '(?'")
                    }
                }
                let inner = try disjunction()
                guard isChar(")") else { throw fail("missing ')'") }
                index += 1
                return inner
            case "[":
                return .scalar(try characterClass())
            case "\\":
                index += 1
                return .scalar(try escape(inClass: false))
            case "*", "+", "?", "{":
                throw fail("nothing to repeat")
            case ")", "]", "}", "|":
                throw fail("a lone '\(Character(Unicode.Scalar(scalar)!))'")
            default:
                index += 1
                return .scalar(ScalarSet(ranges: [scalar...scalar]))
            }
        }

        /// After a backslash: a class escape or a single code point.
        mutating func escape(inClass: Bool) throws(SyntaxError) -> ScalarSet {
            guard let scalar = peek() else { throw fail("a pattern may not end with '\\'") }
            index += 1
            let single = { (value: UInt32) in ScalarSet(ranges: [value...value]) }
            switch Character(Unicode.Scalar(scalar)!) {
            case "d": return .digit
            case "D": return ScalarSet.digit.inverted
            case "w": return .word
            case "W": return ScalarSet.word.inverted
            case "s": return .space
            case "S": return ScalarSet.space.inverted
            case "t": return single(0x09)
            case "n": return single(0x0A)
            case "v": return single(0x0B)
            case "f": return single(0x0C)
            case "r": return single(0x0D)
            case "b" where inClass: return single(0x08)
            case "-" where inClass: return single(0x2D)
            case "0":
                if let next = peek(), next >= 0x30, next <= 0x39 { throw fail("octal escapes are not allowed") }
                return single(0)
            case "c":
                guard let letter = peek(), (0x41...0x5A).contains(letter) || (0x61...0x7A).contains(letter) else {
                    throw fail("'\\c' needs a letter")
                }
                index += 1
                return single(letter % 32)
            case "x":
                return single(try hex(count: 2))
            case "u":
                if isChar("{") {
                    index += 1
                    var value: UInt32 = 0
                    var count = 0
                    while let digit = peek().flatMap(Parser.hexValue) {
                        value = value * 16 + digit
                        count += 1
                        index += 1
                        guard value <= 0x10FFFF else { throw fail("a code point above U+10FFFF") }
                    }
                    guard count > 0, isChar("}") else { throw fail("a malformed \\u{…} escape") }
                    index += 1
                    return single(value)
                }
                var value = try hex(count: 4)
                // A surrogate pair written as two escapes is one code point.
                if (0xD800...0xDBFF).contains(value), isChar("\\"), isChar("u", at: 1) {
                    let save = index
                    index += 2
                    if let low = try? hex(count: 4), (0xDC00...0xDFFF).contains(low) {
                        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        index = save
                    }
                }
                return single(value)
            case "1"..."9", "k":
                throw fail("backreferences are not supported (patterns are matched in linear time)")
            default:
                guard Parser.syntaxCharacters.contains(scalar) else {
                    throw fail("'\\\(Character(Unicode.Scalar(scalar)!))' is not an ECMA-262 escape")
                }
                return single(scalar)
            }
        }

        mutating func hex(count: Int) throws(SyntaxError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let digit = peek().flatMap(Parser.hexValue) else { throw fail("a malformed hexadecimal escape") }
                value = value * 16 + digit
                index += 1
            }
            return value
        }

        static func hexValue(_ scalar: UInt32) -> UInt32? {
            switch scalar {
            case 0x30...0x39: scalar - 0x30
            case 0x41...0x46: scalar - 0x41 + 10
            case 0x61...0x66: scalar - 0x61 + 10
            default: nil
            }
        }

        /// `[...]` or `[^...]`: ranges and class escapes; `\d`-like escapes cannot bound a range.
        mutating func characterClass() throws(SyntaxError) -> ScalarSet {
            index += 1
            var negated = false
            if isChar("^") {
                negated = true
                index += 1
            }
            var ranges: [ClosedRange<UInt32>] = []
            var classes: [ScalarSet] = []
            while !isChar("]") {
                guard !atEnd else { throw fail("missing ']'") }
                let first = try classAtom()
                if isChar("-"), !isChar("]", at: 1), peek(1) != nil {
                    index += 1
                    let second = try classAtom()
                    guard case .single(let low) = first, case .single(let high) = second else {
                        throw fail("a class escape cannot bound a range")
                    }
                    guard low <= high else { throw fail("range out of order in character class") }
                    ranges.append(low...high)
                } else {
                    switch first {
                    case .single(let value): ranges.append(value...value)
                    case .set(let set): classes.append(set)
                    }
                }
            }
            index += 1
            guard !classes.isEmpty else { return ScalarSet(ranges: ranges, negated: negated) }
            return ScalarSet.union(ranges: ranges, classes: classes, negated: negated)
        }

        enum ClassAtom {
            case single(UInt32)
            case set(ScalarSet)
        }

        mutating func classAtom() throws(SyntaxError) -> ClassAtom {
            guard let scalar = peek() else { throw fail("missing ']'") }
            index += 1
            guard scalar == 0x5C else { return .single(scalar) }
            let set = try escape(inClass: true)
            // A one-code-point escape (`\n`, `\u0041`) is a single; `\d`, `\W`... are sets.
            if !set.negated, set.ranges.count == 1, set.ranges[0].lowerBound == set.ranges[0].upperBound {
                return .single(set.ranges[0].lowerBound)
            }
            return .set(set)
        }
    }
}

extension ECMARegex.ScalarSet {
    /// The union of `ranges` and `classes` (some of them negated), negated as a whole if asked.
    /// Represented exactly as ranges over all code points.
    static func union(ranges: [ClosedRange<UInt32>], classes: [Self], negated: Bool) -> Self {
        var parts = ranges
        for set in classes { parts += set.negated ? complement(set.ranges) : set.ranges }
        return Self(ranges: normalized(parts), negated: negated)
    }

    static func normalized(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, range.lowerBound <= last.upperBound &+ 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }

    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in normalized(ranges) {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = range.upperBound + 1
        }
        if next <= 0x10FFFF { result.append(next...0x10FFFF) }
        return result
    }
}
