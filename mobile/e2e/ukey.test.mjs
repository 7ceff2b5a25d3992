// End to end: 证书登录 (ACC-4) in Chromium with the real helper (bin/signet-ukey)
// and a stand-in UKey — a SoftHSM token whose keys pkcs11-tool makes and whose
// personal certificate the server's own CA issues (ukey/ukeytest/ukeytoken).
// Needs ../bin/signet (make build), ../bin/signet-ukey (make ukey), Go, and the
// Debian packages softhsm2, opensc and chromium (make test installs them).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freePort, gql, launchBrowser, randomPhone, registerAccount, shot, waitFor, waitText, watchConsole } from './harness.mjs'
import { idNumber } from './identity.mjs'
import { personalUKey, requireUKeyBinaries, startHelper, startSignet } from './ukeysetup.mjs'

const PASSWORD = 'Signet#2026'
const NAME = '王小明'
// A valid resident ID number (GB 11643 check digit), the sandbox accepts it.
const ID_NUMBER = idNumber(321, '110101', '19880808')

let server // { base, data, stop }
let helper // spawnLogged state
let browser
let tmp

before(async () => {
  requireUKeyBinaries()
  tmp = mkdtempSync(join(tmpdir(), 'signet-ukey-e2e-'))
  server = await startSignet('ukey-server', join(tmp, 'data'))
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
    const { token } = await registerAccount(base, phone, PASSWORD)
    const { startRealNameVerification: v } = await gql(base,
      'mutation($in: StartRealNameInput!) { startRealNameVerification(input: $in) { id } }',
      { in: { name: NAME, idNumber: ID_NUMBER, phone } }, token)
    await gql(base, 'mutation($id: ID!) { verifyRealNameByCarrier(id: $id) { status } }', { id: v.id }, token)

    // The UKey: keys by pkcs11-tool, a personal certificate from this server's CA.
    const ukeyDir = join(tmp, 'ukey')
    const ukey = personalUKey(server, ukeyDir, NAME, ID_NUMBER)
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
    helper = await startHelper('ukey-helper', { port: helperPort, origin: base, module: ukey.module, conf: ukey.conf, pinFile })
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
