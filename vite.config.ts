import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// One config for the library build (`npm run build`) and the unit tests.
export default defineConfig({
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    minify: false,
    lib: {
      entry: {
        index: 'src/index.ts',
        browser: 'src/browser/index.ts',
        worker: 'src/worker/index.ts',
        testing: 'src/testing/index.ts',
        protocol: 'src/protocol/index.ts',
        server: 'src/server/index.ts',
        edge: 'src/edge/index.ts',
        cli: 'src/server/cli.ts',
      },
      formats: ['es'],
    },
    rollupOptions: { external: [/^(rxjs|idb|comlink|esbuild)(\/.*)?$/, /^node:/, /^@nats-io\//] },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // `tidemark/*` imports (the playground's modules) resolve to the sources, as in
    // tsconfig.json's `paths`: tests run before `dist/` is built.
    alias: [
      { find: /^tidemark$/, replacement: fileURLToPath(new URL('src/index.ts', import.meta.url)) },
      { find: /^tidemark\/(browser|worker|testing|protocol|server|edge)$/, replacement: fileURLToPath(new URL('src/$1/index.ts', import.meta.url)) },
    ],
    testTimeout: 30_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
