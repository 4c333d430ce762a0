import Testing

@testable import SluiceWire

@Suite struct RandomIdentifierTests {
    /// Every id is an RFC 4122 version 4 UUID in lowercase text, and ids do not repeat.
    @Test func idsAreVersionFourUUIDs() {
        var generator = BufferedRandom()
        var seen: Set<String> = []
        var variants: Set<Character> = []
        for _ in 0..<2000 {
            let id = RandomIdentifier.uuid(using: &generator)
            let characters = Array(id)
            #expect(characters.count == 36)
            for (index, character) in characters.enumerated() {
                if [8, 13, 18, 23].contains(index) {
                    #expect(character == "-", "\(id)")
                } else {
                    #expect("0123456789abcdef".contains(character), "\(id)")
                }
            }
            #expect(characters[14] == "4", "version digit of \(id)")
            #expect("89ab".contains(characters[19]), "variant digit of \(id)")
            variants.insert(characters[19])
            seen.insert(id)
        }
        #expect(seen.count == 2000)
        // The variant digit keeps two random bits: all four values turn up in 2,000 ids.
        #expect(variants == ["8", "9", "a", "b"])
    }

    /// A version 7 id carries its milliseconds in its first 12 hex digits, then version digit 7
    /// and the variant; ids of later milliseconds sort after earlier ones, as text.
    @Test func timeOrderedIdsAreVersionSevenUUIDsInTimeOrder() {
        var generator = BufferedRandom()
        var previous = ""
        var seen: Set<String> = []
        for step in 0..<2000 {
            let milliseconds = 1_764_590_000_000 + UInt64(step / 4) * 997  // four ids per millisecond
            let id = RandomIdentifier.timeOrderedUUID(milliseconds: milliseconds, using: &generator)
            let characters = Array(id)
            #expect(characters.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { characters[$0] == "-" }, "\(id)")
            #expect(characters[14] == "7", "version digit of \(id)")
            #expect("89ab".contains(characters[19]), "variant digit of \(id)")
            let digits = String(characters[0..<8]) + String(characters[9..<13])
            #expect(UInt64(digits, radix: 16) == milliseconds, "\(id)")
            if step % 4 == 0 { #expect(previous < id, "\(previous) then \(id)") }
            previous = id
            seen.insert(id)
        }
        #expect(seen.count == 2000)

        // Without a time given: now, by the wall clock.
        let before = RandomIdentifier.unixMilliseconds()
        let id = Array(RandomIdentifier.timeOrderedUUID())
        let after = RandomIdentifier.unixMilliseconds()
        let stamped = UInt64(String(id[0..<8]) + String(id[9..<13]), radix: 16) ?? 0
        #expect(before <= stamped && stamped <= after)
    }
}
