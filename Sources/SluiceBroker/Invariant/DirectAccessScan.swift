public import Foundation

/// `sluice validate`: finds code and configuration in a host application's tree that would open a
/// broker-owned SQLite file directly — the golden invariant says only the broker does.
///
/// A line is reported when it names a broker-owned database file (`tasks.db`, `plugins.db`,
/// `plugins/<id>.db`, `core.db`, `audit.db`, with or without `-wal`/`-shm`) and its file uses a
/// way to open SQLite (an API such as `sqlite3_open`, `DatabaseQueue(`, `sqlite3.connect(`, a
/// `sqlite:` URL, `ATTACH`, the `sqlite3` shell). A file that only mentions a name (in prose, say)
/// is not reported, nor is one that opens SQLite files of its own.
public struct DirectAccessScan: Sendable {
    /// One place that opens a broker-owned file.
    public struct Finding: Sendable, Equatable {
        public var path: String
        public var line: Int
        /// The broker-owned file it names.
        public var file: String
        /// How the file opens SQLite (the first opener found in it).
        public var opener: String
        public var text: String
    }

    /// File names the broker owns, relative to its data directory (`tasks.db`, `plugins/alpha.db`).
    public let ownedFiles: Set<String>

    /// What opens an SQLite file, by language or tool.
    static let openers = [
        "sqlite3_open", "DatabaseQueue(", "DatabasePool(", "Connection(", "sqlite3.connect(", "aiosqlite.connect(",
        "new Database(", "new sqlite3.Database(", "better-sqlite3", "sql.Open(", "Connection::open(",
        "SqlitePool", "jdbc:sqlite:", "sqlite:", "ATTACH", "sqlite3 ",
    ]

    /// Extensions of the files read: source code, scripts and configuration.
    static let extensions: Set<String> = [
        "swift", "c", "h", "cc", "cpp", "hpp", "m", "mm", "py", "js", "mjs", "cjs", "ts", "go", "rs", "java", "kt",
        "rb", "php", "cs", "sh", "bash", "zsh", "sql", "yaml", "yml", "json", "toml", "ini", "env", "conf", "cfg",
        "properties", "xml", "plist",
    ]

    /// Folders never read: build output, dependencies, version control (and data directories,
    /// which hold the files themselves rather than code that opens them).
    static let skippedFolders: Set<String> = [".git", ".build", "node_modules", ".venv", "venv", "__pycache__", "target"]

    /// Files larger than this are not read (generated or data files).
    static let maximumFileBytes = 1 << 20

    public init(ownedFiles: Set<String>) {
        self.ownedFiles = ownedFiles
    }

    /// The owned files of a broker serving `registry`: every database's file, `plugins.db` (the shared
    /// plugin database, whether or not a plugin uses it yet), `core.db` and `audit.db`.
    public init(registry: ContractRegistry) {
        self.init(ownedFiles: Set(registry.databases.map { registry.file(of: $0) }).union(["plugins.db", "core.db", "audit.db"]))
    }

    /// Scans every file under `roots` (files or folders), skipping `excluded` folders (the data
    /// directory, typically). Findings in path and line order.
    public func scan(_ roots: [URL], excluding excluded: [URL] = []) -> [Finding] {
        let skipped = Set(excluded.map { $0.standardizedFileURL.path })
        var findings: [Finding] = []
        for root in roots {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory) else { continue }
            guard isDirectory.boolValue else {
                findings += scanFile(root)
                continue
            }
            guard
                let walker = FileManager.default.enumerator(
                    at: root, includingPropertiesForKeys: [.isDirectoryKey, .fileSizeKey])
            else { continue }
            for case let url as URL in walker {
                let values = try? url.resourceValues(forKeys: [.isDirectoryKey, .fileSizeKey])
                if values?.isDirectory == true {
                    if DirectAccessScan.skippedFolders.contains(url.lastPathComponent)
                        || skipped.contains(url.standardizedFileURL.path)
                    {
                        walker.skipDescendants()
                    }
                    continue
                }
                guard DirectAccessScan.extensions.contains(url.pathExtension.lowercased()) || url.lastPathComponent == ".env",
                    (values?.fileSize ?? 0) <= DirectAccessScan.maximumFileBytes
                else { continue }
                findings += scanFile(url)
            }
        }
        return findings.sorted { ($0.path, $0.line) < ($1.path, $1.line) }
    }

    func scanFile(_ url: URL) -> [Finding] {
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8)
        else { return [] }
        guard let opener = DirectAccessScan.openers.first(where: { text.contains($0) }) else { return [] }
        var findings: [Finding] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let file = ownedFile(named: line) {
                findings.append(
                    Finding(
                        path: url.path, line: index + 1, file: file, opener: opener,
                        text: line.trimmingCharacters(in: .whitespaces)))
            }
        }
        return findings
    }

    /// The owned file `line` names: the name preceded by a path separator, a quote, `=`, a space
    /// or the line start, so `mytasks.db` is not `tasks.db`.
    func ownedFile(named line: Substring) -> String? {
        for file in ownedFiles.sorted(by: { $0.count > $1.count }) {
            var searchStart = line.startIndex
            while let range = line.range(of: file, range: searchStart..<line.endIndex) {
                let before = range.lowerBound == line.startIndex ? nil : line[line.index(before: range.lowerBound)]
                let after = range.upperBound == line.endIndex ? nil : line[range.upperBound]
                let boundaryBefore = before.map { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") } ?? true
                let boundaryAfter = after.map { !($0.isLetter || $0.isNumber || $0 == "_") } ?? true
                if boundaryBefore && boundaryAfter { return file }
                searchStart = range.upperBound
            }
        }
        return nil
    }
}
