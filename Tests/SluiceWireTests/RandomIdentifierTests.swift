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
}
