// End to end: 证书登录 (ACC-4) in Chromium with the real helper (bin/signet-ukey)
// and a stand-in UKey — a SoftHSM token whose keys pkcs11-tool makes and whose
// personal certificate the server's own CA issues (ukey/ukeytest/ukeytoken).
// Needs ../bin/signet (make build), ../bin/signet-ukey (make ukey), Go, and the
// Debian packages softhsm2, opensc and chromium (make test installs them).
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { gql, launchBrowser, mobileDir, outboxCount, outDir, randomPhone, shot, waitForCode, watchConsole } from './harness.mjs'

const repo = resolve(mobileDir, '..')
const SIGNET = process.env.SIGNET_BIN ?? join(repo, 'bin/signet')
const HELPER = process.env.SIGNET_UKEY_BIN ?? join(repo, 'bin/signet-ukey')
const PASSWORD = 'Signet#2026'
const NAME = '王小明'
// A valid resident ID number (GB 11643 check digit), the sandbox accepts it.
const ID_NUMBER = idNumber('110101', '19880808', '321')

function idNumber(region, birth, seq) {
  const body = region + birth + seq
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  const sum = [...body].reduce((n, c, i) => n + Number(c) * w[i], 0)
  return body + '10X98765432'[sum % 11]
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function freePort() {
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

/** spawnLogged starts a process whose output goes to test-output/e2e/<name>.log and to `out`. */
function spawnLogged(name, bin, args, env) {
  const log = createWriteStream(join(outDir, `${name}.log`))
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  const state = { out: '', exited: null }
  for (const s of [proc.stdout, proc.stderr]) {
    s.on('data', (b) => {
      state.out += b.toString()
      log.write(b)
    })
  }
  const killOnExit = () => proc.kill('SIGKILL')
  process.once('exit', killOnExit)
  proc.on('exit', (code, signal) => {
    state.exited = { code, signal }
    process.removeListener('exit', killOnExit)
  })
  state.stop = async () => {
    if (state.exited === null) {
      proc.kill('SIGTERM')
      for (let i = 0; i < 50 && state.exited === null; i++) await sleep(100)
      if (state.exited === null) proc.kill('SIGKILL')
    }
  }
  return state
}

async function waitFor(what, cond, timeout = 15_000) {
  const deadline = Date.now() + timeout
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`e2e: timed out waiting for ${what}`)
    await sleep(100)
  }
}

async function waitText(locator, want, timeout = 15_000) {
  let last = ''
  await waitFor(`text ${want} (last: ${last})`, async () => {
    try {
      last = (await locator.first().innerText({ timeout: 1_000 })).trim()
    } catch {
      return false
    }
    return last.includes(want)
  }, timeout)
  return last
}

let server // { base, data, stop }
let helper // spawnLogged state
let browser
let tmp

before(async () => {
  for (const [bin, how] of [[SIGNET, 'make build'], [HELPER, 'make ukey']]) {
    if (!existsSync(bin)) throw new Error(`e2e: ${bin} is missing: run \`${how}\` first.`)
  }
  mkdirSync(outDir, { recursive: true })
  tmp = mkdtempSync(join(tmpdir(), 'signet-ukey-e2e-'))
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const data = join(tmp, 'data')
  const s = spawnLogged('ukey-server', SIGNET, ['serve', '--addr', `127.0.0.1:${port}`, '--data', data], {
    SIGNET_MODE: 'development',
    SIGNET_BASE_URL: base,
  })
  server = { base, data, stop: s.stop }
  await waitFor('signet /readyz', async () => {
    if (s.exited) throw new Error(`e2e: signet exited: ${s.out}`)
    try {
      return (await fetch(`${base}/readyz`)).ok
    } catch {
      return false
    }
  }, 30_000)
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await helper?.stop()
  await server?.stop()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

describe('证书登录 with the UKey helper', () => {
  it('offers the helper, pairs with it, refuses an unbound certificate, logs in after binding', async () => {
    const { base } = server
    // A verified user (real-name sandbox: carrier three elements).
    const phone = randomPhone()
    const send = 'mutation($p: SMSPurpose!, $phone: String) { sendSMSCode(input: {purpose: $p, phone: $phone}) { resendAfterSeconds } }'
    let n = await outboxCount(base, phone)
    await gql(base, send, { p: 'REGISTER', phone })
    const code = await waitForCode(base, phone, n)
    const { agreements } = await gql(base, '{ agreements { document version } }')
    const version = (doc) => agreements.find((x) => x.document === doc).version
    const { register } = await gql(base, 'mutation($in: RegisterInput!) { register(input: $in) { token } }', {
      in: {
        phone, password: PASSWORD, passwordConfirm: PASSWORD, code,
        serviceAgreementVersion: version('service_agreement'), privacyStatementVersion: version('privacy_statement'),
      },
    })
    const token = register.token
    const { startRealNameVerification: v } = await gql(base,
      'mutation($in: StartRealNameInput!) { startRealNameVerification(input: $in) { id } }',
      { in: { name: NAME, idNumber: ID_NUMBER, phone } }, token)
    await gql(base, 'mutation($id: ID!) { verifyRealNameByCarrier(id: $id) { status } }', { id: v.id }, token)

    // The UKey: keys by pkcs11-tool, a personal certificate from this server's CA.
    const ukeyDir = join(tmp, 'ukey')
    const ukey = JSON.parse(execFileSync('go', ['run', './ukey/ukeytest/ukeytoken', '--dir', ukeyDir, '--data', server.data,
      '--base-url', base, '--name', NAME, '--id-number', ID_NUMBER], { cwd: repo, encoding: 'utf8' }))
    const pinFile = join(tmp, 'pin')
    writeFileSync(pinFile, ukey.pin)

    const helperPort = await freePort()
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
    // The helper runs on a free port here instead of its fixed default.
    await context.addInitScript((url) => localStorage.setItem('signet.ukey.helperUrl', url), `ws://127.0.0.1:${helperPort}/v1/ws`)
    const page = await context.newPage()
    const errors = watchConsole(page)

    // Not running: the page offers the download this server built (make ukey).
    await page.goto(`${base}/login?tab=certificate`)
    await waitText(page.getByTestId('ukey-absent'), '未检测到证书应用环境')
    const link = page.getByTestId('ukey-download').first()
    const href = await link.getAttribute('href')
    assert.match(href, /^\/downloads\/signet-ukey\/linux-/)
    const dl = await fetch(base + href)
    assert.equal(dl.status, 200)
    assert.match(dl.headers.get('content-disposition') ?? '', /attachment/)
    await shot(page, 'ukey-01-download')

    // The helper starts (tests confirm with --yes and read the PIN from a file).
    helper = spawnLogged('ukey-helper', HELPER, ['--addr', `127.0.0.1:${helperPort}`, '--origin', base, '--module', ukey.module,
      '--pairings', '', '--yes', '--pin-file', pinFile], { SOFTHSM2_CONF: ukey.conf })
    await waitFor('helper start', () => helper.out.includes('已启动'))
    await page.getByRole('button', { name: '已运行，重新检测' }).click()

    // Pairing: the code appears only in the helper's window.
    await page.getByTestId('ukey-pair').click()
    const pairCode = await waitFor('pairing code', () => /配对码：(\d{3}) (\d{3})/.exec(helper.out))
    await page.getByTestId('ukey-pair-code').locator('input').fill(pairCode[1] + pairCode[2])
    await page.getByRole('button', { name: '确认配对' }).click()
    await waitText(page.getByTestId('ukey-cert'), NAME)
    await shot(page, 'ukey-02-certificates')

    // Not bound yet: refused.
    await page.getByTestId('ukey-submit').click()
    await waitText(page.getByRole('alert'), '尚未绑定')
    assert.match(helper.out, new RegExp(`操作：登录 ${base.replace(/[.]/g, '\\.')}`))

    // Bind (ACC-8) from the page's origin as the logged-in user: a bind
    // challenge signed by the helper, then bindUKey.
    const fingerprint = await firstFingerprint(page)
    const bound = await page.evaluate(async ({ token, helperUrl, fingerprint }) => {
      const api = async (query, variables) => {
        const r = await fetch('/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          body: JSON.stringify({ query, variables }) })
        const b = await r.json()
        if (b.errors) throw new Error(b.errors[0].message)
        return b.data
      }
      const ch = (await api('mutation { createUKeyChallenge(purpose: BIND) { nonce text } }')).createUKeyChallenge
      const ws = new WebSocket(helperUrl)
      const replies = []
      ws.onmessage = (e) => replies.push(JSON.parse(e.data))
      await new Promise((r) => (ws.onopen = r))
      const ask = async (req) => {
        ws.send(JSON.stringify(req))
        while (!replies.some((x) => x.id === req.id)) await new Promise((r) => setTimeout(r, 50))
        return replies.find((x) => x.id === req.id)
      }
      await ask({ id: 'h', type: 'hello', pairingToken: localStorage.getItem('signet.ukey.pairing') })
      const sig = await ask({ id: 's', type: 'sign_challenge', certificate: fingerprint, challenge: ch.text })
      ws.close()
      if (sig.type !== 'signature') throw new Error(JSON.stringify(sig))
      return (await api('mutation($in: UKeySignatureInput!) { bindUKey(input: $in) { serial } }',
        { in: { nonce: ch.nonce, certificate: sig.certificateDer, signature: sig.signature } })).bindUKey
    }, { token, helperUrl: `ws://127.0.0.1:${helperPort}/v1/ws`, fingerprint })
    assert.equal(bound.serial, ukey.serial)

    // Certificate login: the pairing is remembered; the session is a certificate one.
    await page.goto(`${base}/login?tab=certificate`)
    await waitText(page.getByTestId('ukey-cert'), NAME)
    await page.getByTestId('ukey-submit').click()
    await page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: 15_000 })
    const sessionToken = await page.evaluate(() => localStorage.getItem('signet.token'))
    const me = await gql(base, '{ me { maskedPhone sessions(first: 10) { edges { node { method current } } } } }', {}, sessionToken)
    const current = me.me.sessions.edges.map((e) => e.node).find((s) => s.current)
    assert.equal(current.method, 'certificate')
    assert.equal(me.me.maskedPhone, `${phone.slice(0, 3)}****${phone.slice(7)}`)
    await shot(page, 'ukey-03-logged-in')

    // 用户中心 → 绑定UKey: the binding is listed; unbind with the login
    // password, then bind again through the page and the helper.
    await page.goto(`${base}/user/ukey`)
    await waitText(page.getByTestId('ukey-binding'), NAME)
    await page.getByTestId('ukey-unbind').click()
    await page.getByTestId('unbind-password').locator('input').fill(PASSWORD)
    await page.getByRole('button', { name: '确认' }).click()
    await waitText(page.getByTestId('ukey-bindings'), '尚未绑定 UKey')
    assert.equal((await gql(base, '{ ukeyBindings { id } }', {}, sessionToken)).ukeyBindings.length, 0)
    await page.getByTestId('ukey-bind-start').click()
    await page.getByTestId('ukey-bind-submit').click()
    await waitText(page.getByTestId('ukey-binding'), NAME)
    assert.equal((await gql(base, '{ ukeyBindings { serial } }', {}, sessionToken)).ukeyBindings[0].serial, ukey.serial)
    await shot(page, 'ukey-04-bindings')

    // The PIN stayed in the helper: never in the page, never in the server's log.
    assert.ok(!helper.out.includes(ukey.pin), 'the PIN was printed by the helper')
    assert.deepEqual(errors().filter((e) => !e.includes('ERR_CONNECTION_REFUSED') && !e.includes('WebSocket')), [])
    await context.close()
  })
})

/** firstFingerprint asks the helper (through the page's pairing) for the first certificate's fingerprint. */
async function firstFingerprint(page) {
  return page.evaluate(async (url) => {
    const ws = new WebSocket(url)
    const replies = []
    ws.onmessage = (e) => replies.push(JSON.parse(e.data))
    await new Promise((r) => (ws.onopen = r))
    const ask = async (req) => {
      ws.send(JSON.stringify(req))
      while (!replies.some((x) => x.id === req.id)) await new Promise((r) => setTimeout(r, 50))
      return replies.find((x) => x.id === req.id)
    }
    await ask({ id: 'h', type: 'hello', pairingToken: localStorage.getItem('signet.ukey.pairing') })
    const list = await ask({ id: 'l', type: 'list_certificates' })
    ws.close()
    return list.certificates[0].fingerprint
  }, await page.evaluate(() => localStorage.getItem('signet.ukey.helperUrl')))
}
