// roost.js in the browser: the global Roost that /static/roost.js sets, typed by roost-client/popup.
import type { ConnectError, PopupResult } from "roost-client/popup";

export function connectButton(button: HTMLButtonElement, sessionUrl: string): void {
  button.addEventListener("click", () => {
    const pending: Promise<PopupResult> = Roost.connect(sessionUrl, {
      mode: "auto",
      onResult: (result) => {
        if (result.status === "closed") return;
        const signed: string = result.signature; // every result but "closed" is signed
        void [signed, result.session_id, result.error];
      },
      onError: (error: ConnectError) => console.log(error.code === "popup_blocked"),
    });
    void pending;
    const type: "roost:embedded_signup" = window.Roost.MESSAGE_TYPE;
    void type;
    // @ts-expect-error not a mode of roost.js
    Roost.connect(sessionUrl, { mode: "tab" });
  });
}
