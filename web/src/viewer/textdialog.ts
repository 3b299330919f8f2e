/** The in-page dialog that asks for an arrow annotation's label. */
import { h } from '../dom';

/** A small in-page dialog for arrow labels (window.prompt would block the page). */
export function buildTextDialog(): { root: HTMLDialogElement; ask: (initial: string) => Promise<string | null> } {
  const input = h('input', { type: 'text', 'data-testid': 'annotation-text', 'aria-label': 'Label' }) as HTMLInputElement;
  const root = h('dialog', { className: 'text-dialog', 'data-testid': 'annotation-dialog' },
    h('form', { method: 'dialog' },
      h('label', {}, 'Label ', input),
      h('menu', {},
        h('button', { value: 'cancel', type: 'submit', 'data-testid': 'annotation-cancel' }, 'Cancel'),
        h('button', { value: 'ok', type: 'submit', 'data-testid': 'annotation-ok' }, 'OK'),
      ),
    ),
  ) as HTMLDialogElement;
  const ask = (initial: string): Promise<string | null> =>
    new Promise((resolve) => {
      input.value = initial;
      root.returnValue = '';
      root.addEventListener('close', () => resolve(root.returnValue === 'ok' ? input.value : null), { once: true });
      root.showModal();
      input.focus();
    });
  return { root, ask };
}
