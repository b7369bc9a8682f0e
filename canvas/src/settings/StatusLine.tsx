// The outcome of the last change in a tab: announced politely, errors as alerts.
import type { Status } from "./useLoad";

export function StatusLine({ status }: { status: Status }) {
  if (!status) return null;
  return status.error ? (
    <p role="alert" className="error">
      {status.text}
    </p>
  ) : (
    <p role="status" className="muted">
      {status.text}
    </p>
  );
}
