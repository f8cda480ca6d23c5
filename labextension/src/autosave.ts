/**
 * Saving the documents open in this browser shortly before the server stops, without the
 * save counting as activity.
 *
 * Documents are saved through their normal document context (`context.save()`), so
 * JupyterLab's own bookkeeping (dirty flag, last-modified and hash checks, save-state
 * signals) stays right and a later save by the user raises no "file changed" conflict.
 * The server counts a `PUT api/contents/...` as activity; our saves are marked with the
 * `X-Jupyter-Cull-Autosave: 1` header, which the server does not count. The header is
 * added by a wrapper around the contents manager's `ServerConnection.ISettings.fetch`
 * (the documented hook for replacing `fetch`), only on the `PUT` of a document this module
 * is saving, and only while that save is in flight.
 */

import type { JupyterFrontEnd } from '@jupyterlab/application';
import { URLExt } from '@jupyterlab/coreutils';
import type { IDocumentManager } from '@jupyterlab/docmanager';
import type { DocumentRegistry } from '@jupyterlab/docregistry';
import type { ServerConnection } from '@jupyterlab/services';

import { AUTOSAVE_HEADER } from './api';

type Fetch = ServerConnection.ISettings['fetch'];

/** Adds the autosave header to the `PUT` requests of the saves in flight. */
export class AutosaveTagger {
  constructor(settings: ServerConnection.ISettings[]) {
    const seen = new Set<ServerConnection.ISettings>();
    for (const s of settings) {
      if (!seen.has(s)) {
        seen.add(s);
        this._wrap(s);
      }
    }
    this._settings = [...seen];
  }

  /** Run `save` with PUTs to `path` (a contents path in the default drive) marked. */
  async marking<T>(path: string, save: () => Promise<T>): Promise<T> {
    const key = this._key(path);
    this._pending.set(key, (this._pending.get(key) ?? 0) + 1);
    try {
      return await save();
    } finally {
      const n = (this._pending.get(key) ?? 1) - 1;
      if (n > 0) {
        this._pending.set(key, n);
      } else {
        this._pending.delete(key);
      }
    }
  }

  private _key(path: string): string {
    const base = this._settings[0]?.baseUrl ?? '/';
    const url = URLExt.join(base, 'api/contents', URLExt.encodeParts(path));
    return new URL(url, window.location.href).pathname;
  }

  private _wrap(settings: ServerConnection.ISettings): void {
    const original: Fetch = settings.fetch;
    const wrapped: Fetch = (input, init) => {
      if (
        this._pending.size > 0 &&
        input instanceof Request &&
        input.method === 'PUT'
      ) {
        const path = new URL(input.url, window.location.href).pathname;
        if (this._pending.has(path)) {
          input.headers.set(AUTOSAVE_HEADER, '1');
        }
      }
      return original.call(null, input, init);
    };
    // `fetch` is typed read-only; the object is a plain settings record meant to carry
    // a replacement fetch.
    Object.defineProperty(settings, 'fetch', {
      value: wrapped,
      configurable: true,
      enumerable: true,
      writable: true
    });
  }

  private _settings: ServerConnection.ISettings[];
  private _pending = new Map<string, number>();
}

/** The distinct document contexts of the widgets in the main area. */
export function openContexts(
  shell: JupyterFrontEnd.IShell,
  docManager: IDocumentManager
): DocumentRegistry.Context[] {
  const contexts = new Set<DocumentRegistry.Context>();
  for (const widget of shell.widgets('main')) {
    const context = docManager.contextForWidget(widget);
    if (context) {
      contexts.add(context);
    }
  }
  return [...contexts];
}

/** Whether a context holds unsaved changes we can save. */
export function needsSave(context: DocumentRegistry.Context): boolean {
  return (
    context.isReady &&
    context.model.dirty &&
    !context.model.readOnly &&
    context.contentsModel?.writable !== false
  );
}

/** The kernel ids of the documents open in this browser. */
export function openKernelIds(
  contexts: DocumentRegistry.Context[]
): Set<string> {
  const ids = new Set<string>();
  for (const context of contexts) {
    const id = context.sessionContext.session?.kernel?.id;
    if (id) {
      ids.add(id);
    }
  }
  return ids;
}

/** The document path of each open kernel, for messages. */
export function kernelDocuments(
  contexts: DocumentRegistry.Context[]
): Map<string, string> {
  const paths = new Map<string, string>();
  for (const context of contexts) {
    const id = context.sessionContext.session?.kernel?.id;
    if (id) {
      paths.set(id, context.localPath);
    }
  }
  return paths;
}

/**
 * Save every dirty document open in this browser, marked as an autosave. Resolves with
 * the paths saved; a document that fails to save does not stop the others.
 */
export async function saveDirty(
  contexts: DocumentRegistry.Context[],
  tagger: AutosaveTagger,
  localPath: (path: string) => string
): Promise<string[]> {
  const dirty = contexts.filter(needsSave);
  const results = await Promise.allSettled(
    dirty.map(c => tagger.marking(localPath(c.path), () => c.save()))
  );
  return dirty
    .filter((_, i) => results[i].status === 'fulfilled')
    .map(c => c.path);
}
