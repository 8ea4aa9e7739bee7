import { api, session } from '../api.js';
import { h, replace, routes } from '../dom.js';

/** signinView asks for a bearer token and keeps it in this tab's session storage. */
export async function signinView({ params }) {
  const next = params.get('next');
  const err = h('div', { id: 'signin-error', class: 'form-error', role: 'alert' });
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
    class: 'input', 'aria-describedby': 'token-help signin-error',
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h('form', {
    class: 'signin-form', novalidate: true,
    on: {
      submit: async (e) => {
        e.preventDefault();
        const token = input.value.trim();
        replace(err);
        if (!token) {
          replace(err, 'Enter a bearer token.');
          input.setAttribute('aria-invalid', 'true');
          input.focus();
          return;
        }
        submit.disabled = true;
        session.set(token);
        try {
          await api.log();
          input.value = '';
          location.hash = next && next.startsWith('#/') && !next.startsWith('#/signin') ? next : routes.home();
        } catch (ex) {
          session.clear();
          input.setAttribute('aria-invalid', 'true');
          replace(err, ex.status === 401 ? 'That token was not accepted: it is unknown or revoked.' : `Could not sign in: ${ex.message}`);
          input.focus();
        } finally {
          submit.disabled = false;
        }
      },
    },
  },
  h('label', { for: 'token' }, 'Bearer token'),
  input,
  h('p', { id: 'token-help', class: 'help' },
    'An agentledger API token (alt_…). It is kept in this browser tab only and sent only in the Authorization header.'),
  err,
  h('div', { class: 'form-actions' }, submit));

  document.title = 'Sign in · agentledger';
  setTimeout(() => input.focus(), 0);
  return h('div', { class: 'signin' },
    h('div', { class: 'signin-card card' },
      h('h1', null, 'Sign in'),
      h('p', { class: 'lead' }, 'Find which agent run used a credential, with which chain of thought, what it touched — and verify every answer in your browser.'),
      form));
}
