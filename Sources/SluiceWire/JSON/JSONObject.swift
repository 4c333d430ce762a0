/// The members of a JSON object, kept sorted by the UTF-8 bytes of their names.
///
/// Names are compared by their code points (their UTF-8 bytes), never by Unicode canonical
/// equivalence as Swift's `String ==` and `Dictionary<String, _>` do: `"é"` (U+00E9) and
/// `"e\u{301}"` are two different members, as JSON and JSON Schema say. Sorted members also make
/// the canonical encoding a single pass.
public struct JSONObject: Sendable, Hashable, Sequence {
    public struct Member: Sendable, Hashable {
        public var name: String
        public var value: JSONValue

        public init(name: String, value: JSONValue) {
            self.name = name
            self.value = value
        }

        public static func == (lhs: Member, rhs: Member) -> Bool {
            JSONValue.sameCodePoints(lhs.name, rhs.name) && lhs.value == rhs.value
        }

        public func hash(into hasher: inout Hasher) {
            JSONValue.hashCodePoints(name, into: &hasher)
            hasher.combine(value)
        }
    }

    /// The members, sorted by name (UTF-8 byte order); no two names are the same bytes.
    public private(set) var members: [Member]

    public init() { members = [] }

    /// From members already sorted by name (UTF-8 byte order), no two the same; checked in debug
    /// builds. For hot paths that write a fixed shape.
    public init(sortedMembers: [Member]) {
        assert(
            sortedMembers.indices.dropFirst().allSatisfy {
                JSONValue.utf8Precedes(sortedMembers[$0 - 1].name, sortedMembers[$0].name)
            }, "members out of order")
        members = sortedMembers
    }

    /// From name-value pairs in any order, as a dictionary literal gives them: a name given twice
    /// (the same code points) keeps its last value. Nothing is hashed, and names that are not
    /// the same code points stay two members (a Swift `Dictionary` would merge `"é"` and
    /// `"e\u{301}"`). Pairs already in order, as literals are mostly written, are not sorted.
    public init<Pairs: Collection>(lastWins pairs: Pairs) where Pairs.Element == (String, JSONValue) {
        var members: [Member] = []
        members.reserveCapacity(pairs.count)
        for (name, value) in pairs { members.append(Member(name: name, value: value)) }
        if !JSONObject.sortByName(&members) {
            // The sort is stable: of two equal names, the one given last stays last and is kept.
            var kept: [Member] = []
            kept.reserveCapacity(members.count)
            for member in members {
                if let last = kept.last, JSONValue.sameCodePoints(last.name, member.name) {
                    kept[kept.count - 1] = member
                } else {
                    kept.append(member)
                }
            }
            members = kept
        }
        self.members = members
    }

    /// From a Swift dictionary (whose keys are already distinct).
    public init(_ dictionary: [String: JSONValue]) {
        members = dictionary.map { Member(name: $0.key, value: $0.value) }
        members.sort { JSONValue.utf8Precedes($0.name, $1.name) }
    }

    /// From members in any order, sorted once; `duplicate` is the first name that appears twice
    /// (the same bytes), or nil. The object keeps every member either way.
    /// `inOrder`: they came sorted, each name strictly after the last (as canonical JSON has them).
    public static func sorting(_ unsorted: consuming [Member])
        -> (object: JSONObject, duplicate: String?, inOrder: Bool)
    {
        var members = unsorted
        var object = JSONObject()
        // Canonical senders (the Swift and C clients) send members already in order, each name
        // strictly after the last: then there is nothing to sort and no duplicate.
        let inOrder = sortByName(&members)
        object.members = members
        if inOrder { return (object, nil, true) }
        let duplicate = members.indices.dropFirst().first {
            JSONValue.sameCodePoints(members[$0 - 1].name, members[$0].name)
        }.map { members[$0].name }
        return (object, duplicate, false)
    }

    /// Sorts `members` by name in UTF-8 order, stably (of equal names, the earlier stays first);
    /// true when they already were in order, each name strictly after the last, and nothing moved.
    private static func sortByName(_ members: inout [Member]) -> Bool {
        var firstOutOfOrder = 1
        while firstOutOfOrder < members.count,
            JSONValue.utf8Precedes(members[firstOutOfOrder - 1].name, members[firstOutOfOrder].name)
        {
            firstOutOfOrder += 1
        }
        if firstOutOfOrder >= members.count { return true }
        if members.count <= 16 {
            // A header or a small input written in another order: sorted in place, without the
            // closure calls of the library's sort (an insertion sort: stable too).
            for next in firstOutOfOrder..<members.count {
                var position = next
                while position > 0, JSONValue.utf8Precedes(members[position].name, members[position - 1].name) {
                    members.swapAt(position, position - 1)
                    position -= 1
                }
            }
        } else {
            members.sort { JSONValue.utf8Precedes($0.name, $1.name) }
        }
        return false
    }

    private func position(of name: String) -> (index: Int, found: Bool) {
        var low = 0
        var high = members.count
        while low < high {
            let middle = (low + high) / 2
            if JSONValue.utf8Precedes(members[middle].name, name) {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return (low, low < members.count && JSONValue.sameCodePoints(members[low].name, name))
    }

    /// Up to this many members, a lookup scans them in order (comparing lengths first, which
    /// names of a header or a small input almost always differ in) rather than binary-searching
    /// (which compares bytes at every step): the objects read per request are this small.
    static let scannedMemberCount = 8

    /// The member whose name has exactly these code points.
    public subscript(name: String) -> JSONValue? {
        get {
            if members.count <= JSONObject.scannedMemberCount {
                let length = name.utf8.count
                for member in members where member.name.utf8.count == length && JSONValue.sameCodePoints(member.name, name) {
                    return member.value
                }
                return .none  // (not `nil`: JSONValue is nil-literal expressible)
            }
            let (index, found) = position(of: name)
            guard found else { return .none }
            return members[index].value
        }
        set {
            let (index, found) = position(of: name)
            switch (found, newValue) {
            case (true, .some(let value)): members[index].value = value
            case (true, .none): members.remove(at: index)
            case (false, .some(let value)): members.insert(Member(name: name, value: value), at: index)
            case (false, .none): break
            }
        }
    }

    public var keys: [String] { members.map(\.name) }
    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    /// The same names, each value transformed (with its name at hand).
    public func mapMembers(_ transform: (String, JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var copy = self
        for index in copy.members.indices {
            copy.members[index].value = try transform(copy.members[index].name, copy.members[index].value)
        }
        return copy
    }

    /// A Swift dictionary of the members. Canonically equivalent names (`"é"`, `"e\u{301}"`)
    /// collapse in it: use it only where names are known (configuration, replies), never to judge input.
    public var dictionary: [String: JSONValue] {
        Dictionary(members.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    public func makeIterator() -> some IteratorProtocol<(key: String, value: JSONValue)> {
        members.lazy.map { (key: $0.name, value: $0.value) }.makeIterator()
    }
}
