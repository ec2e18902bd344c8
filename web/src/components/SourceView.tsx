// A rule's or an indicator list's text with line numbers, one line marked: the place a
// validation error of the server points at (EQL "file:LINE:COL: why", YAML "line L, column C",
// an IOC set's "indicators[N]"). Used by the Rules page's detection rules and IOC sets.

// The 1-based line (and column, 0 when unknown) an error message of the server points at.
export function errorPosition(message: string): { line: number; column: number } | null {
  let m = /:(\d+):(\d+):/.exec(message);
  if (!m) m = /\bline (\d+), column (\d+)/.exec(message);
  if (m) return { line: Number(m[1]), column: Number(m[2]) };
  m = /\bindicators\[(\d+)\]/.exec(message);
  return m ? { line: Number(m[1]), column: 0 } : null;
}

export function SourceView({ text, line = 0, column = 0, testId }: { text: string; line?: number; column?: number; testId?: string }) {
  const lines = text.replace(/\n$/, "").split("\n");
  while (lines.length < line) lines.push(""); // an error at the end of the text ("got end of query")
  return (
    <pre className="source-view mono" data-testid={testId}>
      {lines.map((l, i) => (
        <div key={i} className={i + 1 === line ? "src-line error" : "src-line"} data-line={i + 1}>
          <span className="src-no">{i + 1}</span>
          <span className="src-text">{l || " "}</span>
          {i + 1 === line && column > 0 && (
            <span className="src-caret" aria-label={`error at line ${line}, column ${column}`}>
              <span className="src-no" />
              {" ".repeat(column - 1)}^
            </span>
          )}
        </div>
      ))}
    </pre>
  );
}

// An RFC 3339 time shortened to the minute for a table cell (the full time is its title).
export const shortTime = (t: string) => (t ? t.slice(0, 16).replace("T", " ") : "");
