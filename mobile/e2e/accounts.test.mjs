// End to end: the accounts pages against the real server, in Chromium.
// Needs ../bin/signet built with the client embedded (make build).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  DEV_CAPTCHA_TEXT,
  gql,
  launchBrowser,
  openPage,
  outboxCount,
  randomPhone,
  recordAssets,
  registerAccount,
  shootOpenPagesAfterEach,
  shot,
  startServer,
  waitForCode,
  waitText as waitForText,
} from './harness.mjs'

const PHONE_VIEWPORT = { width: 360, height: 640 }
const PC_VIEWPORT = { width: 1440, height: 900 }
/** The login route's JavaScript must stay small: heavy pages load lazily. */
const LOGIN_JS_BUDGET_GZIP = 100 * 1024
const PASSWORD = 'Signet#2026'
const NEW_PASSWORD = 'Seal@2027x'
const RESET_PASSWORD = 'Reset$2028y'

let server
let browser
/** Whether the server honours SIGNET_DEV_CAPTCHA_TEXT (see harness.mjs). */
let captchaHook = false

const masked = (phone) => `${phone.slice(0, 3)}****${phone.slice(7)}`

/** waitText waits for a text, 10 s unless told. */
const waitText = (locator, want, timeout = 10_000) => waitForText(locator, want, timeout)

/** fieldError is the Vant error line of the field whose input has name. */
const fieldError = (scope, name) =>
  scope.locator('.van-field', { has: scope.page().locator(`input[name="${name}"]`) }).locator('.van-field__error-message')

// On a failure, keep a picture of every page still open.
const trackPage = shootOpenPagesAfterEach()

async function newPage(viewport) {
  const p = await openPage(browser, { viewport }, { timeout: 10_000 })
  trackPage(p.page)
  return p
}

/**
 * atPath matches a URL whose path is path. A pattern such as /\/user$/ also
 * matched the login page it is waited from, /login?redirect=/user, so the
 * wait returned before the login had finished.
 */
const atPath = (path) => (url) => url.pathname === path

async function confirmDialog(page, button) {
  const dialog = page.locator('.van-dialog')
  await dialog.waitFor({ state: 'visible' })
  await dialog.getByRole('button', { name: button }).click()
}

/** sendCode presses 获取验证码 in scope and returns the SMS code from the outbox. */
async function sendCode(scope, phone) {
  const before = await outboxCount(server.base, phone)
  const button = scope.getByTestId('send-code')
  await button.click()
  const code = await waitForCode(server.base, phone, before)
  await waitText(button, /^\d+秒后重新获取$/)
  assert.ok(await button.isDisabled(), 'the send button is disabled during the countdown')
  return code
}

async function captchaSrc(scope) {
  const img = scope.getByTestId('captcha').locator('img')
  await img.waitFor({ state: 'visible' })
  await scope.page().waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle())
  const src = await img.getAttribute('src')
  assert.match(src, /^data:image\/png;base64,/)
  return src
}

async function waitCaptchaChange(scope, old) {
  const deadline = Date.now() + 10_000
  for (;;) {
    const src = await scope.getByTestId('captcha').locator('img').getAttribute('src').catch(() => null)
    if (src && src !== old) return src
    if (Date.now() > deadline) throw new Error('the captcha image was not refreshed')
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** loginByPassword fills the 密码登录 form (the tab must be open). */
async function loginByPassword(page, phone, password) {
  const form = page.getByTestId('password-login')
  await captchaSrc(form)
  await form.locator('input[name=phone]').fill(phone)
  await form.locator('input[name=password]').fill(password)
  await form.locator('input[name=captchaAnswer]').fill(DEV_CAPTCHA_TEXT)
  await form.getByRole('button', { name: '登录' }).click()
}

before(async () => {
  server = await startServer()
  browser = await launchBrowser()
  // Probe the captcha hook with an unknown phone: with the hook the captcha
  // passes and the password check fails; without it the captcha fails.
  const { newCaptcha } = await gql(server.base, 'mutation { newCaptcha { key } }')
  try {
    await gql(server.base, 'mutation($in: LoginByPasswordInput!) { loginByPassword(input: $in) { token } }', {
      in: { phone: '13000000000', password: 'Nobody#123', captchaKey: newCaptcha.key, captchaAnswer: DEV_CAPTCHA_TEXT },
    })
  } catch (e) {
    captchaHook = e.extensions?.field === 'password'
  }
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

describe('phone 360×640', () => {
  it('registers, logs out, logs in by SMS and by password, manages sessions and changes the password', { timeout: 180_000 }, async (t) => {
    const phone = randomPhone()
    const a = await newPage(PHONE_VIEWPORT)
    const page = a.page

    // A page that needs login sends us to 登录 and remembers where we were going.
    const loginAssets = recordAssets(page, 'login-route')
    await page.goto(`${server.base}/tasks`)
    await page.waitForURL(/\/login\?redirect=(%2F|\/)tasks$/)
    await waitText(page.getByRole('tab', { selected: true }), '验证码登录')
    await page.waitForLoadState('networkidle')
    const assets = await loginAssets()
    const kb = (n) => (n / 1024).toFixed(1)
    t.diagnostic(`login route JS: ${kb(assets.js.gzip)} KB gzip (${kb(assets.js.raw)} KB raw) in ${assets.js.files} files; ` +
      `CSS: ${kb(assets.css.gzip)} KB gzip (${kb(assets.css.raw)} KB raw) in ${assets.css.files} files`)
    assert.ok(assets.js.gzip <= LOGIN_JS_BUDGET_GZIP, `login route JS ${assets.js.gzip} B gzip exceeds ${LOGIN_JS_BUDGET_GZIP}`)
    assert.ok(!assets.files.some((f) => /AppLayout|SessionsPage|RegisterPage/.test(f.file)), 'the login route loads no pages of other routes')
    await shot(page, 'phone-01-login')

    // 注册
    await page.getByRole('link', { name: '立即注册' }).click()
    await page.waitForURL(/\/register\?redirect=(%2F|\/)tasks$/)
    const reg = page.getByTestId('register')
    await waitText(reg.getByTestId('password-hint'), '8-16位且包含大写字母、小写字母、数字、特殊字符中至少三种')
    await reg.locator('input[name=phone]').fill('1234')
    await reg.locator('input[name=phone]').blur()
    await waitText(fieldError(reg, 'phone'), '请输入正确的11位手机号')
    await reg.locator('input[name=phone]').fill(phone)
    await reg.locator('input[name=password]').fill('abc')
    await reg.locator('input[name=password]').blur()
    await waitText(fieldError(reg, 'password'), '密码长度须为8-16位')
    await reg.locator('input[name=password]').fill('abcdefgh1')
    await reg.locator('input[name=password]').blur()
    await waitText(fieldError(reg, 'password'), '密码须包含大写字母、小写字母、数字、特殊字符中的至少三种')
    await reg.locator('input[name=password]').fill(PASSWORD)
    await reg.locator('input[name=password]').blur()
    await reg.locator('input[name=passwordConfirm]').fill(`${PASSWORD}x`)
    await reg.locator('input[name=passwordConfirm]').blur()
    await waitText(fieldError(reg, 'passwordConfirm'), '两次输入的密码不一致')
    await reg.locator('input[name=passwordConfirm]').fill(PASSWORD)
    const code = await sendCode(reg, phone)
    assert.equal(await fieldError(reg, 'password').count(), 0, 'no password error once the policy is met')

    // Without the agreements: refused on the page.
    await reg.locator('input[name=code]').fill(code)
    await reg.getByRole('button', { name: '注册' }).click()
    await waitText(page.getByRole('alert'), '请阅读并同意《服务协议》和《隐私声明》')
    await reg.locator('.van-checkbox').click()
    await waitText(reg.getByTestId('agreements'), '《服务协议》')

    // A wrong code: the server names the field and the message shows under it.
    await reg.locator('input[name=code]').fill(code === '000000' ? '111111' : '000000')
    await reg.getByRole('button', { name: '注册' }).click()
    await waitText(fieldError(reg, 'code'), /^验证码错误，还可尝试\d次$/)
    await shot(page, 'phone-02-register-errors')

    await reg.locator('input[name=code]').fill(code)
    await reg.getByRole('button', { name: '注册' }).click()
    await page.waitForURL(atPath('/tasks'))
    await waitText(page.getByTestId('pager'), '共 0 条')
    await shot(page, 'phone-03-tasks')

    // 用户中心 through the tab bar; the phone is masked.
    await page.locator('.van-tabbar').getByText('用户中心').click()
    await page.waitForURL(atPath('/user'))
    await waitText(page.getByTestId('masked-phone'), masked(phone))
    await shot(page, 'phone-04-user')

    // 退出登录
    await page.getByTestId('logout').click()
    await confirmDialog(page, '退出登录')
    await page.waitForURL(/\/login$/)

    // 验证码登录
    const smsForm = page.getByTestId('sms-login')
    await smsForm.locator('input[name=phone]').fill(phone)
    const loginCode = await sendCode(smsForm, phone)
    await smsForm.locator('input[name=code]').fill(loginCode)
    await shot(page, 'phone-05-sms-login')
    await smsForm.getByRole('button', { name: '登录' }).click()
    await page.waitForURL(atPath('/tasks'))

    // 密码登录 in a second phone: the captcha renders, refreshes, and a wrong
    // answer is shown on its field with a new image.
    const b = await newPage(PHONE_VIEWPORT)
    await b.page.goto(`${server.base}/login`)
    await b.page.getByRole('tab', { name: '密码登录' }).click()
    const pwdForm = b.page.getByTestId('password-login')
    const first = await captchaSrc(pwdForm)
    await pwdForm.getByTestId('captcha').click()
    const second = await waitCaptchaChange(pwdForm, first)
    await pwdForm.locator('input[name=phone]').fill(phone)
    await pwdForm.locator('input[name=password]').fill(PASSWORD)
    await pwdForm.locator('input[name=captchaAnswer]').fill('ZZZZ')
    await pwdForm.getByRole('button', { name: '登录' }).click()
    await waitText(fieldError(pwdForm, 'captchaAnswer'), '图形验证码错误，请重新输入')
    await waitCaptchaChange(pwdForm, second)
    await shot(b.page, 'phone-06-password-login-captcha-error')

    if (captchaHook) {
      await loginByPassword(b.page, phone, PASSWORD)
      await b.page.waitForURL(atPath('/tasks'))
    } else {
      t.diagnostic('SKIPPED password login success: the server lacks the SIGNET_DEV_CAPTCHA_TEXT hook')
    }

    // 登录设备: the current one marked; another device can be 下线.
    await page.goto(`${server.base}/user`)
    await page.getByText('登录设备', { exact: true }).click()
    await page.waitForURL(/\/user\/sessions$/)
    const list = page.getByTestId('sessions')
    await waitText(list, '当前设备')
    const rows = list.locator('.session')
    assert.equal(await rows.count(), captchaHook ? 2 : 1)
    assert.equal(await list.locator('[data-current]').count(), 1, 'exactly one session is marked current')
    await waitText(list.locator('[data-current]'), '验证码登录')
    if (captchaHook) {
      await waitText(list, '密码登录')
      await shot(page, 'phone-07-sessions')
      await list.getByTestId('revoke').click()
      await confirmDialog(page, '下线')
      await waitText(list, '共 1 台设备')
      // The other phone's token is refused now: it is sent back to 登录.
      await b.page.goto(`${server.base}/user`)
      await b.page.waitForURL(/\/login\?redirect=(%2F|\/)user$/)
    } else {
      await shot(page, 'phone-07-sessions')
    }

    // 修改登录密码: a wrong old password is shown on its field.
    await page.goto(`${server.base}/user`)
    await page.getByText('修改登录密码', { exact: true }).click()
    await page.waitForURL(/\/user\/password$/)
    const cp = page.getByTestId('change-password')
    await cp.locator('input[name=oldPassword]').fill('Wrong#Pass1')
    await cp.locator('input[name=newPassword]').fill(NEW_PASSWORD)
    await cp.locator('input[name=newPasswordConfirm]').fill(NEW_PASSWORD)
    await cp.getByRole('button', { name: '确定' }).click()
    await waitText(fieldError(cp, 'oldPassword'), '原密码错误')
    await shot(page, 'phone-08-change-password-error')
    await cp.locator('input[name=oldPassword]').fill(PASSWORD)
    await cp.getByRole('button', { name: '确定' }).click()
    await page.waitForURL(atPath('/user'))
    await waitText(page.getByTestId('masked-phone'), masked(phone))

    if (captchaHook) {
      // The old password no longer works; the new one does.
      await b.page.getByRole('tab', { name: '密码登录' }).click()
      await loginByPassword(b.page, phone, PASSWORD)
      await waitText(fieldError(b.page.getByTestId('password-login'), 'password'), '手机号或密码错误')
      await loginByPassword(b.page, phone, NEW_PASSWORD)
      await b.page.waitForURL(atPath('/user'))
    } else {
      t.diagnostic('SKIPPED logging in with the new password: the server lacks the SIGNET_DEV_CAPTCHA_TEXT hook')
    }

    // 找回密码 from the second phone ends every session, the first phone's too.
    // (With the captcha hook the second phone is signed in again: forget that
    // token here, the reset ends its session on the server anyway.)
    await b.page.evaluate(() => localStorage.removeItem('signet.token'))
    await b.page.goto(`${server.base}/login?tab=password`)
    await b.page.getByRole('link', { name: '找回密码' }).click()
    await b.page.waitForURL(/\/reset-password$/)
    const rp = b.page.getByTestId('reset-password')
    await rp.locator('input[name=phone]').fill(phone)
    await rp.locator('input[name=newPassword]').fill(RESET_PASSWORD)
    await rp.locator('input[name=newPasswordConfirm]').fill(RESET_PASSWORD)
    const resetCode = await sendCode(rp, phone)
    await rp.locator('input[name=code]').fill(resetCode)
    await shot(b.page, 'phone-09-reset-password')
    await rp.getByRole('button', { name: '确认' }).click()
    await b.page.waitForURL(/\/login\?tab=password$/)
    await waitText(b.page.getByRole('tab', { selected: true }), '密码登录')
    await page.goto(`${server.base}/user/sessions`)
    await page.waitForURL(/\/login\?redirect=(%2F|\/)user(%2F|\/)sessions$/)
    if (captchaHook) {
      await loginByPassword(b.page, phone, RESET_PASSWORD)
      await b.page.waitForURL(atPath('/tasks'))
    }

    // The agreements registration links to.
    await page.goto(`${server.base}/legal/service-agreement`)
    await waitText(page.locator('h1'), '《服务协议》')
    await waitText(page.locator('.version'), /^版本 \S+$/)

    // Deep links served by the SPA fallback.
    await page.goto(`${server.base}/s/abc123`)
    await waitText(page.getByTestId('link-invalid'), '签署链接无效，请核对短信中的链接')
    await shot(page, 'phone-10-sms-link')
    await page.goto(`${server.base}/no/such/page`)
    await waitText(page.locator('.van-empty'), '页面不存在')

    assert.deepEqual(a.consoleErrors(), [], 'no console errors on the first phone')
    assert.deepEqual(b.consoleErrors(), [], 'no console errors on the second phone')
    await a.context.close()
    await b.context.close()
  })
})

describe('test hooks', () => {
  // Password logins cannot succeed without knowing the captcha: the server's
  // development-only SIGNET_DEV_CAPTCHA_TEXT fixes its answer. Until the
  // server has it, the steps that need it are skipped and this test says so.
  it('the server honours SIGNET_DEV_CAPTCHA_TEXT', (t) => {
    if (!captchaHook) t.skip('the server ignores SIGNET_DEV_CAPTCHA_TEXT: password login success not tested')
  })
})

describe('PC 1440×900', () => {
  it('shows the login page, then the PC shell with live status, sessions and logout', { timeout: 120_000 }, async () => {
    const pc = await newPage(PC_VIEWPORT)
    const page = pc.page
    await page.goto(`${server.base}/login`)
    await page.locator('.hero').waitFor()
    await waitText(page.locator('.hero h1'), '让每一份合同，签得安心')
    await shot(page, 'pc-01-login')
    await page.getByRole('tab', { name: '密码登录' }).click()
    await captchaSrc(page.getByTestId('password-login'))
    await waitText(page.getByRole('link', { name: '找回密码' }), '找回密码')
    await shot(page, 'pc-02-login-password')

    // An account made through the API, with two sessions.
    const phone = randomPhone()
    const send = 'mutation($p: SMSPurpose!, $phone: String) { sendSMSCode(input: {purpose: $p, phone: $phone}) { resendAfterSeconds } }'
    const reg = await registerAccount(server.base, phone, PASSWORD)
    let n = await outboxCount(server.base, phone)
    await gql(server.base, send, { p: 'LOGIN', phone })
    const loginCode = await waitForCode(server.base, phone, n)
    const login = await gql(server.base, 'mutation($in: LoginBySMSInput!) { loginBySMS(input: $in) { token } }', {
      in: { phone, code: loginCode },
    })

    await page.evaluate((token) => localStorage.setItem('signet.token', token), login.loginBySMS.token)
    await page.goto(`${server.base}/user`)
    await page.locator('nav.side').waitFor()
    await waitText(page.getByTestId('user-menu'), masked(phone))
    await waitText(page.getByTestId('masked-phone'), masked(phone))
    // The live channel (graphql-ws with the token in connection_init) is up.
    await waitText(page.getByTestId('live-status'), '在线')
    await shot(page, 'pc-03-user')

    await page.locator('nav.side').getByText('登录设备').click()
    await page.waitForURL(/\/user\/sessions$/)
    const list = page.getByTestId('sessions')
    await waitText(list, '共 2 台设备')
    await shot(page, 'pc-04-sessions')
    await list.getByTestId('revoke').click()
    await confirmDialog(page, '下线')
    await waitText(list, '共 1 台设备')
    await assert.rejects(gql(server.base, '{ me { id } }', {}, reg.token), (e) => e.extensions?.code === 'UNAUTHENTICATED')

    // 修改手机号: a code to the current phone, then the new phone and its code.
    await page.locator('nav.side').getByText('个人信息').click()
    await page.getByText('修改手机号', { exact: true }).click()
    await page.waitForURL(/\/user\/phone$/)
    const step1 = page.getByTestId('change-phone-old')
    const oldCode = await sendCode(step1, phone)
    await step1.locator('input[name=code]').fill(oldCode)
    await step1.getByRole('button', { name: '下一步' }).click()
    const step2 = page.getByTestId('change-phone-new')
    await step2.waitFor()
    // The server names this input "phone" when sending; it shows under 新手机号.
    await step2.locator('input[name=newPhone]').fill(phone)
    await step2.getByTestId('send-code').click()
    await waitText(fieldError(step2, 'newPhone'), '新手机号不能与当前手机号相同')
    const newPhone = randomPhone()
    await step2.locator('input[name=newPhone]').fill(newPhone)
    const newCode = await sendCode(step2, newPhone)
    await step2.locator('input[name=code]').fill(newCode)
    await shot(page, 'pc-05-change-phone')
    await step2.getByRole('button', { name: '提交' }).click()
    await page.waitForURL(atPath('/user'))
    await waitText(page.getByTestId('masked-phone'), masked(newPhone))
    await waitText(page.getByTestId('user-menu'), masked(newPhone))

    await page.locator('nav.side a.item', { hasText: '文件管理' }).click()
    await waitText(page.getByTestId('pager'), '共 0 条')
    await shot(page, 'pc-06-tasks')

    await page.getByTestId('user-menu').click()
    await page.locator('.van-popover').getByText('退出登录').click()
    await confirmDialog(page, '退出登录')
    await page.waitForURL(/\/login$/)
    await assert.rejects(gql(server.base, '{ me { id } }', {}, login.loginBySMS.token), (e) => e.extensions?.code === 'UNAUTHENTICATED')

    assert.deepEqual(pc.consoleErrors(), [], 'no console errors on the PC')
    await pc.context.close()
  })
})
