import SluiceBroker
import SluiceWire
import Testing

/// Contract numbers that would overflow when the broker uses them are load errors, never a trap.
@Suite struct ContractLimitBoundsTests {
    @Test(arguments: ["cache_ttl_ms", "timeout_ms", "max_rows", "max_bytes", "max_payload_bytes"])
    func anOverflowingLimitIsRefusedAtLoad(_ limit: String) throws {
        let document: JSONValue = [
            "name": "task.huge", "version": "v1", "kind": "query", "database": "tasks",
            "statements": ["SELECT 1"], "limits": .object([limit: .int(Int64.max)]),
        ]
        #expect(throws: ContractError.self) { try Contract(json: document, file: "huge.json") }
        var sane = document.objectValue!
        sane["limits"] = .object([limit: 1000])
        _ = try Contract(json: .object(sane), file: "sane.json")
    }
}
