import { readFileSync } from 'node:fs';
import { defineConfig } from 'vite';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

// The DICOMweb server the dev proxy forwards to (`hounsfield serve` default port).
const backend = process.env.HOUNSFIELD_BACKEND ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  define: { __HF_VERSION__: JSON.stringify(pkg.version) },
  build: {
    // The Python package serves this folder; it is gitignored and built by `make`.
    outDir: '../src/hounsfield/web/static',
    emptyOutDir: true,
    target: 'es2022',
    // Cornerstone (vtk.js) is large; it is loaded only on the viewer route.
    chunkSizeWarningLimit: 5000,
    rollupOptions: {
      onwarn(warning, warn) {
        // The codecs' Emscripten glue and xmlbuilder2's URL code name Node built-ins on
        // paths that never run in a browser; Vite stubs them. Other warnings still show.
        if (/has been externalized for browser compatibility/.test(warning.message ?? '')) return;
        warn(warning);
      },
    },
  },
  // The image loader starts its decoder as an ES module worker that imports the codecs.
  worker: { format: 'es' },
  optimizeDeps: {
    // Dev server only (the build is unaffected). Pre-bundling the image loader would move
    // decodeImageFrameWorker.js and the codec .wasm files away from the
    // `new URL(..., import.meta.url)` references that find them, so it is excluded.
    exclude: ['@cornerstonejs/dicom-image-loader'],
    // Excluding the loader also leaves its CommonJS dependencies (dicom-parser and the
    // Emscripten glue of the codecs) unconverted, and the browser cannot import those;
    // list them so esbuild gives them ES exports. The .wasm files are not touched.
    include: [
      'dicom-parser',
      '@cornerstonejs/codec-charls/decodewasmjs',
      '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs',
      '@cornerstonejs/codec-openjpeg/decodewasmjs',
      '@cornerstonejs/codec-openjph/wasmjs',
    ],
  },
  server: {
    proxy: {
      '/dicom-web': { target: backend, changeOrigin: false },
      '/api': { target: backend, changeOrigin: false },
    },
  },
  preview: {
    proxy: {
      '/dicom-web': { target: backend, changeOrigin: false },
      '/api': { target: backend, changeOrigin: false },
    },
  },
});
