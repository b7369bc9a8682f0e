// How each workspace status reads on the chart: a label for people and a colour class.
export const STATUS_LABEL: Record<string, string> = {
  provisioning: "Provisioning",
  online: "Online",
  offline: "Offline",
  degraded: "Degraded",
  awaiting_agent: "Awaiting agent",
  failed: "Failed",
  paused: "Paused",
  hibernating: "Hibernating",
  hibernated: "Hibernated",
  removed: "Removed",
};

export const statusLabel = (status: string): string => STATUS_LABEL[status] ?? status;

/** Which actions make sense in a status (the platform refuses the others anyway). */
export function allowedActions(status: string): Set<"restart" | "pause" | "resume" | "hibernate"> {
  const out = new Set<"restart" | "pause" | "resume" | "hibernate">();
  if (status === "paused") out.add("resume");
  else {
    out.add("restart");
    out.add("pause");
  }
  if (status === "online" || status === "degraded") out.add("hibernate");
  return out;
}
