// EQL tokens for the hunt editor's highlighting (the server's parser is the authority on errors).

export type TokenKind = "keyword" | "string" | "number" | "field" | "op" | "comment" | "pipe" | "text";
export interface Token {
  kind: TokenKind;
  text: string;
}

const KEYWORDS = new Set([
  "where", "and", "or", "not", "sequence", "sample", "by", "with", "maxspan", "until", "any",
  "true", "false", "null", "in", "in~", "of", "child", "descendant", "event", "like", "like~",
  "regex", "regex~", "runs",
]);
const PIPES = new Set(["head", "tail", "count", "unique", "unique_count", "filter", "sort"]);

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let afterPipe = false;
  const push = (kind: TokenKind, text: string) => {
    const last = out[out.length - 1];
    if (last && last.kind === kind && kind === "text") last.text += text;
    else out.push({ kind, text });
  };
  while (i < src.length) {
    const c = src[i];
    const rest = src.slice(i);
    if (rest.startsWith("//")) {
      const end = src.indexOf("\n", i);
      const stop = end < 0 ? src.length : end;
      push("comment", src.slice(i, stop));
      i = stop;
      continue;
    }
    if (rest.startsWith("/*")) {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      push("comment", src.slice(i, stop));
      i = stop;
      continue;
    }
    if (rest.startsWith('"""')) {
      const end = src.indexOf('"""', i + 3);
      const stop = end < 0 ? src.length : end + 3;
      push("string", src.slice(i, stop));
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
      const stop = Math.min(src.length, j + 1);
      push("string", src.slice(i, stop));
      i = stop;
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?[a-z]*/.exec(rest)!;
      push("number", m[0]);
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_@`]/.test(c)) {
      const m = /^(`[^`]*`|[A-Za-z_@][A-Za-z0-9_.@]*~?)/.exec(rest)!;
      const word = m[0];
      const lower = word.toLowerCase();
      if (afterPipe && PIPES.has(lower)) push("pipe", word);
      else if (KEYWORDS.has(lower)) push("keyword", word);
      else push("field", word);
      afterPipe = false;
      i += word.length;
      continue;
    }
    if (c === "|") {
      push("op", c);
      afterPipe = true;
      i += 1;
      continue;
    }
    if (/[=!<>:~+\-*/%]/.test(c)) {
      push("op", c);
      i += 1;
      continue;
    }
    push("text", c);
    i += 1;
  }
  return out;
}

// "3:17: expected ..." -> line 3, column 17.
export function errorPosition(message: string): { line: number; column: number; text: string } | null {
  const m = /^(\d+):(\d+):\s*(.*)$/s.exec(message);
  if (!m) return null;
  return { line: Number(m[1]), column: Number(m[2]), text: m[3] };
}

export function offsetOf(src: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; ++l) {
    const nl = src.indexOf("\n", offset);
    if (nl < 0) return src.length;
    offset = nl + 1;
  }
  return Math.min(src.length, offset + column - 1);
}
