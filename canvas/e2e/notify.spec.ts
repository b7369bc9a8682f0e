// An agent talks to its user by itself (POST /notify, AGENT_MESSAGE): the open chat shows the
// message live, and a reload rebuilds it from the activity feed.
import { expect, test } from "@playwright/test";
import { adminAuth, axe, base, failOnPageErrors, node, token } from "./helpers";

failOnPageErrors();

test("an agent's own message appears live in the chat and survives a reload", async ({ page }) => {
  const made = await page.request.post(`${base()}/workspaces`, {
    headers: adminAuth(),
    data: { name: "notifier", runtime: "echo" },
  });
  expect(made.ok()).toBe(true);
  const id = ((await made.json()) as { id: string }).id;
  await page.goto(`${base()}/?token=${token()}`);
  await expect(page.getByTestId("connection")).toHaveText(/Live/);
  await node(page, "notifier").click();
  await page.getByRole("tab", { name: "Chat" }).click();
  const conversation = page.getByRole("list", { name: "Conversation" });

  // Sent as the agent would, while the chat is open: no reload, no polling.
  const sent = await page.request.post(`${base()}/workspaces/${id}/notify`, {
    headers: adminAuth(),
    data: {
      message: "build finished: 3 warnings",
      attachments: [{ uri: "workspace:/workspace/report.txt", name: "report.txt", mimeType: "text/plain" }],
    },
  });
  expect(sent.ok()).toBe(true);
  await expect(conversation).toContainText("build finished: 3 warnings");
  await expect(conversation.getByRole("link", { name: "Download report.txt" })).toBeVisible();
  await axe(page, "the chat with an agent's message");

  await page.reload();
  await node(page, "notifier").click();
  await page.getByRole("tab", { name: "Chat" }).click();
  await expect(conversation).toContainText("build finished: 3 warnings");
  await expect(conversation.getByRole("link", { name: "Download report.txt" })).toBeVisible();

  await page.request.delete(`${base()}/workspaces/${id}?confirm=true`, { headers: adminAuth() });
});
