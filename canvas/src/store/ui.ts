// Page-level UI state that is not about the org: which dialog or menu is open, the toast.
import { create } from "zustand";

export type Dialog =
  | { kind: "create"; parentId: string | null }
  | { kind: "delete"; id: string }
  | { kind: "search" }
  | { kind: "import" }
  | null;

export interface Menu {
  id: string;
  x: number;
  y: number;
}

interface UiStore {
  dialog: Dialog;
  menu: Menu | null;
  toast: { text: string; error: boolean } | null;
  open(dialog: Dialog): void;
  openMenu(menu: Menu | null): void;
  say(text: string, error?: boolean): void;
  clearToast(): void;
}

export const useUi = create<UiStore>()((set) => ({
  dialog: null,
  menu: null,
  toast: null,
  open: (dialog) => set({ dialog, menu: null }),
  openMenu: (menu) => set({ menu }),
  say: (text, error = false) => set({ toast: { text, error } }),
  clearToast: () => set({ toast: null }),
}));
