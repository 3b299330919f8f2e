/**
 * A tiny element builder. Data only ever reaches the page through textContent and
 * attributes set with setAttribute, never through innerHTML, so patient names and
 * descriptions that contain markup are shown as text.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') {
      el.addEventListener(name.replace(/^on/, ''), value);
    } else if (name === 'className') {
      el.className = String(value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Remove all children of an element. */
export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** Show an error message inside a container, as text. */
export function errorBox(message: string, testid = 'error'): HTMLElement {
  return h('div', { className: 'error', role: 'alert', 'data-testid': testid }, message);
}

/** A labelled form control: the label's text above the control. */
export function field(label: string, control: HTMLElement, className = 'field'): HTMLLabelElement {
  return h('label', { className }, h('span', {}, label), control);
}

/**
 * A modal dialog (native <dialog>: focus stays inside, Esc closes it) with a title and a
 * Close button; it leaves the page when closed.
 */
export function openDialog(title: string, testid: string, ...children: Child[]): HTMLDialogElement {
  const dialog = h(
    'dialog',
    { className: 'modal', 'data-testid': testid, 'aria-label': title },
    h('header', {},
      h('h2', {}, title),
      h('button', { type: 'button', className: 'close', 'aria-label': 'Close', 'data-testid': `${testid}-close`, onclick: () => dialog.close() }, '×'),
    ),
    ...children,
  );
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  // Start at the first field rather than at the Close button.
  dialog.querySelector<HTMLElement>('input, select, textarea')?.focus();
  return dialog;
}
