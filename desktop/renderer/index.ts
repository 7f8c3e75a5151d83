/**
 * The renderer's entry: connect the bridge to the client core, load the UI parts of the bundled
 * plugins, mount <kecalek-app>. If the bridge cannot be reached, say so in the page.
 */
import { uiPlugins } from 'virtual:kecalek-ui-plugins';
import { connectBridge } from './bridge/index.js';
import { boot } from './boot.js';

async function main(): Promise<void> {
  const root = document.body;
  try {
    const bridge = await connectBridge();
    await boot(root, bridge, uiPlugins);
  } catch (error) {
    console.error('kecalek: the renderer could not start', error);
    const message = document.createElement('p');
    message.className = 'kecalek-boot';
    message.setAttribute('role', 'alert');
    message.textContent = `Kecalek could not start: ${error instanceof Error ? error.message : String(error)}`;
    root.replaceChildren(message);
  }
}

void main();
