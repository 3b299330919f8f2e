/** Remote DICOM nodes (/api/admin/nodes): list, add, edit, delete, and a C-ECHO test. */
import { api } from '../api';
import { clear, field, h, openDialog } from '../dom';
import { confirmAction, dataTable, formError, loader, submitting } from './ui';

interface DicomNode {
  id: number | null;
  ae_title: string;
  host: string;
  port: number;
  tls: boolean;
  description: string;
  source: 'settings' | 'database';
}

interface Echo {
  ok: boolean;
  elapsed_ms: number;
  message: string;
}

export function renderNodes(root: HTMLElement, _params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const list = h('div');
  const error = formError('nodes-error');
  const reload = loader(error, async () => {
    const nodes = await api<DicomNode[]>('GET', '/api/admin/nodes', undefined, { signal });
    clear(list);
    list.append(dataTable('nodes-table', ['AE title', 'Host', 'Port', 'TLS', 'Description', 'Source', 'Echo', ''],
      nodes.map((n) => nodeRow(n, error, reload)), 'No remote nodes yet.'));
  });
  root.append(h('h2', {}, 'Remote DICOM nodes'),
    h('p', { className: 'muted' }, 'Nodes of the dicom.remote_nodes setting are listed read-only. Every node is a C-MOVE destination.'),
    list, error,
    h('button', { type: 'button', 'data-testid': 'node-add', onclick: () => editNode(null, reload) }, 'Add a node…'));
  return reload();
}

function nodeRow(node: DicomNode, error: HTMLElement, reload: () => Promise<void>): HTMLTableRowElement {
  const result = h('span', { className: 'echo-result', 'data-testid': 'node-echo-result', 'aria-live': 'polite' });
  const cells = [node.ae_title, node.host, String(node.port), node.tls ? 'yes' : 'no', node.description, node.source];
  const actions = h('div', { className: 'row-actions' });
  const echoCell = h('td', {}, result);
  if (node.id !== null) {
    const id = node.id;
    const echo = h('button', { type: 'button', 'data-testid': 'node-echo' }, 'Echo');
    echo.addEventListener('click', () => {
      result.textContent = 'Testing…';
      result.className = 'echo-result';
      void submitting(echo, error, async () => {
        try {
          const answer = await api<Echo>('POST', `/api/admin/nodes/${id}/echo`);
          result.textContent = answer.ok ? `OK (${Math.round(answer.elapsed_ms)} ms)` : `Failed: ${answer.message}`;
          result.classList.add(answer.ok ? 'ok' : 'failed');
          result.dataset.ok = String(answer.ok);
        } catch (err) {
          result.textContent = '';
          throw err;
        }
      });
    });
    echoCell.prepend(echo, ' ');
    const remove = h('button', { type: 'button', 'data-testid': 'node-delete' }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!(await confirmAction(`Delete the node ${node.ae_title} (${node.host}:${node.port})?`, 'Delete'))) return;
      await submitting(remove, error, async () => {
        await api('DELETE', `/api/admin/nodes/${id}`);
        await reload();
      });
    });
    actions.append(h('button', { type: 'button', 'data-testid': 'node-edit', onclick: () => editNode(node, reload) }, 'Edit…'), remove);
  }
  return h('tr', { 'data-testid': 'node-row', 'data-node-id': node.id ?? '', 'data-ae-title': node.ae_title },
    ...cells.map((c) => h('td', {}, c)), echoCell, h('td', {}, actions));
}

function editNode(node: DicomNode | null, reload: () => Promise<void>): void {
  const aeTitle = h('input', { type: 'text', required: true, maxlength: 16, value: node?.ae_title ?? '', 'data-testid': 'node-ae-title' });
  const host = h('input', { type: 'text', required: true, maxlength: 255, value: node?.host ?? '', 'data-testid': 'node-host' });
  const port = h('input', { type: 'number', required: true, min: 1, max: 65535, value: node?.port ?? 104, 'data-testid': 'node-port' });
  const tls = h('input', { type: 'checkbox', checked: node?.tls ?? false, 'data-testid': 'node-tls' });
  const description = h('input', { type: 'text', maxlength: 256, value: node?.description ?? '', 'data-testid': 'node-description' });
  const error = formError('node-form-error');
  const submit = h('button', { type: 'submit', 'data-testid': 'node-save' }, node ? 'Save' : 'Add node');
  const form = h('form', { className: 'stack', 'data-testid': 'node-form' },
    field('AE title', aeTitle), field('Host', host), field('Port', port),
    h('label', { className: 'check' }, tls, ' TLS'), field('Description', description), error, h('menu', {}, submit));
  const dialog = openDialog(node ? `Edit ${node.ae_title}` : 'Add a remote node', 'node-dialog', form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = { ae_title: aeTitle.value.trim(), host: host.value.trim(), port: Number(port.value), tls: tls.checked, description: description.value.trim() };
    void submitting(submit, error, async () => {
      if (node?.id != null) await api('PATCH', `/api/admin/nodes/${node.id}`, body);
      else await api('POST', '/api/admin/nodes', body);
      dialog.close();
      await reload();
    });
  });
}
