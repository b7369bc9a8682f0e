// The last outcome ("Restarting echo", "Could not pause: ..."), gone after a few seconds.
import { useEffect } from "react";
import { useUi } from "./store/ui";

export function Toast() {
  const toast = useUi((s) => s.toast);
  useEffect(() => {
    if (!toast) return;
    const timer = setTimeout(() => useUi.getState().clearToast(), toast.error ? 8000 : 4000);
    return () => clearTimeout(timer);
  }, [toast]);
  return (
    <div className="toast-area" role={toast?.error ? "alert" : "status"} aria-live="polite">
      {toast && <div className={toast.error ? "toast error" : "toast"}>{toast.text}</div>}
    </div>
  );
}
