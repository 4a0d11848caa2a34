/**
 * Server-initiated work-done progress as a notification with a Cancel button.
 *
 * vscode-languageclient 9 shows such progress in the status bar (ProgressLocation.Window),
 * where it cannot be cancelled. A model call can take a minute, so the user gets a
 * notification instead; Cancel sends `window/workDoneProgress/cancel`, which makes the
 * server close the model stream and apply nothing.
 */
import * as vscode from "vscode";
import type { ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from "vscode-languageclient";

type Params = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

interface Entry {
  title: string;
  cancellable: boolean;
  finish: () => void;
  report?: (message: string | undefined, percentage: number | undefined) => void;
  /** Latest message that arrived before VS Code handed us the progress object. */
  pending?: string;
}

export class NotificationProgress implements vscode.Disposable {
  private readonly active = new Map<ProgressToken, Entry>();

  handle(token: ProgressToken, params: Params, cancel: () => void): void {
    if (params.kind === "begin") {
      this.begin(token, params, cancel);
    } else if (params.kind === "report") {
      const entry = this.active.get(token);
      if (entry?.cancellable && params.cancellable === false) {
        // VS Code cannot disable a Cancel button once shown: swap in a notification without one,
        // so the user is never offered a cancel the server would ignore (e.g. while applying).
        entry.finish();
        this.begin(token, { kind: "begin", title: entry.title, cancellable: false, message: params.message }, cancel);
        return;
      }
      if (entry?.report) {
        entry.report(params.message, params.percentage);
      } else if (entry && params.message) {
        entry.pending = params.message;
      }
    } else {
      this.active.get(token)?.finish();
      this.active.delete(token);
    }
  }

  private begin(token: ProgressToken, params: WorkDoneProgressBegin, cancel: () => void): void {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const entry: Entry = { title: params.title, cancellable: params.cancellable ?? false, finish, pending: params.message };
    this.active.set(token, entry);
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: params.title, cancellable: params.cancellable ?? false },
      (progress, cancellation) => {
        let reported = 0;
        entry.report = (message, percentage) => {
          let increment: number | undefined;
          if (typeof percentage === "number") {
            const clamped = Math.max(0, Math.min(100, percentage));
            increment = Math.max(0, clamped - reported);
            reported += increment;
          }
          progress.report({ message, increment });
        };
        if (entry.pending || typeof params.percentage === "number") {
          entry.report(entry.pending, params.percentage);
        }
        const subscription = cancellation.onCancellationRequested(cancel);
        return done.finally(() => subscription.dispose());
      },
    );
  }

  /** The server went away: close every notification it left open. */
  clear(): void {
    for (const entry of this.active.values()) {
      entry.finish();
    }
    this.active.clear();
  }

  dispose(): void {
    this.clear();
  }
}
