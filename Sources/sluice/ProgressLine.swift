import Foundation

/// Progress of long work on standard error, at most once a second (nothing for work that ends
/// sooner): standard output keeps only the result, for scripts. On a terminal the line is
/// rewritten in place; elsewhere (a log, a CI run) each update is a line of its own.
final class ProgressLine {
    private let label: String
    private var lastShown = Date()
    private var shown = false
    private let onTerminal = isatty(2) == 1

    init(_ label: String) { self.label = label }

    /// Shows `text` if a second passed since the last update.
    func update(_ text: @autoclosure () -> String) {
        let now = Date()
        guard now.timeIntervalSince(lastShown) >= 1 else { return }
        lastShown = now
        shown = true
        write(onTerminal ? "\r\(label): \(text())\u{1B}[K" : "\(label): \(text())\n")
    }

    /// Ends the line on a terminal, if anything was shown.
    func finish() {
        if shown && onTerminal { write("\n") }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
