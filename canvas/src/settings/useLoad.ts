// The load-show-reload cycle every settings tab shares: the data, the platform's refusal as
// a message, and a reload after each change.
import { useCallback, useEffect, useState } from "react";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload(): void;
}

export const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && (setData(value), setError(null)),
      (e: unknown) => live && setError(describe(e)),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data, error, reload };
}

/** Runs a change, reports its outcome (the platform's message on a refusal), then reloads. */
export async function change(
  run: () => Promise<unknown>,
  setStatus: (status: { text: string; error: boolean } | null) => void,
  done: string,
  reload?: () => void,
): Promise<boolean> {
  setStatus(null);
  try {
    await run();
    setStatus({ text: done, error: false });
    reload?.();
    return true;
  } catch (e) {
    setStatus({ text: describe(e), error: true });
    return false;
  }
}

export type Status = { text: string; error: boolean } | null;
