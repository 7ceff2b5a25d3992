// Test harness for the end-to-end tests: starts the real signet binary on a
// free port with a throwaway data folder, drives Debian's Chromium through
// playwright-core, and cleans both up even when a test fails.
import { spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { afterEach } from 'node:test'
import { chromium } from 'playwright-core'

export const mobileDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const outDir = join(mobileDir, 'test-output', 'e2e')

/** The captcha answer the server is asked to use (a development-only hook). */
export const DEV_CAPTCHA_TEXT = '2345'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
]

/** freePort asks the system for a free 127.0.0.1 port. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', rej)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => res(port))
    })
  })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * startServer runs `signet serve` and resolves once /readyz answers, with
 * the server's base URL and its temporary data folder (absent for
 * SIGNET_E2E_BASE). It builds nothing: the binary must embed the built
 * client (make build).
 */
export async function startServer() {
  // Development: run against a server that is already up (e.g. `npm run dev`,
  // whose proxy reaches the Go server); nothing is started or stopped.
  if (process.env.SIGNET_E2E_BASE) {
    mkdirSync(outDir, { recursive: true })
    return { base: process.env.SIGNET_E2E_BASE.replace(/\/$/, ''), stop: async () => {} }
  }
  const bin = process.env.SIGNET_BIN ?? resolve(mobileDir, '../bin/signet')
  if (!existsSync(bin)) {
    throw new Error(`e2e: ${bin} is missing. Build it first with \`make build\` (it embeds mobile/dist), or set SIGNET_BIN.`)
  }
  mkdirSync(outDir, { recursive: true })
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const data = mkdtempSync(join(tmpdir(), 'signet-e2e-'))
  const log = createWriteStream(join(outDir, 'server.log'))
  const proc = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data', data], {
    env: {
      ...process.env,
      SIGNET_MODE: 'development',
      SIGNET_BASE_URL: base,
      SIGNET_DEV_CAPTCHA_TEXT: DEV_CAPTCHA_TEXT,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  proc.stdout.pipe(log)
  proc.stderr.pipe(log)
  let exited = null
  // If this process dies without running stop (a crash, Ctrl-C), take the server along.
  const killOnExit = () => proc.kill('SIGKILL')
  process.once('exit', killOnExit)
  proc.on('exit', (code, signal) => {
    exited = { code, signal }
    process.removeListener('exit', killOnExit)
  })

  const stop = async () => {
    if (exited === null) {
      proc.kill('SIGTERM')
      for (let i = 0; i < 50 && exited === null; i++) await sleep(100)
      if (exited === null) proc.kill('SIGKILL')
    }
    rmSync(data, { recursive: true, force: true })
  }

  const deadline = Date.now() + 30_000
  for (;;) {
    if (exited !== null) {
      await stop()
      throw new Error(`e2e: signet exited at start (${JSON.stringify(exited)}); see ${join(outDir, 'server.log')}`)
    }
    try {
      const r = await fetch(`${base}/readyz`)
      if (r.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`e2e: signet did not become ready in 30 s; see ${join(outDir, 'server.log')}`)
    }
    await sleep(100)
  }
  const index = await (await fetch(`${base}/`)).text()
  if (!index.includes('<div id="app">')) {
    await stop()
    throw new Error('e2e: the binary serves no Vue app (placeholder or empty dist): run `make build` first.')
  }
  return { base, data, stop }
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`e2e: Chromium not found at ${CHROMIUM}: install the Debian package chromium (or set CHROMIUM_PATH).`)
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true })
}

/** gql calls the API directly (setup steps that are not under test). */
export async function gql(base, query, variables = {}, token = null) {
  const headers = { 'Content-Type': 'application/json' }
  if (token) headers.Authorization = `Bearer ${token}`
  const r = await fetch(`${base}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) })
  const body = await r.json()
  if (body.errors?.length) {
    const e = new Error(body.errors[0].message)
    e.extensions = body.errors[0].extensions
    throw e
  }
  return body.data
}

/** outboxCount is how many SMS the development outbox holds for phone. */
export async function outboxCount(base, phone) {
  const r = await fetch(`${base}/dev/outbox?phone=${encodeURIComponent(phone)}`)
  const body = await r.json()
  return body.messages?.length ?? 0
}

/** waitForCode waits for an SMS beyond `before` messages and returns its code. */
export async function waitForCode(base, phone, before) {
  const deadline = Date.now() + 10_000
  for (;;) {
    const r = await fetch(`${base}/dev/outbox?phone=${encodeURIComponent(phone)}`)
    const body = await r.json()
    const msgs = body.messages ?? []
    if (msgs.length > before) {
      const code = msgs[0]?.params?.code
      if (!/^\d{6}$/.test(code ?? '')) throw new Error(`e2e: outbox message without a code: ${JSON.stringify(msgs[0])}`)
      return code
    }
    if (Date.now() > deadline) throw new Error(`e2e: no SMS to ${phone} within 10 s`)
    await sleep(100)
  }
}

/** A fresh mainland number no earlier run used (the data folder is new anyway). */
export function randomPhone() {
  return `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`
}

/** signLink waits for the signing-link SMS to phone and returns its path (/s/…). */
export async function signLink(base, phone) {
  const deadline = Date.now() + 15_000
  for (;;) {
    const r = await fetch(`${base}/dev/outbox?phone=${phone}`)
    const m = ((await r.json()).messages ?? []).find((x) => x.template === 'sign_link')
    if (m) return new URL(m.params.link).pathname
    if (Date.now() > deadline) throw new Error(`no signing link SMS to ${phone}`)
    await sleep(200)
  }
}

/**
 * watchConsole records console errors and uncaught page errors; call the
 * returned function to get them.
 */
export function watchConsole(page) {
  const errors = []
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  })
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  return () => errors
}

export function shot(page, name) {
  return page.screenshot({ path: join(outDir, `${name}.png`), fullPage: true })
}

/**
 * recordAssets collects the JavaScript and CSS files a page loads until the
 * returned stop function is called; stop returns their raw and gzip sizes
 * (zlib level 9), totalled per kind, and writes them to
 * test-output/e2e/<name>-assets.json.
 */
export function recordAssets(page, name) {
  const urls = new Set()
  const onResponse = (r) => {
    if (/\.(m?js|css)$/.test(new URL(r.url()).pathname)) urls.add(r.url())
  }
  page.on('response', onResponse)
  return async () => {
    page.off('response', onResponse)
    const files = []
    for (const url of urls) {
      const body = Buffer.from(await (await fetch(url)).arrayBuffer())
      const file = new URL(url).pathname
      files.push({ file, kind: file.endsWith('.css') ? 'css' : 'js', raw: body.length, gzip: gzipSync(body, { level: 9 }).length })
      // Chunks of the app name pdf.js's own files: pdf-*.js and pdf.worker*.
    }
    files.sort((a, b) => b.gzip - a.gzip)
    const total = (kind) => {
      const of = files.filter((f) => f.kind === kind)
      return { files: of.length, raw: of.reduce((n, f) => n + f.raw, 0), gzip: of.reduce((n, f) => n + f.gzip, 0) }
    }
    const report = { js: total('js'), css: total('css'), files }
    writeFileSync(join(outDir, `${name}-assets.json`), JSON.stringify(report, null, 2))
    return report
  }
}

/**
 * registerAccount creates an account through the API (registration has its
 * own test): the REGISTER code from the outbox, the current agreements.
 */
export async function registerAccount(base, phone, password) {
  const before = await outboxCount(base, phone)
  await gql(base, 'mutation($p: String) { sendSMSCode(input: { purpose: REGISTER, phone: $p }) { maskedPhone } }', { p: phone })
  const code = await waitForCode(base, phone, before)
  const { agreements } = await gql(base, '{ agreements { document version } }')
  const v = (k) => agreements.find((a) => a.document === k).version
  const d = await gql(base, 'mutation($in: RegisterInput!) { register(input: $in) { token user { id } } }', {
    in: { phone, password, passwordConfirm: password, code, serviceAgreementVersion: v('service_agreement'), privacyStatementVersion: v('privacy_statement') },
  })
  return { token: d.register.token, id: d.register.user.id }
}

/**
 * openPage opens a page in a new browser context (zh-CN, Asia/Shanghai, plus
 * `options`: viewport, touch…), signed in with `token` and pointed at the
 * UKey helper's `helperUrl` when given; `timeout` is the page's default.
 */
export async function openPage(browser, options, { token = null, helperUrl = null, timeout = 15_000 } = {}) {
  const context = await browser.newContext({ ...options, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
  if (token || helperUrl) {
    await context.addInitScript(({ t, url }) => {
      if (t) localStorage.setItem('signet.token', t)
      if (url) localStorage.setItem('signet.ukey.helperUrl', url)
    }, { t: token, url: helperUrl })
  }
  const page = await context.newPage()
  page.setDefaultTimeout(timeout)
  return { context, page, consoleErrors: watchConsole(page) }
}

/**
 * shootOpenPagesAfterEach keeps, after each test, a picture of every page
 * still open (failure-<test>-<n>.png) and closes its context. It returns the
 * function that adds a page to those watched; a closed context leaves.
 */
export function shootOpenPagesAfterEach() {
  const openPages = new Set()
  afterEach(async (t) => {
    let i = 0
    for (const page of openPages) {
      await shot(page, `failure-${t.name.slice(0, 20).replace(/\W+/g, '_')}-${i++}`).catch(() => {})
      await page.context().close().catch(() => {})
    }
  })
  return (page) => {
    openPages.add(page)
    page.context().on('close', () => openPages.delete(page))
  }
}

/** waitText waits until locator's text matches want (string: contains) and returns the text. */
export async function waitText(locator, want, timeout = 15_000) {
  const deadline = Date.now() + timeout
  let last = ''
  for (;;) {
    try {
      last = (await locator.first().innerText({ timeout: 1_000 })).trim()
      if (typeof want === 'string' ? last.includes(want) : want.test(last)) return last
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${want} in ${locator}; last text: ${JSON.stringify(last)}`)
    await sleep(100)
  }
}

/** waitFor waits until cond() returns something truthy and returns it. */
export async function waitFor(what, cond, timeout = 15_000) {
  const deadline = Date.now() + timeout
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`e2e: timed out waiting for ${what}`)
    await sleep(100)
  }
}
