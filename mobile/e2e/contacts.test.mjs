// End to end: 联系人管理 (USR-2) in Chromium against the real server — groups
// (添加, a refused duplicate, 重命名, 删除), contacts (添加 with a refused
// phone and a refused duplicate, search, filter by group, pages, 编辑, batch
// 加入分组 / 移出分组, batch 删除 with its confirmation) on PC (1440×900) and on a
// phone (360×640); and the 发起签约 wizard filling a party from the contacts.
// Needs ../bin/signet built with the client embedded (make build).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { gql, launchBrowser, openPage, randomPhone, registerAccount, shootOpenPagesAfterEach, shot, sleep, startServer, waitFor, waitText as waitForText } from './harness.mjs'
import { makePdf } from './pdf.mjs'

const PHONE_VIEWPORT = { width: 360, height: 640 }
const PC_VIEWPORT = { width: 1440, height: 900 }
const PASSWORD = 'Signet#2026'

let server
let browser
const trackPage = shootOpenPagesAfterEach()

/** waitText waits for a text, 10 s unless told. */
const waitText = (locator, want, timeout = 10_000) => waitForText(locator, want, timeout)

/** waitCount waits until locator matches n elements. */
async function waitCount(locator, n, timeout = 10_000) {
  const deadline = Date.now() + timeout
  for (;;) {
    const got = await locator.count()
    if (got === n) return
    if (Date.now() > deadline) throw new Error(`expected ${n} of ${locator}, have ${got}`)
    await sleep(100)
  }
}

async function newPage(viewport, token) {
  const p = await openPage(browser, { viewport }, { token, timeout: 10_000 })
  trackPage(p.page)
  return p
}

/** register creates an account through the API (registration has its own test). */
async function register(phone) {
  return (await registerAccount(server.base, phone, PASSWORD)).token
}

const CREATE = 'mutation($in: ContactInput!) { createContact(input: $in) { id } }'

/** A visible Vant dialog by its title. */
const dialog = (page, title) => page.locator('.van-dialog', { has: page.locator('.van-dialog__header', { hasText: title }) })

async function confirmDialog(page, button) {
  const d = page.locator('.van-dialog:visible').last()
  await d.waitFor({ state: 'visible' })
  await d.getByRole('button', { name: button }).click()
}

/** fillGroup names a group in the 添加分组 / 重命名分组 dialog and saves. */
async function fillGroup(page, title, name) {
  const d = dialog(page, title)
  await d.waitFor({ state: 'visible' })
  await d.locator('input[name=groupName]').fill(name)
  await d.getByRole('button', { name: '保存' }).click()
  return d
}

/** fillContact fills the contact editor (open) with the given fields. */
async function fillContact(editor, c) {
  for (const k of ['name', 'phone', 'email', 'enterpriseName']) {
    if (k in c) await editor.locator(`input[name=${k}]`).fill(c[k])
  }
}

const rowNames = async (page) => page.getByTestId('contact-row').evaluateAll((els) => els.map((e) => e.dataset.name))
const fieldError = (scope, name) => scope.locator('.van-field', { has: scope.page().locator(`input[name="${name}"]`) }).locator('.van-field__error-message')

before(async () => {
  server = await startServer()
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

describe('联系人管理', () => {
  it('PC: groups, contacts, search, filter, pages, edit, batch group changes and delete', { timeout: 180_000 }, async () => {
    const token = await register(randomPhone())
    const { page, consoleErrors } = await newPage(PC_VIEWPORT, token)
    await page.goto(`${server.base}/user`)
    // The side menu leads to it.
    await page.locator('nav.side').getByRole('link', { name: '联系人管理' }).click()
    await page.waitForURL(/\/user\/contacts$/)
    await waitText(page.locator('.page-head h1'), '联系人管理')
    await waitText(page.locator('.van-empty'), '还没有联系人')
    await shot(page, 'contacts-pc-01-empty')

    // 添加分组, a duplicate refused by the server, a second group.
    await page.getByTestId('group-new').click()
    let d = await fillGroup(page, '添加分组', '客户')
    await d.waitFor({ state: 'hidden' })
    await waitText(page.getByTestId('group-item'), '客户')
    await page.getByTestId('group-new').click()
    d = await fillGroup(page, '添加分组', '客户')
    await waitText(d.locator('.van-field__error-message'), '分组名称已存在')
    await d.locator('input[name=groupName]').fill('供应商')
    await d.getByRole('button', { name: '保存' }).click()
    await d.waitFor({ state: 'hidden' })
    await waitCount(page.getByTestId('group-item'), 2)

    // 添加联系人: an invalid phone, then the contact in 客户.
    await page.getByTestId('contact-new').click()
    const editor = page.getByTestId('contact-editor')
    await fillContact(editor, { name: '王小明', phone: '1380013', email: 'wang@example.com' })
    await dialog(page, '添加联系人').getByRole('button', { name: '保存' }).click()
    await waitText(fieldError(editor, 'phone'), '请输入正确的11位手机号')
    await shot(page, 'contacts-pc-02-invalid-phone')
    await fillContact(editor, { phone: '13800000001' })
    await editor.locator('.van-checkbox', { hasText: '客户' }).click()
    await dialog(page, '添加联系人').getByRole('button', { name: '保存' }).click()
    await editor.waitFor({ state: 'hidden' })
    await waitText(page.locator('[data-testid=contact-row][data-name="王小明"]'), '客户')

    // The same phone (and no enterprise) again: the server's refusal in the dialog.
    await page.getByTestId('contact-new').click()
    await fillContact(editor, { name: '王二', phone: '138 0000 0001', email: '' })
    await dialog(page, '添加联系人').getByRole('button', { name: '保存' }).click()
    await waitText(page.getByTestId('editor-error'), '该联系人已存在（手机号和企业相同）')
    await shot(page, 'contacts-pc-03-duplicate')
    // An enterprise handler with the same phone is another contact.
    await fillContact(editor, { name: '王小明', enterpriseName: '甲科技有限公司' })
    await dialog(page, '添加联系人').getByRole('button', { name: '保存' }).click()
    await editor.waitFor({ state: 'hidden' })
    await waitText(page.getByTestId('pager'), '共 2 条')

    // Eleven more through the API: a second page.
    for (let i = 0; i < 11; i++) {
      await gql(server.base, CREATE, { in: { name: `测试${String(i).padStart(2, '0')}`, phone: `1390000${String(1000 + i)}` } }, token)
    }
    await page.reload()
    await waitText(page.getByTestId('pager'), '共 13 条')
    await waitText(page.getByTestId('group-all'), '13')
    await waitCount(page.getByTestId('contact-row'), 10)
    await page.getByRole('button', { name: '下一页' }).click()
    await waitText(page.getByTestId('pager'), '第 2 页')
    await waitCount(page.getByTestId('contact-row'), 3)
    await page.getByRole('button', { name: '上一页' }).click()
    await waitCount(page.getByTestId('contact-row'), 10)

    // Search by enterprise, by phone, by name.
    const search = page.locator('input[name=search]')
    await search.fill('甲科技')
    await page.getByTestId('contact-search').click()
    await waitText(page.getByTestId('pager'), '共 1 条')
    assert.deepEqual(await rowNames(page), ['王小明'])
    await search.fill('13900001005')
    await page.getByTestId('contact-search').click()
    // The pager said 共 1 条 for the search before too: wait for this one's row.
    await page.locator('[data-testid=contact-row][data-name="测试05"]').waitFor()
    await waitText(page.getByTestId('pager'), '共 1 条')
    await waitCount(page.getByTestId('contact-row'), 1)
    assert.deepEqual(await rowNames(page), ['测试05'])
    await search.fill('不存在的人')
    await page.getByTestId('contact-search').click()
    await waitText(page.locator('.van-empty'), '没有找到符合条件的联系人')
    await search.fill('测试0')
    await page.getByTestId('contact-search').click()
    await waitText(page.getByTestId('pager'), '共 10 条')
    await shot(page, 'contacts-pc-04-search')

    // Select three, 加入分组 → 供应商.
    for (const n of ['测试00', '测试01', '测试02']) {
      await page.locator(`[data-testid=contact-row][data-name="${n}"] .van-checkbox`).click()
    }
    await waitText(page.locator('.batch'), '已选 3 项')
    await page.getByTestId('batch-add-group').click()
    await page.locator('.van-action-sheet').getByRole('button', { name: /供应商/ }).click()
    await waitText(page.locator('[data-testid=group-item][data-name="供应商"]'), '3')

    // Filter by group: 供应商 has the three.
    await search.fill('')
    await page.getByTestId('contact-search').click()
    await page.locator('[data-testid=group-item][data-name="供应商"] .pick').click()
    await waitText(page.getByTestId('pager'), '共 3 条')
    assert.deepEqual(await rowNames(page), ['测试00', '测试01', '测试02'])
    await shot(page, 'contacts-pc-05-group')
    // 移出分组 while looking at it.
    await page.locator('[data-testid=contact-row][data-name="测试01"] .van-checkbox').click()
    await page.getByTestId('batch-remove-group').click()
    await waitText(page.getByTestId('pager'), '共 2 条')
    await waitText(page.locator('[data-testid=group-item][data-name="供应商"]'), '2')
    assert.deepEqual(await rowNames(page), ['测试00', '测试02'])

    // 编辑: name, enterprise and groups (客户 added).
    await page.locator('[data-testid=contact-row][data-name="测试02"] [data-action=edit]').click()
    await waitText(dialog(page, '编辑联系人').locator('.van-dialog__header'), '编辑联系人')
    assert.equal(await editor.locator('input[name=name]').inputValue(), '测试02')
    await fillContact(editor, { name: '赵六', enterpriseName: '乙贸易公司', email: 'bad@' })
    await dialog(page, '编辑联系人').getByRole('button', { name: '保存' }).click()
    await waitText(fieldError(editor, 'email'), '请输入正确的邮箱地址')
    await fillContact(editor, { email: 'zhao@example.com' })
    await editor.locator('.van-checkbox', { hasText: '客户' }).click()
    await dialog(page, '编辑联系人').getByRole('button', { name: '保存' }).click()
    await editor.waitFor({ state: 'hidden' })
    const zhao = page.locator('[data-testid=contact-row][data-name="赵六"]')
    await waitText(zhao, '乙贸易公司')
    await waitText(zhao, 'zhao@example.com')
    await waitText(zhao, '客户')
    await waitText(page.locator('[data-testid=group-item][data-name="客户"]'), '2')

    // Batch 删除 with its confirmation: cancelled first, then done.
    await page.getByTestId('group-all').click()
    await waitText(page.getByTestId('pager'), '共 13 条')
    await page.locator('[data-testid=contact-row][data-name="测试03"] .van-checkbox').click()
    await page.locator('[data-testid=contact-row][data-name="测试04"] .van-checkbox').click()
    await page.getByTestId('batch-delete').click()
    await waitText(page.locator('.van-dialog__message'), '确定删除选中的 2 个联系人吗？删除后不能恢复。')
    await confirmDialog(page, '取消')
    await waitText(page.getByTestId('pager'), '共 13 条')
    await page.getByTestId('batch-delete').click()
    await confirmDialog(page, '删除')
    await waitText(page.getByTestId('pager'), '共 11 条')
    const names = await rowNames(page)
    assert.ok(!names.includes('测试03') && !names.includes('测试04'), `deleted rows gone: ${names}`)
    await waitText(page.getByTestId('group-all'), '11')
    await shot(page, 'contacts-pc-06-deleted')

    // Groups: rename 供应商, delete 客户 (its contacts stay).
    await page.locator('[data-testid=group-item][data-name="供应商"] [data-testid=group-rename]').click()
    d = await fillGroup(page, '重命名分组', '合作伙伴')
    await d.waitFor({ state: 'hidden' })
    await waitText(page.locator('[data-testid=group-item][data-name="合作伙伴"]'), '2')
    await page.locator('[data-testid=group-item][data-name="客户"] [data-testid=group-delete]').click()
    await waitText(page.locator('.van-dialog__message'), '分组删除后不能恢复')
    await confirmDialog(page, '删除')
    await waitCount(page.getByTestId('group-item'), 1)
    await waitText(page.getByTestId('pager'), '共 11 条')
    // The rows are read again after the group is deleted: wait for them (the pager's count does
    // not change, so waiting for it did not wait for the new rows).
    const rows = page.locator('[data-testid=contact-row][data-name="王小明"]')
    await waitFor('no deleted group on 王小明\'s rows', async () => {
      const texts = await rows.allInnerTexts()
      return texts.length > 0 && texts.every((text) => !text.includes('客户'))
    }, 10_000)
    await shot(page, 'contacts-pc-07-groups')
    assert.deepEqual(consoleErrors(), [], 'no console errors')
  })

  it('phone 360×640: the same page as cards with a groups popup', { timeout: 120_000 }, async () => {
    const token = await register(randomPhone())
    await gql(server.base, 'mutation { createContactGroup(name: "家人") { id } }', {}, token)
    await gql(server.base, CREATE, { in: { name: '李四', phone: '13700000002', enterpriseName: '丙物业管理有限公司' } }, token)
    const { page, consoleErrors } = await newPage(PHONE_VIEWPORT, token)
    await page.goto(`${server.base}/user`)
    await page.getByTestId('contacts-entry').click()
    await page.waitForURL(/\/user\/contacts$/)
    await waitText(page.locator('.van-nav-bar__title'), '联系人管理')
    await waitText(page.getByTestId('contact-row'), '丙物业管理有限公司')

    // 添加联系人 in 家人 (from the editor's groups).
    await page.getByTestId('contact-new').click()
    const editor = page.getByTestId('contact-editor')
    await fillContact(editor, { name: '张三', phone: '12345678901' })
    await dialog(page, '添加联系人').getByRole('button', { name: '保存' }).click()
    await waitText(fieldError(editor, 'phone'), '请输入正确的11位手机号')
    await shot(page, 'contacts-phone-01-invalid-phone')
    await fillContact(editor, { phone: '13600000003' })
    await editor.locator('.van-checkbox', { hasText: '家人' }).click()
    await dialog(page, '添加联系人').getByRole('button', { name: '保存' }).click()
    await editor.waitFor({ state: 'hidden' })
    await waitText(page.getByTestId('pager'), '共 2 条')

    // The groups popup: filter by 家人, add a group.
    await page.getByTestId('group-pick').click()
    const popup = page.locator('.groups-popup')
    await waitText(popup.locator('[data-testid=group-item][data-name="家人"]'), '1')
    await sleep(400) // the popup slides in
    await shot(page, 'contacts-phone-02-groups')
    await popup.locator('[data-testid=group-item][data-name="家人"] .pick').click()
    await popup.waitFor({ state: 'hidden' })
    await waitText(page.getByTestId('group-pick'), '家人')
    await waitText(page.getByTestId('pager'), '共 1 条')
    assert.deepEqual(await rowNames(page), ['张三'])
    await page.getByTestId('group-pick').click()
    await popup.getByTestId('group-new').click()
    const d = await fillGroup(page, '添加分组', '同事')
    await d.waitFor({ state: 'hidden' })
    await waitText(popup.locator('[data-testid=group-item][data-name="同事"]'), '0')
    await popup.getByTestId('group-all').click()
    await popup.waitFor({ state: 'hidden' })
    await waitText(page.getByTestId('pager'), '共 2 条')

    // Search, edit, delete.
    await page.locator('input[name=search]').fill('李')
    await page.getByTestId('contact-search').click()
    await waitText(page.getByTestId('pager'), '共 1 条')
    await page.locator('[data-testid=contact-row][data-name="李四"] [data-action=edit]').click()
    await fillContact(editor, { name: '李四四' })
    await sleep(400) // the dialog fades in
    await shot(page, 'contacts-phone-03-edit')
    await dialog(page, '编辑联系人').getByRole('button', { name: '保存' }).click()
    await editor.waitFor({ state: 'hidden' })
    await waitText(page.getByTestId('contact-row'), '李四四')
    await page.locator('input[name=search]').fill('')
    await page.getByTestId('contact-search').click()
    await waitText(page.getByTestId('pager'), '共 2 条')
    // Nothing wider than the phone.
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    assert.ok(width <= PHONE_VIEWPORT.width, `page is ${width}px wide`)
    await shot(page, 'contacts-phone-04-list')
    await page.locator('[data-testid=contact-row][data-name="张三"] [data-action=delete]').click()
    await waitText(page.locator('.van-dialog__message'), '确定删除联系人“张三”吗？')
    await confirmDialog(page, '删除')
    await waitText(page.getByTestId('pager'), '共 1 条')
    assert.deepEqual(consoleErrors(), [], 'no console errors')
  })

  it('发起签约 fills a party from the contacts', { timeout: 120_000 }, async () => {
    const token = await register(randomPhone())
    await gql(server.base, CREATE, { in: { name: '周经理', phone: '13500000005', enterpriseName: '丁建设集团' } }, token)
    await gql(server.base, CREATE, { in: { name: '吴七', phone: '13500000007' } }, token)
    const { page, consoleErrors } = await newPage(PHONE_VIEWPORT, token)
    await page.goto(`${server.base}/initiate`)
    await page.getByTestId('step-info').locator('input[name=name]').fill('采购合同')
    await page.getByTestId('next').click()
    const up = page.getByTestId('step-upload')
    await up.getByTestId('file-input').setInputFiles({ name: '采购合同.pdf', mimeType: 'application/pdf', buffer: makePdf(1) })
    await waitText(up.getByTestId('doc'), '采购合同')
    await page.getByTestId('next').click()
    const parties = page.getByTestId('step-parties')
    await parties.waitFor()

    // The first signer from the contacts: an enterprise handler.
    const forms = parties.getByTestId('party-form')
    await forms.nth(0).getByTestId('pick-contact').click()
    const picker = page.getByTestId('contact-picker')
    await waitText(picker, '丁建设集团（周经理）')
    await page.locator('input[name=contactSearch]').fill('丁建设')
    await picker.getByRole('button', { name: '搜索' }).click()
    await waitCount(picker.getByTestId('picker-contact'), 1)
    await sleep(400)
    await shot(page, 'contacts-initiate-01-picker')
    await picker.getByTestId('picker-contact').click()
    await picker.waitFor({ state: 'hidden' })
    assert.equal(await forms.nth(0).locator('input[name=enterpriseName]').inputValue(), '丁建设集团')
    assert.equal(await forms.nth(0).locator('input[name=partyName]').inputValue(), '周经理')
    assert.equal(await forms.nth(0).locator('input[name=partyPhone]').inputValue(), '13500000005')

    // A second signer, a person.
    await parties.getByTestId('add-signer').click()
    await forms.nth(1).getByTestId('pick-contact').click()
    await page.locator('input[name=contactSearch]').fill('吴')
    await picker.getByRole('button', { name: '搜索' }).click()
    await waitCount(picker.getByTestId('picker-contact'), 1)
    await picker.getByTestId('picker-contact').click()
    await picker.waitFor({ state: 'hidden' })
    assert.equal(await forms.nth(1).locator('input[name=partyName]').inputValue(), '吴七')
    assert.equal(await forms.nth(1).locator('input[name=enterpriseName]').count(), 0, 'a person party has no enterprise field')
    await shot(page, 'contacts-initiate-02-parties')
    // The server takes the parties as filled.
    await page.getByTestId('next').click()
    await page.getByTestId('step-fields').waitFor()
    assert.deepEqual(consoleErrors(), [], 'no console errors')
  })
})
