// The panel under a Rules table that shows one item (a rule's source, an IOC set's indicators, a
// YARA set's versions and sources): a title, a muted line of facts and a close button.
import { type ReactNode } from "react";

export function DetailsPanel(props: { title: ReactNode; facts: ReactNode; onClose: () => void; testId?: string; children: ReactNode }) {
  return (
    <div className="details" style={{ width: "auto", marginTop: 8 }} data-testid={props.testId}>
      <h3>
        {props.title} <span className="muted">{props.facts}</span>{" "}
        <button className="btn tiny" onClick={props.onClose} aria-label="close">
          ×
        </button>
      </h3>
      {props.children}
    </div>
  );
}
