@testable import SluiceBroker
import SluiceWire
import Testing

/// A `REPLAY` body written from a page's precomputed envelope is the canonical object a client
/// parses: the same bytes as writing every member in order.
struct ReplayEnvelopeTests {
    @Test(arguments: [
        ("0b7c9a1e-4f1d-4c55-9a53-1f4e0c2d9b11", "tasks", "audit.tasks", Int64(1)),
        ("épоch \"quoted\" \\ \u{1}", "db\twith\ttabs", "inval.db\twith\ttabs", Int64.max),
        ("", "audit.rejected", "audit.rejected", Int64(0)),
    ])
    func theEnvelopeIsTheCanonicalObject(epoch: String, stream: String, topic: String, seq: Int64) throws {
        let event = Array(#"{"actor":"a","seq":7,"text":"\"x\""}"#.utf8)
        var expected = CanonicalObjectWriter()
        expected.string("epoch", epoch)
        expected.raw("event", event)
        expected.int("seq", seq)
        expected.string("stream", stream)
        expected.string("topic", topic)
        let envelope = ReplayEnvelope(epoch: epoch, stream: stream, topic: topic)
        let body = envelope.body(seq: seq, event: event)
        #expect(body == expected.finish())
        // The event written in place, after the envelope's start: the same bytes, and its size.
        let written = envelope.body(seq: seq) { start in
            var writer = CanonicalObjectWriter(after: start, capacity: 0)
            writer.string("actor", "a")
            writer.int("seq", 7)
            writer.string("text", "\"x\"")
            return writer.finish()
        }
        #expect(written.body == body)
        #expect(written.eventBytes == event.count)
        let parsed = try JSONValue(parsing: body)
        #expect(parsed["epoch"]?.stringValue == epoch && parsed["topic"]?.stringValue == topic)
        let parsedEvent = try JSONValue(parsing: event)
        #expect(parsed["seq"]?.intValue == seq && parsed["event"] == parsedEvent)
    }
}
