/// A JSON number's exact decimal value, for comparisons that must not round: `-1e-400` is below
/// `0`, `9007199254740993` is above `9007199254740992`, `1` equals `1.0`.
///
/// The value is `0.d₁d₂…dₙ × 10^exponent` with no leading or trailing zero digits (zero has no
/// digits). A `.double` converts through its shortest round-trip decimal (the number as written,
/// for up to 17 significant digits); `.int` and `.decimal` convert exactly.
public struct ExactNumber: Sendable, Hashable, Comparable {
    public let negative: Bool
    public let digits: [UInt8]
    public let exponent: Int

    /// Parses JSON number text (`-12.5e3`); nil if it is not one.
    public init?(text: String) {
        var bytes = Array(text.utf8)[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        var mantissa: [UInt8] = []
        var pointAt: Int?
        var sawDigit = false
        while let byte = bytes.first, byte == UInt8(ascii: ".") || (byte >= 0x30 && byte <= 0x39) {
            bytes = bytes.dropFirst()
            if byte == UInt8(ascii: ".") {
                guard pointAt == nil else { return nil }
                pointAt = mantissa.count
            } else {
                sawDigit = true
                mantissa.append(byte - 0x30)
            }
        }
        guard sawDigit else { return nil }
        var exponent = 0
        if let byte = bytes.first, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            var exponentNegative = false
            if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                exponentNegative = sign == UInt8(ascii: "-")
                bytes = bytes.dropFirst()
            }
            guard !bytes.isEmpty else { return nil }
            for byte in bytes {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                // Saturate: no JSON number this large in magnitude is anything but "huge".
                exponent = min(exponent * 10 + Int(byte - 0x30), 1 << 40)
            }
            if exponentNegative { exponent = -exponent }
        } else if !bytes.isEmpty {
            return nil
        }
        // value = mantissa digits × 10^(exponent - fraction digits)
        let fractionDigits = pointAt.map { mantissa.count - $0 } ?? 0
        let leading = mantissa.firstIndex { $0 != 0 } ?? mantissa.count
        let trailing = mantissa.count - (mantissa.lastIndex { $0 != 0 }.map { $0 + 1 } ?? mantissa.count)
        let significant = leading < mantissa.count ? Array(mantissa[leading..<(mantissa.count - trailing)]) : []
        self.negative = negative && !significant.isEmpty
        self.digits = significant
        // Integer part of the significant digits ends (mantissa.count - leading - fractionDigits) places in.
        self.exponent = significant.isEmpty ? 0 : (mantissa.count - leading - fractionDigits) + exponent
    }

    /// The exact value of a JSON number; nil for anything else.
    public init?(_ value: JSONValue) {
        switch value {
        case .int(let number): self.init(text: String(number))
        case .double(let number) where number.isFinite: self.init(text: "\(number)")
        case .decimal(let text): self.init(text: text)
        default: return nil
        }
    }

    public var isZero: Bool { digits.isEmpty }
    /// No fractional part (JSON Schema's "integer", which includes `1.0` and `1e400`).
    public var isInteger: Bool { isZero || exponent >= digits.count }

    /// The canonical text: integers up to 100 digits written out, anything else as
    /// `[-]d[.ddd]e<exponent>` (`1e400`, `-1e-400`, `1.5e-7`).
    public var canonicalText: String {
        guard !isZero else { return "0" }
        let sign = negative ? "-" : ""
        let text = digits.map { String($0) }.joined()
        if isInteger, exponent <= 100 {
            return sign + text + String(repeating: "0", count: exponent - digits.count)
        }
        let fraction = digits.count > 1 ? "." + text.dropFirst() : ""
        return sign + text.prefix(1) + fraction + "e\(exponent - 1)"
    }

    /// The most significant digits a ``isMultiple(of:)`` divisor may have (it is then held in
    /// 64 bits).
    public static let maximumDivisorDigits = 18

    /// Whether this number is a whole multiple of `divisor`, exactly (`0.0075` of `0.0001`,
    /// `1e308` of `0.5`, `18446744073709551617` not of `2`). `divisor` is positive with at most
    /// ``maximumDivisorDigits`` significant digits; nil otherwise.
    public func isMultiple(of divisor: ExactNumber) -> Bool? {
        guard !divisor.isZero, !divisor.negative, divisor.digits.count <= ExactNumber.maximumDivisorDigits else {
            return nil
        }
        if isZero { return true }
        // self = A × 10^a and divisor = D × 10^d, A and D the digits as integers (neither ends in
        // a zero); self / divisor = (A / D) × 10^(a − d).
        let shift = (exponent - digits.count) - (divisor.exponent - divisor.digits.count)
        // With a − d < 0, A would need a trailing zero to be divisible by D × 10^(d − a).
        guard shift >= 0 else { return false }
        var modulus: UInt64 = 0
        for digit in divisor.digits { modulus = modulus * 10 + UInt64(digit) }
        // (A mod D) × (10^shift mod D) ≡ 0 (mod D); every step stays below 10^19 < 2^64.
        var remainder: UInt64 = 0
        for digit in digits { remainder = (remainder * 10 + UInt64(digit)) % modulus }
        let power = ExactNumber.power(10, shift, modulo: modulus)
        return ExactNumber.product(remainder, power, modulo: modulus) == 0
    }

    /// `base^exponent mod modulus`, by squaring (the exponent may be a JSON number's, ~2^40).
    private static func power(_ base: UInt64, _ exponent: Int, modulo modulus: UInt64) -> UInt64 {
        var result: UInt64 = 1 % modulus
        var square = base % modulus
        var remaining = exponent
        while remaining > 0 {
            if remaining & 1 == 1 { result = product(result, square, modulo: modulus) }
            square = product(square, square, modulo: modulus)
            remaining >>= 1
        }
        return result
    }

    /// `lhs × rhs mod modulus` without overflow (a 128-bit product).
    private static func product(_ lhs: UInt64, _ rhs: UInt64, modulo modulus: UInt64) -> UInt64 {
        let wide = lhs.multipliedFullWidth(by: rhs)
        return modulus.dividingFullWidth((wide.high, wide.low)).remainder
    }

    public static func < (lhs: ExactNumber, rhs: ExactNumber) -> Bool {
        let left = lhs.isZero ? 0 : (lhs.negative ? -1 : 1)
        let right = rhs.isZero ? 0 : (rhs.negative ? -1 : 1)
        guard left == right else { return left < right }
        guard left != 0 else { return false }
        let magnitudeLess = magnitude(lhs, isBelow: rhs)
        let magnitudeEqual = lhs.exponent == rhs.exponent && lhs.digits == rhs.digits
        return left > 0 ? magnitudeLess : !magnitudeLess && !magnitudeEqual
    }

    private static func magnitude(_ lhs: ExactNumber, isBelow rhs: ExactNumber) -> Bool {
        if lhs.exponent != rhs.exponent { return lhs.exponent < rhs.exponent }
        return lhs.digits.lexicographicallyPrecedes(rhs.digits)
    }
}
