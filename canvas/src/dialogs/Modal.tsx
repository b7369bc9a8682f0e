// A modal on the native <dialog>: focus stays inside, Escape closes, the title labels it.
import { type ReactNode, useEffect, useId, useRef } from "react";
import { useUi } from "../store/ui";

export function Modal({ title, children, wide }: { title: string; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      className={wide ? "modal wide" : "modal"}
      aria-labelledby={titleId}
      onClose={() => useUi.getState().open(null)}
    >
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}

export const closeDialog = () => useUi.getState().open(null);
