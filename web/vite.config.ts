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
  },
  // The image loader starts its decoder as an ES module worker that imports the codecs.
  worker: { format: 'es' },
  optimizeDeps: {
    // Pre-bundling the loader moves decodeImageFrameWorker.js and the codec .wasm files away
    // from the `new URL(..., import.meta.url)` references that find them; keep the loader
    // and the codec packages out of the optimizer (dev server only; the build is unaffected).
    exclude: [
      '@cornerstonejs/dicom-image-loader',
      '@cornerstonejs/codec-charls',
      '@cornerstonejs/codec-libjpeg-turbo-8bit',
      '@cornerstonejs/codec-libjxl',
      '@cornerstonejs/codec-openjpeg',
      '@cornerstonejs/codec-openjph',
    ],
    // CommonJS dependencies of the excluded loader still need the esbuild interop.
    include: ['dicom-parser'],
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
