// The public types as an ES module program sees them (through the package's "exports").
import {
  ConflictError,
  Roost,
  RoostError,
  verifyRedirect,
  verifyWebhook,
  type BusinessProfile,
  type EmbeddedSignupSession,
  type Page,
  type RedirectResult,
  type WebhookEvent,
  type WithResponse,
} from "roost-client";

export async function usage(roost: Roost): Promise<void> {
  const session: WithResponse<EmbeddedSignupSession> = await roost.sessions.create(
    { redirect_uri: "https://app.example.com/cb", state: "s", metadata: { externalUserId: "u1" } },
    { idempotencyKey: "order-1" },
  );
  const requestId: string | undefined = session.lastResponse.requestId;
  const status: "pending" | "completed" | "recovered" | "failed" | "cancelled" | "expired" = session.status;
  for await (const profile of roost.businessProfiles.list({ metadata: { externalUserId: "u1" }, limit: 10 })) {
    const registered: boolean | undefined = profile.phone_numbers[0]?.cloud_api_registered;
    const history = profile.phone_numbers[0]?.coexistence?.history_sync;
    const progress: number | null | undefined = history?.progress;
    const synced: boolean = history?.status === "completed" || history?.status === "declined";
    void registered, progress, synced;
  }
  const page: Page<BusinessProfile> = await roost.businessProfiles.list().firstPage();
  const refreshed: WithResponse<BusinessProfile> = await roost.businessProfiles.refresh("wabp_1");
  const health: "deleted" | "offboarded" | "disconnected" | "banned" | "restricted" | "in_review" | "ok" = refreshed.health.status;
  void health;
  const first: BusinessProfile[] = await roost.sessions.list({ created: { gte: new Date(), lt: 1705400000 } })
    .toArray({ limit: 5 })
    .then(() => page.data);
  await roost.sessions.simulate(session.id, { outcome: "completed" });
  try {
    await roost.sessions.cancel(session.id);
  } catch (error) {
    if (error instanceof ConflictError && error.code === "session_processing") return;
    if (error instanceof RoostError) console.log(error.type, error.code, error.param, error.requestId);
  }
  const event: WebhookEvent = verifyWebhook("{}", { "webhook-id": "evt_1" }, "whsec_AAAA");
  const result: RedirectResult = verifyRedirect("https://app.example.com/cb?x=1", "rsec_test_x");
  void [requestId, status, first, event.type, result.session_id];

  // @ts-expect-error simulate needs an outcome
  await roost.sessions.simulate(session.id, {});
  // @ts-expect-error a webhook endpoint needs its events
  await roost.webhookEndpoints.create({ url: "https://app.example.com/hooks" });
  // @ts-expect-error an unknown session status
  await roost.sessions.list({ status: "done" }).firstPage();
}
