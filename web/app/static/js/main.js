// Entry point of the SecureCam Hub browser app.

import { html, render } from '../vendor/htm-preact.js';
import { App } from './ui/app.js';

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
