// The hunt editor: a textarea over a highlighted copy of its text, with field-name completion
// from the server's schema (Tab or Enter accepts, arrows choose, Escape closes), the error's
// position underlined, and Ctrl+Enter to run.
import { useMemo, useRef, useState } from "react";
import { tokenize, offsetOf } from "../eql";

interface Props {
  value: string;
  onChange: (v: string) => void;
  onRun: () => void;
  fields: { name: string; type: string; doc: string }[];
  error: { line: number; column: number } | null;
}

const CHAR_W = 7.8; // 13px monospace, measured for the default font
const LINE_H = 20;

export function EqlEditor({ value, onChange, onRun, fields, error }: Props) {
  const area = useRef<HTMLTextAreaElement>(null);
  const [caret, setCaret] = useState(0);
  const [open, setOpen] = useState(false);
  const [choice, setChoice] = useState(0);
  const [scroll, setScroll] = useState({ top: 0, left: 0 });

  const prefix = useMemo(() => {
    const m = /[A-Za-z_@][A-Za-z0-9_.@]*$/.exec(value.slice(0, caret));
    return m ? m[0] : "";
  }, [value, caret]);
  const suggestions = useMemo(() => {
    if (!prefix || prefix.length < 2) return [];
    const p = prefix.toLowerCase();
    const starts = fields.filter((f) => f.name.toLowerCase().startsWith(p));
    const contains = fields.filter((f) => !f.name.toLowerCase().startsWith(p) && f.name.toLowerCase().includes(p));
    return [...starts, ...contains].filter((f) => f.name !== prefix).slice(0, 10);
  }, [prefix, fields]);
  const showing = open && suggestions.length > 0;

  const accept = (name: string) => {
    const start = caret - prefix.length;
    const next = value.slice(0, start) + name + value.slice(caret);
    onChange(next);
    setOpen(false);
    const pos = start + name.length;
    requestAnimationFrame(() => {
      area.current?.setSelectionRange(pos, pos);
      setCaret(pos);
    });
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      setOpen(false);
      onRun();
      return;
    }
    if (!showing) return;
    if (e.key === "ArrowDown") setChoice((c) => (c + 1) % suggestions.length);
    else if (e.key === "ArrowUp") setChoice((c) => (c - 1 + suggestions.length) % suggestions.length);
    else if (e.key === "Tab" || e.key === "Enter") accept(suggestions[Math.min(choice, suggestions.length - 1)].name);
    else if (e.key === "Escape") setOpen(false);
    else return;
    e.preventDefault();
  };

  const errorOffset = error ? offsetOf(value, error.line, error.column) : -1;
  const highlighted = useMemo(() => {
    const parts: React.ReactNode[] = [];
    let offset = 0;
    tokenize(value).forEach((t, i) => {
      const start = offset;
      offset += t.text.length;
      if (errorOffset >= start && errorOffset < offset) {
        const k = errorOffset - start;
        parts.push(
          <span key={i} className={"tok-" + t.kind}>
            {t.text.slice(0, k)}
            <span className="tok-error">{t.text.slice(k, k + 1)}</span>
            {t.text.slice(k + 1)}
          </span>,
        );
      } else parts.push(<span key={i} className={"tok-" + t.kind}>{t.text}</span>);
    });
    if (errorOffset >= value.length) parts.push(<span key="eof" className="tok-error"> </span>);
    return parts;
  }, [value, errorOffset]);

  const before = value.slice(0, caret);
  const line = before.split("\n").length - 1;
  const col = before.length - before.lastIndexOf("\n") - 1 - prefix.length;

  return (
    <div className="eql-editor">
      <pre className="eql-highlight" aria-hidden="true" style={{ transform: `translate(${-scroll.left}px, ${-scroll.top}px)` }}>
        {highlighted}
        {"\n"}
      </pre>
      <textarea
        ref={area}
        className="eql-input"
        aria-label="EQL query (Ctrl+Enter runs)"
        spellCheck={false}
        value={value}
        onChange={(e) => {
          onChange(e.target.value);
          setCaret(e.target.selectionStart);
          setOpen(true);
          setChoice(0);
        }}
        onKeyDown={onKeyDown}
        onKeyUp={(e) => {
          if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) setCaret(e.currentTarget.selectionStart);
        }}
        onClick={(e) => {
          setCaret(e.currentTarget.selectionStart);
          setOpen(false);
        }}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onScroll={(e) => setScroll({ top: e.currentTarget.scrollTop, left: e.currentTarget.scrollLeft })}
      />
      {showing && (
        <ul
          className="completions"
          role="listbox"
          aria-label="field names"
          style={{ top: (line + 1) * LINE_H + 8 - scroll.top, left: Math.min(600, 8 + col * CHAR_W - scroll.left) }}
        >
          {suggestions.map((f, i) => (
            <li
              key={f.name}
              role="option"
              aria-selected={i === choice}
              className={i === choice ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(f.name);
              }}
              title={f.doc}
            >
              <span className="field-name">{f.name}</span> <span className="field-type">{f.type}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
