// A table that renders only the rows in view (fixed row height), so tens of thousands of rows or a
// fast live stream stay smooth. Keyboard: Up/Down/PageUp/PageDown/Home/End move the selection,
// Enter opens the selected row.
import { useCallback, useEffect, useRef, useState, type ReactNode, type CSSProperties } from "react";

export interface Column {
  key: string;
  label: string;
  width: number;
}

export const ROW_HEIGHT = 24;

interface Props {
  columns: Column[];
  rows: any[];
  renderCell?: (row: any, column: Column) => ReactNode;
  rowStyle?: (row: any, index: number) => CSSProperties | undefined;
  rowClass?: (row: any, index: number) => string;
  onOpen?: (row: any) => void;
  sort?: { key: string; desc: boolean };
  onSort?: (key: string) => void;
  label: string;
  testId?: string;
}

export function cellText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function VirtualTable(props: Props) {
  const { columns, rows } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const [selected, setSelected] = useState(-1);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  const onScroll = useCallback(() => {
    if (scroller.current) setScrollTop(scroller.current.scrollTop);
  }, []);

  const totalWidth = columns.reduce((w, c) => w + c.width, 0);
  const overscan = 8;
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - overscan);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + overscan);

  const move = (to: number) => {
    const i = Math.max(0, Math.min(rows.length - 1, to));
    setSelected(i);
    const el = scroller.current;
    if (!el) return;
    const top = i * ROW_HEIGHT;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight - ROW_HEIGHT)
      el.scrollTop = top - el.clientHeight + 2 * ROW_HEIGHT;
  };
  const onKey = (e: React.KeyboardEvent) => {
    const page = Math.max(1, Math.floor(height / ROW_HEIGHT) - 1);
    if (e.key === "ArrowDown") move(selected + 1);
    else if (e.key === "ArrowUp") move(selected - 1);
    else if (e.key === "PageDown") move(selected + page);
    else if (e.key === "PageUp") move(selected - page);
    else if (e.key === "Home") move(0);
    else if (e.key === "End") move(rows.length - 1);
    else if (e.key === "Enter" && selected >= 0 && rows[selected]) props.onOpen?.(rows[selected]);
    else return;
    e.preventDefault();
  };

  const visible = [];
  for (let i = first; i < last; ++i) {
    const row = rows[i];
    const cls = "vrow" + (i === selected ? " selected" : "") + (props.rowClass ? " " + props.rowClass(row, i) : "");
    visible.push(
      // Keyed by slot, not by row: scrolling reuses the same DOM rows and only changes their text.
      <div
        key={i - first}
        className={cls}
        role="row"
        aria-rowindex={i + 2}
        style={{ top: i * ROW_HEIGHT, width: totalWidth, ...props.rowStyle?.(row, i) }}
        onClick={() => setSelected(i)}
        onDoubleClick={() => props.onOpen?.(row)}
      >
        {columns.map((c) => (
          <div key={c.key} className="vcell" role="cell" style={{ width: c.width }}>
            {props.renderCell ? props.renderCell(row, c) : cellText(row[c.key])}
          </div>
        ))}
      </div>,
    );
  }

  return (
    <div className="vtable" role="table" aria-label={props.label} aria-rowcount={rows.length + 1} data-testid={props.testId}>
      <div
        className="vscroll"
        ref={scroller}
        onScroll={onScroll}
        tabIndex={0}
        onKeyDown={onKey}
        aria-label={props.label + " rows (arrow keys move, Enter opens)"}
      >
        <div className="vhead" role="row" style={{ width: totalWidth }}>
          {columns.map((c) => (
            <button
              key={c.key}
              className="vth"
              role="columnheader"
              style={{ width: c.width }}
              onClick={() => props.onSort?.(c.key)}
              disabled={!props.onSort}
              aria-sort={props.sort?.key === c.key ? (props.sort.desc ? "descending" : "ascending") : undefined}
            >
              {c.label}
              {props.sort?.key === c.key ? (props.sort.desc ? " ▼" : " ▲") : ""}
            </button>
          ))}
        </div>
        <div className="vbody" style={{ height: rows.length * ROW_HEIGHT, width: totalWidth }}>
          {visible}
        </div>
      </div>
    </div>
  );
}
