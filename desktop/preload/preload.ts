/**
 * The preload (sandboxed, bundled to one CommonJS file by scripts/build-desktop.mjs): exposes
 * exactly one object to the page, `window.kecalek` = {invoke, on} (see bridge-api.ts). Nothing
 * else of Electron or Node reaches the renderer.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { createPreloadBridge } from './bridge-api.js';

contextBridge.exposeInMainWorld('kecalek', createPreloadBridge(ipcRenderer));
