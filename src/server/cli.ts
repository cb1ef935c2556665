#!/usr/bin/env node
/**
 * `npx tidemark serve|token|export|reconcile|replay`.
 *
 * @module
 */
console.error('tidemark: the CLI is being built');
process.exitCode = 1;
