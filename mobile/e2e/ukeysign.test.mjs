// End to end: signing a contract with a UKey through the signing page
// (/flows/:id/sign, components/SignFlow.vue) in Chromium with the real helper
// (bin/signet-ukey, --yes and --pin-file) and a stand-in UKey — a SoftHSM
// token whose keys pkcs11-tool makes and whose personal certificate the
// server's own CA issues (ukey/ukeytest/ukeytoken), bound to the signer. The
// page pairs with the helper, the helper signs the digest, the flow completes
// and the downloaded PDF verifies (POST /files/verify) with the UKey's
// certificate as the signer. A first attempt with a wrong PIN (the helper
// reads --pin-file for every signature) is cancelled and leaves the flow
// signable. Needs ../bin/signet (make build), ../bin/signet-ukey
// (make ukey), Go, and the Debian packages softhsm2, opensc and chromium.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { gql, launchBrowser, mobileDir, outboxCount, outDir, randomPhone, shot, waitForCode, watchConsole } from './harness.mjs'
import { makePdf } from './pdf.mjs'

const repo = resolve(mobileDir, '..')
const SIGNET = process.env.SIGNET_BIN ?? join(repo, 'bin/signet')
const HELPER = process.env.SIGNET_UKEY_BIN ?? join(repo, 'bin/signet-ukey')
const PASSWORD = 'Signet#2026'
const NAME = '李四海'
const ID_NUMBER = idNumber('110101', '19900315', '457')

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
  await waitFor(`text ${want}`, async () => {
    try {
      last = (await locator.first().innerText({ timeout: 1_000 })).trim()
    } catch {
      return false
    }
    return last.includes(want)
  }, timeout).catch((e) => {
    throw new Error(`${e.message} (last: ${JSON.stringify(last)})`)
  })
  return last
}

/** pairingCode waits for the helper to print a pairing code after `seen` earlier ones. */
async function pairingCode(seen) {
  const m = await waitFor('pairing code', () => {
    const all = [...helper.out.matchAll(/配对码：(\d{3}) (\d{3})/g)]
    return all.length > seen ? all[all.length - 1] : null
  })
  return m[1] + m[2]
}
const pairingCount = () => [...helper.out.matchAll(/配对码：/g)].length

let server // { base, data, stop }
let helper // spawnLogged state
let browser
let tmp

before(async () => {
  for (const [bin, how] of [[SIGNET, 'make build'], [HELPER, 'make ukey']]) {
    if (!existsSync(bin)) throw new Error(`e2e: ${bin} is missing: run \`${how}\` first.`)
  }
  mkdirSync(outDir, { recursive: true })
  tmp = mkdtempSync(join(tmpdir(), 'signet-ukeysign-e2e-'))
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const data = join(tmp, 'data')
  const s = spawnLogged('ukeysign-server', SIGNET, ['serve', '--addr', `127.0.0.1:${port}`, '--data', data], {
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

/** register creates an account through the API. */
async function register(phone) {
  const { base } = server
  const n = await outboxCount(base, phone)
  await gql(base, 'mutation($phone: String) { sendSMSCode(input: {purpose: REGISTER, phone: $phone}) { resendAfterSeconds } }', { phone })
  const code = await waitForCode(base, phone, n)
  const { agreements } = await gql(base, '{ agreements { document version } }')
  const version = (doc) => agreements.find((x) => x.document === doc).version
  const { register } = await gql(base, 'mutation($in: RegisterInput!) { register(input: $in) { token } }', {
    in: {
      phone, password: PASSWORD, passwordConfirm: PASSWORD, code,
      serviceAgreementVersion: version('service_agreement'), privacyStatementVersion: version('privacy_statement'),
    },
  })
  return register.token
}

/** uploadPdf adds a document to a draft flow (POST /files/flows/{id}/documents). */
async function uploadPdf(token, flowID, name) {
  const form = new FormData()
  form.append('name', name)
  form.append('file', new Blob([makePdf(2)], { type: 'application/pdf' }), `${name}.pdf`)
  const r = await fetch(`${server.base}/files/flows/${flowID}/documents`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form })
  assert.equal(r.status, 201, await r.clone().text())
  return (await r.json()).id
}

describe('UKey signing on the signing page', () => {
  it('pairs with the helper, signs with the bound UKey, and the PDF verifies', async () => {
    const { base } = server
    const initiator = await register(randomPhone())
    const phone = randomPhone()
    const token = await register(phone)
    const { startRealNameVerification: v } = await gql(base,
      'mutation($in: StartRealNameInput!) { startRealNameVerification(input: $in) { id } }',
      { in: { name: NAME, idNumber: ID_NUMBER, phone } }, token)
    await gql(base, 'mutation($id: ID!) { verifyRealNameByCarrier(id: $id) { status } }', { id: v.id }, token)

    // The signer's UKey: keys by pkcs11-tool, a personal certificate from this server's CA.
    const ukey = JSON.parse(execFileSync('go', ['run', './ukey/ukeytest/ukeytoken', '--dir', join(tmp, 'ukey'), '--data', server.data,
      '--base-url', base, '--name', NAME, '--id-number', ID_NUMBER], { cwd: repo, encoding: 'utf8' }))
    const pinFile = join(tmp, 'pin')
    writeFileSync(pinFile, ukey.pin)
    const helperPort = await freePort()
    const helperUrl = `ws://127.0.0.1:${helperPort}/v1/ws`
    helper = spawnLogged('ukeysign-helper', HELPER, ['--addr', `127.0.0.1:${helperPort}`, '--origin', base, '--module', ukey.module,
      '--pairings', '', '--yes', '--pin-file', pinFile], { SOFTHSM2_CONF: ukey.conf })
    await waitFor('helper start', () => helper.out.includes('已启动'))

    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
    await context.addInitScript(({ url, t }) => {
      localStorage.setItem('signet.ukey.helperUrl', url)
      localStorage.setItem('signet.token', t)
    }, { url: helperUrl, t: token })
    const page = await context.newPage()
    page.setDefaultTimeout(15_000)
    const errors = watchConsole(page)

    // Bind the UKey (ACC-8, tested by ukey.test.mjs) from the page's origin
    // with a pairing of its own that the page does not keep.
    await page.goto(`${base}/tasks`)
    let seen = pairingCount()
    await page.evaluate(async (url) => {
      const ws = new WebSocket(url)
      const replies = []
      ws.onmessage = (e) => replies.push(JSON.parse(e.data))
      await new Promise((r) => (ws.onopen = r))
      window.__ask = async (req) => {
        ws.send(JSON.stringify(req))
        while (!replies.some((x) => x.id === req.id)) await new Promise((r) => setTimeout(r, 50))
        return replies.find((x) => x.id === req.id)
      }
      window.__ws = ws
      await window.__ask({ id: 'h', type: 'hello' })
      await window.__ask({ id: 'p', type: 'pair' })
    }, helperUrl)
    const bindCode = await pairingCode(seen)
    const bound = await page.evaluate(async (code) => {
      const api = async (query, variables) => {
        const r = await fetch('/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${localStorage.getItem('signet.token')}` },
          body: JSON.stringify({ query, variables }) })
        const b = await r.json()
        if (b.errors) throw new Error(b.errors[0].message)
        return b.data
      }
      const paired = await window.__ask({ id: 'c', type: 'pair_confirm', code })
      if (paired.type !== 'paired') throw new Error(JSON.stringify(paired))
      const list = await window.__ask({ id: 'l', type: 'list_certificates' })
      const fingerprint = list.certificates[0].fingerprint
      const ch = (await api('mutation { createUKeyChallenge(purpose: BIND) { nonce text } }')).createUKeyChallenge
      const sig = await window.__ask({ id: 's', type: 'sign_challenge', certificate: fingerprint, challenge: ch.text })
      window.__ws.close()
      if (sig.type !== 'signature') throw new Error(JSON.stringify(sig))
      return (await api('mutation($in: UKeySignatureInput!) { bindUKey(input: $in) { serial fingerprint } }',
        { in: { nonce: ch.nonce, certificate: sig.certificateDer, signature: sig.signature } })).bindUKey
    }, bindCode)
    assert.equal(bound.serial, ukey.serial)
    // That pairing was not kept for the page: the signing page pairs on its own.
    assert.equal(await page.evaluate(() => localStorage.getItem('signet.ukey.pairing')), null)

    // A flow for the signer: one document, one personal seal position.
    const { createFlow } = await gql(base, 'mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }', { in: { name: 'UKey租赁合同' } }, initiator)
    const fid = createFlow.id
    const docID = await uploadPdf(initiator, fid, '租赁合同')
    await gql(base, 'mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }', {
      id: fid, in: {
        name: 'UKey租赁合同',
        participants: [{ key: 'b', name: NAME, phone, order: 1 }],
        fields: [{ documentID: String(docID), participantKey: 'b', kind: 'personal_seal', page: 2, x: 100, y: 100, width: 120, height: 60 }],
      },
    }, initiator)
    await gql(base, 'mutation($id: ID!) { sendFlow(id: $id) { status } }', { id: fid }, initiator)

    // The signing page: 一键盖章 → 确认签署 → 提交签署 → 意愿认证 with the UKey.
    await page.goto(`${base}/flows/${fid}/sign`)
    await page.locator('[data-page="1"][data-state="drawn"]').waitFor({ timeout: 20_000 })
    await page.getByTestId('one-click').click()
    await page.getByTestId('confirm-sign').click()
    const n = await outboxCount(base, phone)
    await page.getByTestId('submit-sign').click()
    const code = await waitForCode(base, phone, n)
    const intent = page.getByTestId('intent')
    await intent.getByTestId('use-ukey').click()

    // Not paired on this page yet: the code appears in the helper's window
    // (one pairing request per 3 s for the whole helper).
    await sleep(3_200)
    seen = pairingCount()
    await intent.getByTestId('ukey-pair').click()
    const pageCode = await pairingCode(seen)
    await intent.getByTestId('ukey-pair-code').locator('input').fill(pageCode)
    await intent.getByTestId('ukey-pair-confirm').click()
    await intent.getByTestId('ukey-ready').waitFor()
    await shot(page, 'ukeysign-01-ready')

    // A wrong PIN at the helper: the page cancels the pending signature
    // (cancelUKeySign), says so, and the flow stays signable.
    const operations = []
    page.on('request', (r) => {
      const m = /"operationName":"(\w+)"/.exec(r.postData() ?? '') ?? /"query":"(?:mutation|query) (\w+)/.exec(r.postData() ?? '')
      if (r.url().endsWith('/graphql') && m) operations.push(m[1])
    })
    writeFileSync(pinFile, '99999999')
    await intent.locator('input[name=code]').fill(code)
    await intent.getByTestId('confirm-intent').click()
    await waitText(intent.locator('.sg-form-error'), 'UKey PIN 码错误')
    await waitText(intent.locator('.sg-form-error'), '合同仍可签署')
    await waitFor('cancelUKeySign', () => operations.includes('CancelUKeySign'))
    assert.ok(operations.includes('PrepareUKeySign') && !operations.includes('CompleteUKeySign'), operations.join(' '))
    await shot(page, 'ukeysign-02-wrong-pin')
    const { node: pending } = await gql(base, 'query($id: ID!) { node(id: $id) { ... on Flow { status } } }', { id: fid }, token)
    assert.notEqual(pending.status, 'completed')

    // The right PIN and a new code (the first one was used up by prepare).
    writeFileSync(pinFile, ukey.pin)
    const sendCode = intent.getByTestId('send-code')
    await waitFor('获取验证码 again', async () => await sendCode.isEnabled(), 75_000)
    const n2 = await outboxCount(base, phone)
    await sendCode.click()
    const code2 = await waitForCode(base, phone, n2)
    await intent.locator('input[name=code]').fill(code2)
    await intent.getByTestId('confirm-intent').click()
    await page.waitForURL((u) => u.pathname === `/flows/${fid}`, { timeout: 30_000 })
    await shot(page, 'ukeysign-03-signed')

    // The helper showed the contract and its fingerprint at its console.
    assert.match(helper.out, /合同：UKey租赁合同/)
    assert.ok(operations.includes('CompleteUKeySign'), operations.join(' '))
    const { node: flow } = await gql(base, 'query($id: ID!) { node(id: $id) { ... on Flow { status } } }', { id: fid }, token)
    assert.equal(flow.status, 'completed')

    // The downloaded PDF verifies, signed by the UKey's certificate.
    const pdf = await fetch(`${base}/files/documents/${docID}`, { headers: { Authorization: `Bearer ${token}` } })
    assert.equal(pdf.status, 200)
    const form = new FormData()
    form.append('file', new Blob([await pdf.arrayBuffer()], { type: 'application/pdf' }), 'signed.pdf')
    const res = await (await fetch(`${base}/files/verify`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form })).json()
    assert.equal(res.platform, true, JSON.stringify(res))
    assert.equal(res.report.verdict, 'valid', JSON.stringify(res.report))
    const hex = (s) => String(s).toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+/, '')
    assert.ok(res.report.signatures.some((s) => s.signer && hex(s.signer.serial) === hex(ukey.serial)),
      `no signature by the UKey's certificate ${ukey.serial}: ${JSON.stringify(res.report.signatures.map((s) => s.signer?.serial))}`)

    assert.ok(!helper.out.includes(ukey.pin), 'the PIN was printed by the helper')
    assert.deepEqual(errors().filter((e) => !e.includes('ERR_CONNECTION_REFUSED') && !e.includes('WebSocket')), [])
    await context.close()
  })
})
