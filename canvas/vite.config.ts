// The canvas is served by the platform itself (molecule/http/canvas.py): hashed files under
// /assets/ get immutable cache headers, index.html is never cached.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const platform = process.env.MOLECULE_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    // `npm run dev`: proxy every API call to a running platform, so the session cookie and
    // /ws work as they do when the platform serves the built files.
    proxy: {
      "^/(?!src/|@|node_modules/|assets/).+": { target: platform, ws: true, changeOrigin: false },
    },
  },
  test: { include: ["src/**/*.test.ts", "src/**/*.test.tsx"], environment: "node" },
});
