/// <reference types="vite/client" />

/** The package version, set by vite.config.ts at build time. */
declare const __HF_VERSION__: string;
