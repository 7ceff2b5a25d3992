import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Plugin } from 'vite'
import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { VantResolver } from '@vant/auto-import-resolver'

// The Go server to proxy to while developing with `npm run dev`.
const devServer = process.env.SIGNET_DEV_SERVER ?? 'http://127.0.0.1:8080'

// keepGitkeep recreates dist/.gitkeep after Vite empties dist: the Go
// binary embeds dist (//go:embed all:dist), so a clean clone must compile
// before any client build.
function keepGitkeep(): Plugin {
  return {
    name: 'signet-keep-gitkeep',
    apply: 'build',
    closeBundle() {
      writeFileSync(fileURLToPath(new URL('./dist/.gitkeep', import.meta.url)), '')
    },
  }
}

export default defineConfig({
  plugins: [
    vue(),
    // Imports each Vant component (and only its CSS) where a template uses it.
    Components({ resolvers: [VantResolver()], dts: 'src/components.d.ts' }),
    keepGitkeep(),
  ],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Phone browsers in China include older Android WebViews.
    target: ['es2020', 'chrome87', 'safari14'],
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      // ws: the websocket origin check would refuse the dev server's origin
      // if the browser connected to the Go server directly.
      '/graphql': { target: devServer, ws: true, changeOrigin: true },
      '/dev': { target: devServer, changeOrigin: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
