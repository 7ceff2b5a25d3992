import { mkdirSync, writeFileSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { brotliCompress, constants as zlib, gzip } from 'node:zlib'
import type { Plugin, Rolldown } from 'vite'
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

// vantIconFont moves Vant's icon font out of its CSS. Vant inlines the font
// as a 40 KB base64 data URL in every page's first CSS (about 30 KB gzip, on
// the critical path of the login page even though it shows no icon), with a
// third-party CDN as fallback. Written out as a file, the browser fetches it
// only when an icon is drawn, caches it under a hashed name, and never calls
// the CDN.
function vantIconFont(): Plugin {
  const cacheFile = fileURLToPath(new URL('./node_modules/.cache/signet/vant-icon.woff2', import.meta.url))
  return {
    name: 'signet-vant-icon-font',
    enforce: 'pre',
    transform(code, id) {
      if (!/[\\/]vant[\\/]es[\\/]icon[\\/]index\.css$/.test(id.split('?')[0]!)) return null
      const m = /src:\s*url\(["']?data:font\/woff2;[^,]*base64,([A-Za-z0-9+/=]+)["']?\)\s*format\(["']woff2["']\)[^;}]*/.exec(code)
      if (!m) this.error('the vant icon CSS no longer inlines its font as expected: update vantIconFont')
      mkdirSync(dirname(cacheFile), { recursive: true })
      writeFileSync(cacheFile, Buffer.from(m[1]!, 'base64'))
      const rel = relative(dirname(id.split('?')[0]!), cacheFile).split('\\').join('/')
      return { code: code.replace(m[0], `src: url("${rel}") format("woff2")`), map: null }
    },
  }
}

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url))

// Route chunks. Left to itself the bundler splits every module shared by a
// different set of routes into its own chunk: the SMS link (/s/:code) then
// needed about 55 files (each Vant component's JS and CSS), fetched six at a
// time over HTTP/1.1, 562.5 ms apart on a phone's 3G (docs/benchmarks.md).
// So: the entry's own static imports (Vue, the router, the API client; split
// in five otherwise) are one chunk, and each group below takes what its
// roots import statically, beyond what the entry holds, into one chunk (and
// one CSS file):
//  - landing: the pages a visitor opens from outside — the SMS link and
//    登录 — with their layouts, Vant components and API modules. Most other
//    routes import Vant's basics from it too, so index.html preloads it.
//  - signing: SignFlow (the SMS link's second step and 签署文件) with what
//    it needs beyond landing; pdf.js stays a lazy chunk of its own. Pages
//    that share a piece of it (文件管理's checkboxes, 实名认证's form, the
//    UKey panel) load the whole chunk, about 13 KB gzip more than they need:
//    cheaper on a phone's network than the dozen round trips of the pieces.
// A module goes to the first group that reaches it. Dynamic imports are
// not followed: a lazily imported page stays lazy. Vant's barrel (vant/es,
// where unplugin-vue-components imports components from) is not followed
// either — it lists every component, used or not; the component a page uses
// is known by its style import (vant/es/button/style/index.mjs stands for
// vant/es/button/index.mjs), which the resolver and src/ui/feedback.ts add.
const chunkGroups = [
  { name: 'landing', roots: ['pages/SmsLinkPage.vue', 'pages/LoginPage.vue', 'layouts/BareLayout.vue', 'layouts/AuthLayout.vue'] },
  { name: 'signing', roots: ['components/SignFlow.vue'] },
]

const vantBarrel = /[\\/]node_modules[\\/]vant[\\/]es[\\/]index\.mjs$/
const vantStyle = /^(.*[\\/]node_modules[\\/]vant[\\/]es[\\/][\w-]+)([\\/])style[\\/]index\.mjs$/

function routeChunkName() {
  let owner: Map<string, string> | undefined
  const closure = (ctx: Rolldown.ChunkingContext, roots: string[], skip: Set<string>) => {
    const seen = new Set<string>()
    const stack = [...roots]
    while (stack.length > 0) {
      const id = stack.pop()!
      if (seen.has(id) || skip.has(id) || vantBarrel.test(id)) continue
      const info = ctx.getModuleInfo(id)
      if (!info) {
        if (roots.includes(id)) throw new Error(`chunk groups: ${id} is not part of the build`)
        continue
      }
      seen.add(id)
      stack.push(...info.importedIds)
      const style = vantStyle.exec(id)
      if (style) stack.push(`${style[1]}${style[2]}index.mjs`)
    }
    return seen
  }
  return (id: string, ctx: Rolldown.ChunkingContext) => {
    if (!owner) {
      owner = new Map()
      const taken = closure(ctx, [src('main.ts')], new Set())
      for (const m of taken) owner.set(m, 'index')
      for (const g of chunkGroups) {
        for (const m of closure(ctx, g.roots.map(src), taken)) {
          owner.set(m, g.name)
          taken.add(m)
        }
      }
    }
    return owner.get(id) ?? null
  }
}

// earlyPaint rewrites the built index.html so the first paint needs the HTML
// alone and the SMS link's code starts loading with the entry:
//  - the entry's small stylesheet (src/styles/base.css) is inlined: a
//    <link rel="stylesheet"> would hold back the static shell of index.html
//    for another round trip;
//  - the landing chunk is preloaded (modulepreload for its JS, preload for
//    its CSS, which is not render-blocking): the router would only ask for it
//    once the entry has run.
function earlyPaint(): Plugin {
  return {
    name: 'signet-early-paint',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(html, ctx) {
        const bundle = ctx.bundle!
        html = html.replace(/\s*<link rel="stylesheet"[^>]* href="\/(assets\/[^"]+\.css)">/g, (tag, file: string) => {
          const css = String((bundle[file] as Rolldown.OutputAsset | undefined)?.source ?? '')
          if (!css || css.length > 8 * 1024 || /url\(|@import/.test(css)) return tag // keep it a file
          return `\n    <style>${css}</style>`
        })
        const landing = Object.values(bundle).find((c): c is Rolldown.OutputChunk => c.type === 'chunk' && c.name === 'landing')
        if (!landing) this.error('no landing chunk: see chunkGroups in vite.config.ts')
        // The chunk and the chunks it imports (e.g. rolldown's runtime
        // helpers): the browser would find those only after parsing it.
        const js: string[] = []
        const css: string[] = []
        const visit = (file: string) => {
          const chunk = bundle[file]
          if (chunk?.type !== 'chunk' || js.includes(file) || html.includes(`/${file}"`)) return
          js.push(file)
          css.push(...(chunk.viteMetadata?.importedCss ?? []))
          chunk.imports.forEach(visit)
        }
        visit(landing.fileName)
        return {
          html,
          tags: [
            ...js.map((f) => ({ tag: 'link', attrs: { rel: 'modulepreload', crossorigin: true, href: `/${f}` }, injectTo: 'head' as const })),
            // crossorigin: Vite's loader adds the stylesheet with crossorigin too,
            // and only a request of the same mode reuses the preload.
            ...css.map((f) => ({ tag: 'link', attrs: { rel: 'preload', as: 'style', crossorigin: true, href: `/${f}` }, injectTo: 'head' as const })),
          ],
        }
      },
    },
  }
}

// precompress writes name.br and name.gz beside each text file of the build
// (from 1 KB on) when they make it at least 10 % smaller. The Go server sends
// the copy the browser accepts (server/app.go); nothing is compressed per
// request. Brotli comes with Node's zlib: no new dependency.
function precompress(): Plugin {
  let outDir = ''
  const text = /\.(m?js|css|html|svg|json|txt)$/
  const brotli = promisify(brotliCompress)
  const gz = promisify(gzip)
  return {
    name: 'signet-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir)
    },
    async closeBundle() {
      const files = (await readdir(outDir, { recursive: true })).filter((f) => text.test(f)).map((f) => join(outDir, f))
      await Promise.all(files.map(async (file) => {
        const raw = await readFile(file)
        if (raw.length < 1024) return
        const [br, gzipped] = await Promise.all([
          brotli(raw, { params: { [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } }),
          gz(raw, { level: 9 }),
        ])
        if (br.length <= raw.length * 0.9) await writeFile(`${file}.br`, br)
        if (gzipped.length <= raw.length * 0.9) await writeFile(`${file}.gz`, gzipped)
      }))
    },
  }
}

export default defineConfig({
  plugins: [
    vue(),
    // Imports each Vant component (and only its CSS) where a template uses it.
    Components({ resolvers: [VantResolver()], dts: 'src/components.d.ts' }),
    vantIconFont(),
    earlyPaint(),
    precompress(),
    keepGitkeep(),
  ],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Phone browsers in China include older Android WebViews.
    target: ['es2020', 'chrome87', 'safari14'],
    reportCompressedSize: true,
    // pdf.js (about 500 KB raw, 150 KB gzip) is one lazily loaded chunk by design.
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      output: {
        codeSplitting: {
          // The closures hold their dependencies already; the entry's modules
          // are a group of their own, never pulled into a route's.
          groups: [{ name: routeChunkName(), includeDependenciesRecursively: false }],
        },
      },
    },
  },
  server: {
    proxy: {
      // ws: the websocket origin check would refuse the dev server's origin
      // if the browser connected to the Go server directly.
      '/graphql': {
        target: devServer,
        ws: true,
        changeOrigin: true,
        // The server's websocket origin check compares Origin with its host:
        // present the Go server's own origin, not the dev server's.
        configure: (proxy) => {
          proxy.on('proxyReqWs', (req) => req.setHeader('Origin', new URL(devServer).origin))
        },
      },
      '/dev': { target: devServer, changeOrigin: true },
      // Uploads and PDF downloads; the identity sandbox's pages (人脸识别).
      '/files': { target: devServer, changeOrigin: true },
      '/sandbox': { target: devServer, changeOrigin: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
