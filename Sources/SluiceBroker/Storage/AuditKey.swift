import Foundation
import SluiceWire

/// The secret that keys `hash` redactions: 32 random bytes in `<data-dir>/audit.key` (mode 0600),
/// made once, so the same value hashes the same in live events and in replays, across restarts.
enum AuditKey {
    static func loadOrCreate(in directory: URL) throws -> [UInt8] {
        let url = directory.appendingPathComponent("audit.key")
        if let text = try? String(contentsOf: url, encoding: .utf8) {
            let hex = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
            if hex.count == 64, let bytes = decode(hex) { return bytes }
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        // Durable before first use: a key lost to a power cut would hash the same value differently.
        try DurableFile.write(Data((SHA256.hex(bytes) + "\n").utf8), to: url)
        return bytes
    }

    private static func decode(_ hex: [UInt8]) -> [UInt8]? {
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: hex.count, by: 2) {
            guard let high = nibble(hex[index]), let low = nibble(hex[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}
