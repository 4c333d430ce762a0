import Testing

@testable import SluiceBroker

@Suite struct ClockTests {
    /// A logged timestamp reads back as the milliseconds it was written from (replay fixes each
    /// command's ledger expiry from it), and anything else reads as nothing.
    @Test(arguments: [Int64(0), 1_764_498_000_123, 951_782_400_999, 4_102_444_799_000])
    func timestampsRoundTrip(_ milliseconds: Int64) {
        let text = Clock.text(milliseconds: milliseconds)
        #expect(Clock.milliseconds(fromTimestamp: text) == milliseconds, "\(text)")
    }

    @Test(arguments: ["", "2026-11-30T19:38:18Z", "2026-11-30T19:38:18.12xZ", "2026-11-30 19:38:18.123Z", "+026-11-30T19:38:18.123Z"])
    func otherTextIsNoTimestamp(_ text: String) {
        #expect(Clock.milliseconds(fromTimestamp: text) == nil)
    }

    /// Within one millisecond the text is reused; the next millisecond gets its own.
    @Test func nowReusesTheTextWithinAMillisecond() {
        var last: (text: String, milliseconds: Int64) = ("", -1)
        let now = Clock.now(reusing: &last)
        #expect(now.text == Clock.text(milliseconds: now.milliseconds))
        #expect(Clock.milliseconds(fromTimestamp: now.text) == now.milliseconds)
        last = ("stale", now.milliseconds - 1)
        #expect(Clock.now(reusing: &last).text != "stale")
    }
}
