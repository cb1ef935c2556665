// The playground's build: `npm run build:demo` writes demo/dist, which
// `npm start` serves. `tidemark/*` imports resolve to the sources.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const src = (path: string) => fileURLToPath(new URL(`../src/${path}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  resolve: {
    alias: [
      { find: /^tidemark\/browser$/, replacement: src('browser/index.ts') },
      { find: /^tidemark\/worker$/, replacement: src('worker/index.ts') },
      { find: /^tidemark\/protocol$/, replacement: src('protocol/index.ts') },
      { find: /^tidemark$/, replacement: src('index.ts') },
    ],
  },
  worker: { format: 'es' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 400 },
  logLevel: 'warn',
});
