/** Comments on a study: the list (oldest first), a form to add one, delete one's own. */
import { api, can, type Session } from '../api';
import { clear, h } from '../dom';
import { formError, formatDateTime, showFormError, submitting } from './ui';

interface Comment {
  id: number;
  text: string;
  author: string;
  created_at: string;
}

/** The comments section; resolves once the list has loaded (or failed). */
export function commentsSection(studyUid: string, session: Session | null, signal: AbortSignal): { element: HTMLElement; ready: Promise<void> } {
  const base = `/api/studies/${encodeURIComponent(studyUid)}/comments`;
  const list = h('ol', { className: 'comments', 'data-testid': 'comments' });
  const error = formError('comment-error');
  const element = h('section', { className: 'panel', 'data-testid': 'study-comments' }, h('h2', {}, 'Comments'), list, error);
  const me = session?.user?.username;
  // The server lets the author or an administrator (role admin) delete a comment.
  const isAdmin = session?.user?.roles.includes('admin') ?? false;

  const draw = (comments: Comment[]): void => {
    clear(list);
    for (const c of comments) {
      const item = h('li', { className: 'comment', 'data-testid': 'comment', 'data-comment-id': c.id },
        h('div', { className: 'comment-head' },
          h('strong', { 'data-testid': 'comment-author' }, c.author),
          h('time', { className: 'muted', datetime: c.created_at }, formatDateTime(c.created_at))),
        h('p', { className: 'comment-text', 'data-testid': 'comment-text' }, c.text));
      if (can(session, 'study.annotate') && (c.author === me || isAdmin)) {
        const remove = h('button', { type: 'button', className: 'small', 'data-testid': 'comment-delete' }, 'Delete');
        remove.addEventListener('click', () => void submitting(remove, error, async () => {
          await api('DELETE', `${base}/${c.id}`);
          await load();
        }));
        item.querySelector('.comment-head')?.append(remove);
      }
      list.append(item);
    }
    if (!comments.length) list.append(h('li', { className: 'muted', 'data-testid': 'comments-empty' }, 'No comments yet.'));
  };
  const load = async (): Promise<void> => draw(await api<Comment[]>('GET', base, undefined, { signal }));

  if (can(session, 'study.annotate')) {
    const text = h('textarea', { rows: 3, maxlength: 4000, required: true, 'aria-label': 'New comment', placeholder: 'Add a comment…', 'data-testid': 'comment-input' });
    const submit = h('button', { type: 'submit', 'data-testid': 'comment-submit' }, 'Add comment');
    const form = h('form', { className: 'comment-form' }, text, submit);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!text.value.trim()) return;
      void submitting(submit, error, async () => {
        await api('POST', base, { text: text.value.trim() });
        text.value = '';
        await load();
      });
    });
    element.append(form);
  }
  const ready = load().catch((err: Error) => {
    if (err.name !== 'AbortError') showFormError(error, `Comments could not be loaded: ${err.message}`);
  });
  return { element, ready };
}
