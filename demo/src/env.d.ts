// Vite's module types for `?worker&url` and CSS imports.
/// <reference types="vite/client" />
